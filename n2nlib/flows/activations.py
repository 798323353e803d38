"""Invertible element-wise activations, with their exact log-determinants."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from n2nlib.flows.base import InvertibleModule

__all__ = ["InvertibleLeakyReLU"]


class InvertibleLeakyReLU(InvertibleModule):
    r"""Leaky ReLU with slope ``alpha`` for negative inputs, as an invertible layer.

    .. math:: y_i = \begin{cases} x_i & x_i \ge 0 \\ \alpha x_i & x_i < 0 \end{cases}, \qquad
              \log|\det \partial y/\partial x| = \log\alpha \cdot \#\{i : x_i < 0\}

    The log-determinant counts the negative entries; it is *not* zero (the reference
    implementation of the paper returns 0 here, which makes its likelihood wrong whenever
    this layer is used). Since :math:`\alpha > 0`, the sign of every entry is preserved, so the
    inverse uses the same count on ``y``.

    Arguments:
        dim: the number of features.
        alpha: the slope for negative inputs, in (0, 1].

    >>> act = InvertibleLeakyReLU(2, alpha=0.5)
    >>> y, logdet = act(torch.tensor([[1.0, -2.0]]))
    >>> y.tolist(), round(float(logdet), 4)
    ([[1.0, -1.0]], -0.6931)
    """

    def __init__(self, dim: int, alpha: float = 0.9) -> None:
        super().__init__(dim)
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        self._log_alpha = math.log(self.alpha)

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_x(x)
        negative = x < 0
        y = torch.where(negative, x * self.alpha, x)
        return y, negative.sum(dim=1).to(x.dtype) * self._log_alpha

    def inverse(self, y: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_x(y, "y")
        negative = y < 0
        x = torch.where(negative, y / self.alpha, y)
        return x, -negative.sum(dim=1).to(y.dtype) * self._log_alpha

    def extra_repr(self) -> str:
        return f"dim={self.dim}, alpha={self.alpha}"
