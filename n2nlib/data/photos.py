"""Random crops of real photographs that ship inside scikit-image and scikit-learn.

Nothing is downloaded: only images stored inside the installed ``skimage`` and ``sklearn``
wheels are used (scikit-image images that need ``pooch`` are left out).

The split is **by source photograph**: the photos in :data:`TEST_PHOTOS` are never used for
``split="train"`` crops, so held-out crops show scenes, objects and textures never trained on.

============== ========= ======= ======================================================
photo          library   colour  content
============== ========= ======= ======================================================
astronaut      skimage   RGB     portrait of astronaut Eileen Collins
chelsea        skimage   RGB     a cat (Chelsea)
hubble         skimage   RGB     Hubble deep field (galaxies on black)
ihc            skimage   RGB     immunohistochemistry microscopy
motorcycle     skimage   RGB     a motorcycle (left image of a stereo pair)
china          sklearn   RGB     a temple in China
camera         skimage   grey    cameraman
moon           skimage   grey    lunar surface
brick          skimage   grey    brick wall texture
grass          skimage   grey    grass texture
**coffee**     skimage   RGB     a cup of coffee                      (held out)
**rocket**     skimage   RGB     a rocket on its launch pad           (held out)
**flower**     sklearn   RGB     a flower                             (held out)
**coins**      skimage   grey    Greek coins                          (held out)
**gravel**     skimage   grey    gravel texture                       (held out)
============== ========= ======= ======================================================

Left out on purpose: drawings and synthetic images (logo, colorwheel, checkerboard, horse,
phantom, blobs), documents (page, text), images too small for 64-pixel crops at zoom 4
(microaneurysms, lfw_subset), and ``cell``, ``clock`` and ``retina``, whose crops are
nearly flat.

Grey photos are repeated over three channels. Crops: a square window of side
``size * s`` is cut at a uniformly random position of a photo drawn uniformly from the split's
photos, with the zoom ``s`` drawn log-uniformly from ``scale`` (default 1 to 4; the window is
capped at the photo's shorter side), then resized to ``size`` with an antialiased bilinear filter,
so crops carry texture at several scales. Crops whose standard deviation is below ``min_std``
(black sky, studio backgrounds) are redrawn, up to a few times.

>>> from n2nlib.data.photos import PHOTO_NAMES, TEST_PHOTOS, random_crops
>>> images, sources = random_crops(4, size=16, split="test", seed=0)
>>> images.shape, images.dtype
(torch.Size([4, 3, 16, 16]), torch.float32)
>>> all(PHOTO_NAMES[int(s)] in TEST_PHOTOS for s in sources)
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from n2nlib.data._common import (
    auto_progress,
    check_int,
    check_split,
    seed_sequence,
)

__all__ = [
    "PhotoInfo",
    "PHOTOS",
    "PHOTO_NAMES",
    "TRAIN_PHOTOS",
    "TEST_PHOTOS",
    "MIN_CROP",
    "MAX_CROP",
    "photo_names",
    "load_photo",
    "random_crops",
    "PhotoCrops",
]

MIN_CROP = 8
MAX_CROP = 256


@dataclass(frozen=True)
class PhotoInfo:
    """One source photograph.

    Arguments:
        name: short name used in this library.
        library: ``"skimage"`` or ``"sklearn"``.
        loader: the ``skimage.data`` function name, or the ``sklearn`` sample image file name.
        color: whether the photograph is RGB (else grey, repeated over channels).
        split: ``"train"`` or ``"test"`` (held out).
    """

    name: str
    library: str
    loader: str
    color: bool
    split: str


PHOTOS: dict[str, PhotoInfo] = {
    p.name: p
    for p in (
        PhotoInfo("astronaut", "skimage", "astronaut", True, "train"),
        PhotoInfo("chelsea", "skimage", "chelsea", True, "train"),
        PhotoInfo("hubble", "skimage", "hubble_deep_field", True, "train"),
        PhotoInfo("ihc", "skimage", "immunohistochemistry", True, "train"),
        PhotoInfo("motorcycle", "skimage", "stereo_motorcycle", True, "train"),
        PhotoInfo("china", "sklearn", "china.jpg", True, "train"),
        PhotoInfo("camera", "skimage", "camera", False, "train"),
        PhotoInfo("moon", "skimage", "moon", False, "train"),
        PhotoInfo("brick", "skimage", "brick", False, "train"),
        PhotoInfo("grass", "skimage", "grass", False, "train"),
        PhotoInfo("coffee", "skimage", "coffee", True, "test"),
        PhotoInfo("rocket", "skimage", "rocket", True, "test"),
        PhotoInfo("flower", "sklearn", "flower.jpg", True, "test"),
        PhotoInfo("coins", "skimage", "coins", False, "test"),
        PhotoInfo("gravel", "skimage", "gravel", False, "test"),
    )
}
"""All photographs, in a fixed order: a crop's source id is the index into this order."""

PHOTO_NAMES: tuple[str, ...] = tuple(PHOTOS)
TRAIN_PHOTOS: tuple[str, ...] = tuple(n for n, p in PHOTOS.items() if p.split == "train")
TEST_PHOTOS: tuple[str, ...] = tuple(n for n, p in PHOTOS.items() if p.split == "test")


def photo_names(split: str = "train") -> tuple[str, ...]:
    """Names of the photographs of a split.

    Arguments:
        split: ``"train"``, ``"test"`` (the held-out photos) or ``"all"``.

    Returns:
        A tuple of names (keys of :data:`PHOTOS`).

    >>> photo_names("test")
    ('coffee', 'rocket', 'flower', 'coins', 'gravel')
    """
    split = check_split(split, ("train", "test", "all"))
    return {"train": TRAIN_PHOTOS, "test": TEST_PHOTOS, "all": PHOTO_NAMES}[split]


@functools.cache
def load_photo(name: str) -> torch.Tensor:
    """Load one photograph (cached) as a ``uint8`` tensor ``(3, H, W)``.

    Arguments:
        name: a key of :data:`PHOTOS`.

    Returns:
        The photograph, grey ones repeated over the three channels.

    >>> load_photo("coins").shape
    torch.Size([3, 303, 384])
    """
    if name not in PHOTOS:
        raise ValueError(f"photo name must be one of {list(PHOTOS)}, got {name!r}")
    info = PHOTOS[name]
    if info.library == "skimage":
        import skimage.data

        array = getattr(skimage.data, info.loader)()
        if isinstance(array, tuple):  # stereo_motorcycle -> (left, right, disparity)
            array = array[0]
    else:
        from sklearn.datasets import load_sample_image

        array = load_sample_image(info.loader)
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise RuntimeError(f"photo {name!r} loaded as {array.dtype}, expected uint8")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    array = array[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _check_scale(scale: Sequence[float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise TypeError(f"scale must be a pair (low, high) of floats, got {scale!r}") from None
    if not (1.0 <= lo <= hi) or not math.isfinite(hi):
        raise ValueError(f"scale must satisfy 1 <= low <= high (finite), got {scale!r}")
    return lo, hi


def _as_rng(seed: int | np.random.Generator, split: str) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed, split, stream=0x9407))


def random_crops(
    n: int,
    size: int = 32,
    split: str = "train",
    seed: int | np.random.Generator = 0,
    *,
    scale: Sequence[float] = (1.0, 4.0),
    flip: bool = True,
    min_std: float = 0.01,
    photos: Sequence[str] | None = None,
    progress: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random square crops of the split's photographs.

    Arguments:
        n: number of crops (>= 0).
        size: side of the returned crops, ``8 <= size <= 256``.
        split: ``"train"`` (photos of :data:`TRAIN_PHOTOS`) or ``"test"`` (held out).
        seed: an int seed (the same seed gives the same crops), or a NumPy Generator to draw from.
        scale: range of the zoom ``s``: a window of side ``size * s`` is resized to ``size``.
        flip: flip half of the crops horizontally.
        min_std: crops flatter than this (standard deviation over pixels and channels) are
            redrawn, up to 8 times.
        photos: use only these photos (each must belong to ``split``); default: all of them.
        progress: show a tqdm bar (default: only for more than 20000 crops).

    Returns:
        ``(images, sources)``: float32 ``(n, 3, size, size)`` in [0, 1], and long ``(n,)``
        source ids, indices into :data:`PHOTO_NAMES`.

    >>> images, sources = random_crops(2, size=8, seed=1)
    >>> images.shape, sources.shape
    (torch.Size([2, 3, 8, 8]), torch.Size([2]))
    """
    n = check_int("n", n, minimum=0)
    size = check_int("size", size, minimum=MIN_CROP, maximum=MAX_CROP)
    split = check_split(split)
    lo, hi = _check_scale(scale)
    allowed = photo_names(split)
    if photos is None:
        names = list(allowed)
    else:
        if isinstance(photos, str):
            raise TypeError(f"photos must be a sequence of names, got the string {photos!r}")
        names = list(photos)
        bad = [p for p in names if p not in allowed]
        if bad or not names:
            raise ValueError(
                f"photos must be a non-empty subset of the {split} photos {list(allowed)}, "
                f"got {names!r}"
            )
    rng = _as_rng(seed, split)
    ids = np.array([PHOTO_NAMES.index(p) for p in names])
    images = torch.empty(n, 3, size, size, dtype=torch.float32)
    sources = torch.empty(n, dtype=torch.long)
    todo = np.arange(n)
    use_bar = auto_progress(progress, n, 20000)
    bar = None
    if use_bar:
        from n2nlib.settings import progress_bar as tqdm

        bar = tqdm(total=n, desc="photo crops")
    for attempt in range(8):
        if len(todo) == 0:
            break
        m = len(todo)
        pick = ids[rng.integers(0, len(ids), size=m)]
        zoom = np.exp(rng.uniform(math.log(lo), math.log(hi), size=m))
        fx, fy = rng.random(m), rng.random(m)
        flips = rng.random(m) < 0.5 if flip else np.zeros(m, dtype=bool)
        failed = []
        for j in range(m):
            photo = load_photo(PHOTO_NAMES[pick[j]])
            _, h, w = photo.shape
            side = min(int(round(size * zoom[j])), h, w)
            y0 = int(fy[j] * (h - side + 1))
            x0 = int(fx[j] * (w - side + 1))
            window = photo[:, y0 : y0 + side, x0 : x0 + side].float().div_(255.0)
            if side != size:
                window = F.interpolate(
                    window[None], size=(size, size), mode="bilinear", antialias=True,
                    align_corners=False,
                )[0].clamp_(0.0, 1.0)
            if flips[j]:
                window = window.flip(-1)
            i = todo[j]
            images[i] = window
            sources[i] = int(pick[j])
            if attempt < 7 and float(window.std()) < min_std:
                failed.append(i)
            elif bar is not None:
                bar.update(1)
        todo = np.array(failed, dtype=np.int64)
    if bar is not None:
        bar.update(n - bar.n)
        bar.close()
    return images, sources


class PhotoCrops(Dataset):
    """A fixed set of random photo crops (see the module docstring for how crops are made).

    Arguments:
        n: number of crops.
        size: side of each crop, ``8 <= size <= 256``.
        split: ``"train"`` or ``"test"`` (crops of the held-out photographs).
        seed: the same ``(seed, split)`` gives the same crops; train and test never share photos.
        **kwargs: ``scale``, ``flip``, ``min_std``, ``photos``, ``progress`` as in
            :func:`random_crops`.

    Attributes:
        images: float32 ``(n, 3, size, size)`` in [0, 1].
        sources: long ``(n,)``, indices into :data:`PHOTO_NAMES`.

    >>> crops = PhotoCrops(8, size=16, split="train", seed=0)
    >>> item = crops[0]
    >>> sorted(item), item["image"].shape
    (['image', 'source'], torch.Size([3, 16, 16]))
    """

    def __init__(self, n: int, size: int = 32, split: str = "train", seed: int = 0,
                 **kwargs) -> None:
        self.size = size
        self.split = split
        self.seed = seed
        self.images, self.sources = random_crops(n, size, split, seed, **kwargs)

    @property
    def source_names(self) -> list[str]:
        """The name of each crop's photograph."""
        return [PHOTO_NAMES[int(i)] for i in self.sources]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "source": self.sources[index]}

    def __repr__(self) -> str:
        return (f"PhotoCrops(n={len(self)}, size={self.size}, split={self.split!r}, "
                f"seed={self.seed})")
