"""Tests of the image-folder loader on a temporary folder of PNG/JPEG files written by PIL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from n2nlib.data.folder import ImageFolder, load_image


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    # wide image: red left and right quarters, blue centre square -> center crop is all blue
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :10] = (255, 0, 0)
    wide[:, 30:] = (255, 0, 0)
    wide[:, 10:30] = (0, 0, 255)
    Image.fromarray(wide).save(tmp_path / "cats" / "a_wide.png")
    Image.fromarray(np.full((30, 30), 128, np.uint8)).save(tmp_path / "cats" / "b.jpg")
    rgba = np.zeros((16, 16, 4), np.uint8)  # fully transparent -> composited on white
    Image.fromarray(rgba).save(tmp_path / "dogs" / "c.PNG")
    tall = np.full((50, 40, 3), 200, np.uint8)
    Image.fromarray(tall).save(tmp_path / "dogs" / "deeper" / "d.bmp")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "dogs" / "e.webp")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / ".hidden" / "x.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "dogs" / ".y.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    return tmp_path


def test_reads_every_image_recursively(folder):
    data = ImageFolder(folder, size=12)
    names = [Path(p).name for p in data.paths]
    assert names == ["a_wide.png", "b.jpg", "c.PNG", "d.bmp", "e.webp"]
    assert len(data) == 5 and data.classes == [] and bool((data.targets == -1).all())
    images = data.images
    assert images.shape == (5, 3, 12, 12) and images.dtype == torch.float32
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    item = data[0]
    assert set(item) == {"image", "label", "path"} and torch.equal(item["image"], images[0])


def test_center_crop_grey_and_alpha(folder):
    data = ImageFolder(folder, size=10)
    wide = data[0]["image"]
    assert float(wide[2].min()) > 0.9 and float(wide[0].max()) < 0.1, "center crop keeps blue"
    grey = data[1]["image"]
    assert torch.allclose(grey[0], grey[1]) and abs(float(grey.mean()) - 128 / 255) < 0.02
    assert float(data[2]["image"].min()) > 0.99, "transparent pixels become white"


def test_class_per_subfolder_and_split(folder):
    data = ImageFolder(folder, size=8, labels=True)
    assert data.classes == ["cats", "dogs"]
    assert data.targets.tolist() == [0, 0, 1, 1, 1]
    assert data[3]["label"] == 1
    train = ImageFolder(folder, size=8, labels=True, split="train", test_fraction=0.4, seed=0)
    test = ImageFolder(folder, size=8, labels=True, split="test", test_fraction=0.4, seed=0)
    assert not set(train.paths) & set(test.paths)
    assert set(train.paths) | set(test.paths) == set(data.paths)
    assert sorted(test.targets.tolist()) == [0, 1], "one held-out image per class"
    again = ImageFolder(folder, size=8, labels=True, split="test", test_fraction=0.4, seed=0)
    assert again.paths == test.paths


def test_errors(folder, tmp_path_factory):
    missing = folder / "nope"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(missing)
    with pytest.raises(NotADirectoryError, match="is a file"):
        ImageFolder(folder / "dogs" / "notes.txt")
    empty = tmp_path_factory.mktemp("empty")
    (empty / "readme.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=r"holds no image files \(expected files ending in .png"):
        ImageFolder(empty)
    flat = tmp_path_factory.mktemp("flat")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat / "top.png")
    with pytest.raises(ValueError, match="labels=True expects images inside class subfolders"):
        ImageFolder(flat, labels=True)
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        ImageFolder(folder, size=0)
    with pytest.raises(TypeError, match="root must be a path"):
        ImageFolder(42)
    with pytest.raises(ValueError, match="split must be one of"):
        ImageFolder(folder, split="val")
    broken = tmp_path_factory.mktemp("broken")
    (broken / "bad.png").write_bytes(b"not really a png")
    data = ImageFolder(broken, size=8)
    with pytest.raises(OSError, match="could not read image .*bad.png"):
        data[0]
    with pytest.raises(IndexError, match="index must be in"):
        ImageFolder(folder, size=8)[7]


def test_load_image_directly(folder):
    image = load_image(folder / "dogs" / "deeper" / "d.bmp", 5)
    assert image.shape == (3, 5, 5) and image.dtype == torch.float32
    assert torch.allclose(image.double(), torch.full((3, 5, 5), 200 / 255))
