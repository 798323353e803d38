"""The k-nearest-neighbour and flow-matching translators: right samples, right densities."""

from __future__ import annotations

import math

import pytest
import torch

from n2nlib import Net2Net
from n2nlib.experts import as_expert
from n2nlib.testing import perturb_parameters
from n2nlib.train import fit
from n2nlib.translators import (
    FlowMatchingTranslator,
    KNNTranslator,
    RidgeTranslator,
    is_translator,
    translator_from_config,
    translator_name,
)


def _two_modes(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x = ±c (sign at random) + small noise: two modes for every condition."""
    g = torch.Generator().manual_seed(seed)
    c = 1.0 + torch.rand(n, 1, generator=g)
    sign = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0)
    return sign * c + 0.05 * torch.randn(n, 1, generator=g), c


# -- k nearest neighbours ----------------------------------------------------------------------


def test_knn_samples_training_targets_and_covers_both_modes():
    x, c = _two_modes(3000)
    knn = KNNTranslator(1, 1, k=50).fit_closed_form(x, c)
    assert is_translator(knn)
    cond = torch.full((400, 1), 1.5)
    samples = knn.sample(cond, generator=torch.Generator().manual_seed(1))
    # at T = 1 every sample is a stored target
    assert torch.isin(samples.flatten(), x.flatten()).all()
    assert 0.2 < float((samples > 0).float().mean()) < 0.8  # both modes (of 50 neighbours)
    assert float((samples.abs() - 1.5).abs().median()) < 0.1
    # at T = 0 the neighbours' mean: what a regressor says (between the modes)
    mean = knn.sample(cond[:1], temperature=0.0)
    assert abs(float(mean)) < 0.5
    ridge = RidgeTranslator(1, 1).fit_closed_form(x, c)
    assert abs(float(ridge.sample(cond[:1]))) < 0.3  # the deterministic rung: the mean too


def test_knn_density_integrates_to_one_and_prefers_the_modes():
    x, c = _two_modes(2000)
    knn = KNNTranslator(1, 1, k=15).fit_closed_form(x, c)
    grid = torch.linspace(-4, 4, 4001)[:, None]
    nll = knn.nll(grid, torch.full_like(grid, 1.5))
    mass = float(torch.exp(-nll).sum() * (grid[1] - grid[0]))
    assert mass == pytest.approx(1.0, abs=1e-3)
    held_x, held_c = _two_modes(500, seed=1)
    assert float(knn.nll(held_x, held_c).mean()) < float(knn.nll(-3 * held_x, held_c).mean())
    assert float(knn.bandwidth) < 0.5  # chosen by likelihood, not the targets' spread (≈1.5)


def test_knn_is_saved_by_name_and_refuses_what_it_cannot_do(tmp_path):
    x, c = _two_modes(300)
    knn = KNNTranslator(1, 1, k=5).fit_closed_form(x, c)
    assert translator_name(knn) == "KNNTranslator"
    again = translator_from_config(knn.get_config(), "KNNTranslator")
    again.load_state_dict(knn.state_dict())
    probe = torch.full((4, 1), 1.2)
    torch.testing.assert_close(again.nll(x[:4], probe), knn.nll(x[:4], probe))
    with pytest.raises(RuntimeError, match="not fitted"):
        KNNTranslator(1, 1).sample(probe)
    with pytest.raises(ValueError, match="more than 5 pairs"):
        KNNTranslator(1, 1, k=5).fit_closed_form(x[:5], c[:5])
    with pytest.raises(ValueError, match="k must be"):
        KNNTranslator(1, 1, k=0)


def test_net2net_fits_the_knn_translator_on_its_cache_and_translates():
    x, c = _two_modes(800)
    source = as_expert(lambda t: t, dim=1)
    target = as_expert(lambda t: t, dim=1, decode=lambda z: z)
    n2n = Net2Net(source, target, KNNTranslator(1, 1, k=10), device="cpu")
    n2n.fit((c, x), eval_data=(c[:100], x[:100]), progress=False)
    out = n2n.translate(torch.tensor([[1.5]]), n_samples=50)
    assert out.shape == (50, 1) and float(out.abs().mean()) == pytest.approx(1.5, abs=0.1)


# -- conditional flow matching -----------------------------------------------------------------


def test_flow_matching_density_integrates_to_one_away_from_its_start():
    torch.manual_seed(0)
    fm = FlowMatchingTranslator(1, 2, hidden=16, n_layers=2, ode_steps=64).double()
    perturb_parameters(fm, 0.3, generator=torch.Generator().manual_seed(0))
    grid = torch.linspace(-7, 7, 1401, dtype=torch.float64)[:, None]
    for cond in ([0.0, 0.0], [1.0, -2.0]):
        c = torch.tensor([cond], dtype=torch.float64).expand(len(grid), 2)
        nll = fm.nll(grid, c)
        mass = float(torch.exp(-nll).sum() * (grid[1] - grid[0]))
        assert mass == pytest.approx(1.0, abs=5e-3)
    # the perturbed field moves mass: the density is not the standard normal's
    standard = 0.5 * grid[:, 0] ** 2 + 0.5 * math.log(2 * math.pi)
    assert float((nll - standard).abs().max()) > 0.05


def test_flow_matching_learns_a_bimodal_conditional_with_the_one_training_loop():
    x, c = _two_modes(4000)
    held_x, held_c = _two_modes(400, seed=1)
    fm = FlowMatchingTranslator(1, 1, hidden=64, n_layers=2, ode_steps=16)
    history = fit(fm, (x, c), steps=600, batch_size=256, lr=3e-3, warmup=30,
                  eval_data=(held_x, held_c), eval_every=200, progress=False)
    first, last = sum(history.loss[:50]) / 50, sum(history.loss[-50:]) / 50
    assert last < 0.8 * first  # the training_loss went down (its floor is the paths' spread)
    samples = fm.sample(torch.full((1000, 1), 1.5), generator=torch.Generator().manual_seed(2))
    assert 0.3 < float((samples > 0).float().mean()) < 0.7  # both modes, unlike a regressor
    assert float((samples.abs() - 1.5).abs().median()) < 0.25  # a regressor: 1.5
    # its likelihood beats a single Gaussian fitted to the same pairs on held-out data
    with torch.no_grad():
        nll_fm = float(fm.nll(held_x[:200], held_c[:200]).mean())
    var = float(x.var())
    nll_gauss = 0.5 * math.log(2 * math.pi * var) + 0.5
    assert nll_fm < nll_gauss - 0.5
    again = translator_from_config(fm.get_config(), translator_name(fm))
    again.load_state_dict(fm.state_dict())
    torch.testing.assert_close(again.sample(held_c[:5], generator=torch.Generator().manual_seed(3)),
                               fm.sample(held_c[:5], generator=torch.Generator().manual_seed(3)))


def test_flow_matching_checks_its_inputs():
    fm = FlowMatchingTranslator(2, 3, hidden=8, n_layers=1)
    with pytest.raises(ValueError, match="condition"):
        fm.sample(torch.randn(4, 2))
    with pytest.raises(ValueError, match="pair up"):
        fm.training_loss(torch.randn(4, 2), torch.randn(5, 3))
    with pytest.raises(ValueError, match="time_features must be even"):
        FlowMatchingTranslator(2, 3, time_features=5)
