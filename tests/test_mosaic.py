"""The appearance mosaic (n2nlib.course.mosaic): appearance kept, layout and size gone."""

from __future__ import annotations

import pytest
import torch

from n2nlib.course import disentangle
from n2nlib.course.mosaic import AppearanceMosaic
from n2nlib.data import FACTOR_NAMES, make_factors, render_shapes, sample_factors

pytestmark = pytest.mark.usefixtures("float32")


def _square(top: int, left: int, side: int) -> torch.Tensor:
    image = torch.full((1, 3, 32, 32), 0.1)                  # a flat background
    image[:, :, top:top + side, left:left + side] = torch.tensor([0.9, 0.6, 0.1])[:, None, None]
    return image


def test_mosaic_holds_the_colour_in_exactly_fg_tiles_tiles_and_is_seeded():
    d = AppearanceMosaic(fg_tiles=8)
    image = _square(3, 5, 12)
    out = d(image, seed=1)
    orange = (out[0] - torch.tensor([0.9, 0.6, 0.1])[:, None, None]).abs().amax(0) < 1e-6
    assert int(orange.sum()) == 8 * 16
    assert torch.equal(out, d(image, seed=1)) and not torch.equal(out, d(image, seed=2))
    assert torch.allclose(out[0][:, ~orange], torch.tensor(0.1))  # the rest: background


def test_mosaic_forgets_where_the_shape_was_and_how_big_it_is():
    d = AppearanceMosaic(fg_tiles=8, fg_pixels=24)
    shapes = [_square(2, 2, 6), _square(20, 14, 6), _square(4, 4, 20)]  # moved, then larger
    outs = [d(s, seed=5) for s in shapes]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    # the tile shuffle alone keeps how much of the image the colour covers
    shuffled = [disentangle.default_deformation()(s, seed=5) for s in (shapes[0], shapes[2])]
    covered = [float((s[0, 0] > 0.5).float().mean()) for s in shuffled]
    assert covered[1] > covered[0] + 0.1


def test_in_place_mosaic_keeps_the_background_layout_not_the_shape():
    image = _square(20, 14, 6)
    ramp = torch.linspace(0.0, 0.3, 32)
    image[:, :, :, :] = torch.where(image > 0.5, image, ramp[None, None, None, :])  # a gradient
    d = AppearanceMosaic(background="in place", fg_tiles=8, shape_tiles=0.3)
    out = d(image, seed=3)
    same = (out == image).all(dim=1).float().mean()
    assert 1 - 0.3 - 8 / 64 - 1e-6 <= float(same) < 1.0       # only shape and colour tiles change
    shape_pixels = (image[0, 0] > 0.5)
    assert not bool((out[0][:, shape_pixels] == image[0][:, shape_pixels]).all(0).all())
    # moved or grown on a flat background: the same mosaic
    flat = [_square(2, 2, 6), _square(20, 14, 6), _square(4, 4, 16)]
    outs = [d(x, seed=5) for x in flat]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    with pytest.raises(ValueError, match="background"):
        AppearanceMosaic(background="kept")


def test_mosaic_of_rendered_shapes_reads_their_colour():
    images, _ = render_shapes(make_factors(["star", "circle"], ["red", "cyan"],
                                           ["large", "small"], ["left", "top right"],
                                           ["photo", "plain"]), 32, 0, world="v2")
    out = AppearanceMosaic()(images, seed=0)
    for k, rgb in enumerate(([0.9, 0.1, 0.1], [0.1, 0.9, 0.9])):
        pixels = out[k].flatten(1).T
        close = (pixels - torch.tensor(rgb)).abs().amax(1) < 0.2
        assert int(close.sum()) >= 8 * 16, k


def test_mosaic_rejects_bad_sizes():
    with pytest.raises(ValueError, match="fg_tiles"):
        AppearanceMosaic(fg_tiles=0)
    with pytest.raises(ValueError, match="bg_fraction"):
        AppearanceMosaic(bg_fraction=0.0)
    with pytest.raises(ValueError, match="divide"):
        AppearanceMosaic(tile=5)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="fit"):
        AppearanceMosaic(fg_tiles=65)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="float tensor"):
        AppearanceMosaic()(torch.rand(3, 32, 32))


@pytest.mark.slow
def test_condition_through_the_mosaic_keeps_colour_and_background_not_size():
    from n2nlib import zoo

    factors = sample_factors(1200, 0, split="train", background="mixed")
    images, _ = render_shapes(factors, 32, 0, "train", world=disentangle.WORLD)
    ae = zoo.load(disentangle.TARGET)
    tiles = disentangle.condition_probe(ae, images, factors, disentangle.default_deformation(),
                                        seed=2)
    mosaic = disentangle.condition_probe(ae, images, factors, AppearanceMosaic(), seed=2)
    assert set(mosaic) == set(FACTOR_NAMES)
    assert mosaic["size"] < 0.6 < tiles["size"]                  # chance 0.5
    assert mosaic["position"] < 0.2 and mosaic["shape"] < 0.3    # chance 0.11 and 0.2
    assert mosaic["color"] > 0.8 and mosaic["background"] > 0.9
