"""The metrics measure what they claim, and can fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2nlib import metrics


def _correlated(n, rho, seed=0, dim=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    y = rho * x + math.sqrt(1 - rho**2) * torch.randn(n, dim, generator=g)
    return x, y


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_knn_mi_matches_gaussian_truth(rho):
    x, y = _correlated(3000, rho)
    truth = -0.5 * math.log(1 - rho**2)
    assert metrics.knn_mutual_information(x, y) == pytest.approx(truth, abs=0.05)
    assert metrics.gaussian_mutual_information(x, y) == pytest.approx(truth, abs=0.05)


def test_knn_mi_near_zero_for_independent_and_large_for_dependent():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2000, 2, generator=g)
    independent = torch.randn(2000, 1, generator=g)
    assert abs(metrics.knn_mutual_information(x, independent)) < 0.05
    dependent = x[:, :1] + 0.05 * torch.randn(2000, 1, generator=g)
    assert metrics.knn_mutual_information(x, dependent) > 1.5


def test_knn_mi_sees_nonlinear_dependence_that_gaussian_mi_misses():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3000, 1, generator=g)
    y = x.pow(2) + 0.1 * torch.randn(3000, 1, generator=g)
    assert metrics.gaussian_mutual_information(x, y) < 0.02
    assert metrics.knn_mutual_information(x, y) > 1.0


def test_knn_mi_invariant_to_rescaling_and_handles_ties():
    x, y = _correlated(1500, 0.8, seed=2)
    a = metrics.knn_mutual_information(x, y)
    b = metrics.knn_mutual_information(100 * x, 0.01 * y + 5)
    assert a == pytest.approx(b, abs=0.02)
    labels = (torch.arange(1500) % 3).double().unsqueeze(1)  # a discrete variable: many ties
    signal = labels + 0.1 * torch.randn(1500, 1)
    assert metrics.knn_mutual_information(signal, labels) > 0.8  # truth: log 3 = 1.10


def test_knn_mi_validation():
    with pytest.raises(ValueError, match="same number"):
        metrics.knn_mutual_information(torch.zeros(5, 1), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="k must"):
        metrics.knn_mutual_information(torch.randn(5, 1), torch.randn(5, 1), k=5)
    with pytest.raises(ValueError, match="NaN"):
        metrics.knn_mutual_information(torch.full((5, 1), float("nan")), torch.randn(5, 1))


def test_nll_gap_pairs_and_standard_error():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(10000, generator=g) * 3 + 2
    model = ref + 0.1 + 0.01 * torch.randn(10000, generator=g)
    gap = metrics.nll_gap(model, ref)
    assert gap.gap == pytest.approx(0.1, abs=1e-3)
    assert gap.stderr == pytest.approx(0.01 / 100, rel=0.1)
    with pytest.raises(ValueError, match="same length"):
        metrics.nll_gap(torch.zeros(3), torch.zeros(4))


def test_mode_metrics_tell_coverage_collapse_and_mean():
    centers = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    g = torch.Generator().manual_seed(0)
    which = torch.multinomial(torch.tensor([0.5, 0.3, 0.2]), 3000, True, generator=g)
    good = centers[which] + 0.2 * torch.randn(3000, 2, generator=g)
    collapsed = centers[torch.zeros(3000, dtype=torch.long)] + 0.2 * torch.randn(3000, 2)
    at_mean = good.mean(0, keepdim=True).expand(3000, 2)
    w = torch.tensor([0.5, 0.3, 0.2])
    assert metrics.mode_coverage(good, centers, 0.8, w) == 1.0
    assert metrics.mode_coverage(collapsed, centers, 0.8, w) == pytest.approx(1 / 3)
    assert metrics.mode_coverage(at_mean, centers, 0.8, w) == 0.0
    assert metrics.on_mode_fraction(good, centers, 0.8) > 0.99
    assert metrics.on_mode_fraction(at_mean, centers, 0.8) == 0.0
    shares = metrics.mode_shares(good, centers, 0.8)
    assert metrics.total_variation(shares, w) < 0.03
    assert metrics.total_variation(metrics.mode_shares(collapsed, centers, 0.8), w) > 0.45


def test_mode_metrics_with_per_sample_centers():
    c = torch.linspace(1, 2, 100).unsqueeze(1)
    centers = torch.stack([torch.cat([c, 0 * c], 1), torch.cat([-c, 0 * c], 1)], dim=1)
    samples = centers[torch.arange(100), torch.arange(100) % 2]
    assert metrics.mode_shares(samples, centers, 0.1).tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="centers"):
        metrics.mode_shares(samples, centers[:10], 0.1)


def test_mean_distance_and_total_variation():
    assert metrics.mean_distance(np.zeros((3, 2)), np.ones((3, 2))) == pytest.approx(math.sqrt(2))
    assert metrics.total_variation(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0])) == 0.0
    with pytest.raises(ValueError):
        metrics.total_variation(torch.tensor([-1.0, 2.0]), torch.tensor([1.0, 0.0]))


def test_goal_table_says_met_or_missed_and_by_how_much():
    from n2nlib.metrics import Goal, goal_table

    met = Goal("content kept", 0.93, ">=", 0.9, note="baseline 0.5")
    missed = Goal("gap (dB)", 3.25, "<=", 1.0)
    nan = Goal("not run", float("nan"), ">=", 0.5)
    assert met.met and not missed.met and not nan.met
    assert missed.verdict == "MISSED by 2.25" and nan.verdict.startswith("MISSED")
    table = goal_table([met, missed, nan]).splitlines()
    assert len(table) == 4 and table[1].endswith("MET  (baseline 0.5)")
    assert "MISSED by 2.25" in table[2]
    with pytest.raises(ValueError, match="op must be"):
        Goal("x", 1.0, "=>", 0.0)
    with pytest.raises(TypeError):
        goal_table([("x", 1.0)])
