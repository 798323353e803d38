"""Expert f at depth k: one layer of a tapped image model as a source expert (model diagnosis).

The paper's Sec. 4.2 (Fig. 5) and supplement E translate the representation of *one* network f,
taken at several depths, into the space of an autoencoder g and sample: what the samples keep is
what f still knows at that depth, what varies is what f has become invariant to.

:class:`LayerExpert` turns a model with layer taps (:class:`~n2nlib.nets.classifiers.Segmenter`,
:class:`~n2nlib.nets.classifiers.DigitsClassifier`, or anything with ``taps`` and
``features(images, layer, flatten=..., pool=...)``) into a frozen source expert for one layer.
Spatial taps stay ``(B, C, H, W)`` by default, so that a :class:`~n2nlib.flows.ConditionalINN`
built for them gets the convolutional embedder of Table S3b; ``spatial=False`` flattens them.
The extra layer name ``"argmax"`` is the model's *output*: the one-hot argmax of its logits — a
segmentation mask ``(n_classes, H, W)`` or a class ``(n_classes,)``.

>>> from n2nlib.nets.classifiers import DigitsClassifier
>>> clf = DigitsClassifier(width=4, hidden=8)
>>> LayerExpert.layers(clf)
('conv1', 'conv2', 'conv3', 'fc', 'logits', 'argmax')
>>> expert = LayerExpert(clf, "conv2")
>>> expert.latent_shape, expert.dim, expert.encode(torch.rand(3, 1, 8, 8)).shape
((8, 4, 4), 128, torch.Size([3, 8, 4, 4]))
>>> LayerExpert(clf, "argmax").encode(torch.rand(2, 1, 8, 8)).sum(1).tolist()
[1.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from n2nlib.experts.base import freeze

__all__ = ["LayerExpert", "ARGMAX"]

#: The pseudo-layer name of a model's output: the one-hot argmax of its ``logits`` tap.
ARGMAX = "argmax"


def _check_tapped(model: object) -> None:
    taps = getattr(model, "taps", None)
    if not (isinstance(taps, tuple | list) and taps and callable(getattr(model, "features", None))
            and isinstance(model, nn.Module)):
        raise TypeError(
            f"model must be an nn.Module with layer taps (a tuple `taps` and "
            f"features(images, layer, flatten=..., pool=...)), e.g. "
            f"zoo.load('shapes-segmenter'); got {type(model).__name__}"
        )


class LayerExpert(nn.Module):
    """The representation of ``model`` at ``layer``, as a frozen source expert.

    Arguments:
        model: a tapped image model (it is frozen: eval mode, no gradients).
        layer: one of ``LayerExpert.layers(model)``: a tap, or ``"argmax"`` (the one-hot
            argmax of the ``logits`` tap over its channel dimension).
        spatial: keep spatial taps ``(B, C, H, W)`` (the expert then has a ``latent_shape``,
            and a cINN gets a conv embedder); ``False`` flattens them to ``(B, dim)``.
        pool: average-pool spatial taps to ``pool × pool`` first (smaller codes, cheaper
            embedders); for ``"argmax"`` the one-hot map is pooled, giving the fraction of each
            class per cell.
        name: a label (default ``"<Model>[<layer>]"``).

    Attributes:
        dim: the flattened size of one code.
        latent_shape: ``(C, H, W)`` for spatial codes, else ``None`` (vector codes ``(dim,)``).

    Raises:
        TypeError: ``model`` has no taps.
        ValueError: unknown ``layer`` (``"argmax"`` needs a ``logits`` tap), or a bad
            ``pool``.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        *,
        spatial: bool = True,
        pool: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        _check_tapped(model)
        valid = self.layers(model)
        if layer not in valid:
            raise ValueError(f"layer must be one of {list(valid)}, got {layer!r}")
        if pool is not None and (not isinstance(pool, int) or pool < 1):
            raise ValueError(f"pool must be a positive int or None, got {pool!r}")
        self.model = freeze(model)
        self.layer, self.spatial, self.pool = layer, bool(spatial), pool
        self.name = name or f"{type(model).__name__}[{layer}]"
        p = next(model.parameters())
        probe = torch.zeros(1, model.channels, model.size, model.size, device=p.device,
                            dtype=p.dtype)
        shape = tuple(self._features(probe).shape[1:])
        self.dim = 1
        for s in shape:
            self.dim *= int(s)
        self.latent_shape: tuple[int, ...] | None = shape if len(shape) == 3 else None
        freeze(self)

    @staticmethod
    def layers(model: Any) -> tuple[str, ...]:
        """The layer names ``model`` offers, input to output: its taps, then ``"argmax"`` if it
        has a ``logits`` tap."""
        _check_tapped(model)
        taps = tuple(model.taps)
        return taps + ((ARGMAX,) if "logits" in taps else ())

    @torch.no_grad()
    def _features(self, images: Tensor) -> Tensor:
        if self.layer == ARGMAX:
            logits = self.model.features(images, "logits", flatten=False)
            labels = logits.argmax(dim=1)
            onehot = nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)
            out = onehot.permute(0, 3, 1, 2) if onehot.ndim == 4 else onehot
            if out.ndim == 4 and self.pool is not None and out.shape[-1] > self.pool:
                out = nn.functional.adaptive_avg_pool2d(out, self.pool)
        else:
            out = self.model.features(images, self.layer, flatten=False, pool=self.pool)
        if out.ndim == 4 and self.spatial:
            return out.contiguous()
        return out.flatten(1)

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """``(B, C, H, W)`` for a spatial layer (with ``spatial=True``), else ``(B, dim)``."""
        return self._features(images)

    def extra_repr(self) -> str:
        shape = self.latent_shape if self.latent_shape is not None else (self.dim,)
        return f"layer={self.layer!r}, shape={shape}"
