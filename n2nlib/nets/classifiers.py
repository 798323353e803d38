"""Image classifiers and a segmenter: the measuring sticks and source experts of the course.

- :class:`AttributeClassifier` reads every factor of a shapes image (one head per factor); the
  metrics use it to check what a translation produced. ``predict`` returns labels per factor.
- :class:`Segmenter` labels every pixel of a shapes image (background or one of the five
  shapes) and exposes its intermediate layers (``taps``): the diagnosis notebook translates
  from several depths of it.
- :class:`DigitsClassifier` classifies the 8×8 scikit-learn digits, with layer taps too.

All take images in [0, 1], ``(B, C, S, S)``; inputs are checked and moved to the model's device
and dtype. ``encode`` makes each of them an :class:`~n2nlib.experts.Expert` (a flattened
feature vector); :mod:`n2nlib.zoo` ships trained ones.

>>> seg = Segmenter(width=4)
>>> seg.taps
('enc1', 'enc2', 'enc3', 'bottleneck', 'dec3', 'dec2', 'dec1', 'logits')
>>> seg.features(torch.rand(2, 3, 32, 32), "enc2", flatten=False).shape
torch.Size([2, 8, 16, 16])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib.nets.blocks import (
    ResBlock,
    TappedMixin,
    argmax_in_eval,
    conv_bn_relu,
    network_input,
    run_steps,
)

__all__ = ["AttributeClassifier", "Segmenter", "DigitsClassifier", "shapes_factor_values"]


def shapes_factor_values() -> dict[str, list[str]]:
    """The factors of :mod:`n2nlib.data.shapes` as ``{factor: [value names]}``.

    >>> list(shapes_factor_values())
    ['shape', 'color', 'size', 'position', 'background']
    """
    from n2nlib.data import FACTORS

    return {name: list(values) for name, values in FACTORS.items()}


class AttributeClassifier(nn.Module):
    """A CNN with one softmax head per factor (shape, colour, size, position, background).

    Backbone: a 3×3 stem and three downsampling ResNet blocks (32 → 4 pixels), flattened, one
    hidden layer of ``hidden`` units (the :meth:`encode` representation), then a linear head per
    factor.

    Arguments:
        factors: ``{factor name: [value names]}`` (default: the shapes factors).
        size: image side (a power of two ≥ 8).
        channels: image channels.
        width: stem channels (doubled per halving, capped at ``4·width``).
        hidden: size of the shared representation.

    >>> clf = AttributeClassifier(width=4, hidden=8)
    >>> labels = clf.predict(torch.rand(2, 3, 32, 32))
    >>> sorted(labels), labels["shape"].dtype
    (['background', 'color', 'position', 'shape', 'size'], torch.int64)
    """

    def __init__(
        self,
        factors: Mapping[str, Sequence[str]] | None = None,
        size: int = 32,
        channels: int = 3,
        width: int = 32,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        factors = shapes_factor_values() if factors is None else factors
        if not isinstance(factors, Mapping) or not factors:
            raise TypeError(f"factors must be a non-empty mapping name -> values, got {factors!r}")
        self.factors = {str(k): [str(v) for v in values] for k, values in factors.items()}
        if any(len(v) < 2 for v in self.factors.values()):
            raise ValueError("every factor needs at least two values")
        if size < 8 or size & (size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        self.size, self.channels, self.dim = size, channels, hidden
        self.config: dict[str, Any] = {
            "factors": self.factors, "size": size, "channels": channels, "width": width,
            "hidden": hidden,
        }
        blocks: list[nn.Module] = [conv_bn_relu(channels, width)]
        c, s = width, size
        while s > 4:
            c_out = min(2 * c, 4 * width)
            blocks.append(ResBlock(c, c_out, down=True))
            c, s = c_out, s // 2
        self.backbone = nn.Sequential(*blocks)
        self.fc = nn.Sequential(nn.Linear(c * 16, hidden), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict(
            {name: nn.Linear(hidden, len(values)) for name, values in self.factors.items()}
        )

    def _images(self, images: object) -> Tensor:
        return network_input(self, images, self.channels, self.size)

    def encode(self, images: Tensor) -> Tensor:
        """The shared representation ``(B, hidden)`` before the heads."""
        return self.fc(self.backbone(self._images(images)).flatten(1))

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Logits per factor: ``{factor: (B, n_values)}``."""
        h = self.encode(images)
        return {name: head(h) for name, head in self.heads.items()}

    def predict(self, images: Tensor, batch_size: int = 512) -> dict[str, Tensor]:
        """Predicted labels per factor, ``{factor: LongTensor (B,)}``, in eval mode, no grad.

        Arguments:
            images: ``(B, C, S, S)`` in [0, 1].
            batch_size: images per forward pass.
        """
        return argmax_in_eval(self, images, batch_size)

    def predict_factors(self, images: Tensor, batch_size: int = 512) -> Tensor:
        """Predicted labels as one LongTensor ``(B, n_factors)``, columns in factor order."""
        labels = self.predict(images, batch_size)
        return torch.stack([labels[name] for name in self.factors], dim=1)


class Segmenter(TappedMixin, nn.Module):
    """A small U-Net that labels each pixel: 0 background, ``k + 1`` for shape ``k``.

    Taps, input to output (for ``width = w`` and 32×32 images): ``enc1`` (w×32×32),
    ``enc2`` (2w×16×16), ``enc3`` (4w×8×8), ``bottleneck`` (4w×4×4), ``dec3`` (4w×8×8),
    ``dec2`` (2w×16×16), ``dec1`` (w×32×32), ``logits`` (n_classes×32×32).
    :meth:`encode` is the flattened ``bottleneck``; :meth:`tap_expert` makes an expert of any
    tap.

    Arguments:
        classes: class names, background first (default: background + the five shapes).
        size: image side (32 by default; a multiple of 8).
        channels: image channels.
        width: channels at full resolution.

    >>> seg = Segmenter(width=4)
    >>> seg.predict_masks(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 32, 32])
    """

    taps = ("enc1", "enc2", "enc3", "bottleneck", "dec3", "dec2", "dec1", "logits")
    default_tap = "bottleneck"

    def __init__(
        self,
        classes: Sequence[str] | None = None,
        size: int = 32,
        channels: int = 3,
        width: int = 16,
    ) -> None:
        super().__init__()
        if classes is None:
            classes = ["background"] + shapes_factor_values()["shape"]
        self.classes = [str(c) for c in classes]
        if len(self.classes) < 2:
            raise ValueError(f"a segmenter needs at least 2 classes, got {self.classes}")
        if size < 8 or size % 8:
            raise ValueError(f"size must be a multiple of 8, got {size}")
        self.size, self.channels = size, channels
        self.config: dict[str, Any] = {
            "classes": self.classes, "size": size, "channels": channels, "width": width,
        }
        w = width
        self.enc1 = nn.Sequential(conv_bn_relu(channels, w), conv_bn_relu(w, w))
        self.enc2 = ResBlock(w, 2 * w, down=True)
        self.enc3 = ResBlock(2 * w, 4 * w, down=True)
        self.bottleneck = ResBlock(4 * w, 4 * w, down=True)
        self.dec3 = nn.Sequential(conv_bn_relu(8 * w, 4 * w), conv_bn_relu(4 * w, 4 * w))
        self.dec2 = nn.Sequential(conv_bn_relu(6 * w, 2 * w), conv_bn_relu(2 * w, 2 * w))
        self.dec1 = nn.Sequential(conv_bn_relu(3 * w, w), conv_bn_relu(w, w))
        self.head = nn.Conv2d(w, len(self.classes), 1)
        self.dim = 4 * w * (size // 8) ** 2

    @property
    def n_classes(self) -> int:
        """Number of classes (background included)."""
        return len(self.classes)

    def _run(self, images: Tensor, until: str = "logits") -> dict[str, Tensor]:
        def up(x: Tensor) -> Tensor:
            return F.interpolate(x, scale_factor=2.0, mode="nearest")

        return run_steps((
            ("enc1", lambda o: self.enc1(images)),
            ("enc2", lambda o: self.enc2(o["enc1"])),
            ("enc3", lambda o: self.enc3(o["enc2"])),
            ("bottleneck", lambda o: self.bottleneck(o["enc3"])),
            ("dec3", lambda o: self.dec3(torch.cat([up(o["bottleneck"]), o["enc3"]], 1))),
            ("dec2", lambda o: self.dec2(torch.cat([up(o["dec3"]), o["enc2"]], 1))),
            ("dec1", lambda o: self.dec1(torch.cat([up(o["dec2"]), o["enc1"]], 1))),
            ("logits", lambda o: self.head(o["dec1"])),
        ), until)

    def forward(self, images: Tensor) -> Tensor:
        """Per-pixel logits ``(B, n_classes, S, S)``."""
        return self._run(self._prepare(images))["logits"].contiguous()

    def encode(self, images: Tensor) -> Tensor:
        """The flattened ``bottleneck`` tap ``(B, dim)``."""
        return self.features(images, "bottleneck")

    def predict_masks(self, images: Tensor, batch_size: int = 512) -> Tensor:
        """Predicted masks ``(B, S, S)`` (long: 0 background, ``k + 1`` shape ``k``), no grad."""
        return argmax_in_eval(self, images, batch_size)


class DigitsClassifier(TappedMixin, nn.Module):
    """A small CNN for 8×8 grey digits, with layer taps for the diagnosis notebook.

    Taps: ``conv1`` (w×8×8), ``conv2`` (2w×4×4), ``conv3`` (2w×4×4), ``fc`` (``hidden``),
    ``logits`` (10). :meth:`encode` is the ``fc`` tap.

    Arguments:
        n_classes: number of classes.
        size: image side (8 for scikit-learn's digits).
        channels: image channels.
        width: channels of ``conv1``.
        hidden: units of the ``fc`` layer.
        dropout: dropout before the last layer (training only).

    >>> clf = DigitsClassifier(width=4, hidden=8)
    >>> clf.predict(torch.rand(3, 1, 8, 8)).shape, clf.tap_shape("conv2")
    (torch.Size([3]), (8, 4, 4))
    """

    taps = ("conv1", "conv2", "conv3", "fc", "logits")
    default_tap = "fc"

    def __init__(
        self,
        n_classes: int = 10,
        size: int = 8,
        channels: int = 1,
        width: int = 32,
        hidden: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if size < 4 or size % 2:
            raise ValueError(f"size must be an even int >= 4, got {size}")
        self.size, self.channels, self.dim, self.n_classes = size, channels, hidden, n_classes
        self.config: dict[str, Any] = {
            "n_classes": n_classes, "size": size, "channels": channels, "width": width,
            "hidden": hidden, "dropout": dropout,
        }
        self.conv1 = conv_bn_relu(channels, width)
        self.conv2 = conv_bn_relu(width, 2 * width, stride=2)
        self.conv3 = conv_bn_relu(2 * width, 2 * width)
        self.fc = nn.Sequential(
            nn.Linear(2 * width * (size // 2) ** 2, hidden), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)

    def _run(self, images: Tensor, until: str = "logits") -> dict[str, Tensor]:
        return run_steps((
            ("conv1", lambda o: self.conv1(images)),
            ("conv2", lambda o: self.conv2(o["conv1"])),
            ("conv3", lambda o: self.conv3(o["conv2"])),
            ("fc", lambda o: self.fc(o["conv3"].flatten(1))),
            ("logits", lambda o: self.head(self.dropout(o["fc"]))),
        ), until)

    def forward(self, images: Tensor) -> Tensor:
        """Class logits ``(B, n_classes)``."""
        return self._run(self._prepare(images))["logits"]

    def encode(self, images: Tensor) -> Tensor:
        """The ``fc`` tap ``(B, hidden)``."""
        return self.features(images, "fc")

    def predict(self, images: Tensor, batch_size: int = 1024) -> Tensor:
        """Predicted classes, LongTensor ``(B,)``, in eval mode, no grad."""
        return argmax_in_eval(self, images, batch_size)
