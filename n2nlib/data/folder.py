"""Load a folder of your own images (PIL only; torchvision is not needed).

Images (``.png .jpg .jpeg .bmp .webp``, any case) are found recursively, in sorted path order;
hidden files and folders (names starting with ``.``) are skipped. Each image is turned upright
(EXIF orientation), converted to RGB (alpha is composited on white), center-cropped to a square
and resized to ``size × size`` with a Lanczos (antialiasing) filter.

With ``labels=True`` each first-level subfolder of ``root`` is a class (sorted names, so
``root/cat/*.png`` and ``root/dog/*.png`` give classes 0 and 1).

Splits: ``split="train"``/``"test"`` hold out a fraction of the images, chosen by ``seed``
(stratified per class when there are labels); ``"all"`` (default) keeps every image.

>>> from n2nlib.data.folder import ImageFolder
>>> data = ImageFolder("my_photos/", size=64)          # doctest: +SKIP
>>> data[0]["image"].shape                              # doctest: +SKIP
torch.Size([3, 64, 64])
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from n2nlib.data._common import auto_progress, check_int, check_split

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder", "load_image"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def load_image(path: str | os.PathLike, size: int) -> torch.Tensor:
    """Read one image file as a float32 ``(3, size, size)`` tensor in [0, 1].

    Arguments:
        path: the image file.
        size: side of the output; the image is center-cropped to a square, then resized.

    Returns:
        The image tensor.
    """
    from PIL import Image, ImageOps

    size = check_int("size", size, minimum=1)
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
            white = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, img)
        if img.mode.startswith("I;16") or img.mode == "I":
            array = np.asarray(img, dtype=np.float64)
            top = 65535.0 if array.max() > 255 else 255.0
            img = Image.fromarray((array / top * 255.0).round().astype(np.uint8))
        img = img.convert("RGB")
        w, h = img.size
        side = min(w, h)
        left, top_ = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top_, left + side, top_ + side))
        if side != size:
            img = img.resize((size, size), Image.Resampling.LANCZOS)
        array = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


class ImageFolder(Dataset):
    """Images from a folder (recursively), as square RGB tensors.

    Arguments:
        root: the folder.
        size: side of the returned images (center crop, then Lanczos resize).
        labels: ``True`` for one class per first-level subfolder (images directly inside
            ``root`` are then an error), ``False`` for none.
        split: ``"all"`` (default), ``"train"`` or ``"test"``.
        test_fraction: share of images (of each class) held out for ``split="test"``.
        seed: fixes which images are held out.
        extensions: file name endings to accept (case-insensitive).
        cache: keep decoded images in memory after the first read.

    Attributes:
        paths: the image files, sorted.
        classes: class names (subfolder names) when ``labels=True``, else ``[]``.
        targets: long ``(N,)`` class indices (``-1`` without labels).

    Items are dicts ``{"image": (3, size, size) float32, "label": long, "path": str}``;
    :attr:`images` decodes all of them at once into ``(N, 3, size, size)``.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is a file.
        ValueError: no image files were found (the message lists the accepted extensions).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: int = 64,
        labels: bool = False,
        *,
        split: str = "all",
        test_fraction: float = 0.2,
        seed: int = 0,
        extensions: Iterable[str] = IMAGE_EXTENSIONS,
        cache: bool = False,
    ) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path (str or os.PathLike), got {type(root).__name__}")
        self.root = Path(root).expanduser()
        self.size = check_int("size", size, minimum=1, maximum=4096)
        if not isinstance(labels, bool):
            raise TypeError(f"labels must be True or False, got {labels!r}")
        self.split = check_split(split, ("all", "train", "test"))
        if not isinstance(test_fraction, (int, float)) or not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
        seed = check_int("seed", seed, minimum=0)
        if isinstance(extensions, str):
            extensions = [extensions]
        exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        if not exts:
            raise ValueError("extensions must name at least one file ending, got none")
        if not self.root.exists():
            raise FileNotFoundError(f"image folder {str(self.root)!r} does not exist")
        if not self.root.is_dir():
            raise NotADirectoryError(f"image folder {str(self.root)!r} is a file, not a folder")

        paths = sorted(self._find(self.root, exts))
        if not paths:
            raise ValueError(
                f"image folder {str(self.root)!r} holds no image files "
                f"(expected files ending in {', '.join(exts)}, searched recursively)"
            )
        if labels:
            top = [p for p in paths if p.parent == self.root]
            if top:
                raise ValueError(
                    f"labels=True expects images inside class subfolders of {str(self.root)!r}, "
                    f"got {len(top)} image(s) directly in it, e.g. {top[0].name!r}"
                )
            self.classes = sorted({p.relative_to(self.root).parts[0] for p in paths})
            targets = np.array(
                [self.classes.index(p.relative_to(self.root).parts[0]) for p in paths]
            )
        else:
            self.classes = []
            targets = np.full(len(paths), -1)
        keep = self._split_mask(targets, self.split, float(test_fraction), seed)
        if not keep.any():
            raise ValueError(
                f"split={self.split!r} with test_fraction={test_fraction} leaves no image "
                f"out of {len(paths)}"
            )
        self.paths = [p for p, k in zip(paths, keep, strict=True) if k]
        self.targets = torch.from_numpy(targets[keep]).long()
        self.cache = cache
        self._cache: dict[int, torch.Tensor] = {}
        self._images: torch.Tensor | None = None

    @staticmethod
    def _find(root: Path, exts: tuple[str, ...]) -> Iterable[Path]:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(".") and name.lower().endswith(exts):
                    yield Path(dirpath) / name

    @staticmethod
    def _split_mask(targets: np.ndarray, split: str, fraction: float, seed: int) -> np.ndarray:
        if split == "all":
            return np.ones(len(targets), dtype=bool)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xF01D]))
        test = np.zeros(len(targets), dtype=bool)
        for c in np.unique(targets):
            members = np.flatnonzero(targets == c)
            members = members[rng.permutation(len(members))]
            test[members[: int(round(fraction * len(members)))]] = True
        return test if split == "test" else ~test

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, index: int) -> torch.Tensor:
        if self._images is not None:
            return self._images[index]
        if index in self._cache:
            return self._cache[index]
        try:
            image = load_image(self.paths[index], self.size)
        except OSError as error:
            raise OSError(f"could not read image {str(self.paths[index])!r}: {error}") from error
        if self.cache:
            self._cache[index] = image
        return image

    def __getitem__(self, index: int) -> dict[str, object]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index must be in [-{len(self)}, {len(self) - 1}], got {index}")
        index = index % len(self)
        return {"image": self._load(index), "label": self.targets[index],
                "path": str(self.paths[index])}

    @property
    def images(self) -> torch.Tensor:
        """All images, float32 ``(N, 3, size, size)`` (decoded once, then kept)."""
        if self._images is None:
            indices: Iterable[int] = range(len(self))
            if auto_progress(None, len(self), 500):
                from n2nlib.settings import progress_bar as tqdm

                indices = tqdm(indices, desc="loading images", total=len(self))
            self._images = torch.stack([self._load(i) for i in indices])
            self._cache.clear()
        return self._images

    def __repr__(self) -> str:
        return (f"ImageFolder(root={str(self.root)!r}, n={len(self)}, size={self.size}, "
                f"classes={len(self.classes)}, split={self.split!r})")
