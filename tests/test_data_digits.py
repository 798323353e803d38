"""Tests of the scikit-learn digits loader: split, stratification, sizes, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2nlib.data.digits import digits_split_indices, load_digits


def test_split_is_disjoint_complete_and_deterministic():
    train, test = load_digits("train"), load_digits("test")
    assert len(train) == 1438 and len(test) == 359
    tr, te = set(train.indices.tolist()), set(test.indices.tolist())
    assert not tr & te and tr | te == set(range(1797))
    again = load_digits("test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)
    other = digits_split_indices("test", split_seed=1)
    assert not np.array_equal(other, test.indices.numpy())


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_split_is_stratified(fraction):
    everything = load_digits("all")
    test = load_digits("test", test_fraction=fraction)
    per_class = torch.bincount(everything.labels, minlength=10).float()
    held = torch.bincount(test.labels, minlength=10).float()
    share = held / per_class
    assert float((share - fraction).abs().max()) < 0.01


def test_values_shapes_and_upsampling():
    d = load_digits("train")
    assert d.images.shape == (1438, 1, 8, 8) and d.images.dtype == torch.float32
    assert d.labels.dtype == torch.long and set(d.labels.tolist()) == set(range(10))
    assert float(d.images.min()) == 0.0 and float(d.images.max()) == 1.0
    big = load_digits("train", size=32, channels=3)
    assert big.images.shape == (1438, 3, 32, 32) and big.images.dtype == torch.float32
    assert float(big.images.min()) >= 0 and float(big.images.max()) <= 1
    assert torch.equal(big.images[:, 0], big.images[:, 2])
    nearest = load_digits("train", size=16, mode="nearest")
    assert torch.equal(nearest.images[:, :, ::2, ::2], d.images)
    item = d[5]
    assert set(item) == {"image", "label"} and item["image"].shape == (1, 8, 8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels must be 1 or 3, got 2"):
        load_digits(channels=2)
    with pytest.raises(ValueError, match="size must be >= 8, got 4"):
        load_digits(size=4)
    with pytest.raises(ValueError, match="split must be one of \\['train', 'test', 'all'\\]"):
        load_digits("validation")
    with pytest.raises(ValueError, match="test_fraction must be a number in \\(0, 1\\)"):
        load_digits(test_fraction=1.5)
    with pytest.raises(ValueError, match="mode must be one of"):
        load_digits(size=16, mode="area")
