"""Offline data for the experiments: everything is generated or shipped with PyPI packages.

- :mod:`n2nlib.data.shapes`: procedural shapes with known factors, masks and captions
  (:class:`ShapesDataset`, :func:`render_shapes`, :data:`FACTORS`).
- :mod:`n2nlib.data.photos`: crops of the photographs inside scikit-image / scikit-learn,
  split by source photograph (:class:`PhotoCrops`).
- :mod:`n2nlib.data.digits`: scikit-learn's 8×8 handwritten digits (:func:`load_digits`).
- :mod:`n2nlib.data.folder`: your own images (:class:`ImageFolder`).

Every generator is deterministic from ``seed`` and has ``split="train"`` / ``"test"``;
images are float32 ``(N, 3, H, W)`` in [0, 1].

>>> from n2nlib.data import ShapesDataset, PhotoCrops, load_digits
>>> ShapesDataset(4, seed=0).images.shape
torch.Size([4, 3, 32, 32])
"""

from __future__ import annotations

from n2nlib.data.captions import Caption, caption, make_captions
from n2nlib.data.digits import Digits, load_digits
from n2nlib.data.factors import FACTOR_NAMES, FACTORS, factor_names, make_factors, sample_factors
from n2nlib.data.folder import ImageFolder, load_image
from n2nlib.data.photos import (
    PHOTO_NAMES,
    PHOTOS,
    TEST_PHOTOS,
    TRAIN_PHOTOS,
    PhotoCrops,
    random_crops,
)
from n2nlib.data.render import ShapesRender, render_shapes, render_shapes_full
from n2nlib.data.shapes import ShapesDataset

__all__ = [
    "FACTORS",
    "FACTOR_NAMES",
    "Caption",
    "ShapesDataset",
    "ShapesRender",
    "caption",
    "factor_names",
    "make_captions",
    "make_factors",
    "render_shapes",
    "render_shapes_full",
    "sample_factors",
    "PHOTOS",
    "PHOTO_NAMES",
    "TRAIN_PHOTOS",
    "TEST_PHOTOS",
    "PhotoCrops",
    "random_crops",
    "Digits",
    "load_digits",
    "ImageFolder",
    "load_image",
]
