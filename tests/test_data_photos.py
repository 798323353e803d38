"""Tests of the photo crops: offline sources, split by photograph, determinism, errors."""

from __future__ import annotations

import pytest
import torch

from n2nlib.data.photos import (
    PHOTO_NAMES,
    PHOTOS,
    TEST_PHOTOS,
    TRAIN_PHOTOS,
    PhotoCrops,
    load_photo,
    photo_names,
    random_crops,
)

torch.set_num_threads(1)


def test_split_by_photograph_is_fixed_and_disjoint():
    assert TEST_PHOTOS == ("coffee", "rocket", "flower", "coins", "gravel")
    assert not set(TRAIN_PHOTOS) & set(TEST_PHOTOS)
    assert set(TRAIN_PHOTOS) | set(TEST_PHOTOS) == set(PHOTO_NAMES)
    assert len(TRAIN_PHOTOS) >= 8
    assert photo_names("all") == PHOTO_NAMES and photo_names("train") == TRAIN_PHOTOS


def test_every_photo_loads_offline():
    for name in PHOTO_NAMES:
        photo = load_photo(name)
        assert photo.dtype == torch.uint8 and photo.ndim == 3 and photo.shape[0] == 3, name
        assert min(photo.shape[1:]) >= 256, name
        assert float(photo.float().std()) > 10, name  # a real picture, not a blank
        if not PHOTOS[name].color:
            assert torch.equal(photo[0], photo[1]) and torch.equal(photo[1], photo[2])
    with pytest.raises(ValueError, match="photo name must be one of"):
        load_photo("lena")


@pytest.mark.parametrize("size", [8, 17, 32, 64])
def test_shapes_dtypes_range(size):
    images, sources = random_crops(6, size, "train", seed=0)
    assert images.shape == (6, 3, size, size) and images.dtype == torch.float32
    assert sources.shape == (6,) and sources.dtype == torch.long
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0


def test_determinism():
    a, sa = random_crops(20, 24, "train", seed=3)
    b, sb = random_crops(20, 24, "train", seed=3)
    assert torch.equal(a, b) and torch.equal(sa, sb)
    c, _ = random_crops(20, 24, "train", seed=4)
    assert not torch.equal(a, c)
    d = PhotoCrops(20, 24, "train", seed=3)
    assert torch.equal(d.images, a) and torch.equal(d.sources, sa)


def test_no_held_out_photo_in_train_crops():
    train_ids = {PHOTO_NAMES.index(p) for p in TRAIN_PHOTOS}
    test_ids = {PHOTO_NAMES.index(p) for p in TEST_PHOTOS}
    _, sources = random_crops(400, 16, "train", seed=0)
    assert set(sources.tolist()) == train_ids, "all train photos used, no held-out one"
    _, sources = random_crops(150, 16, "test", seed=0)
    assert set(sources.tolist()) == test_ids
    crops = PhotoCrops(10, 16, "test", seed=1)
    assert set(crops.source_names) <= set(TEST_PHOTOS)
    item = crops[2]
    assert set(item) == {"image", "source"} and item["image"].shape == (3, 16, 16)
    assert len(crops) == 10


def _found_in(photo: torch.Tensor, crop: torch.Tensor) -> bool:
    """Whether ``crop`` (float, from a zoom-1 crop) is exactly a window of the uint8 ``photo``."""
    c = (crop * 255).round().to(torch.uint8)
    k = c.shape[-1]
    _, h, w = photo.shape
    for y, x in (photo[0] == c[0, 0, 0]).nonzero().tolist():
        if y + k <= h and x + k <= w and torch.equal(photo[:, y : y + k, x : x + k], c):
            return True
    return False


def test_source_ids_tell_the_truth():
    # at zoom 1 without flips a crop is an exact window of its source photograph
    images, sources = random_crops(4, 12, "test", seed=2, scale=(1.0, 1.0), flip=False,
                                   photos=["coins", "gravel"])
    for image, source in zip(images, sources, strict=True):
        name = PHOTO_NAMES[int(source)]
        assert _found_in(load_photo(name), image)
        assert not _found_in(load_photo("coins" if name == "gravel" else "gravel"), image)


def test_zoomed_crops_are_smooth_downscales():
    # a zoomed-out crop is an antialiased resize: no aliasing spikes beyond the photo's range
    images, _ = random_crops(50, 16, "train", seed=0, scale=(4.0, 4.0))
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    near, _ = random_crops(50, 16, "train", seed=0, scale=(1.0, 1.0))
    assert not torch.equal(images, near)


def test_flat_crops_are_redrawn():
    images, _ = random_crops(300, 16, "train", seed=0)
    flat = images.flatten(1).std(1) < 0.01
    assert float(flat.float().mean()) < 0.01


def test_bad_arguments():
    with pytest.raises(ValueError, match="size must be >= 8, got 4"):
        random_crops(2, 4)
    with pytest.raises(ValueError, match="size must be <= 256"):
        random_crops(2, 300)
    with pytest.raises(TypeError, match="size must be an int"):
        random_crops(2, 16.5)
    with pytest.raises(ValueError, match="split must be one of \\['train', 'test'\\]"):
        random_crops(2, 16, "valid")
    with pytest.raises(ValueError, match="n must be >= 0"):
        PhotoCrops(-3)
    with pytest.raises(ValueError, match="subset of the train photos"):
        random_crops(2, 16, "train", photos=["coffee"])
    with pytest.raises(ValueError, match="1 <= low <= high"):
        random_crops(2, 16, scale=(0.5, 2.0))
    with pytest.raises(TypeError, match="scale must be a pair"):
        random_crops(2, 16, scale=3)
