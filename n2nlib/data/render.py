"""Rendering the shapes world: anti-aliased shapes from exact signed distances on plain or photo
backgrounds, with masks (see :mod:`n2nlib.data.shapes` for how an image is made)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from n2nlib.data._common import (
    auto_progress,
    check_choice,
    check_int,
    check_split,
)
from n2nlib.data.factors import (
    _CELL_MARGIN,
    _CHUNK,
    _SHAPE_SDF,
    COLOR_JITTER,
    COLOR_RGB,
    DEFAULT_WORLD,
    FACTORS,
    MAX_SIZE,
    MIN_SIZE,
    WORLDS,
    _as_factor_tensor,
    _as_rng,
    _shape_geometry,
)

__all__ = [
    "low_detail",
    "render_shapes",
    "ShapesRender",
    "render_shapes_full",
]


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
        backgrounds: float32 ``(N, 3, S, S)``, the backgrounds before the shape was drawn
            (``images = backgrounds · (1 − coverage) + colors · coverage``); ``None`` unless
            rendered with ``keep_backgrounds=True``.
    """

    images: torch.Tensor
    masks: torch.Tensor
    coverage: torch.Tensor | None
    centers: torch.Tensor
    radii: torch.Tensor
    colors: torch.Tensor
    background_sources: torch.Tensor
    backgrounds: torch.Tensor | None = None


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
    keep_backgrounds: bool = False,
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
        keep_backgrounds: also return the backgrounds without the shapes (one more image
            tensor; the images and every random draw are the same either way).

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
    images = torch.empty(n, 3, size, size, dtype=torch.float32)
    if is_photo.any():
        from n2nlib.data.photos import random_crops

        photo_images, photo_src = random_crops(int(is_photo.sum()), size, split, rng)
        if spec.photo_cells is not None:  # in place, in chunks: no second copy of every crop
            for i in range(0, len(photo_images), 4096):
                photo_images[i:i + 4096] = low_detail(photo_images[i:i + 4096],
                                                      spec.photo_cells)
        sources[torch.from_numpy(is_photo)] = photo_src
        images[torch.from_numpy(is_photo)] = photo_images  # the backgrounds wait in place
        del photo_images
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))

    masks = torch.empty(n, size, size, dtype=torch.long)
    backgrounds = torch.empty(n, 3, size, size) if keep_backgrounds else None
    coverage = torch.empty(n, size, size, dtype=torch.float32)
    t = torch.arange(size, dtype=torch.float32) + 0.5
    centers_t = torch.from_numpy(centers).float()
    radius_t = torch.from_numpy(radius).float()
    rgb_t = torch.from_numpy(rgb).float()
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
            photo = torch.from_numpy(chunk_photo)
            bg[photo] = images[start:stop][photo]
        if backgrounds is not None:
            backgrounds[start:stop] = bg
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
                        background_sources=sources, backgrounds=backgrounds)


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

    >>> from n2nlib.data.factors import make_factors
    >>> images, masks = render_shapes(make_factors("heart", "red", "large", "top left"), size=64)
    >>> images.shape, int(masks.max())
    (torch.Size([1, 3, 64, 64]), 5)
    """
    out = render_shapes_full(factors, size, seed, split, world=world, progress=progress)
    return out.images, out.masks
