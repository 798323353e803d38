"""Tests of the model-diagnosis tools (notebook 07): Fréchet distance, diversity, layer taps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2nlib import metrics


def _random_cov(d: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(d, d, generator=gen)
    return a @ a.T / d + 0.1 * torch.eye(d)


def test_gaussian_frechet_distance_closed_form_commuting():
    # diagonal covariances commute: tr(Σa^½ Σb Σa^½)^½ = Σ sqrt(σa σb), so the distance is
    # ||μa - μb||² + Σ (sqrt(σa) - sqrt(σb))²
    mu_a, mu_b = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])
    expected = float((mu_a - mu_b).pow(2).sum() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum())
    got = metrics.gaussian_frechet_distance(mu_a, torch.diag(var_a), mu_b, torch.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-10)  # 5 + 4 + 1 = 10


def test_gaussian_frechet_distance_general_against_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    gen = torch.Generator().manual_seed(1)
    d = 6
    ca, cb = _random_cov(d, gen), _random_cov(d, gen)
    ma, mb = torch.randn(d, generator=gen), torch.randn(d, generator=gen)
    root = scipy_linalg.sqrtm(ca.numpy() @ cb.numpy())
    expected = float((ma - mb).pow(2).sum() + ca.trace() + cb.trace()
                     - 2 * np.trace(np.real(root)))
    got = metrics.gaussian_frechet_distance(ma, ca, mb, cb)
    assert got == pytest.approx(expected, rel=1e-8)
    # symmetric, zero on itself
    assert metrics.gaussian_frechet_distance(mb, cb, ma, ca) == pytest.approx(got, rel=1e-8)
    assert metrics.gaussian_frechet_distance(ma, ca, ma, ca) == pytest.approx(0.0, abs=1e-9)


def test_gaussian_frechet_distance_of_degenerate_covariance():
    # a point mass (the "mean image" of a deterministic translator) against N(0, I):
    # the distance is the whole variance tr(I) = D
    d = 5
    got = metrics.gaussian_frechet_distance(torch.zeros(d), torch.zeros(d, d),
                                            torch.zeros(d), torch.eye(d))
    assert got == pytest.approx(d)


def test_frechet_distance_from_samples_converges_to_closed_form():
    gen = torch.Generator().manual_seed(2)
    d, n = 4, 200_000
    ca, cb = _random_cov(d, gen), _random_cov(d, gen)
    ma, mb = torch.zeros(d), torch.full((d,), 0.5)
    xa = ma + torch.randn(n, d, generator=gen) @ torch.linalg.cholesky(ca).T
    xb = mb + torch.randn(n, d, generator=gen) @ torch.linalg.cholesky(cb).T
    expected = metrics.gaussian_frechet_distance(ma, ca, mb, cb)
    assert metrics.frechet_distance(xa, xb) == pytest.approx(expected, rel=0.02, abs=0.01)


def test_frechet_distance_orders_worse_sets_higher():
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(2000, 8, generator=gen)
    good = torch.randn(2000, 8, generator=gen)
    shrunk = 0.3 * torch.randn(2000, 8, generator=gen)  # too little variance
    assert metrics.frechet_distance(real, good) < 0.1 < metrics.frechet_distance(real, shrunk)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="same feature size"):
        metrics.frechet_distance(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        metrics.frechet_distance(torch.zeros(1, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        metrics.frechet_distance(torch.full((3, 2), float("nan")), torch.zeros(5, 2))


def test_sample_diversity():
    # two inputs, three samples each; input 0: identical samples, input 1: 0, 1, 1
    s = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    # input 1 pairs: (0,1): 1, (0,2): 1, (1,2): 0 -> 2/3; mean over inputs (0 + 2/3) / 2
    assert metrics.sample_diversity(s, 3) == pytest.approx(1 / 3)
    assert metrics.sample_diversity(torch.ones(6, 1, 4, 4), 3) == 0.0
    with pytest.raises(ValueError, match="n_samples"):
        metrics.sample_diversity(s, 1)
    with pytest.raises(ValueError, match="B \\* n_samples"):
        metrics.sample_diversity(s, 4)


def test_rms_distance_with_several_samples_per_row():
    a = torch.tensor([[1.0, 1.0], [3.0, 3.0]])
    assert metrics.rms_distance(a, torch.zeros(1, 2)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="trailing shape"):
        metrics.rms_distance(a, torch.zeros(1, 3))
