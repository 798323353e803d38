"""The random deformation d of the disentangling experiment (n2nlib.course.deform)."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2.functional import horizontal_flip

from n2nlib.course.deform import (
    DeformParams,
    DeformTransform,
    RandomDeformation,
    deformation_grid,
    identity_grid,
    random_deform,
    tps_coefficients,
    tps_control_points,
    tps_transform,
)


def _square(size: int = 16, lo: int = 3, hi: int = 7) -> torch.Tensor:
    """One grey image with a white square in its top-left quadrant."""
    img = torch.full((1, 3, size, size), 0.2)
    img[..., lo:hi, lo:hi] = 1.0
    return img


def test_identity_grid_samples_the_image_unchanged():
    x = torch.rand(3, 2, 9, 7)
    grid = identity_grid(9, 7, dtype=x.dtype)[None].expand(3, -1, -1, -1)
    out = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    assert torch.allclose(out, x, atol=1e-12)


def test_tps_with_zero_displacement_is_the_identity():
    d = RandomDeformation(flip_p=0.0, tps_points=4, tps_strength=0.3, crop_scale=(1.0, 1.0))
    x = torch.rand(4, 3, 16, 16)
    params = d.sample(4, seed=0)
    params.displacement.zero_()
    assert torch.allclose(d.apply(x, params), x, atol=1e-9)
    # and the spline coefficients themselves are the identity map (w = 0, A = I)
    p = tps_control_points(4, dtype=torch.float64)
    coef = tps_coefficients(p, p[None])
    assert torch.allclose(coef[0, :-3], torch.zeros(16, 2), atol=1e-10)
    assert torch.allclose(coef[0, -2:], torch.eye(2, dtype=torch.float64), atol=1e-10)


def test_tps_moves_control_points_exactly_and_is_smooth_between():
    p = tps_control_points(3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    targets = p + 0.2 * (torch.rand(2, 9, 2, generator=gen, dtype=torch.float64) - 0.5)
    coef = tps_coefficients(p, targets)
    assert torch.allclose(tps_transform(p, p, coef), targets, atol=1e-9)
    # a pure translation of all points is reproduced everywhere (affine part, no bending)
    shift = torch.tensor([0.1, -0.05], dtype=torch.float64)
    coef = tps_coefficients(p, (p + shift)[None])
    q = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    assert torch.allclose(tps_transform(q, p, coef)[0], q + shift, atol=1e-9)


def test_flip_twice_is_identity_and_flip_matches_torchvision():
    d = RandomDeformation(flip_p=1.0, tps_strength=0.0, crop_scale=(1.0, 1.0))
    x = torch.rand(5, 3, 12, 12)
    once = d(x, seed=3)
    assert torch.allclose(once, horizontal_flip(x), atol=1e-9)
    assert torch.allclose(d(once, seed=4), x, atol=1e-9)


def test_flip_moves_the_square_to_the_other_side():
    img = _square()
    out = RandomDeformation(flip_p=1.0, tps_strength=0.0, crop_scale=(1.0, 1.0))(img, seed=0)
    assert torch.allclose(out[..., 3:7, 9:13], torch.ones(1, 3, 4, 4), atol=1e-9)
    assert float(out[..., 3:7, 3:7].max()) == pytest.approx(0.2)


def test_crop_zooms_in_around_the_window():
    # a centred window of half the side: the centre 8x8 pixels fill the whole output
    params = DeformParams.identity(1)
    params.crop[0] = torch.tensor([0.0, 0.0, 0.5], dtype=params.crop.dtype)
    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:12, 4:12] = 1.0
    out = RandomDeformation().apply(x, params)
    assert float(out[..., 1:-1, 1:-1].min()) > 0.99  # the outermost ring mixes in pixel 3
    assert float(out.min()) > 0.5
    # the top-left quarter window shows the top-left quarter, doubled
    params.crop[0] = torch.tensor([-0.5, -0.5, 0.5], dtype=params.crop.dtype)
    img = _square(16, 2, 6)
    out = RandomDeformation().apply(img, params)
    assert float(out[..., 5:11, 5:11].min()) > 0.99 and float(out[..., 14:, 14:].max()) < 0.21


def test_wrap_is_a_cyclic_translation():
    x = torch.rand(2, 3, 16, 16)
    params = DeformParams.identity(2)
    params.crop[0] = torch.tensor([0.25, 0.0, 1.0], dtype=params.crop.dtype)  # 2 pixels right
    params.crop[1] = torch.tensor([-0.5, 0.125, 1.0], dtype=params.crop.dtype)  # 4 left, 1 down
    out = RandomDeformation(padding_mode="wrap").apply(x, params)
    assert torch.allclose(out[0], torch.roll(x[0], -2, dims=-1), atol=1e-9)
    assert torch.allclose(out[1], torch.roll(x[1], (-1, 4), dims=(-2, -1)), atol=1e-9)
    # with wrap, windows are placed anywhere; without, only where they fit
    centres = RandomDeformation(padding_mode="wrap", crop_scale=(0.9, 1.0)).sample(500, 0).crop
    assert float(centres[:, :2].abs().max()) > 0.8
    fits = RandomDeformation(crop_scale=(0.9, 1.0)).sample(500, 0).crop
    assert float(fits[:, :2].abs().max()) <= 0.1 + 1e-12


def test_scales_are_drawn_log_uniformly_within_the_range():
    scales = RandomDeformation(crop_scale=(0.5, 2.0)).sample(4000, seed=0).crop[:, 2]
    assert float(scales.min()) >= 0.5 and float(scales.max()) <= 2.0
    assert abs(float((scales < 1.0).double().mean()) - 0.5) < 0.05  # log-uniform: median 1


def test_values_stay_in_range_and_shapes_are_kept():
    d = RandomDeformation(flip_p=0.5, tps_points=5, tps_strength=0.4, crop_scale=(0.5, 1.3))
    x = torch.rand(40, 3, 16, 16)
    out = d(x, seed=0)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.allclose(out, x)  # it does deform


def test_seeded_and_independent_of_chunking():
    x = torch.rand(10, 3, 16, 16)
    a = RandomDeformation(batch_size=3)(x, seed=7)
    b = RandomDeformation(batch_size=512)(x, seed=7)
    c = RandomDeformation()(x, seed=8)
    assert torch.allclose(a, b, atol=1e-12)
    assert not torch.allclose(a, c)
    assert torch.equal(random_deform(x, seed=7), RandomDeformation()(x, seed=7))


def test_each_image_gets_its_own_deformation():
    x = _square().expand(6, -1, -1, -1).contiguous()
    out = RandomDeformation(tps_strength=0.2)(x, seed=0)
    assert not torch.allclose(out[0], out[1])


def test_nearest_mode_keeps_label_values():
    labels = torch.randint(0, 4, (3, 1, 16, 16)).double()
    d = RandomDeformation(tps_strength=0.3)
    out = d.apply(labels, d.sample(3, seed=0), mode="nearest")
    assert set(out.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}


def test_grid_shape_and_params_slicing():
    d = RandomDeformation(tps_points=3)
    params = d.sample(5, seed=0)
    assert len(params) == 5 and len(params[1:3]) == 2
    grid = deformation_grid(params, 8, 10)
    assert grid.shape == (5, 8, 10, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flip_p": 1.5},
        {"tps_strength": -0.1},
        {"crop_scale": (0.9, 0.5)},
        {"crop_scale": (0.0, 1.0)},
        {"padding_mode": "circular"},
        {"batch_size": 0},
    ],
)
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        RandomDeformation(**kwargs)


def test_bad_inputs_are_rejected():
    d = RandomDeformation()
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        d(torch.rand(3, 16, 16), seed=0)
    with pytest.raises(TypeError, match="floating"):
        d.apply(torch.zeros(2, 1, 8, 8, dtype=torch.long), d.sample(2, seed=0))
    with pytest.raises(ValueError, match="deformations"):
        d.apply(torch.rand(2, 1, 8, 8), d.sample(3, seed=0))
    with pytest.raises(ValueError):
        tps_control_points(1)


def test_shuffle_patches_permutes_whole_tiles():
    from n2nlib.course.deform import shuffle_patches

    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    y = shuffle_patches(x, 4, seed=1)
    assert not torch.equal(x, y)
    tiles = lambda t: {tuple(t[:, r:r + 4, c:c + 4].flatten().tolist())  # noqa: E731
                       for r in (0, 4) for c in (0, 4)}
    for i in range(2):  # each image: the same four tiles, channels kept together
        assert tiles(x[i]) == tiles(y[i])
    assert torch.equal(y, shuffle_patches(x, 4, seed=1))
    with pytest.raises(ValueError, match="multiple of patch"):
        shuffle_patches(x, 3)


def test_random_deformation_with_shuffled_patches_keeps_the_warp_draws():
    x = torch.rand(3, 3, 16, 16)
    warp = RandomDeformation(tps_strength=0.2)
    both = RandomDeformation(tps_strength=0.2, shuffle_patches=4)
    warped, shuffled = warp(x, seed=5), both(x, seed=5)
    # the same warp, then a permutation of 4×4 tiles: the same multiset of values per image
    for i in range(3):
        assert torch.allclose(warped[i].flatten().sort().values,
                              shuffled[i].flatten().sort().values)
    assert not torch.allclose(warped, shuffled)
    assert "shuffle_patches=4" in repr(both)
    with pytest.raises(ValueError, match="shuffle_patches"):
        RandomDeformation(shuffle_patches=-1)



# -- as a torchvision transform -------------------------------------------------------------


def _square_and_mask(b: int = 3, size: int = 16):
    image = torch.zeros(b, 3, size, size)
    image[:, :, 2:7, 3:9] = 1.0
    mask = torch.zeros(b, size, size, dtype=torch.long)
    mask[:, 2:7, 3:9] = 2
    return tv_tensors.Image(image), tv_tensors.Mask(mask)


def test_the_transform_moves_image_and_mask_together():
    d = RandomDeformation(flip_p=0.5, tps_strength=0.2, crop_scale=(0.8, 1.2))
    image, mask = _square_and_mask()
    pipeline = v2.Compose([v2.ToDtype(torch.float64), d.as_transform(seed=0)])
    out_image, out_mask = pipeline(image, mask)
    assert isinstance(out_image, tv_tensors.Image) and isinstance(out_mask, tv_tensors.Mask)
    assert out_mask.dtype == torch.long and out_mask.shape == mask.shape
    assert set(out_mask.unique().tolist()) <= {0, 2}
    # the same draws as the deformation's own apply, and the mask where the square went
    params = d.sample(3, generator=torch.Generator().manual_seed(0))
    expected = d.apply(image.as_subclass(torch.Tensor).double(), params)
    torch.testing.assert_close(out_image.as_subclass(torch.Tensor), expected)
    inside = out_mask.as_subclass(torch.Tensor) == 2
    assert inside.any()
    assert (expected[:, 0][inside] > 0.5).float().mean() > 0.95
    assert not torch.equal(out_mask.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor))


def test_the_transform_takes_one_image_and_refuses_what_it_cannot_do():
    d = RandomDeformation(tps_strength=0.1)
    one = torch.rand(3, 8, 8)
    assert d.as_transform(seed=1)(one).shape == (3, 8, 8)
    image, mask = _square_and_mask()
    shuffling = RandomDeformation(shuffle_patches=4).as_transform(seed=0)
    with pytest.raises(ValueError, match="mask cannot follow"):
        shuffling(image, mask)
    with pytest.raises(ValueError, match="one batch size"):
        d.as_transform()(tv_tensors.Image(torch.rand(2, 3, 8, 8)),
                         tv_tensors.Image(torch.rand(3, 3, 8, 8)))
    with pytest.raises(TypeError, match="RandomDeformation"):
        DeformTransform("not a deformation")
