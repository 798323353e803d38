"""Activation normalisation with data-dependent initialisation (Glow, Kingma & Dhariwal 2018)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from n2nlib._checks import check_tensor

__all__ = ["ActNorm"]


class ActNorm(nn.Module):
    r"""Per-channel affine normalisation, initialised from the first batch it sees.

    .. math:: y = (x - \mu) \odot e^{s}, \qquad
              \log|\det \partial y/\partial x| = S \sum_i s_i

    where :math:`S` is the number of spatial positions (1 for vectors ``(B, C)``).
    On the first call of :meth:`forward` (in any mode), :math:`\mu` and :math:`s` are set so
    that each channel of that batch has zero mean and unit variance. A channel whose
    standard deviation is below ``eps`` (for example a constant feature, or a batch of one)
    is only centred, never divided by ~0: its scale starts at 1, so no NaN or huge value can
    appear. The flag ``initialized`` is a buffer and travels with the ``state_dict``; the
    module keeps a host-side copy of it, so that a forward pass reads no device value (no
    GPU sync, nothing to break a ``torch.compile`` graph). Set the flag through
    :meth:`initialize` or ``load_state_dict``, not by writing the buffer.

    It works on ``(B, C)`` and on ``(B, C, *spatial)``; statistics are per channel (dim 1).

    Arguments:
        num_features: the number of channels ``C``.
        eps: standard deviations below this count as zero.

    References:
        Kingma & Dhariwal, *Glow: Generative Flow with Invertible 1x1 Convolutions*, 2018.

    >>> norm = ActNorm(3)
    >>> y, logdet = norm(torch.randn(16, 3) * 5 + 2)
    >>> bool(norm.initialized)
    True
    """

    def __init__(self, num_features: int, eps: float = 1e-6) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        self.dim = num_features
        self.eps = eps
        self.loc = nn.Parameter(torch.zeros(num_features))
        self.log_scale = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("initialized", torch.tensor(False))
        self._ready: bool | None = False  # host copy of `initialized`; None: read it once

    def _load_from_state_dict(self, *args: object, **kwargs: object) -> None:
        super()._load_from_state_dict(*args, **kwargs)  # type: ignore[arg-type]
        self._ready = None

    @property
    def is_initialized(self) -> bool:
        """Whether location and scale are set (the buffer ``initialized``, read once)."""
        if self._ready is None:
            self._ready = bool(self.initialized)
        return self._ready

    def _view(self, p: Tensor, x: Tensor) -> Tensor:
        return p.view(1, -1, *([1] * (x.ndim - 2)))

    def _check(self, x: Tensor, name: str) -> None:
        check_tensor(x, name, finite=False)
        if x.ndim < 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"{name} must have shape (B, {self.dim}) or (B, {self.dim}, ...), "
                f"got {tuple(x.shape)}"
            )

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set location and scale from the batch ``x`` (called automatically on first use)."""
        self._check(x, "x")
        if x.shape[0] == 0:
            raise ValueError("ActNorm sets its scale from the first batch it sees, and that "
                             "batch is empty (0 rows); pass at least one row first")
        flat = x.transpose(0, 1).reshape(self.dim, -1)
        mean = flat.mean(dim=1)
        std = flat.std(dim=1, correction=0)
        safe = std > self.eps
        log_scale = torch.where(safe, -torch.log(std.clamp_min(self.eps)), torch.zeros_like(std))
        self.loc.copy_(mean)
        self.log_scale.copy_(log_scale)
        self.initialized.fill_(True)
        self._ready = True

    def _logdet(self, x: Tensor) -> Tensor:
        spatial = math.prod(x.shape[2:])
        return (self.log_scale.sum() * spatial).expand(x.shape[0])

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(x, "x")
        if not self.is_initialized:
            self.initialize(x)
        y = (x - self._view(self.loc, x)) * self._view(self.log_scale.exp(), x)
        return y, self._logdet(x)

    def inverse(self, y: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(y, "y")
        x = y * self._view((-self.log_scale).exp(), y) + self._view(self.loc, y)
        return x, -self._logdet(y)

    def extra_repr(self) -> str:
        return f"{self.dim}, initialized={self.is_initialized}"
