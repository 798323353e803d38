"""Measures of translators and of the residual v = τ⁻¹(z_Θ | z_Φ)."""

from __future__ import annotations

import pytest
import torch

from n2nlib import ConditionalINN
from n2nlib.metrics import (
    classifier_two_sample_test,
    energy_distance,
    hsic,
    mean_pairwise_distance,
    mmd,
    rank_histogram,
    residual_report,
    vendi_score,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_two_sample_distances_separate_equal_from_shifted_sets():
    g = _gen()
    a, b = torch.randn(500, 3, generator=g), torch.randn(500, 3, generator=g)
    shifted = b + torch.tensor([1.0, 0.0, 0.0])
    assert abs(energy_distance(a, b)) < 0.05 < energy_distance(a, shifted)
    assert abs(mmd(a, b)) < 0.01 < mmd(a, shifted)
    assert 0.4 < classifier_two_sample_test(a, b) < 0.6
    assert classifier_two_sample_test(a, shifted) > 0.65
    with pytest.raises(ValueError, match="same width"):
        energy_distance(a, b[:, :2])


def test_a_knn_c2st_sees_a_difference_of_shape_that_a_linear_one_misses():
    g = _gen()
    signs = torch.randint(0, 2, (600, 1), generator=g) * 2.0 - 1.0
    two_modes = signs * 2.0 + 0.3 * torch.randn(600, 2, generator=g)  # at ±(2, 2)
    between = 2.0 * torch.randn(600, 2, generator=g)  # roughly the same mean and spread
    assert classifier_two_sample_test(two_modes, between, model="logistic") < 0.6
    assert classifier_two_sample_test(two_modes, between, model="knn") > 0.8
    with pytest.raises(ValueError, match="logistic"):
        classifier_two_sample_test(two_modes, between, model="forest")


def test_diversity_counts_distinct_samples():
    g = _gen()
    one = torch.zeros(50, 2)
    four = torch.randn(4, 2, generator=g).mul(100).repeat(25, 1)
    assert vendi_score(one) == pytest.approx(1.0)
    assert vendi_score(four, bandwidth=1.0) == pytest.approx(4.0, rel=0.01)
    assert 1.0 < vendi_score(four) < 4.0        # the median bandwidth blurs far clusters
    assert mean_pairwise_distance(torch.tensor([[0.0], [3.0]])) == pytest.approx(3.0)


def test_hsic_finds_dependence_and_not_independence():
    g = _gen()
    x = torch.randn(300, 2, generator=g)
    _, p_dep = hsic(x, x[:, :1] ** 2 + 0.1 * torch.randn(300, 1, generator=g))
    _, p_ind = hsic(x, torch.randn(300, 1, generator=g))
    assert p_dep < 0.01 < p_ind


def test_rank_histogram_is_flat_for_calibrated_and_u_shaped_for_narrow_samples():
    g = _gen()
    truth = torch.randn(2000, 1, generator=g)
    calibrated = torch.randn(2000 * 4, 1, generator=g)
    narrow = 0.2 * torch.randn(2000 * 4, 1, generator=g)
    flat = rank_histogram(truth, calibrated, 4)
    u = rank_histogram(truth, narrow, 4)
    assert flat.sum() == pytest.approx(1.0) and (flat - 0.2).abs().max() < 0.03
    assert u[0] > 0.35 and u[-1] > 0.35 and u[2] < 0.1


def test_residual_report_passes_a_fitted_cinn_and_fails_an_untrained_one():
    from n2nlib.train import fit

    torch.manual_seed(0)
    g = _gen()
    c = torch.randn(2000, 2, generator=g)
    x = torch.stack([2 * c[:, 0], c[:, 1] - c[:, 0]], 1) + 0.5 * torch.randn(2000, 2,
                                                                             generator=g)
    cinn = ConditionalINN(2, 2, n_blocks=2, hidden_dim=16).float()
    with torch.no_grad():
        cinn(x[:512].float(), c[:512].float())      # ActNorm initialised only: not fitted
    v0 = cinn(x[1500:].float(), c[1500:].float())[0].detach()
    before = residual_report(v0, c[1500:], permutations=100)
    fit(cinn, (x[:1500].float(), c[:1500].float()), steps=600, batch_size=250, lr=5e-3,
        progress=False)
    v = cinn(x[1500:].float(), c[1500:].float())[0].detach()
    after = residual_report(v, c[1500:], permutations=100)
    assert before.hsic_p < 0.05            # the untrained residual still depends on z_Φ
    assert after.hsic_p > 0.05             # the trained one does not (at this power)
    assert after.gaussian_fraction == 1.0 and after.ks.max() < before.ks.max()
    theoretical, observed = after.quantiles
    assert (observed - theoretical)[9:90].abs().max() < 0.15   # the QQ plot's body lies on y = x
