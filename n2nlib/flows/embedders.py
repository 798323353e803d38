"""Embedding modules H: the non-invertible preprocessing of the condition, h = H(c) (Eq. 19)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from n2nlib.flows.actnorm import ActNorm
from n2nlib.flows.subnets import MLP

__all__ = ["MLPEmbedder", "ConvEmbedder", "IdentityEmbedder", "default_n_down"]


class IdentityEmbedder(nn.Module):
    """``h = c``: no preprocessing (cheap; for low-dimensional vector conditions)."""

    def __init__(self, cond_dim: int) -> None:
        super().__init__()
        self.in_shape = (cond_dim,)
        self.out_features = cond_dim

    def forward(self, c: Tensor) -> Tensor:
        return c


class MLPEmbedder(nn.Module):
    """Vector conditions ``(B, cond_dim)``: a Table S3a MLP to ``out_features``.

    The paper replaces the convolutional embedder by "a simple feedforward architecture as in
    Tab. S3a" when the condition has no spatial extent; this is that network.

    With ``norm=True`` an :class:`~n2nlib.flows.actnorm.ActNorm` comes first: the condition is
    standardised per dimension, with the statistics of the first batch (then trained with the
    rest). The convolutional embedder normalises after every convolution; a vector code whose
    dimensions are on a small scale (Sentence-BERT's unit vectors: about 0.05 per dimension)
    otherwise reaches the couplings as a faint signal, which Adam's small steps take a long
    time to amplify (notebook 06 measures the difference).

    >>> H = MLPEmbedder(384, 128, hidden=256, norm=True)
    >>> H(torch.randn(2, 384)).shape
    torch.Size([2, 128])
    """

    def __init__(self, cond_dim: int, out_features: int, hidden: int, n_hidden: int = 3,
                 norm: bool = False) -> None:
        super().__init__()
        self.in_shape = (cond_dim,)
        self.out_features = out_features
        self.norm = _NormLayer(cond_dim) if norm else None
        self.net = MLP(cond_dim, out_features, hidden=hidden, n_hidden=n_hidden)

    def forward(self, c: Tensor) -> Tensor:
        return self.net(c if self.norm is None else self.norm(c))


def default_n_down(height: int, width: int) -> int:
    """Downsampling steps until the larger side is at most 4 (at least 1, at most 5).

    >>> default_n_down(32, 32), default_n_down(5, 3), default_n_down(1, 1)
    (3, 1, 1)
    """
    steps, side = 0, max(height, width)
    while side > 4 and steps < 5:
        side, steps = math.ceil(side / 2), steps + 1
    return max(steps, 1)


class ConvEmbedder(nn.Module):
    r"""Spatial conditions ``(B, C, H, W)``: the convolutional embedder of Table S3b.

    ``n`` times (3×3 conv with stride 2, ActNorm, LeakyReLU 0.01), the channels growing
    as ``64·i`` at step ``i`` (scaled by ``width / 64``), giving
    :math:`\mathbb{R}^{64n \times \lceil H/2^n \rceil \times \lceil W/2^n \rceil}`; then flatten
    and one fully connected layer to ``out_features``. Any ``H, W >= 1`` work.

    Arguments:
        in_shape: ``(C, H, W)`` of the condition.
        out_features: size of ``h``.
        n_down: number of downsampling steps; default: until the larger side is at most 4.
        width: channels of the first step (64 in the paper).

    >>> H = ConvEmbedder((3, 32, 32), 64, width=16)
    >>> H(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 64])
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        out_features: int,
        n_down: int | None = None,
        width: int = 64,
    ) -> None:
        super().__init__()
        if len(in_shape) != 3 or any(int(s) < 1 for s in in_shape):
            raise ValueError(f"in_shape must be (C, H, W) with positive sizes, got {in_shape}")
        channels, height, width_px = (int(s) for s in in_shape)
        self.in_shape = (channels, height, width_px)
        self.out_features = out_features
        n_down = default_n_down(height, width_px) if n_down is None else n_down
        if n_down < 1:
            raise ValueError(f"n_down must be at least 1, got {n_down}")
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(1, n_down + 1):
            c_out = width * i
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1),
                _NormLayer(c_out),
                nn.LeakyReLU(0.01),
            ]
            c_in = c_out
            height, width_px = math.ceil(height / 2), math.ceil(width_px / 2)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in * height * width_px, out_features)

    def forward(self, c: Tensor) -> Tensor:
        return self.fc(self.features(c).flatten(1))


class _NormLayer(ActNorm):
    """ActNorm used as a plain normalisation layer (only ``y`` is needed in an embedder)."""

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x)[0]

