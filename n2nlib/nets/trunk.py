r"""BigGAN's generator trunk, shared by the autoencoder's decoder Λ and the shapes generator:
conditional batch norm, the residual up-block, the non-local block, and :func:`run_up_trunk`,
which runs them from a 4×4 map to the output.

In eval mode a conditional batch norm is an affine map of its condition ``c`` per sample and
channel, ``x · a(c) + b(c)`` (:class:`ConditionalBatchNorm2d`). :func:`eval_affines` computes
the ``a`` and ``b`` of several such layers together: one product for all their gains and
biases, and a few operations on their stacked running statistics, instead of some eight small
operations per layer. It reads the weights and statistics on every call: nothing is kept.

>>> block = UpBlock(8, 4, cond_dim=3).eval()
>>> block(torch.randn(2, 8, 4, 4), torch.randn(2, 3)).shape
torch.Size([2, 4, 8, 8])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib.nets.blocks import CHANNELS_LAST

__all__ = ["ConditionalBatchNorm2d", "UpBlock", "SelfAttention", "eval_affines", "run_up_trunk"]

Affine = tuple[Tensor, Tensor]
"""A conditional batch norm's eval-mode ``(a, b)``, each ``(B, C)``."""


class ConditionalBatchNorm2d(nn.Module):
    r"""BigGAN's conditional batch norm: ``BN(x) · (1 + W_g c + β_g) + W_b c + β_b``.

    In eval mode BN is the affine map of the running statistics, and the layer is one pass
    ``x · a + b`` per sample and channel, with

    .. math::

        r = (\sigma^2 + \epsilon)^{-1/2}, \quad
        a = r \odot (1 + W_g c + \beta_g), \quad
        b = W_b c + \beta_b - \mu \odot a,

    (see :func:`eval_affines`). In training mode (or without running statistics) it
    normalises with the batch's statistics.

    >>> cbn = ConditionalBatchNorm2d(4, cond_dim=3)
    >>> cbn(torch.randn(2, 4, 5, 5), torch.randn(2, 3)).shape
    torch.Size([2, 4, 5, 5])
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels)
        self.bias = nn.Linear(cond_dim, channels)
        for layer in (self.gain, self.bias):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def uses_batch_statistics(self) -> bool:
        """Whether the layer normalises with the batch's statistics (training mode, or no
        running statistics kept)."""
        return self.training or self.bn.running_var is None

    def forward(self, x: Tensor, cond: Tensor,
                affine: Affine | None = None) -> Tensor:
        """``x`` ``(B, C, H, W)`` normalised under ``cond`` ``(B, cond_dim)``.

        Arguments:
            affine: in eval mode, ``(a, b)``, each ``(B, C)``, computed already (as
                :func:`run_up_trunk` does for all its layers at once with
                :func:`eval_affines`); else they are computed from ``cond``.
        """
        if self.uses_batch_statistics:
            gain, bias = 1.0 + self.gain(cond), self.bias(cond)
            return self.bn(x) * gain[:, :, None, None] + bias[:, :, None, None]
        scale, shift = affine if affine is not None else eval_affines([self], cond)[0]
        return torch.addcmul(shift[:, :, None, None], x, scale[:, :, None, None])


def eval_affines(norms: list[ConditionalBatchNorm2d], cond: Tensor) -> list[Affine]:
    """The eval-mode ``(a, b)`` of each layer of ``norms`` under ``cond`` (the class formula):
    one product for every gain and bias, and one pass over the stacked running statistics.

    Arguments:
        norms: conditional batch norms that keep running statistics, all on ``cond``.
        cond: ``(B, cond_dim)``.

    Returns:
        ``[(a, b), ...]``, one pair of ``(B, C)`` views per layer.
    """
    gains = [norm.gain for norm in norms]
    biases = [norm.bias for norm in norms]
    both = F.linear(cond, torch.cat([m.weight for m in gains + biases]),
                    torch.cat([m.bias for m in gains + biases]))
    g, b = both.chunk(2, dim=1)  # W_g c + β_g and W_b c + β_b, every layer side by side
    stats = [norm.bn for norm in norms]
    if len({bn.eps for bn in stats}) == 1:
        var = torch.cat([bn.running_var for bn in stats]) + stats[0].eps
    else:
        var = torch.cat([bn.running_var + bn.eps for bn in stats])
    r = torch.rsqrt(var)
    scale = torch.addcmul(r, g, r)  # r (1 + g)
    shift = torch.addcmul(b, scale, torch.cat([bn.running_mean for bn in stats]), value=-1.0)
    sizes = [bn.num_features for bn in stats]
    return list(zip(scale.split(sizes, dim=1), shift.split(sizes, dim=1), strict=True))


class UpBlock(nn.Module):
    """BigGAN's residual up-block ``ResBlock(z, h) up``: CBN, ReLU, ×2, conv, CBN, ReLU, conv.

    >>> block = UpBlock(8, 4, cond_dim=3)
    >>> block(torch.randn(2, 8, 4, 4), torch.randn(2, 3)).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(c_in, cond_dim)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn2 = ConditionalBatchNorm2d(c_out, cond_dim)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(
        self, x: Tensor, cond: Tensor, affines: tuple[Affine, Affine] | None = None
    ) -> Tensor:
        """``x`` ``(B, c_in, S, S)`` → ``(B, c_out, 2S, 2S)``; ``affines``: the eval-mode
        ``(a, b)`` of ``bn1`` and ``bn2`` (see :meth:`ConditionalBatchNorm2d.forward`)."""
        a1, a2 = affines if affines is not None else (None, None)
        h = F.interpolate(torch.relu(self.bn1(x, cond, a1)), scale_factor=2.0, mode="nearest")
        h = self.conv2(torch.relu(self.bn2(self.conv1(h), cond, a2)))
        # a 1×1 convolution commutes with nearest upsampling: run it at the low resolution
        # (a quarter of the work, and a smaller tensor to upsample)
        return h + F.interpolate(self.skip(x), scale_factor=2.0, mode="nearest")


class SelfAttention(nn.Module):
    """BigGAN's non-local block: attention over positions, added with a learned scale (0 at init).

    >>> SelfAttention(16)(torch.randn(2, 16, 8, 8)).shape
    torch.Size([2, 16, 8, 8])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 8, 1)
        self.theta = nn.Conv2d(channels, inner, 1, bias=False)
        self.phi = nn.Conv2d(channels, inner, 1, bias=False)
        self.g = nn.Conv2d(channels, max(channels // 2, 1), 1, bias=False)
        self.out = nn.Conv2d(max(channels // 2, 1), channels, 1, bias=False)
        self.scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        inner = self.theta.out_channels
        # the three 1×1 projections as one convolution, φ and g pooled together; positions ×
        # channels, which is how channels-last maps lie in memory
        proj = F.conv2d(x, torch.cat([self.theta.weight, self.phi.weight, self.g.weight]))
        theta = proj.permute(0, 2, 3, 1)[..., :inner].reshape(b, h * w, inner)  # (B, HW, c/8)
        pooled = F.max_pool2d(proj[:, inner:], 2).permute(0, 2, 3, 1).reshape(b, h * w // 4, -1)
        phi, g = pooled[..., :inner], pooled[..., inner:]  # (B, HW/4, c/8), (B, HW/4, c/2)
        attn = torch.softmax(theta @ phi.transpose(1, 2), dim=-1)  # (B, HW, HW/4)
        o = (attn @ g).view(b, h, w, -1).permute(0, 3, 1, 2)  # (B, c/2, H, W)
        return x + self.scale * self.out(o)


def run_up_trunk(decoder: nn.Module, x: Tensor, cond: Tensor) -> Tensor:
    """BigGAN's generator trunk from the 4×4 map ``x``: the decoder's up-blocks conditioned on
    ``cond`` (its non-local block after ``attention_after``), then BN, ReLU and ``out_conv``.

    The maps run channels-last (:data:`~n2nlib.nets.blocks.CHANNELS_LAST`); the output is
    contiguous. In eval mode the conditional batch norms' ``(a, b)`` come from
    :func:`eval_affines`, all at once. ``decoder`` has ``blocks`` (:class:`UpBlock`),
    ``attention_after`` (``-1``: none), ``attention``, ``out_bn`` and ``out_conv``."""
    x = x.contiguous(memory_format=CHANNELS_LAST)
    norms = [norm for block in decoder.blocks for norm in (block.bn1, block.bn2)]
    affines: list[tuple[Affine, Affine] | None] = [None] * len(decoder.blocks)
    if not any(norm.uses_batch_statistics for norm in norms):
        pairs = eval_affines(norms, cond)
        affines = list(zip(pairs[::2], pairs[1::2], strict=True))
    for i, (block, block_affines) in enumerate(zip(decoder.blocks, affines, strict=True)):
        x = block(x, cond, block_affines)
        if i == decoder.attention_after:
            x = decoder.attention(x)
    return decoder.out_conv(torch.relu(decoder.out_bn(x))).contiguous()
