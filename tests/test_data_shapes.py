"""Tests of the procedural shapes: determinism, factors vs masks, captions, splits, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from n2nlib.data import factors as F
from n2nlib.data.captions import (
    GENERIC_NOUNS,
    NOUN_PHRASES,
    POSITION_LABELS,
    SYNONYMS,
    TEMPLATES,
    caption,
    make_captions,
)
from n2nlib.data.factors import FACTOR_NAMES, FACTORS, factor_names, make_factors, sample_factors
from n2nlib.data.photos import PHOTO_NAMES, TEST_PHOTOS, TRAIN_PHOTOS
from n2nlib.data.render import render_shapes, render_shapes_full
from n2nlib.data.shapes import ShapesDataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def plain() -> ShapesDataset:
    return ShapesDataset(600, split="train", seed=0, background="plain")


@pytest.fixture(scope="module")
def mixed() -> ShapesDataset:
    return ShapesDataset(96, split="train", seed=0, background="mixed")


def _phrase(word: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])")


def test_factors_table():
    assert FACTOR_NAMES == ("shape", "color", "size", "position", "background")
    assert FACTORS["shape"] == ("circle", "square", "triangle", "star", "heart")
    assert len(FACTORS["color"]) == 8 and len(FACTORS["position"]) == 9
    assert FACTORS["size"] == ("small", "large") and FACTORS["background"] == ("plain", "photo")


def test_shapes_dtypes_ranges(plain):
    assert plain.images.shape == (600, 3, 32, 32) and plain.images.dtype == torch.float32
    assert plain.masks.shape == (600, 32, 32) and plain.masks.dtype == torch.long
    assert plain.factors.shape == (600, 5) and plain.factors.dtype == torch.long
    assert float(plain.images.min()) >= 0.0 and float(plain.images.max()) <= 1.0
    assert len(plain.captions) == 600 and all(isinstance(c, str) for c in plain.captions)
    assert plain.stated.shape == (600, 5) and bool(plain.stated.all())
    for size in (16, 64):
        data = ShapesDataset(4, size=size, seed=0)
        assert data.images.shape == (4, 3, size, size) and data.masks.shape == (4, size, size)
    item = plain[3]
    assert set(item) == {"image", "mask", "factors", "caption", "stated"}
    assert torch.equal(item["image"], plain.images[3]) and item["caption"] == plain.captions[3]


def test_uniform_factor_sampling(plain):
    for j, name in enumerate(FACTOR_NAMES[:4]):
        counts = torch.bincount(plain.factors[:, j], minlength=len(FACTORS[name]))
        assert bool((counts > 0).all()), name
    assert bool((plain.factors[:, 4] == 0).all())


def test_determinism_and_splits(mixed):
    again = ShapesDataset(96, split="train", seed=0, background="mixed")
    assert torch.equal(again.images, mixed.images) and torch.equal(again.masks, mixed.masks)
    assert torch.equal(again.factors, mixed.factors) and again.captions == mixed.captions
    other = ShapesDataset(96, split="train", seed=1, background="mixed")
    assert not torch.equal(other.images, mixed.images)
    assert not torch.equal(other.factors, mixed.factors)
    test = ShapesDataset(96, split="test", seed=0, background="mixed")
    assert not torch.equal(test.images, mixed.images)
    # the same factors rendered for the other split still differ (jitter, colour, background)
    f = make_factors(shape="star", color="red", size="large", position="center")
    a, _ = render_shapes(f, seed=0, split="train")
    b, _ = render_shapes(f, seed=0, split="test")
    c, _ = render_shapes(f, seed=0, split="train")
    assert torch.equal(a, c) and not torch.equal(a, b)


def test_masks_match_factors(plain):
    m, f = plain.masks, plain.factors
    inside = m > 0
    assert bool(inside.flatten(1).any(1).all()), "every image shows its shape"
    assert bool(((m == 0) | (m == (f[:, 0] + 1)[:, None, None])).all()), "mask class = shape + 1"
    # mask centroid lies in the named 3x3 grid cell
    t = torch.arange(32, dtype=torch.float32) + 0.5
    area = inside.sum((1, 2)).float()
    cx = (inside * t[None, None, :]).sum((1, 2)) / area
    cy = (inside * t[None, :, None]).sum((1, 2)) / area
    row, col, cell = f[:, 3] // 3, f[:, 3] % 3, 32 / 3
    assert bool(((cx > col * cell) & (cx < (col + 1) * cell)).all())
    assert bool(((cy > row * cell) & (cy < (row + 1) * cell)).all())
    # large shapes cover more pixels than small ones, shape by shape
    for s in range(5):
        small = area[(f[:, 0] == s) & (f[:, 2] == 0)]
        large = area[(f[:, 0] == s) & (f[:, 2] == 1)]
        assert len(small) and len(large)
        assert float(large.min()) > float(small.max()), FACTORS["shape"][s]
    # shapes stay inside the image: no mask pixel on the border
    assert not bool(m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any())


def test_named_render_lands_where_asked():
    f = make_factors(shape=["star", "heart"], color="red", size="large",
                     position=["top left", "bottom right"])
    images, masks = render_shapes(f, size=48, seed=3)
    # large shapes may reach past their cell, but never past the middle of the image
    assert masks[0, :16, :16].sum() > 0 and int(masks[0].max()) == 4
    assert masks[0, 30:].sum() == 0 and masks[0, :, 30:].sum() == 0
    assert masks[1, 32:, 32:].sum() > 0 and int(masks[1].max()) == 5
    assert masks[1, :18].sum() == 0 and masks[1, :, :18].sum() == 0
    red = images[0][:, masks[0] > 0].mean(1)
    assert red[0] > 0.8 and red[1] < 0.25 and red[2] < 0.25
    assert factor_names(f)[1] == {"shape": "heart", "color": "red", "size": "large",
                                  "position": "bottom right", "background": "plain"}


def test_anti_aliasing():
    f = make_factors(shape=list(FACTORS["shape"]), color="white", size="large")
    out = render_shapes_full(f, size=32, seed=0)
    cov = out.coverage
    edge = (cov > 0.05) & (cov < 0.95)
    assert bool((edge.flatten(1).sum(1) >= 8).all()), "each shape has partially covered pixels"
    # the image itself blends: edge pixels lie strictly between background and white
    grey = out.images.mean(1)
    for i in range(5):
        e = edge[i] & (cov[i] > 0.3) & (cov[i] < 0.7)
        if e.any():
            vals = grey[i][e]
            assert bool(((vals > 0.3) & (vals < 0.85)).all())
    assert torch.allclose(out.masks > 0, cov >= 0.5)


def test_photo_backgrounds_are_photos():
    n = 48
    plain = ShapesDataset(n, seed=0, background="plain")
    photo = ShapesDataset(n, seed=0, background="photo")
    test = ShapesDataset(n, split="test", seed=0, background="photo")

    def background_std(data):  # spread of the background pixels, per image
        return torch.stack([data.images[i][:, data.masks[i] == 0].std(1).mean()
                            for i in range(len(data))])

    assert float(background_std(photo).median()) > 2 * float(background_std(plain).median())
    assert float(background_std(test).median()) > 2 * float(background_std(plain).median())
    assert float(background_std(plain).max()) < 0.1
    assert bool((plain.render.background_sources == -1).all())
    train_ids = {PHOTO_NAMES.index(p) for p in TRAIN_PHOTOS}
    test_ids = {PHOTO_NAMES.index(p) for p in TEST_PHOTOS}
    assert set(photo.render.background_sources.tolist()) <= train_ids
    assert set(test.render.background_sources.tolist()) <= test_ids
    mixed = ShapesDataset(n, seed=2, background="mixed")
    is_photo = mixed.factors[:, 4] == 1
    assert 0 < int(is_photo.sum()) < n
    assert bool((mixed.render.background_sources[is_photo] >= 0).all())
    assert bool((mixed.render.background_sources[~is_photo] == -1).all())


def test_exclude_and_only_pairs():
    excluded = {("star", "red"), ("heart", "blue"), (0, 7)}
    data = ShapesDataset(400, seed=0, exclude_pairs=excluded)
    pairs = set(zip(data.factors[:, 0].tolist(), data.factors[:, 1].tolist(), strict=True))
    assert not pairs & {(3, 0), (4, 2), (0, 7)}
    assert len(pairs) == 40 - 3
    held = ShapesDataset(60, split="test", seed=0, only_pairs=excluded)
    held_pairs = set(zip(held.factors[:, 0].tolist(), held.factors[:, 1].tolist(), strict=True))
    assert held_pairs == {(3, 0), (4, 2), (0, 7)}
    with pytest.raises(ValueError, match="excluded"):
        ShapesDataset(factors=make_factors("star", "red"), exclude_pairs=excluded)
    with pytest.raises(ValueError, match="shape must be one of"):
        sample_factors(4, exclude_pairs={("hexagon", "red")})
    with pytest.raises(TypeError, match="pairs"):
        sample_factors(4, exclude_pairs={"star"})
    with pytest.raises(ValueError, match="no \\(shape, color\\) pair"):
        sample_factors(4, only_pairs={("star", "red")}, exclude_pairs={("star", "red")})


def test_given_factors_and_background_column():
    f = make_factors(shape=["circle", "square"], color="green", background=["plain", "photo"])
    data = ShapesDataset(factors=f, seed=0)
    assert torch.equal(data.factors, f) and len(data) == 2
    sources = data.render.background_sources
    assert int(sources[0]) == -1 and int(sources[1]) >= 0
    with pytest.raises(ValueError, match="background='plain'"):
        ShapesDataset(factors=f, background="plain")
    with pytest.raises(ValueError, match="len\\(factors\\) = 2"):
        ShapesDataset(3, factors=f)


# --------------------------------------------------------------------------- captions


def test_templates_have_a_slot_for_every_factor():
    for split in ("train", "test"):
        for t in TEMPLATES[split]:
            assert "{np}" in t.text and "{bg}" in t.text, t
            assert ("{pos}" in t.text) != ("{pos_label}" in t.text), t
            assert "{pos_label}" not in t.text or "position" in t.requires, t
        for t in NOUN_PHRASES[split]:
            assert all(slot in t.text for slot in ("{size}", "{color}", "{shape}")), t
        assert TEMPLATES[split] and NOUN_PHRASES[split] and GENERIC_NOUNS[split]
    for factor, table in SYNONYMS.items():
        assert set(table) == set(FACTORS[factor]), factor
        for value, entry in table.items():
            assert entry["train"] and entry["test"], (factor, value)
    assert set(POSITION_LABELS) == set(FACTORS["position"])


def _held_out_words() -> list[str]:
    words = []
    for table in SYNONYMS.values():
        for entry in table.values():
            words += entry["test"]
    for entry in POSITION_LABELS.values():
        words += entry["test"]
    words += GENERIC_NOUNS["test"]
    for t in TEMPLATES["test"] + NOUN_PHRASES["test"]:
        for chunk in re.split(r"\{\w+\}", t.text):
            chunk = chunk.strip(" ,:")
            if len(chunk) > 2:
                words.append(chunk)
    return words


def _train_words() -> list[str]:
    words = []
    for table in SYNONYMS.values():
        for entry in table.values():
            words += entry["train"]
    return words


def test_held_out_phrasings_never_in_train_captions():
    held = _held_out_words()
    assert {"you can see", "this image contains", "is shown", "which is", "crimson"} <= set(held)
    assert not set(held) & set(_train_words())
    patterns = [_phrase(w) for w in held]
    f = sample_factors(1500, seed=5, background="mixed")
    train = make_captions(f, seed=5, split="train", mention="random")
    train += make_captions(f, seed=6, split="train", mention="all")
    assert not any(c.novel for c in train)
    for c in train:
        hits = [p.pattern for p in patterns if p.search(c.text)]
        assert not hits, (c.text, hits)
    # ... while the held-out split does use them, and says so
    test = make_captions(f[:400], seed=5, split="test")
    novel = [c for c in test if c.novel]
    assert 0.5 * len(test) < len(novel) < len(test)
    assert any(p.search(c.text) for c in novel for p in patterns)
    for c in test:
        assert c.novel == any(p.search(c.text) for p in patterns), c.text
    all_novel = make_captions(f, 7, "test", mention="random", novel=1.0)
    for p in patterns:  # every held-out phrasing can occur
        assert any(p.search(c.text) for c in all_novel), p.pattern


def _values_mentioned(text: str, factor: str) -> set[str]:
    found = set()
    for value, entry in SYNONYMS[factor].items():
        words = list(entry["train"] + entry["test"])
        if factor == "position":
            words += POSITION_LABELS[value]["train"] + POSITION_LABELS[value]["test"]
        if any(_phrase(w).search(text) for w in words):
            found.add(value)
    return found


@pytest.mark.parametrize("split", ["train", "test"])
def test_captions_state_exactly_the_stated_factors(split):
    f = sample_factors(600, seed=11, background="mixed")
    captions = make_captions(f, seed=11, split=split, mention="random")
    sizes = {len(c.stated) for c in captions}
    assert sizes >= {1, 2, 3, 4, 5}
    for c, names in zip(captions, factor_names(f), strict=True):
        for factor in FACTOR_NAMES:
            found = _values_mentioned(c.text, factor)
            if factor in c.stated:
                assert names[factor] in found, (c.text, factor)
                if factor != "position":  # "at the top" is inside "at the top left"
                    assert found == {names[factor]}, (c.text, factor, found)
            else:
                assert not found, (c.text, factor, found)
        assert not re.search(r"\ba [aeiou]", c.text), c.text
        assert "  " not in c.text and c.text == c.text.strip()


def test_caption_function_subsets_and_errors():
    c = caption({"shape": "star", "color": "red"}, rng=0, mention=["shape", "color"])
    assert c.stated == frozenset({"shape", "color"})
    assert _values_mentioned(c.text, "shape") == {"star"}
    assert _values_mentioned(c.text, "color") == {"red"}
    assert not _values_mentioned(c.text, "position") and not _values_mentioned(c.text, "size")
    only_color = caption(make_factors("star", "blue")[0], rng=1, mention="color")
    assert only_color.stated == {"color"} and not _values_mentioned(only_color.text, "shape")
    assert caption(make_factors("star", "blue"), rng=3).text == caption(
        make_factors("star", "blue"), rng=3).text
    with pytest.raises(ValueError, match="mention must be factor names"):
        caption(make_factors("star", "blue"), mention=["shape", "texture"])
    with pytest.raises(ValueError, match="missing \\['position'\\]"):
        caption({"shape": "star"}, mention=["shape", "position"])
    with pytest.raises(ValueError, match="split must be one of"):
        caption(make_factors("star", "blue"), split="validation")
    data = ShapesDataset(40, seed=0, mention=["shape", "color"])
    assert bool(data.stated[:, :2].all()) and not bool(data.stated[:, 2:].any())


# --------------------------------------------------------------------------- errors


def test_bad_arguments():
    with pytest.raises(ValueError, match="size must be >= 16, got 8"):
        ShapesDataset(4, size=8)
    with pytest.raises(TypeError, match="size must be an int"):
        ShapesDataset(4, size=32.0)
    with pytest.raises(ValueError, match="n must be >= 0"):
        ShapesDataset(-1)
    with pytest.raises(ValueError, match="needs n"):
        ShapesDataset()
    with pytest.raises(ValueError, match=r"background must be one of \['plain', 'photo', 'mix"):
        ShapesDataset(4, background="noise")
    with pytest.raises(ValueError, match="split must be one of \\['train', 'test'\\], got 'val'"):
        ShapesDataset(4, split="val")
    with pytest.raises(ValueError, match=r"shape \(N, 5\)"):
        render_shapes(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="integers"):
        render_shapes(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"column 1 \(color\) must be in \[0, 7\]"):
        render_shapes(torch.tensor([[0, 9, 0, 0, 0]]))
    with pytest.raises(ValueError, match="color must be one of"):
        make_factors("star", "magenta")
    with pytest.raises(ValueError, match="one length"):
        make_factors(["star", "heart"], ["red", "blue", "green"])
    with pytest.raises(ValueError, match="factor must be one of"):
        ShapesDataset(2, seed=0).labels("texture")


def test_speed_smoke():
    import time

    start = time.perf_counter()
    data = ShapesDataset(2000, seed=0)
    elapsed = time.perf_counter() - start
    assert len(data) == 2000
    assert elapsed < 5.0, f"2000 plain 32x32 images took {elapsed:.2f} s"
    assert np.isfinite(data.images.numpy()).all()


def test_geometry_constants_are_sane():
    geo = F._shape_geometry()
    assert set(geo) == set(FACTORS["shape"])
    for _name, (_gy, extent) in geo.items():
        assert 0.9 < extent < 1.5


def test_the_drawable_world_has_larger_shapes_and_low_detail_photos():
    from n2nlib.data.factors import WORLDS, sample_factors
    from n2nlib.data.render import low_detail, render_shapes_full

    factors = sample_factors(200, 3, split="test", background="mixed")
    v1 = render_shapes_full(factors, 32, 3, "test")
    assert torch.equal(v1.images, render_shapes_full(factors, 32, 3, "test", world="v1").images)
    v2 = render_shapes_full(factors, 32, 3, "test", world="v2")
    for size, (lo, hi) in WORLDS["v2"].size_ranges.items():
        rows = factors[:, 2] == ("small", "large").index(size)
        r = v2.radii[rows] / 32
        assert r.min() >= lo - 1e-6 and r.max() <= hi + 1e-6
    assert (v2.masks > 0).float().mean() > 1.5 * (v1.masks > 0).float().mean()
    # photo backgrounds keep their colours but lose their detail: the pixel-to-pixel
    # differences of the background are a fraction of the sharp ones
    photo = factors[:, 4] == 1
    outside = (v2.coverage[photo] == 0) & (v1.coverage[photo] == 0)

    def detail(images):
        dx = (images[photo][..., 1:] - images[photo][..., :-1]).abs()
        return dx.mean(1)[outside[..., 1:] & outside[..., :-1]].mean()

    assert detail(v2.images) < 0.4 * detail(v1.images)
    flat = low_detail(torch.rand(2, 3, 32, 32), 1)
    assert torch.allclose(flat, flat.mean(dim=(2, 3), keepdim=True).expand_as(flat), atol=1e-5)
    with pytest.raises(ValueError, match="world"):
        render_shapes_full(factors[:2], 32, 0, "test", world="v3")
    assert ShapesDataset(4, world="v2").world == "v2"
