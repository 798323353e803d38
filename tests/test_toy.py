"""The toy distributions' densities are true densities, and their samplers draw from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2nlib import testing
from n2nlib.course.toy import (
    LinearGaussian,
    LinearTranslator,
    MLPRegressor,
    RingModes,
    TwoMoons,
    gaussian_kl_to_standard,
    gaussian_log_prob,
    grid,
    standard_normal_log_prob,
)
from n2nlib.train import fit


def _grid_mass(log_prob, extent, n=400):
    points, _, area = grid(extent, n)
    return float(log_prob(points).exp().sum() * area)


def _histogram_vs_density(samples, log_prob, extent, bins=12):
    """Max |empirical cell probability - integrated density| over a coarse grid of cells."""
    x0, x1, y0, y1 = extent
    hist, _, _ = np.histogram2d(samples[:, 0].numpy(), samples[:, 1].numpy(), bins=bins,
                                range=[[x0, x1], [y0, y1]])
    hist = hist.T / samples.shape[0]  # rows = y
    fine = 10
    points, _, area = grid(extent, bins * fine)
    dens = log_prob(points).exp().view(bins, fine, bins, fine).sum(dim=(1, 3)) * area
    return float(np.abs(hist - dens.numpy()).max())


def test_two_moons_density_integrates_to_one():
    moons = TwoMoons(0.1)
    assert _grid_mass(moons.log_prob, moons.extent) == pytest.approx(1.0, abs=2e-3)


def test_two_moons_quadrature_converged():
    x = TwoMoons(0.1).sample(200, torch.Generator().manual_seed(0))
    coarse = TwoMoons(0.1, n_quad=256).log_prob(x)
    fine = TwoMoons(0.1, n_quad=1024).log_prob(x)
    assert float((coarse - fine).abs().max()) < 1e-8


def test_two_moons_sampler_matches_density():
    moons = TwoMoons(0.15)
    samples = moons.sample(40000, torch.Generator().manual_seed(1))
    assert _histogram_vs_density(samples, moons.log_prob, moons.extent) < 0.01


def test_two_moons_density_is_wrong_for_wrong_noise():
    # the checks above can fail: a different noise level is clearly detected
    samples = TwoMoons(0.15).sample(40000, torch.Generator().manual_seed(1))
    assert _histogram_vs_density(samples, TwoMoons(0.05).log_prob, TwoMoons().extent) > 0.02


@pytest.mark.parametrize("r", [1.0, 1.7, 2.5])
def test_ring_modes_conditional_density_integrates_to_one(r):
    task = RingModes()

    def log_prob(points):
        return task.log_prob(points, torch.full((points.shape[0], 1), r))

    assert _grid_mass(log_prob, task.extent) == pytest.approx(1.0, abs=1e-3)


def test_ring_modes_sampler_matches_density_and_weights():
    task = RingModes()
    g = torch.Generator().manual_seed(0)
    c = torch.full((30000, 1), 1.8)
    x = task.sample_given(c, g)

    def log_prob(points):
        return task.log_prob(points, torch.full((points.shape[0], 1), 1.8))

    assert _histogram_vs_density(x, log_prob, task.extent) < 0.01
    shares = torch.bincount(task.assign_modes(x, c), minlength=3).double() / x.shape[0]
    assert torch.allclose(shares, task.weights, atol=0.015)


def test_ring_modes_mean_is_between_the_modes():
    task = RingModes()
    c = task.sample_conditions(20, torch.Generator().manual_seed(0))
    mean = task.mean(c)
    x = task.sample_given(c.repeat(20000, 1), torch.Generator().manual_seed(1))
    empirical = x.view(20000, 20, 2).mean(0)  # standard error about 0.01
    assert float((empirical - mean).norm(dim=1).max()) < 0.05
    # the conditional mean is far from every mode: a regressor's answer is off the data
    nearest = (mean.unsqueeze(1) - task.centers(c)).norm(dim=-1).min(dim=1).values
    assert float(nearest.min()) > 3 * task.sigma


def test_ring_modes_modes_turn_with_the_radius():
    task = RingModes(twist=1.0)
    a = task.angles(torch.tensor([[1.0], [2.0]]))
    assert torch.allclose(a[1] - a[0], torch.full((3,), 1.0))


def test_ring_modes_validation():
    with pytest.raises(ValueError, match="weights"):
        RingModes(n_modes=2, weights=(1.0, 0.0))
    with pytest.raises(ValueError, match="radius"):
        RingModes(radius=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"\(B, 1\)"):
        RingModes().log_prob(torch.zeros(3, 2), torch.zeros(3))


def test_gaussian_helpers_match_scipy():
    from scipy.stats import multivariate_normal

    g = torch.Generator().manual_seed(0)
    L = torch.tensor([[1.0, 0.0], [0.6, 0.5]])
    cov = L @ L.T
    mean = torch.tensor([0.3, -1.0])
    x = torch.randn(50, 2, generator=g)
    ours = gaussian_log_prob(x, mean, cov)
    ref = multivariate_normal(mean.numpy(), cov.numpy()).logpdf(x.numpy())
    assert np.allclose(ours.numpy(), ref, atol=1e-10)
    assert torch.allclose(standard_normal_log_prob(x), gaussian_log_prob(x, torch.zeros(2),
                                                                          torch.eye(2)))
    # KL to N(0, I) against a Monte-Carlo estimate
    z = mean + torch.randn(400000, 2, generator=g) @ L.T
    mc = float((gaussian_log_prob(z, mean, cov) - standard_normal_log_prob(z)).mean())
    assert mc == pytest.approx(float(gaussian_kl_to_standard(mean, cov)), abs=0.01)


def test_linear_gaussian_entropy_and_density():
    task = LinearGaussian.random(dim=2, cond_dim=3, seed=1)
    x, c = task.sample(200000, torch.Generator().manual_seed(0))
    assert float(-task.log_prob(x, c).mean()) == pytest.approx(task.conditional_entropy(),
                                                               abs=0.01)


def test_linear_translator_closed_forms():
    task = LinearGaussian.random(dim=2, cond_dim=2, seed=0)
    tau = LinearTranslator(2, 2, W=torch.tensor([[1.2, 0.3], [0.0, 0.8]]),
                           M=0.5 * torch.ones(2, 2), m=torch.tensor([0.1, 0.2]))
    x, c = task.sample(8, torch.Generator().manual_seed(0))
    testing.check_invertible(tau, x, c)
    testing.check_logdet(tau, x, c)
    law = tau.residual(task)
    # v = tau^{-1}(x | c) has the closed-form law: compare moments by Monte Carlo
    c = torch.full((100000, 2), 0.4)
    v = tau(task.sample_given(c, torch.Generator().manual_seed(1)), c)[0].detach()
    assert torch.allclose(v.mean(0), law.mean(c[:1])[0], atol=0.02)
    assert torch.allclose(torch.cov(v.T), law.S, atol=0.02)
    # E[Eq. 4] = E_c KL + H[z_Θ | z_Φ]
    x, c = task.sample(200000, torch.Generator().manual_seed(2))
    with torch.no_grad():
        objective = float(tau.nll(x, c).mean())
    assert objective == pytest.approx(law.expected_kl() + task.conditional_entropy(), abs=0.02)
    # the information bottleneck: I(v, z_Φ) <= E KL
    assert 0 < law.mutual_information() <= law.expected_kl()


def test_linear_translator_trained_reaches_the_truth():
    task = LinearGaussian.random(dim=2, cond_dim=2, seed=0)
    tau = LinearTranslator(2, 2)
    data = task.sample(4000, torch.Generator().manual_seed(0))
    fit(tau, data, steps=600, batch_size=256, lr=0.05, progress=False)
    law = tau.residual(task)
    assert law.expected_kl() < 0.01
    assert law.mutual_information() < 0.01


def test_mlp_regressor_learns_the_conditional_mean():
    task = RingModes()
    reg = MLPRegressor(2, 1, hidden=32)
    x, c = task.sample(8000, torch.Generator().manual_seed(0))
    fit(reg, (x, c), steps=800, batch_size=256, lr=3e-3, progress=False)
    ct = torch.linspace(1.1, 2.4, 50).unsqueeze(1)
    with torch.no_grad():
        err = (reg(ct) - task.mean(ct)).norm(dim=1).mean()
    assert float(err) < 0.15
    assert torch.equal(reg.sample(ct, 2.0), reg.sample(ct, 0.5))  # no residual to draw


def test_grid_validation():
    with pytest.raises(ValueError, match="extent"):
        grid((1, 0, 0, 1))
    pts, idx, area = grid((0, 2, 0, 1), n=2)
    assert pts.tolist() == [[0.5, 0.25], [1.5, 0.25], [0.5, 0.75], [1.5, 0.75]]
    assert math.isclose(area, 0.5) and idx.shape == (2, 2)
