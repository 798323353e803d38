"""scikit-learn's handwritten digits (1797 real 8×8 scans, shipped inside ``sklearn``).

Pixel values 0…16 are divided by 16, so images lie in [0, 1]. The train / held-out split is
stratified (each digit keeps its share in both parts) and fixed by ``split_seed``: with the
defaults, 20 % of each class (rounded) — 359 images in all — are held out, and the other 1438
train.

>>> from n2nlib.data.digits import load_digits
>>> train = load_digits("train")
>>> train.images.shape, train.labels.shape
(torch.Size([1438, 1, 8, 8]), torch.Size([1438]))
>>> load_digits("test", size=32, channels=3).images.shape
torch.Size([359, 3, 32, 32])
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from n2nlib.data._common import check_choice, check_int, check_split

__all__ = ["Digits", "load_digits", "digits_split_indices"]


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return bunch.images.astype(np.float32) / 16.0, bunch.target.astype(np.int64)


def digits_split_indices(split: str = "train", test_fraction: float = 0.2,
                         split_seed: int = 0) -> np.ndarray:
    """Indices (into scikit-learn's 1797 digits) of a stratified split.

    Arguments:
        split: ``"train"``, ``"test"`` or ``"all"``.
        test_fraction: share of each class held out, in (0, 1).
        split_seed: seed of the per-class shuffle (the split depends on nothing else).

    Returns:
        Sorted int64 indices.

    >>> len(digits_split_indices("test")) + len(digits_split_indices("train"))
    1797
    """
    split = check_split(split, ("train", "test", "all"))
    if not isinstance(test_fraction, (int, float)) or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    split_seed = check_int("split_seed", split_seed, minimum=0)
    _, labels = _raw_digits()
    if split == "all":
        return np.arange(len(labels))
    rng = np.random.default_rng(np.random.SeedSequence([split_seed, 0xD161]))
    test = []
    for c in range(10):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(len(members))]
        test.append(members[: int(round(test_fraction * len(members)))])
    test_idx = np.sort(np.concatenate(test))
    if split == "test":
        return test_idx
    return np.setdiff1d(np.arange(len(labels)), test_idx)


class Digits(Dataset):
    """A split of the digits as tensors.

    Attributes:
        images: float32 ``(N, C, S, S)`` in [0, 1] (white strokes on black).
        labels: long ``(N,)`` in 0…9.
        indices: long ``(N,)``: positions in scikit-learn's order.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor,
                 split: str) -> None:
        self.images = images
        self.labels = labels
        self.indices = indices
        self.split = split

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "label": self.labels[index]}

    def __repr__(self) -> str:
        return f"Digits(n={len(self)}, split={self.split!r}, shape={tuple(self.images.shape[1:])})"


def load_digits(
    split: str = "train",
    size: int = 8,
    channels: int = 1,
    *,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    mode: str = "bilinear",
) -> Digits:
    """Load a split of scikit-learn's handwritten digits as tensors.

    Arguments:
        split: ``"train"``, ``"test"`` (held out, stratified) or ``"all"``.
        size: side of the returned images; 8 is the original, larger sizes are upsampled.
        channels: 1 (grey) or 3 (the grey image repeated, for RGB models).
        test_fraction: share of each class held out.
        split_seed: fixes which images are held out.
        mode: upsampling filter, ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.

    Returns:
        A :class:`Digits` dataset (``.images``, ``.labels``; items are dicts).

    >>> load_digits("all").labels.bincount().tolist()[:3]
    [178, 182, 177]
    """
    size = check_int("size", size, minimum=8, maximum=512)
    channels = check_int("channels", channels)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    mode = check_choice("mode", mode, ("bilinear", "bicubic", "nearest"))
    idx = digits_split_indices(split, test_fraction, split_seed)
    raw, labels = _raw_digits()
    images = torch.from_numpy(raw[idx]).unsqueeze(1)
    if size != 8:
        kwargs = {} if mode == "nearest" else {"align_corners": False}
        images = F.interpolate(images, size=(size, size), mode=mode, **kwargs).clamp_(0.0, 1.0)
    if channels == 3:
        images = images.expand(-1, 3, -1, -1).contiguous()
    return Digits(images, torch.from_numpy(labels[idx]), torch.from_numpy(idx), split)
