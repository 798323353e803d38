"""The contract every invertible block of :mod:`n2nlib.flows` follows."""

from __future__ import annotations

from torch import Tensor, nn

from n2nlib._checks import check_tensor

__all__ = ["InvertibleModule"]


class InvertibleModule(nn.Module):
    r"""Base class of an invertible, optionally conditional, block on vectors ``(B, dim)``.

    The forward direction goes from data to latent (towards :math:`v`):

    * ``forward(x, h=None) -> (y, logdet)`` with ``logdet`` of shape ``(B,)`` equal to
      :math:`\log |\det \partial y / \partial x|` for each sample.
    * ``inverse(y, h=None) -> (x, logdet_inv)`` returns the exact preimage and
      :math:`\log |\det \partial x / \partial y|`, which is ``-logdet`` at the same point.

    Both directions always return a pair; no flag changes the number of return values.
    ``h`` is the *embedded* condition (see :mod:`n2nlib.flows.embedders`); blocks that do not
    use a condition accept and ignore it, so that blocks can be stacked freely.

    Arguments:
        dim: the number of features of ``x``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.dim = dim

    def _check_x(self, x: Tensor, name: str = "x") -> Tensor:
        return check_tensor(x, name, shape=(None, self.dim), finite=False)

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, y: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
