"""Superresolution (notebook 03): the image metrics (SSIM, low-resolution consistency, per-pixel
diversity and its link to ambiguity, sharpness) and n2nlib.course.superres end to end on a
tiny translator between two linear "autoencoders"."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from n2nlib import ConditionalINN, Net2Net, metrics
from n2nlib.course import superres
from n2nlib.experts import as_expert

pytestmark = pytest.mark.usefixtures("float32", "one_thread")


def _images(n: int = 4, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Smooth random images (upsampled noise), like photo crops more than white noise is."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


# -- SSIM ---------------------------------------------------------------------------------------


def test_ssim_is_one_for_identical_images_and_low_for_noise():
    x = _images()
    assert metrics.ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(1))
    assert metrics.ssim(x, noise) < 0.2
    # a slightly noisy copy is between the two
    noisy = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2)))
    assert 0.5 < metrics.ssim(x, noisy.clamp(0, 1)) < 1.0


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    x = _images(2, 32, seed=3)
    y = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    ours = metrics.ssim(x, y, window=11, sigma=1.5, per_image=True)
    for i in range(2):
        ref = structural_similarity(
            x[i].permute(1, 2, 0).double().numpy(), y[i].permute(1, 2, 0).double().numpy(),
            channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, win_size=11)
        # skimage filters with an 11-tap Gaussian (sigma 1.5, truncated at 3.5 sigma) and
        # crops a border of 5 pixels: the positions where our 11-pixel window fits
        assert float(ours[i]) == pytest.approx(ref, abs=1e-6)


def test_ssim_of_a_large_batch_is_each_image_s_own():
    """Batches larger than one pass (SSIM runs in chunks to bound its memory) give every image
    the value it has alone, across the chunk boundaries."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(600, 3, 8, 8, generator=g)
    y = (x + 0.2 * torch.rand(x.shape, generator=g)).clamp(0, 1)
    together = metrics.ssim(x, y, per_image=True)
    alone = torch.cat([metrics.ssim(x[i:i + 1], y[i:i + 1], per_image=True) for i in range(600)])
    assert together.shape == (600,)
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-7)
    assert metrics.ssim(x, y) == pytest.approx(float(alone.double().mean()), abs=1e-6)


def test_ssim_prefers_structure_to_a_brightness_shift_at_equal_psnr():
    x = _images(4, 32, seed=5) * 0.8 + 0.1
    shifted = x + 0.05  # same structure, MSE 0.0025
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(6)) * 0.05
    noisy = x + noise   # same MSE (about), structure damaged
    assert metrics.psnr(x, shifted) == pytest.approx(metrics.psnr(x, noisy), abs=0.3)
    assert metrics.ssim(x, shifted) > metrics.ssim(x, noisy) + 0.1


def test_ssim_rejects_bad_input():
    x = _images()
    with pytest.raises(ValueError, match="same shape"):
        metrics.ssim(x, x[:, :, :8])
    with pytest.raises(ValueError, match="odd"):
        metrics.ssim(x, x, window=4)
    with pytest.raises(ValueError, match="larger than"):
        metrics.ssim(x, x, window=17)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        metrics.ssim(x[0], x[0])
    with pytest.raises(TypeError, match="floating"):
        metrics.ssim(torch.zeros(1, 1, 8, 8, dtype=torch.long), torch.zeros(1, 1, 8, 8))


# -- low-resolution consistency ------------------------------------------------------------------


def test_lr_consistency_of_the_truth_is_the_cap_and_of_bicubic_is_high():
    hi = _images(4, 32)
    lo = metrics.downsample(hi, 8)
    assert metrics.lr_consistency(hi, lo) == pytest.approx(100.0)
    # bicubic is not the inverse of the (blurring) downsampling filter, but close to it
    bicubic = metrics.lr_consistency(superres.bicubic(lo, 32), lo)
    assert bicubic > 22.0
    # a wrong image is inconsistent
    assert metrics.lr_consistency(_images(4, 32, seed=9), lo) < bicubic - 8.0
    per = metrics.lr_consistency(hi, lo, per_image=True)
    assert per.shape == (4,)


def test_lr_consistency_of_a_perfect_superresolution_equals_the_bound():
    """A translator whose samples are exactly the target autoencoder's reconstruction of the
    truth reaches the bound (gap 0); detail that changes the low frequencies costs consistency."""
    hi = _images(6, 16, seed=1)
    lo = metrics.downsample(hi, 4)
    target = _blur_autoencoder(16, 8)
    n2n = _FakeN2N(target)
    recon = target.decode(target.encode(hi))
    perfect = superres.evaluate(n2n, lo, hi, n_samples=2, samples=recon.repeat_interleave(2, 0))
    assert perfect.lr_consistency_db == pytest.approx(perfect.lr_bound_db, abs=1e-9)
    assert perfect.lr_gap_db == pytest.approx(0.0, abs=1e-9)
    assert perfect.psnr_db == pytest.approx(perfect.psnr_recon_db, abs=1e-9)
    assert perfect.diversity == 0.0
    # samples with wrong low frequencies (a brightness offset) fall below the bound
    off = (recon + 0.1).clamp(0, 1).repeat_interleave(2, 0)
    worse = superres.evaluate(n2n, lo, hi, n_samples=2, samples=off)
    assert worse.lr_gap_db > 3.0


def test_lr_consistency_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="same number"):
        metrics.lr_consistency(torch.rand(4, 3, 16, 16), torch.rand(2, 3, 4, 4))


# -- diversity and ambiguity ----------------------------------------------------------------------


def test_pixel_std_follows_the_translate_layout():
    base = torch.zeros(2, 3, 4, 4)
    samples = base.repeat_interleave(3, 0)
    samples[3:, :, 0, 0] = torch.tensor([0.0, 1.0, 2.0])[:, None]  # input 1, pixel (0, 0)
    std = metrics.pixel_std(samples, n_samples=3)
    assert std.shape == (2, 4, 4)
    assert float(std[0].abs().max()) == 0.0
    assert float(std[1, 0, 0]) == pytest.approx(1.0)
    assert float(std[1].sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_samples"):
        metrics.pixel_std(samples, n_samples=1)
    with pytest.raises(ValueError, match="B \\* n_samples"):
        metrics.pixel_std(samples, n_samples=4)


def test_diversity_vs_ambiguity_sees_where_samples_spread():
    g = torch.Generator().manual_seed(0)
    amb = torch.rand(8, 16, 16, generator=g)
    related = amb + 0.1 * torch.rand(8, 16, 16, generator=g)
    out = metrics.diversity_vs_ambiguity(related, amb)
    assert out["correlation"] > 0.9 and out["ratio"] > 3
    unrelated = metrics.diversity_vs_ambiguity(torch.rand(8, 16, 16, generator=g), amb)
    assert abs(unrelated["correlation"]) < 0.1 and unrelated["ratio"] == pytest.approx(1, abs=0.1)
    with pytest.raises(ValueError, match="one shape"):
        metrics.diversity_vs_ambiguity(amb, amb[:4])


def test_sharpness_orders_blur_truth_and_noise():
    x = _images(4, 32, seed=2)
    blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3)))
    assert metrics.sharpness(blurred) < metrics.sharpness(x) < metrics.sharpness(noisy)


# -- the experiment module, end to end on a tiny translator ---------------------------------------


class _FakeN2N:
    """Just what superres.evaluate reads when samples are given: the target expert."""

    def __init__(self, target):
        self.target = target
        self.device = torch.device("cpu")


def _blur_autoencoder(size: int, code: int):
    """A linear 'autoencoder': encode = downsample to code×code (flattened), decode = upsample."""
    def encode(y):
        return F.avg_pool2d(y, size // code).flatten(1)

    def decode(z):
        return F.interpolate(z.view(-1, 3, code, code), size=(size, size), mode="nearest")

    return as_expert(encode, dim=3 * code * code, decode=decode)


def test_make_pairs_uses_held_out_photos_and_the_expert_filter():
    lo, hi = superres.make_pairs(3, split="test", seed=0, size=16, low=4)
    assert lo.shape == (3, 3, 4, 4) and hi.shape == (3, 3, 16, 16)
    assert torch.equal(lo, metrics.downsample(hi, 4))
    lo2, hi2 = superres.make_pairs(3, split="test", seed=0, size=16, low=4)
    assert torch.equal(hi, hi2)
    assert not torch.equal(hi, superres.make_pairs(3, split="train", seed=0, size=16, low=4)[1])
    with pytest.raises(ValueError, match="low"):
        superres.make_pairs(2, size=16, low=32)


def test_augment_crops_turns_and_permutes_each_image_and_is_seeded():
    x = torch.rand(400, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    y = superres.augment_crops(x, seed=3)
    assert torch.equal(y, superres.augment_crops(x, seed=3))
    assert not torch.equal(y, superres.augment_crops(x, seed=4))
    # every output is one of the 4 turns × 6 channel orders of its own input, and all occur
    symmetries = [torch.rot90(x, k, dims=(2, 3))[:, list(order)]
                  for k in range(4) for order in itertools.permutations(range(3))]
    which = torch.stack([(s == y).flatten(1).all(1) for s in symmetries], 1)
    assert bool(which.any(1).all())
    assert int(which.any(0).sum()) == 24
    with pytest.raises(ValueError, match="squares"):
        superres.augment_crops(torch.rand(2, 3, 4, 5))


def test_make_pairs_augments_before_downsampling():
    lo, hi = superres.make_pairs(6, split="train", seed=0, size=16, low=4, augment=True)
    plain = superres.make_pairs(6, split="train", seed=0, size=16, low=4)[1]
    assert torch.equal(hi, superres.augment_crops(plain, seed=0))
    assert torch.equal(lo, metrics.downsample(hi, 4))


def test_translator_samples_beat_bicubic_and_spread_with_temperature():
    """Grey 2×2 inputs (4 numbers) → codes of 8×8 images at 4×4 (16 numbers). After a short
    fit the samples are more LR-consistent and closer to the truth than bicubic upsampling,
    the mean of the samples is closer than a single sample, and at temperature 0 all samples
    agree. (Codes are scaled to unit size: the cINN's MLP embedder learns slowly from
    conditions with a tiny spread.)"""
    torch.manual_seed(0)
    size, code, low = 8, 4, 2

    def encode(y):
        return (F.avg_pool2d(y, size // code).flatten(1) - 0.5) * 8

    def decode(z):
        return F.interpolate(z.view(-1, 1, code, code) / 8 + 0.5, size=(size, size),
                             mode="nearest")

    target = as_expert(encode, dim=code * code, decode=decode)
    source = as_expert(lambda x: (x.flatten(1) - 0.5) * 8, dim=low * low)
    cinn = ConditionalINN(code * code, low * low, n_blocks=4, hidden_dim=64)
    n2n = Net2Net(source, target, cinn, device="cpu")
    g = torch.Generator().manual_seed(0)

    def images(n):  # a 2×2 layout plus fine detail of random strength
        base = F.interpolate(0.2 + 0.6 * torch.rand(n, 1, 2, 2, generator=g),
                             size=(size, size), mode="nearest")
        detail = 0.05 + 0.3 * torch.rand(n, 1, 1, 1, generator=g)
        return (base + detail * (torch.rand(n, 1, size, size, generator=g) - 0.5)).clamp(0, 1)

    hi = images(2000)
    n2n.fit((metrics.downsample(hi, low), hi), steps=200, batch_size=128, lr=2e-3,
            progress=False)
    hi_t = images(64)
    lo_t = metrics.downsample(hi_t, low)
    scores = superres.evaluate(n2n, lo_t, hi_t, n_samples=8, temperature=1.0)
    assert scores.n_images == 64 and scores.n_samples == 8
    assert scores.lr_consistency_db > scores.lr_bicubic_db + 3, scores
    assert scores.lr_gap_db == pytest.approx(scores.lr_bound_db - scores.lr_consistency_db)
    assert scores.psnr_db > scores.psnr_bicubic_db, scores
    assert scores.diversity > 0.01
    assert scores.psnr_mean_db > scores.psnr_db  # averaging samples is the MSE-optimal guess
    cold = superres.evaluate(n2n, lo_t, hi_t, n_samples=2, temperature=0.0)
    assert cold.diversity == 0.0
    assert cold.psnr_db > scores.psnr_db
    assert cold.lr_consistency_db > scores.lr_consistency_db
    sweep = superres.temperature_sweep(n2n, lo_t, hi_t, (0.0, 1.0), n_samples=2, progress=False)
    assert [s.temperature for s in sweep] == [0.0, 1.0]
    assert sweep[0].diversity < sweep[1].diversity
    assert set(scores.as_dict()) >= {"lr_gap_db", "ssim", "diversity_ratio"}
    out = superres.sample(n2n, lo_t[:3], n_samples=5, seed=1)
    assert out.shape == (15, 1, size, size)
    assert torch.equal(out, superres.sample(n2n, lo_t[:3], n_samples=5, seed=1))


def test_evaluate_needs_two_samples():
    hi = _images(2, 16)
    with pytest.raises(ValueError, match="n_samples"):
        superres.evaluate(_FakeN2N(_blur_autoencoder(16, 8)), metrics.downsample(hi, 4), hi,
                          n_samples=1)


def test_bicubic_and_nearest_keep_a_constant_image():
    x = torch.full((1, 3, 4, 4), 0.25)
    assert np.allclose(superres.bicubic(x, 16).numpy(), 0.25, atol=1e-6)
    assert torch.equal(superres.nearest(x, 16), torch.full((1, 3, 16, 16), 0.25))


def test_image_columns_lays_out_titled_columns():
    from n2nlib.course import plots

    fig = plots.image_columns({"low": torch.rand(2, 3, 4, 4), "grey": torch.rand(2, 1, 8, 8),
                               "maps": torch.rand(2, 8, 8)})
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["low", "grey", "maps"]
    assert fig.axes[3].get_title() == ""
    plots.close(fig)
    with pytest.raises(ValueError, match="same number"):
        plots.image_columns({"a": torch.rand(2, 3, 4, 4), "b": torch.rand(3, 3, 4, 4)})
    with pytest.raises(ValueError, match="at least one"):
        plots.image_columns({})


class _GaussAE:
    """A linear 'autoencoder' with a posterior: code = 2×2 average pool, log-variance -8."""

    dim = 12

    def encode(self, y):
        return F.avg_pool2d(y, y.shape[-1] // 2).flatten(1)

    def encode_distribution(self, y):
        mean = self.encode(y)
        return mean, torch.full_like(mean, -8.0)

    def decode(self, z):
        return F.interpolate(z.view(-1, 3, 2, 2), size=(8, 8), mode="nearest")


def test_latent_pairs_encode_both_experts_and_widen_the_posterior():
    hi = _images(6, 8, seed=4)
    lo = metrics.downsample(hi, 4)
    source = as_expert(lambda x: x.flatten(1), dim=48)
    target = as_expert(_GaussAE())
    pairs = superres.latent_pairs(source, target, lo, hi, progress=False)
    assert len(pairs) == 6 and pairs.stochastic and pairs.cond_shape == (48,)
    assert torch.allclose(pairs.condition, lo.flatten(1))
    assert torch.allclose(pairs.target, F.avg_pool2d(hi, 4).flatten(1))
    assert float(pairs.target_logvar.max()) == pytest.approx(-8.0)  # as the posterior is
    wide = superres.latent_pairs(source, target, lo, hi, min_std=0.3, progress=False)
    assert torch.allclose(wide.target_logvar, torch.full((6, 12), 2 * np.log(0.3)))
    assert torch.equal(wide.target, pairs.target)
    with pytest.raises(ValueError, match="pair up"):
        superres.latent_pairs(source, target, lo[:3], hi, progress=False)
    with pytest.raises(ValueError, match="min_std"):
        superres.latent_pairs(source, target, lo, hi, min_std=0.0, progress=False)


def test_reconstruct_is_decode_of_encode_in_batches_and_evaluate_reuses_it():
    hi = _images(5, 16, seed=5)
    target = _blur_autoencoder(16, 8)
    recon = superres.reconstruct(target, hi, batch_size=2)
    assert torch.equal(recon, target.decode(target.encode(hi)))
    lo = metrics.downsample(hi, 4)
    samples = superres.bicubic(lo, 16).repeat_interleave(2, 0)
    fresh = superres.evaluate(_FakeN2N(target), lo, hi, n_samples=2, samples=samples)
    given = superres.evaluate(_FakeN2N(target), lo, hi, n_samples=2, samples=samples,
                              reconstruction=recon)
    assert fresh == given
    # a different "reconstruction" moves exactly the numbers that depend on it
    other = superres.evaluate(_FakeN2N(target), lo, hi, n_samples=2, samples=samples,
                              reconstruction=hi)
    assert other.lr_bound_db == pytest.approx(100.0) and other.psnr_db == fresh.psnr_db


def test_shape_pairs_and_the_shapes_the_low_res_input_leaves_open():
    pairs = superres.make_shape_pairs(40, split="test", seed=3)
    assert torch.equal(pairs.low, metrics.downsample(pairs.high, 8))
    again = superres.make_shape_pairs(40, split="test", seed=3)
    assert torch.equal(pairs.high, again.high) and torch.equal(pairs.factors, again.factors)
    none = superres.shape_alternatives(pairs, tolerance=0.0)
    loose = superres.shape_alternatives(pairs, tolerance=0.03)
    every = superres.shape_alternatives(pairs, tolerance=10.0)
    assert int(none.sum()) == 0 and bool((every == 4).all())
    assert bool((loose >= none).all()) and bool((loose <= every).all())
    small = pairs.factors[:, 2] == 0  # a small shape at 8×8 is left open more often
    assert float(loose[small].float().mean()) > float(loose[~small].float().mean())
    with pytest.raises(ValueError, match="tolerance"):
        superres.shape_alternatives(pairs, tolerance=-1.0)


def test_distinct_per_input():
    labels = torch.tensor([3, 3, 3, 0, 1, 2, 4, 4, 0])
    assert metrics.distinct_per_input(labels, 3).tolist() == [1, 3, 2]
    with pytest.raises(ValueError, match="multiple"):
        metrics.distinct_per_input(labels, 4)


def test_shape_ambiguity_is_the_spread_over_the_shapes_the_input_cannot_tell_apart():
    from n2nlib.data import render_shapes

    pairs = superres.make_shape_pairs(6, split="test", seed=2)
    assert float(superres.shape_ambiguity(pairs, 0.0).abs().max()) == 0.0  # all determined
    wide = superres.shape_ambiguity(pairs, 10.0)         # every shape is an alternative
    assert torch.equal(superres.shape_alternatives(pairs, 10.0), torch.full((6,), 4))
    versions = []
    for shape in range(5):
        factors = pairs.factors.clone()
        factors[:, 0] = shape
        versions.append(render_shapes(factors, 32, pairs.seed, "test", world=superres.WORLD)[0])
    expected = torch.stack(versions).std(dim=0, correction=0).mean(dim=1)
    torch.testing.assert_close(wide, expected)
    assert float(wide.flatten(1).amax(1).min()) > 0.05   # open where the outlines differ
    assert float(wide[:, :, :1].abs().max()) < 0.05      # ... not at the image's left edge
