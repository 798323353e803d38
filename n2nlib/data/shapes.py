"""Procedural shapes with known factors, segmentation masks and English captions.

Every image shows one anti-aliased shape described by five factors (:data:`FACTORS`):
``shape`` (circle, square, triangle, star, heart), ``color`` (eight colours), ``size``
(small, large), ``position`` (a 3×3 grid) and ``background`` (a dark ``"plain"`` one or a crop of
a real ``"photo"``, see :mod:`n2nlib.data.photos`). Because the factors are known, every result
on this data can be *measured*: a classifier reads them back, a mask tells where the shape is.

How an image is made (``size`` = side ``S`` in pixels, default 32):

- **geometry**: the shape's "radius" ``R`` is drawn uniformly from ``0.10 S…0.12 S`` (small) or
  ``0.17 S…0.20 S`` (large); each shape is scaled to a similar area (circle of radius ``R``,
  square of half-side ``0.85 R``, …). Its area centroid is drawn uniformly inside the named grid
  cell (5 % away from the cell's border) and, where needed, pushed inwards so that the whole
  shape stays inside the image. No rotation.
- **anti-aliasing**: coverage is computed analytically from an exact signed distance function
  ``d`` (in pixels) as ``clamp(0.5 - d, 0, 1)``, so edge pixels take intermediate values.
- **colour**: a fixed RGB per colour name (:data:`COLOR_RGB`) plus a uniform per-image,
  per-channel variation of ±0.06.
- **background**: ``"plain"`` is dark (grey level 0.03…0.22, a small tint, a linear gradient,
  smooth blotches and a little pixel noise); ``"photo"`` is a random crop of a photograph of the
  *same split* (train images use :data:`~n2nlib.data.photos.TRAIN_PHOTOS`, held-out images use
  :data:`~n2nlib.data.photos.TEST_PHOTOS`).
- **mask**: ``(N, S, S)`` long, 0 for background and ``shape index + 1`` where coverage ≥ 0.5.

**Two worlds** (``world=``, see :data:`WORLDS`). ``"v1"`` is described above: small shapes
and sharp photo crops; its experts (``shapes-ae-32``, ``shapes-attributes-v1``, …) could not
draw it — reconstructions kept the factors of 0.96 of plain images but 0.56 of photo ones.
``"v2"``, the *drawable world*, keeps every factor and both domains but draws the shapes larger
(radius 0.15–0.17 or 0.22–0.25 of the side) and reduces each photo crop to its 4×4 cell
averages, upsampled bicubically (:func:`low_detail`): a photo background a small autoencoder
can carry. Its experts are ``shapes-ae``, ``shapes-attributes`` and ``shapes-segmenter``. The
default is still ``"v1"`` while the notebooks move.

**Splits.** ``split="train"`` and ``split="test"`` use different random streams, so their images
(jitter, colours, backgrounds) differ; their *factor combinations overlap* (there are only
5·8·2·9·2 = 1440 of them). For compositional generalisation, leave ``(shape, color)`` pairs out of
one set with ``exclude_pairs`` and keep only them in another with ``only_pairs``. Captions of the
test split may use templates and synonyms never used for train captions (see :func:`caption`).

The factors live in :mod:`n2nlib.data.factors`, the drawing in :mod:`n2nlib.data.render`, the
captions in :mod:`n2nlib.data.captions`; this module holds :class:`ShapesDataset`, and
:mod:`n2nlib.data` exports the names a user needs.

>>> from n2nlib.data import ShapesDataset, make_factors, render_shapes
>>> data = ShapesDataset(16, split="train", seed=0)
>>> data.images.shape, data.masks.shape, data.factors.shape
(torch.Size([16, 3, 32, 32]), torch.Size([16, 32, 32]), torch.Size([16, 5]))
>>> images, masks = render_shapes(make_factors(shape="star", color="red", position="top left"))
>>> images.shape
torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from n2nlib.data._common import (
    check_choice,
    check_int,
    check_split,
)
from n2nlib.data.captions import (
    make_captions,
)
from n2nlib.data.factors import (
    DEFAULT_WORLD,
    FACTOR_NAMES,
    FACTORS,
    MAX_SIZE,
    MIN_SIZE,
    WORLDS,
    _as_factor_tensor,
    _pair_set,
    factor_names,
    sample_factors,
)
from n2nlib.data.render import (
    render_shapes_full,
)

__all__ = ["ShapesDataset"]


class ShapesDataset(Dataset):
    """A fixed set of procedural shape images with factors, masks and captions.

    Arguments:
        n: number of images (may be ``None`` when ``factors`` is given).
        split: ``"train"`` or ``"test"`` (different random streams, held-out photographs for
            photo backgrounds, held-out caption phrasings).
        size: image side in pixels (16 to 256; default 32).
        seed: the same ``(seed, split, arguments)`` give identical tensors.
        background: ``"plain"`` (the default when drawing factors), ``"photo"`` or ``"mixed"``
            (each at random). With ``factors`` given, ``None`` (or ``"mixed"``) uses their
            background column and ``"plain"``/``"photo"`` must match every row.
        factors: ``None`` to draw factors uniformly, or fixed integer labels ``(N, 5)``.
        exclude_pairs: ``(shape, color)`` pairs (names or indices) left out of the set.
        only_pairs: keep only these ``(shape, color)`` pairs.
        mention: which factors the captions state: ``"all"``, ``"random"`` or a collection of
            factor names (see :func:`make_captions`).
        novel: in test captions, the probability of a held-out template or word at each choice.
        keep_coverage: keep the anti-aliased coverage (alpha) in ``render.coverage``.
        world: a key of :data:`WORLDS`: ``"v1"`` (small shapes, sharp photos) or ``"v2"``
            (larger shapes, low-detail photos: the world of ``zoo.load("shapes-ae")``).
        progress: show a tqdm bar (default: only for 20000 images or more).

    Attributes:
        images: float32 ``(N, 3, S, S)`` in [0, 1].
        masks: long ``(N, S, S)``: 0 background, ``shape index + 1`` on the shape.
        factors: long ``(N, 5)``: labels, columns :data:`FACTOR_NAMES`.
        captions: list of ``N`` strings; ``caption_objects`` holds the :class:`Caption` objects.
        stated: bool ``(N, 5)``: which factors each caption states.
        render: the :class:`ShapesRender` (centres, radii, colours, photo sources, coverage).

    Memory: about 20 KB an image at 32×32 (float32 image 12 KB, long mask 8 KB), 80 KB at
    64×64; 20000 images at 32×32 take about 400 MB.

    >>> data = ShapesDataset(8, split="test", background="photo", seed=1)
    >>> item = data[0]
    >>> sorted(item)
    ['caption', 'factors', 'image', 'mask', 'stated']
    """

    def __init__(
        self,
        n: int | None = None,
        split: str = "train",
        size: int = 32,
        seed: int = 0,
        background: str | None = None,
        factors: torch.Tensor | np.ndarray | Sequence[Sequence[int]] | None = None,
        *,
        exclude_pairs: Collection[tuple[str | int, str | int]] | None = None,
        only_pairs: Collection[tuple[str | int, str | int]] | None = None,
        mention: str | Iterable[str] = "all",
        novel: float = 0.5,
        keep_coverage: bool = False,
        world: str = DEFAULT_WORLD,
        progress: bool | None = None,
    ) -> None:
        self.split = check_split(split)
        self.world = check_choice("world", world, tuple(WORLDS))
        self.size = check_int("size", size, minimum=MIN_SIZE, maximum=MAX_SIZE)
        self.seed = check_int("seed", seed, minimum=0)
        if background is not None:
            check_choice("background", background, ("plain", "photo", "mixed"))
        if factors is None:
            if n is None:
                raise ValueError("ShapesDataset needs n (number of images) or factors, got neither")
            background = background or "plain"
            self.factors = sample_factors(
                n, seed, split=split, background=background,
                exclude_pairs=exclude_pairs, only_pairs=only_pairs,
            )
        else:
            self.factors = _as_factor_tensor(factors)
            if n is not None and check_int("n", n, minimum=0) != self.factors.shape[0]:
                raise ValueError(f"n must equal len(factors) = {self.factors.shape[0]}, got {n}")
            if background in ("plain", "photo"):
                want = FACTORS["background"].index(background)
                if bool((self.factors[:, 4] != want).any()):
                    raise ValueError(
                        f"background={background!r} but the given factors hold other "
                        f"backgrounds; pass background=None to use the factors' own column"
                    )
            background = background or "mixed"
            pairs = set(zip(self.factors[:, 0].tolist(), self.factors[:, 1].tolist(), strict=True))
            bad = pairs & _pair_set(exclude_pairs, "exclude_pairs")
            if bad:
                raise ValueError(f"the given factors contain excluded (shape, color) pairs {bad}")
            if only_pairs is not None:
                outside = pairs - _pair_set(only_pairs, "only_pairs")
                if outside:
                    raise ValueError(
                        f"the given factors contain pairs outside only_pairs {outside}"
                    )
        self.background = background
        self.render = render_shapes_full(self.factors, self.size, seed, self.split,
                                         world=self.world, progress=progress)
        if not keep_coverage:
            self.render.coverage = None  # 4 bytes a pixel that most users never read
        self.images = self.render.images
        self.masks = self.render.masks
        self.caption_objects = make_captions(self.factors, seed, self.split, mention, novel=novel)
        self.captions = [c.text for c in self.caption_objects]
        self.stated = torch.tensor(
            [[k in c.stated for k in FACTOR_NAMES] for c in self.caption_objects],
            dtype=torch.bool,
        ).reshape(-1, len(FACTOR_NAMES))

    def labels(self, factor: str) -> torch.Tensor:
        """The labels ``(N,)`` of one factor, e.g. ``data.labels("color")``."""
        check_choice("factor", factor, FACTOR_NAMES)
        return self.factors[:, FACTOR_NAMES.index(factor)]

    def names(self, index: int) -> dict[str, str]:
        """The factor value names of one image."""
        return factor_names(self.factors[index])[0]

    def __len__(self) -> int:
        return self.factors.shape[0]

    def __getitem__(self, index: int) -> dict[str, object]:
        return {
            "image": self.images[index],
            "mask": self.masks[index],
            "factors": self.factors[index],
            "caption": self.captions[index],
            "stated": self.stated[index],
        }

    def __repr__(self) -> str:
        return (f"ShapesDataset(n={len(self)}, split={self.split!r}, size={self.size}, "
                f"seed={self.seed}, background={self.background!r}, world={self.world!r})")
