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

>>> from n2nlib.data.shapes import ShapesDataset, make_factors, render_shapes
>>> data = ShapesDataset(16, split="train", seed=0)
>>> data.images.shape, data.masks.shape, data.factors.shape
(torch.Size([16, 3, 32, 32]), torch.Size([16, 32, 32]), torch.Size([16, 5]))
>>> images, masks = render_shapes(make_factors(shape="star", color="red", position="top left"))
>>> images.shape
torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from n2nlib.data import _sdf
from n2nlib.data._common import (
    auto_progress,
    check_choice,
    check_int,
    check_split,
    seed_sequence,
)

__all__ = [
    "FACTORS",
    "FACTOR_NAMES",
    "COLOR_RGB",
    "SIZE_RANGES",
    "MIN_SIZE",
    "MAX_SIZE",
    "World",
    "WORLDS",
    "DEFAULT_WORLD",
    "low_detail",
    "make_factors",
    "sample_factors",
    "factor_names",
    "render_shapes",
    "ShapesRender",
    "render_shapes_full",
    "Caption",
    "Template",
    "TEMPLATES",
    "NOUN_PHRASES",
    "SYNONYMS",
    "POSITION_LABELS",
    "GENERIC_NOUNS",
    "caption",
    "make_captions",
    "ShapesDataset",
]

# --------------------------------------------------------------------------- factors

FACTORS: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "star", "heart"),
    "color": ("red", "green", "blue", "yellow", "purple", "orange", "white", "cyan"),
    "size": ("small", "large"),
    "position": (
        "top left", "top", "top right",
        "left", "center", "right",
        "bottom left", "bottom", "bottom right",
    ),
    "background": ("plain", "photo"),
}
"""Factor name -> its values, in order; a factor label is an index into the tuple."""

FACTOR_NAMES: tuple[str, ...] = tuple(FACTORS)

COLOR_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.12, 0.12),
    "green": (0.15, 0.75, 0.20),
    "blue": (0.15, 0.35, 0.95),
    "yellow": (0.95, 0.88, 0.15),
    "purple": (0.60, 0.22, 0.82),
    "orange": (1.00, 0.55, 0.05),
    "white": (0.95, 0.95, 0.95),
    "cyan": (0.10, 0.85, 0.90),
}
"""The base RGB of each colour name; each image varies it by up to ±:data:`COLOR_JITTER`."""

COLOR_JITTER = 0.06
SIZE_RANGES: dict[str, tuple[float, float]] = {"small": (0.10, 0.12), "large": (0.17, 0.20)}
"""Range of the shape radius ``R`` as a fraction of the image side."""



@dataclass(frozen=True)
class World:
    """How big the shapes are and how much detail a photo background keeps.

    Attributes:
        size_ranges: the range of the shape radius ``R`` per size, as a fraction of the side.
        photo_cells: ``None`` keeps photo crops sharp; ``k`` reduces each crop to its ``k × k``
            cell averages and upsamples them bicubically (a low-detail photo crop).
    """

    size_ranges: Mapping[str, tuple[float, float]]
    photo_cells: int | None


WORLDS: dict[str, World] = {
    "v1": World(size_ranges=SIZE_RANGES, photo_cells=None),
    "v2": World(size_ranges={"small": (0.15, 0.17), "large": (0.22, 0.25)}, photo_cells=4),
}
"""The shapes worlds. ``"v1"``: small shapes on sharp photo crops, the world of the first
experts (``shapes-ae-32``, ``shapes-generator``, …). ``"v2"``: larger shapes on low-detail
photo crops, designed so that a small autoencoder can draw it (``benchmarks/probe_world_cause.py``
and the "world" table of ``benchmarks/RESULTS.md``): the world of ``shapes-ae``."""

DEFAULT_WORLD = "v1"

MIN_SIZE = 16
MAX_SIZE = 256
_CELL_MARGIN = 0.05  # centroids stay this fraction of a cell away from the cell's border
_CHUNK = 512  # images rendered at once (fixed: the random noise stream depends on it)

_SHAPE_SDF = {
    "circle": lambda x, y: _sdf.sd_circle(x, y, 1.0),
    "square": lambda x, y: _sdf.sd_box(x, y, 0.85),
    "triangle": lambda x, y: _sdf.sd_triangle(x, y, 1.2),
    "star": lambda x, y: _sdf.sd_star5(x, y, 1.35, 0.5),
    "heart": lambda x, y: _sdf.sd_heart(x / 1.8, y / 1.8) * 1.8,
}


@functools.cache
def _shape_geometry() -> dict[str, tuple[float, float]]:
    """Per shape (in units of R, y-up): centroid height and extent (max distance from it)."""
    n = 1001
    t = torch.linspace(-2.5, 2.5, n, dtype=torch.float64)
    y, x = torch.meshgrid(t, t, indexing="ij")
    out = {}
    for name, sdf in _SHAPE_SDF.items():
        inside = sdf(x, y) <= 0
        gy = float(y[inside].mean())
        extent = float(torch.sqrt(x[inside] ** 2 + (y[inside] - gy) ** 2).max())
        out[name] = (gy, extent + 5.0 / (n - 1))
    return out


def _check_factor_value(name: str, value: object) -> int:
    values = FACTORS[name]
    if isinstance(value, str):
        if value not in values:
            raise ValueError(f"{name} must be one of {list(values)}, got {value!r}")
        return values.index(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= int(value) < len(values):
            raise ValueError(f"{name} index must be in [0, {len(values) - 1}], got {value}")
        return int(value)
    raise TypeError(f"{name} must be a name in {list(values)} or an index, got {value!r}")


def make_factors(
    shape: str | int | Sequence[str | int],
    color: str | int | Sequence[str | int],
    size: str | int | Sequence[str | int] = "large",
    position: str | int | Sequence[str | int] = "center",
    background: str | int | Sequence[str | int] = "plain",
) -> torch.Tensor:
    """Factor labels from names (or indices); lists broadcast against single values.

    Arguments:
        shape, color, size, position, background: a value of :data:`FACTORS` each, by name or
            index, or a list of them (all lists must have the same length).

    Returns:
        LongTensor ``(n, 5)``, columns in the order of :data:`FACTOR_NAMES`.

    >>> make_factors(shape=["star", "heart"], color="red", position="top left").tolist()
    [[3, 0, 1, 0, 0], [4, 0, 1, 0, 0]]
    """
    columns = {"shape": shape, "color": color, "size": size, "position": position,
               "background": background}
    lengths = {len(v) for v in columns.values() if isinstance(v, (list, tuple))}
    if len(lengths) > 1:
        raise ValueError(f"lists given to make_factors must have one length, got {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    out = torch.empty(n, len(FACTORS), dtype=torch.long)
    for j, (name, value) in enumerate(columns.items()):
        values = value if isinstance(value, (list, tuple)) else [value] * n
        out[:, j] = torch.tensor([_check_factor_value(name, v) for v in values], dtype=torch.long)
    return out


def _as_factor_tensor(factors: object) -> torch.Tensor:
    """Validate a factor array: (N, 5) integers within range."""
    if isinstance(factors, np.ndarray):
        factors = torch.from_numpy(factors)
    elif not isinstance(factors, torch.Tensor):
        try:
            factors = torch.as_tensor(factors)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"factors must be an integer array of shape (N, 5), got {type(factors).__name__}"
            ) from None
    if factors.dtype.is_floating_point or factors.dtype == torch.bool or factors.is_complex():
        raise TypeError(f"factors must hold integers, got dtype {factors.dtype}")
    if factors.ndim == 1 and factors.numel() == len(FACTORS):
        factors = factors[None]
    if factors.ndim != 2 or factors.shape[1] != len(FACTORS):
        raise ValueError(
            f"factors must have shape (N, {len(FACTORS)}) ({', '.join(FACTOR_NAMES)}), "
            f"got {tuple(factors.shape)}"
        )
    factors = factors.long().cpu()
    for j, (name, values) in enumerate(FACTORS.items()):
        col = factors[:, j]
        if col.numel() and (int(col.min()) < 0 or int(col.max()) >= len(values)):
            raise ValueError(
                f"factor column {j} ({name}) must be in [0, {len(values) - 1}], "
                f"got values in [{int(col.min())}, {int(col.max())}]"
            )
    return factors


def factor_names(factors: torch.Tensor | np.ndarray | Sequence[int]) -> list[dict[str, str]]:
    """Turn factor labels into names.

    Arguments:
        factors: integer labels ``(N, 5)`` (or one row of 5).

    Returns:
        One dict per row, factor name -> value name.

    >>> factor_names(make_factors("heart", "cyan", position="top"))[0]["position"]
    'top'
    """
    factors = _as_factor_tensor(factors)
    return [
        {name: FACTORS[name][int(v)] for name, v in zip(FACTOR_NAMES, row, strict=True)}
        for row in factors.tolist()
    ]


def _pair_set(
    pairs: Iterable[tuple[str | int, str | int]] | None, what: str
) -> set[tuple[int, int]]:
    if pairs is None:
        return set()
    if isinstance(pairs, (str, bytes)):
        raise TypeError(f"{what} must be a collection of (shape, color) pairs, got {pairs!r}")
    out = set()
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{what} must hold (shape, color) pairs, got the element {pair!r}")
        out.add((_check_factor_value("shape", pair[0]), _check_factor_value("color", pair[1])))
    return out


def _as_rng(seed: int | np.random.Generator, split: str, stream: int) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed, split, stream))


def sample_factors(
    n: int,
    seed: int | np.random.Generator = 0,
    *,
    split: str = "train",
    background: str = "plain",
    exclude_pairs: Iterable[tuple[str | int, str | int]] | None = None,
    only_pairs: Iterable[tuple[str | int, str | int]] | None = None,
) -> torch.Tensor:
    """Draw factor labels uniformly at random.

    Arguments:
        n: number of rows.
        seed: int seed (combined with ``split``) or a NumPy Generator.
        split: ``"train"`` or ``"test"``; with an int seed, the two splits draw different rows.
        background: ``"plain"``, ``"photo"`` or ``"mixed"`` (uniform over both).
        exclude_pairs: ``(shape, color)`` pairs (names or indices) that never occur.
        only_pairs: if given, ``(shape, color)`` is drawn uniformly from these pairs only.

    Returns:
        LongTensor ``(n, 5)``.

    >>> f = sample_factors(1000, exclude_pairs={("star", "red")})
    >>> bool(((f[:, 0] == 3) & (f[:, 1] == 0)).any())
    False
    """
    n = check_int("n", n, minimum=0)
    split = check_split(split)
    background = check_choice("background", background, ("plain", "photo", "mixed"))
    excluded = _pair_set(exclude_pairs, "exclude_pairs")
    all_pairs = [(s, c) for s in range(len(FACTORS["shape"])) for c in range(len(FACTORS["color"]))]
    pairs = sorted(_pair_set(only_pairs, "only_pairs")) if only_pairs is not None else all_pairs
    pairs = [p for p in pairs if p not in excluded]
    if not pairs:
        raise ValueError("exclude_pairs/only_pairs leave no (shape, color) pair to sample from")
    rng = _as_rng(seed, split, stream=0xFAC7)
    pair_idx = rng.integers(0, len(pairs), size=n)
    out = np.empty((n, len(FACTORS)), dtype=np.int64)
    out[:, 0] = [pairs[i][0] for i in pair_idx]
    out[:, 1] = [pairs[i][1] for i in pair_idx]
    out[:, 2] = rng.integers(0, len(FACTORS["size"]), size=n)
    out[:, 3] = rng.integers(0, len(FACTORS["position"]), size=n)
    if background == "mixed":
        out[:, 4] = rng.integers(0, 2, size=n)
    else:
        out[:, 4] = FACTORS["background"].index(background)
    return torch.from_numpy(out)


# --------------------------------------------------------------------------- rendering


@dataclass
class ShapesRender:
    """Everything :func:`render_shapes_full` draws.

    Attributes:
        images: float32 ``(N, 3, S, S)`` in [0, 1].
        masks: long ``(N, S, S)``: 0 background, ``shape + 1`` inside the shape.
        coverage: float32 ``(N, S, S)`` in [0, 1], the anti-aliased shape coverage (alpha);
            ``None`` in a :class:`ShapesDataset` made without ``keep_coverage=True``.
        centers: float32 ``(N, 2)``: the shape's area centroid ``(x, y)`` in pixels, ``y`` down.
        radii: float32 ``(N,)``: the shape radius ``R`` in pixels.
        colors: float32 ``(N, 3)``: the shape's RGB.
        background_sources: long ``(N,)``: for photo backgrounds, the index of the photograph
            in :data:`~n2nlib.data.photos.PHOTO_NAMES`; -1 for plain ones.
    """

    images: torch.Tensor
    masks: torch.Tensor
    coverage: torch.Tensor | None
    centers: torch.Tensor
    radii: torch.Tensor
    colors: torch.Tensor
    background_sources: torch.Tensor


def _plain_backgrounds(n: int, size: int, rng: np.random.Generator, gen: torch.Generator, *,
                       gradient: bool = True, blotches: bool = True,
                       noise: bool = True) -> torch.Tensor:
    """Plain backgrounds: level + tint, a gradient, 4×4 blotches (bicubic), pixel noise; the
    switches leave a part out (and its draws), for ``benchmarks/probe_plain_background.py``."""
    level = rng.uniform(0.03, 0.22, size=(n, 1))
    tint = rng.uniform(-0.04, 0.04, size=(n, 3))
    base = torch.from_numpy(level + tint).float()  # (n, 3)
    bg = base[:, :, None, None].expand(n, 3, size, size).clone()
    if gradient:
        amp = torch.from_numpy(rng.uniform(0.0, 0.10, size=n)).float()
        theta = torch.from_numpy(rng.uniform(0.0, 2 * math.pi, size=n)).float()
        t = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
        ramp = (torch.cos(theta)[:, None, None] * t[None, None, :]
                + torch.sin(theta)[:, None, None] * t[None, :, None])  # (n, S, S)
        bg += (amp[:, None, None] * ramp)[:, None]
    if blotches:
        blot = torch.randn(n, 3, 4, 4, generator=gen, dtype=torch.float32) * 0.03
        bg += F.interpolate(blot, size=(size, size), mode="bicubic", align_corners=False)
    if noise:
        bg += torch.randn(n, 3, size, size, generator=gen, dtype=torch.float32) * 0.012
    return bg.clamp_(0.0, 1.0)


def low_detail(images: torch.Tensor, cells: int) -> torch.Tensor:
    """Keep only the ``cells × cells`` averages of each image, upsampled bicubically.

    >>> low_detail(torch.rand(2, 3, 32, 32), 4).shape
    torch.Size([2, 3, 32, 32])
    """
    cells = check_int("cells", cells, minimum=1)
    coarse = F.adaptive_avg_pool2d(images, cells)
    return F.interpolate(coarse, size=images.shape[-2:], mode="bicubic",
                         align_corners=False).clamp_(0.0, 1.0)


def render_shapes_full(
    factors: torch.Tensor | np.ndarray | Sequence[Sequence[int]],
    size: int = 32,
    seed: int | np.random.Generator = 0,
    split: str = "train",
    *,
    world: str = DEFAULT_WORLD,
    progress: bool | None = None,
) -> ShapesRender:
    """Render images for given factor labels, with masks and the drawn continuous parameters.

    Arguments:
        factors: integer labels ``(N, 5)`` (see :func:`make_factors`, :func:`sample_factors`).
        size: image side in pixels, ``16 <= size <= 256``.
        seed: int seed (combined with ``split``) or a NumPy Generator; fixes the jitter,
            colours and backgrounds.
        split: ``"train"`` or ``"test"``: which random stream, and which photographs make
            photo backgrounds.
        world: a key of :data:`WORLDS` (shape sizes, detail of photo backgrounds).
        progress: show a tqdm bar (default: only for 20000 images or more).

    Returns:
        A :class:`ShapesRender`.
    """
    factors = _as_factor_tensor(factors)
    size = check_int("size", size, minimum=MIN_SIZE, maximum=MAX_SIZE)
    split = check_split(split)
    spec = WORLDS[check_choice("world", world, tuple(WORLDS))]
    n = factors.shape[0]
    rng = _as_rng(seed, split, stream=0x5EA9E)
    geo = _shape_geometry()
    shapes = factors[:, 0].numpy()
    names = FACTORS["shape"]

    # geometry
    lo_hi = np.array([spec.size_ranges[s] for s in FACTORS["size"]])[factors[:, 2].numpy()]
    radius = (lo_hi[:, 0] + rng.random(n) * (lo_hi[:, 1] - lo_hi[:, 0])) * size
    extent = np.array([geo[names[s]][1] for s in shapes]) * radius
    row, col = np.divmod(factors[:, 3].numpy(), 3)
    cell = size / 3.0
    centers = np.empty((n, 2))
    for k, index in enumerate((col, row)):
        lo = np.maximum(index * cell + _CELL_MARGIN * cell, extent + 0.5)
        hi = np.minimum((index + 1) * cell - _CELL_MARGIN * cell, size - extent - 0.5)
        mid = (lo + hi) / 2
        lo, hi = np.where(lo <= hi, lo, mid), np.where(lo <= hi, hi, mid)
        centers[:, k] = lo + rng.random(n) * (hi - lo)
    base_rgb = np.array([COLOR_RGB[c] for c in FACTORS["color"]])[factors[:, 1].numpy()]
    rgb = np.clip(base_rgb + rng.uniform(-COLOR_JITTER, COLOR_JITTER, size=(n, 3)), 0.0, 1.0)

    # backgrounds: photo crops first (they need their own draws), plain ones per chunk
    is_photo = factors[:, 4].numpy() == FACTORS["background"].index("photo")
    sources = torch.full((n,), -1, dtype=torch.long)
    photo_images = None
    if is_photo.any():
        from n2nlib.data.photos import random_crops

        photo_images, photo_src = random_crops(int(is_photo.sum()), size, split, rng)
        if spec.photo_cells is not None:
            photo_images = low_detail(photo_images, spec.photo_cells)
        sources[torch.from_numpy(is_photo)] = photo_src
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))

    images = torch.empty(n, 3, size, size, dtype=torch.float32)
    masks = torch.empty(n, size, size, dtype=torch.long)
    coverage = torch.empty(n, size, size, dtype=torch.float32)
    t = torch.arange(size, dtype=torch.float32) + 0.5
    centers_t = torch.from_numpy(centers).float()
    radius_t = torch.from_numpy(radius).float()
    rgb_t = torch.from_numpy(rgb).float()
    photo_pos = np.cumsum(is_photo) - 1
    bar = None
    if auto_progress(progress, n, 20000):
        from n2nlib.settings import progress_bar as tqdm

        bar = tqdm(total=n, desc="rendering shapes")
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = stop - start
        r = radius_t[start:stop, None, None]
        u = (t[None, None, :] - centers_t[start:stop, 0, None, None]) / r
        v = -(t[None, :, None] - centers_t[start:stop, 1, None, None]) / r
        u, v = u.expand(m, size, size), v.expand(m, size, size)
        dist = torch.empty(m, size, size, dtype=torch.float32)
        chunk_shapes = torch.from_numpy(shapes[start:stop])
        for s, name in enumerate(names):
            sel = (chunk_shapes == s).nonzero().flatten()
            if len(sel):
                dist[sel] = _SHAPE_SDF[name](u[sel], v[sel] + geo[name][0]) * r[sel]
        cov = (0.5 - dist).clamp_(0.0, 1.0)
        bg = _plain_backgrounds(m, size, rng, gen)
        chunk_photo = is_photo[start:stop]
        if chunk_photo.any():
            rows = torch.from_numpy(photo_pos[start:stop][chunk_photo])
            bg[torch.from_numpy(chunk_photo)] = photo_images[rows]
        alpha = cov[:, None]
        images[start:stop] = bg * (1 - alpha) + rgb_t[start:stop, :, None, None] * alpha
        masks[start:stop] = torch.where(cov >= 0.5, chunk_shapes[:, None, None] + 1, 0)
        coverage[start:stop] = cov
        if bar is not None:
            bar.update(m)
    if bar is not None:
        bar.close()
    return ShapesRender(images=images.clamp_(0.0, 1.0), masks=masks, coverage=coverage,
                        centers=centers_t, radii=radius_t, colors=rgb_t,
                        background_sources=sources)


def render_shapes(
    factors: torch.Tensor | np.ndarray | Sequence[Sequence[int]],
    size: int = 32,
    seed: int | np.random.Generator = 0,
    split: str = "train",
    *,
    world: str = DEFAULT_WORLD,
    progress: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render images and masks for given factor labels.

    Arguments:
        factors: integer labels ``(N, 5)``, e.g. from :func:`make_factors`.
        size: image side in pixels, ``16 <= size <= 256``.
        seed: int seed or NumPy Generator (same seed, same images).
        split: ``"train"`` or ``"test"`` (random stream and photographs for photo backgrounds).
        world: a key of :data:`WORLDS`.
        progress: show a tqdm bar (default: only for 20000 images or more).

    Returns:
        ``(images, masks)``: float32 ``(N, 3, S, S)`` in [0, 1] and long ``(N, S, S)``.

    >>> images, masks = render_shapes(make_factors("heart", "red", "large", "top left"), size=64)
    >>> images.shape, int(masks.max())
    (torch.Size([1, 3, 64, 64]), 5)
    """
    out = render_shapes_full(factors, size, seed, split, world=world, progress=progress)
    return out.images, out.masks


# --------------------------------------------------------------------------- captions


@dataclass(frozen=True)
class Template:
    """A caption template.

    Arguments:
        text: a format string with the slots ``{np}`` (noun phrase), ``{pos}`` (prepositional
            position phrase) or ``{pos_label}`` (short position label), and ``{bg}``
            (background phrase); slots of unstated factors are left empty. Noun phrase
            patterns use ``{size}``, ``{color}`` and ``{shape}``.
        requires: the factors that must be stated for the template to be used.
    """

    text: str
    requires: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Caption:
    """A generated caption.

    Attributes:
        text: the sentence.
        stated: the factor names the sentence states (a subset of :data:`FACTOR_NAMES`).
        novel: whether it uses a template or word reserved for the held-out split.
    """

    text: str
    stated: frozenset[str]
    novel: bool = False

    def __str__(self) -> str:
        return self.text


_P = frozenset({"position"})
_B = frozenset({"background"})

TEMPLATES: dict[str, tuple[Template, ...]] = {
    "train": (
        Template("{np} {pos} {bg}"),
        Template("there is {np} {pos} {bg}"),
        Template("a picture of {np} {pos} {bg}"),
        Template("an image with {np} {pos} {bg}"),
        Template("{pos_label}: {np} {bg}", _P),
        Template("{pos}, {np} {bg}", _P),
        Template("{np}, {pos_label}, {bg}", _P),
        Template("{bg}, {np} {pos}", _B),
    ),
    "test": (
        Template("you can see {np} {pos} {bg}"),
        Template("this image contains {np} {pos} {bg}"),
        Template("{np} is shown {pos} {bg}"),
        Template("{np} {bg}, toward the {pos_label}", _P),
    ),
}
"""Sentence templates; ``"test"`` ones are never used for ``split="train"`` captions."""

NOUN_PHRASES: dict[str, tuple[Template, ...]] = {
    "train": (
        Template("a {size} {color} {shape}"),
        Template("a {size} {shape} in {color}", frozenset({"color"})),
    ),
    "test": (Template("a {size} {shape} which is {color}", frozenset({"color"})),),
}
"""Noun phrase patterns (slots ``{size}``, ``{color}``, ``{shape}``)."""


def _syn(train: Sequence[str], test: Sequence[str]) -> dict[str, tuple[str, ...]]:
    return {"train": tuple(train), "test": tuple(test)}


SYNONYMS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "shape": {
        "circle": _syn(["circle", "disc", "dot"], ["orb"]),
        "square": _syn(["square", "box"], ["block"]),
        "triangle": _syn(["triangle", "three-sided shape"], ["triangular shape"]),
        "star": _syn(["star", "five-pointed star"], ["pentagram"]),
        "heart": _syn(["heart", "love heart"], ["valentine"]),
    },
    "color": {
        "red": _syn(["red", "scarlet"], ["crimson"]),
        "green": _syn(["green", "lime"], ["emerald"]),
        "blue": _syn(["blue", "cobalt"], ["azure"]),
        "yellow": _syn(["yellow", "golden"], ["lemon"]),
        "purple": _syn(["purple", "violet"], ["lavender"]),
        "orange": _syn(["orange", "tangerine"], ["amber"]),
        "white": _syn(["white", "snow-white"], ["ivory"]),
        "cyan": _syn(["cyan", "turquoise"], ["aqua"]),
    },
    "size": {
        "small": _syn(["small", "little"], ["tiny"]),
        "large": _syn(["large", "big"], ["huge"]),
    },
    "position": {
        "top left": _syn(["in the top left corner", "at the top left", "in the upper left"],
                         ["up and to the left"]),
        "top": _syn(["at the top", "at the top center", "in the upper middle"],
                    ["along the top edge"]),
        "top right": _syn(["in the top right corner", "at the top right", "in the upper right"],
                          ["up and to the right"]),
        "left": _syn(["on the left", "at the left side", "in the middle left"],
                     ["along the left edge"]),
        "center": _syn(["in the center", "in the middle"], ["in the centre"]),
        "right": _syn(["on the right", "at the right side", "in the middle right"],
                      ["along the right edge"]),
        "bottom left": _syn(["in the bottom left corner", "at the bottom left",
                             "in the lower left"], ["down and to the left"]),
        "bottom": _syn(["at the bottom", "at the bottom center", "in the lower middle"],
                       ["along the bottom edge"]),
        "bottom right": _syn(["in the bottom right corner", "at the bottom right",
                              "in the lower right"], ["down and to the right"]),
    },
    "background": {
        "plain": _syn(["on a dark background", "on a plain background"],
                      ["against a dim backdrop"]),
        "photo": _syn(["on a photo", "over a photograph"], ["against a photographic backdrop"]),
    },
}
"""Factor -> value -> ``{"train": words, "test": held-out words}``; positions and backgrounds
are prepositional phrases."""

POSITION_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "top left": _syn(["top left", "upper-left"], ["northwest"]),
    "top": _syn(["top", "top middle"], ["north"]),
    "top right": _syn(["top right", "upper-right"], ["northeast"]),
    "left": _syn(["left", "middle left"], ["west"]),
    "center": _syn(["center", "middle"], ["centre"]),
    "right": _syn(["right", "middle right"], ["east"]),
    "bottom left": _syn(["bottom left", "lower-left"], ["southwest"]),
    "bottom": _syn(["bottom", "bottom middle"], ["south"]),
    "bottom right": _syn(["bottom right", "lower-right"], ["southeast"]),
}
"""Short position labels for templates like ``"top left: a red star"``."""

GENERIC_NOUNS: dict[str, tuple[str, ...]] = {
    "train": ("shape", "object", "figure"),
    "test": ("item",),
}
"""Nouns used when the shape is not stated (``"a red shape at the top"``)."""

_AN = re.compile(r"\ba(?= [aeiou])")
_SPACES = re.compile(r"\s+")


def _factor_row(factors: object) -> list[int]:
    if isinstance(factors, Mapping):
        unknown = set(factors) - set(FACTOR_NAMES)
        if unknown:
            raise ValueError(
                f"factor names must be among {list(FACTOR_NAMES)}, got {sorted(unknown)}"
            )
        return [_check_factor_value(k, factors[k]) if k in factors else -1 for k in FACTOR_NAMES]
    row = _as_factor_tensor(factors)
    if row.shape[0] != 1:
        raise ValueError(
            f"caption takes the factors of one image (5 labels), got {tuple(row.shape)}"
        )
    return row[0].tolist()


def _check_mention(mention: Iterable[str] | None) -> frozenset[str]:
    if mention is None:
        return frozenset(FACTOR_NAMES)
    if isinstance(mention, str):
        mention = [mention]
    out = frozenset(mention)
    unknown = out - set(FACTOR_NAMES)
    if unknown:
        raise ValueError(f"mention must be factor names among {list(FACTOR_NAMES)}, "
                         f"got {sorted(unknown)}")
    return out


def caption(
    factors: Mapping[str, str | int] | Sequence[int] | torch.Tensor,
    rng: int | np.random.Generator = 0,
    split: str = "train",
    mention: Iterable[str] | None = None,
    *,
    novel: float = 0.5,
) -> Caption:
    """Describe one image in English.

    Arguments:
        factors: the image's 5 labels, or a dict factor name -> value name (factors that are
            not mentioned may be missing from the dict).
        rng: a NumPy Generator, or an int seed.
        split: ``"train"`` uses only the ``"train"`` entries of :data:`TEMPLATES`,
            :data:`NOUN_PHRASES`, :data:`SYNONYMS`, :data:`POSITION_LABELS` and
            :data:`GENERIC_NOUNS`; ``"test"`` takes, at every choice, a held-out entry with
            probability ``novel`` and a train entry otherwise.
        mention: the factors to state (default: all five); the others are left out, a missing
            shape becomes a generic noun ("shape", "object", ...).
        novel: see ``split``; ignored for train.

    Returns:
        A :class:`Caption` with ``.text`` and ``.stated`` (equal to ``mention``).

    >>> c = caption({"shape": "star", "color": "red"}, rng=0, mention=["shape", "color"])
    >>> sorted(c.stated)
    ['color', 'shape']
    """
    split = check_split(split)
    stated = _check_mention(mention)
    row = _factor_row(factors)
    missing = [k for k, v in zip(FACTOR_NAMES, row, strict=True) if v < 0 and k in stated]
    if missing:
        raise ValueError(
            f"caption must know the value of every mentioned factor, missing {missing}"
        )
    if not 0.0 <= float(novel) <= 1.0:
        raise ValueError(f"novel must be a probability in [0, 1], got {novel}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(seed_sequence(check_int("rng", rng, minimum=0), split, 0xCA9))
    used_novel = False

    def choose(pools: Mapping[str, Sequence]):
        nonlocal used_novel
        pool = pools["train"]
        if split == "test" and pools.get("test") and rng.random() < novel:
            pool = pools["test"]
            used_novel = True
        return pool[int(rng.integers(0, len(pool)))]

    def eligible(templates: Mapping[str, Sequence[Template]]) -> dict[str, list[Template]]:
        return {k: [t for t in v if t.requires <= stated] for k, v in templates.items()}

    value = {k: FACTORS[k][v] if v >= 0 else None
             for k, v in zip(FACTOR_NAMES, row, strict=True)}
    template = choose(eligible(TEMPLATES)).text
    pattern = choose(eligible(NOUN_PHRASES)).text
    words = {k: choose(SYNONYMS[k][value[k]]) if k in stated else ""
             for k in ("shape", "color", "size", "background")}
    if "shape" not in stated:
        words["shape"] = choose(GENERIC_NOUNS)
    pos = label = ""
    if "position" in stated:
        if "{pos_label}" in template:
            label = choose(POSITION_LABELS[value["position"]])
        else:
            pos = choose(SYNONYMS["position"][value["position"]])
    noun = pattern.format(size=words["size"], color=words["color"], shape=words["shape"])
    text = template.format(np=noun, pos=pos, pos_label=label, bg=words["background"])
    text = _SPACES.sub(" ", text).replace(" ,", ",").strip(" ,")
    text = _AN.sub("an", text)
    return Caption(text=text, stated=stated, novel=used_novel)


def make_captions(
    factors: torch.Tensor | np.ndarray | Sequence[Sequence[int]],
    seed: int | np.random.Generator = 0,
    split: str = "train",
    mention: str | Iterable[str] | None = "all",
    *,
    novel: float = 0.5,
) -> list[Caption]:
    """One caption per row of factor labels.

    Arguments:
        factors: integer labels ``(N, 5)``.
        seed: int seed (combined with ``split``) or NumPy Generator.
        split: ``"train"`` or ``"test"`` (see :func:`caption`).
        mention: ``"all"`` (or ``None``): state every factor; ``"random"``: each factor stated
            with probability 1/2 (at least one); or a collection of factor names for all rows.
        novel: probability of a held-out choice in test captions (see :func:`caption`).

    Returns:
        A list of :class:`Caption`.

    >>> caps = make_captions(make_factors("star", "red", "large", "top left"), mention=["shape"])
    >>> caps[0].stated
    frozenset({'shape'})
    """
    factors = _as_factor_tensor(factors)
    split = check_split(split)
    rng = _as_rng(seed, split, stream=0xCA9)
    if mention == "random":
        picks = []
        for _ in range(factors.shape[0]):
            chosen: list[str] = []
            while not chosen:
                chosen = [k for k in FACTOR_NAMES if rng.random() < 0.5]
            picks.append(chosen)
    else:
        fixed = _check_mention(None if mention == "all" else mention)
        picks = [fixed] * factors.shape[0]
    return [caption(row, rng, split, mention=m, novel=novel)
            for row, m in zip(factors.tolist(), picks, strict=True)]


# --------------------------------------------------------------------------- dataset


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
