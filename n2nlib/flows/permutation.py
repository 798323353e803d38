"""A fixed random permutation of the features, stored as a buffer."""

from __future__ import annotations

import torch
from torch import Tensor

from n2nlib.flows.base import InvertibleModule

__all__ = ["FixedPermutation"]


class FixedPermutation(InvertibleModule):
    r"""Permute the features by a fixed random permutation :math:`\pi`, drawn from ``seed``.

    .. math:: y_i = x_{\pi(i)}, \qquad \log|\det \partial y/\partial x| = 0

    The permutation and its inverse are buffers, so they are saved with the ``state_dict``
    and a loaded model permutes exactly as the saved one did.

    Arguments:
        dim: the number of features.
        seed: seed of the permutation (the same seed always gives the same permutation).

    >>> perm = FixedPermutation(4, seed=0)
    >>> x = torch.arange(4.0).view(1, 4)
    >>> y, _ = perm(x)
    >>> torch.equal(perm.inverse(y)[0], x)
    True
    """

    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__(dim)
        generator = torch.Generator().manual_seed(int(seed))
        perm = torch.randperm(dim, generator=generator)
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_x(x)
        return x[:, self.perm], x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_x(y, "y")
        return y[:, self.inv_perm], y.new_zeros(y.shape[0])
