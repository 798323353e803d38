r"""BigGAN's generator trunk, shared by the autoencoder's decoder Λ and the shapes generator:
conditional batch norm, the residual up-block, the non-local block, and :func:`run_up_trunk`,
which runs them from a 4×4 map to the output.

In eval mode a conditional batch norm is an affine map of its condition ``c`` per sample and
channel, ``x · a(c) + b(c)``, and ``a`` and ``b`` are themselves linear in ``c``
(:meth:`ConditionalBatchNorm2d.eval_affine`). So :func:`run_up_trunk` computes the ``a`` and
``b`` of every block in one product, with the layers' weights folded and stacked once and kept
until a parameter or running statistic changes.

>>> block = UpBlock(8, 4, cond_dim=3).eval()
>>> block(torch.randn(2, 8, 4, 4), torch.randn(2, 3)).shape
torch.Size([2, 4, 8, 8])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib.nets.blocks import CHANNELS_LAST

__all__ = ["ConditionalBatchNorm2d", "UpBlock", "SelfAttention", "run_up_trunk"]


class ConditionalBatchNorm2d(nn.Module):
    r"""BigGAN's conditional batch norm: ``BN(x) · (1 + W_g c + β_g) + W_b c + β_b``.

    In eval mode BN is the affine map of the running statistics, and the layer is one pass
    ``x · a + b`` per sample and channel, with

    .. math::

        r = (\sigma^2 + \epsilon)^{-1/2}, \quad
        a = r \odot (1 + W_g c + \beta_g), \quad
        b = W_b c + \beta_b - \mu \odot a,

    both linear in ``c`` (:meth:`eval_affine`). In training mode (or without running
    statistics) it normalises with the batch's statistics.

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

    def eval_affine(self) -> tuple[Tensor, Tensor]:
        """The eval-mode layer as a linear map of the condition.

        Returns:
            ``(weight, bias)``, ``(2C, cond_dim)`` and ``(2C,)``:
            ``F.linear(c, weight, bias)`` is ``[a, b]`` of the class formula, and the layer's
            output is ``x · a + b``.

        Raises:
            RuntimeError: the layer keeps no running statistics.
        """
        bn = self.bn
        if bn.running_var is None or bn.running_mean is None:
            raise RuntimeError("this batch norm keeps no running statistics: it has no eval "
                               "affine map")
        r = torch.rsqrt(bn.running_var + bn.eps)
        weight_a = r[:, None] * self.gain.weight
        bias_a = r * (1.0 + self.gain.bias)
        weight_b = self.bias.weight - bn.running_mean[:, None] * weight_a
        bias_b = self.bias.bias - bn.running_mean * bias_a
        return torch.cat([weight_a, weight_b]), torch.cat([bias_a, bias_b])

    def forward(self, x: Tensor, cond: Tensor, affine: Tensor | None = None) -> Tensor:
        """``x`` ``(B, C, H, W)`` normalised under ``cond`` ``(B, cond_dim)``.

        Arguments:
            affine: in eval mode, ``[a, b]`` ``(B, 2C)`` computed already (as
                :func:`run_up_trunk` does for all its layers at once); else it is computed
                from ``cond``.
        """
        if self.uses_batch_statistics:
            gain, bias = 1.0 + self.gain(cond), self.bias(cond)
            return self.bn(x) * gain[:, :, None, None] + bias[:, :, None, None]
        if affine is None:
            affine = F.linear(cond, *self.eval_affine())
        scale, shift = affine[:, :, None, None].chunk(2, dim=1)
        return torch.addcmul(shift, x, scale)


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
        self, x: Tensor, cond: Tensor, affines: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        """``x`` ``(B, c_in, S, S)`` → ``(B, c_out, 2S, 2S)``; ``affines``: the eval-mode
        ``[a, b]`` of ``bn1`` and ``bn2`` (see :meth:`ConditionalBatchNorm2d.forward`)."""
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


def _stacked_eval_affines(norms: list[ConditionalBatchNorm2d]) -> tuple[Tensor, Tensor]:
    weights, biases = zip(*(norm.eval_affine() for norm in norms), strict=True)
    return torch.cat(weights), torch.cat(biases)


def _trunk_affines(decoder: nn.Module, norms: list[ConditionalBatchNorm2d]
                   ) -> tuple[Tensor, Tensor]:
    """The stacked eval affine maps of ``norms``, kept on ``decoder`` until one of their
    tensors changes (its storage or its version counter). Computed afresh, and differentiable,
    when autograd is on and one of them requires a gradient; not kept for inference tensors,
    which have no version counter."""
    tensors: list[Tensor] = []
    for norm in norms:  # the modules' dicts directly: 3× cheaper than their attributes
        gain, bias, stats = norm.gain._parameters, norm.bias._parameters, norm.bn._buffers
        tensors += (gain["weight"], gain["bias"], bias["weight"], bias["bias"],
                    stats["running_mean"], stats["running_var"])
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _stacked_eval_affines(norms)
    try:
        key = [(t.data_ptr(), t._version) for t in tensors] + [norm.bn.eps for norm in norms]
    except RuntimeError:  # inference tensors
        return _stacked_eval_affines(norms)
    cached = decoder.__dict__.get("_trunk_affines")
    if cached is None or cached[0] != key:
        # ordinary tensors even under inference mode, so that autograd may use them later
        with torch.inference_mode(False), torch.no_grad():
            cached = (key, _stacked_eval_affines(norms))
        decoder.__dict__["_trunk_affines"] = cached
    return cached[1]


def run_up_trunk(decoder: nn.Module, x: Tensor, cond: Tensor) -> Tensor:
    """BigGAN's generator trunk from the 4×4 map ``x``: the decoder's up-blocks conditioned on
    ``cond`` (its non-local block after ``attention_after``), then BN, ReLU and ``out_conv``.

    The maps run channels-last (:data:`~n2nlib.nets.blocks.CHANNELS_LAST`); the output is
    contiguous. In eval mode the conditional batch norms' ``[a, b]`` come from one product
    (see the module doc). ``decoder`` has ``blocks`` (:class:`UpBlock`), ``attention_after``
    (``-1``: none), ``attention``, ``out_bn`` and ``out_conv``."""
    x = x.contiguous(memory_format=CHANNELS_LAST)
    norms = [norm for block in decoder.blocks for norm in (block.bn1, block.bn2)]
    affines: list[tuple[Tensor, Tensor] | None] = [None] * len(decoder.blocks)
    if not any(norm.uses_batch_statistics for norm in norms):
        stacked = F.linear(cond, *_trunk_affines(decoder, norms))
        parts = stacked.split([2 * norm.bn.num_features for norm in norms], dim=1)
        affines = list(zip(parts[::2], parts[1::2], strict=True))
    for i, (block, block_affines) in enumerate(zip(decoder.blocks, affines, strict=True)):
        x = block(x, cond, block_affines)
        if i == decoder.attention_after:
            x = decoder.attention(x)
    return decoder.out_conv(torch.relu(decoder.out_bn(x))).contiguous()
