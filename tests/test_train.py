"""The training loop: it learns, its schedule, and its guard against divergence."""

from __future__ import annotations

import pytest
import torch

from n2nlib import ConditionalINN
from n2nlib.train import TrainingDiverged, fit, lr_factor


def _pairs(n, gen):
    c = torch.randn(n, 1, generator=gen)
    x = torch.cat([2 * c + 0.1 * torch.randn(n, 1, generator=gen),
                   torch.randn(n, 1, generator=gen)], 1)
    return x.float(), c.float()


def test_fit_lowers_held_out_nll_and_records_history():
    torch.set_default_dtype(torch.float32)
    gen = torch.Generator().manual_seed(0)
    train, test = _pairs(4096, gen), _pairs(2048, gen)
    model = ConditionalINN(2, 1, n_blocks=3, hidden_dim=32, n_hidden=2)
    with torch.no_grad():
        before = float(model.nll(*test).mean())
    history = fit(model, train, steps=300, batch_size=128, lr=3e-3, eval_data=test,
                  eval_every=100, progress=False)
    assert history.step == list(range(300)) and len(history.loss) == 300
    assert history.eval_step == [100, 200, 300]
    # x1 = 2c + N(0, 0.1²), x2 ~ N(0, 1): entropy = 0.5 log(2πe)·2 + log 0.1 ≈ 0.535 nats
    assert history.final_eval_nll < before - 1.0
    assert history.final_eval_nll < 0.535 + 0.25
    assert not model.training


def test_fit_is_reproducible_from_its_seed():
    torch.set_default_dtype(torch.float32)
    data = _pairs(512, torch.Generator().manual_seed(1))
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = ConditionalINN(2, 1, n_blocks=2, hidden_dim=16)
        fit(model, data, steps=30, batch_size=64, seed=3, progress=False)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], atol=0, rtol=0)


def test_divergence_stops_with_a_diagnosis():
    torch.set_default_dtype(torch.float32)
    x, c = _pairs(256, torch.Generator().manual_seed(2))
    model = ConditionalINN(2, 1, n_blocks=2, hidden_dim=16, clamp_activation="none")
    with pytest.raises(TrainingDiverged, match="step"):
        fit(model, (x * 1e30, c), steps=5, batch_size=64, lr=1e6, clip_grad=None,
            progress=False)


def test_lr_schedules():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(99, 100, 0, "cosine") < 0.01
    assert lr_factor(50, 100, 0, "step") == 1.0
    assert lr_factor(70, 100, 0, "step") == pytest.approx(0.1)
    assert lr_factor(90, 100, 0, "step") == pytest.approx(0.01)
    with pytest.raises(ValueError, match="schedule"):
        lr_factor(0, 10, 0, "linear")


def test_fit_rejects_bad_arguments():
    model = ConditionalINN(2, 1, n_blocks=1, hidden_dim=8).float()
    x, c = torch.randn(10, 2), torch.randn(10, 1)
    with pytest.raises(ValueError, match="steps"):
        fit(model, (x, c), steps=0)
    with pytest.raises(ValueError, match="same batch size"):
        fit(model, (x, c[:5]), steps=1)
    with pytest.raises(TypeError, match="pair"):
        fit(model, [x, c, c], steps=1)
    with pytest.raises(ValueError, match="optimizer"):
        fit(model, (x.float(), c.float()), steps=1, optimizer="sgd", progress=False)
