"""The training loop: it learns, its schedule, its guard against divergence, the latent cache
(in memory, memory-mapped, stochastic) and its reproducible order."""

from __future__ import annotations

import math

import pytest
import torch

from n2nlib import ConditionalINN
from n2nlib.cache import LatentPairs, encode_pairs
from n2nlib.encoding import encode_latents
from n2nlib.experts import as_expert
from n2nlib.train import (
    History,
    TrainingDiverged,
    batch_indices,
    evaluate,
    fit,
    init_distributed,
    lr_factor,
)

pytestmark = pytest.mark.usefixtures("one_thread")


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


@pytest.mark.parametrize("fused", [True, False])
def test_fit_evaluates_a_grouped_cinn_with_its_current_weights(fused):
    """The fused optimizer updates in place without bumping version counters; the grouped
    cINN's batched copy (used without gradients, as in the held-out evaluation) must still
    follow every step."""
    from n2nlib.flows import GroupedCINN

    torch.set_default_dtype(torch.float32)
    gen = torch.Generator().manual_seed(0)
    train, test = _pairs(2048, gen), _pairs(512, gen)
    model = GroupedCINN([1, 1], 1, n_blocks=2, hidden_dim=16)
    history = fit(model, train, steps=60, batch_size=128, lr=3e-3, eval_data=test,
                  eval_every=20, progress=False, fused_optimizer=fused, keep_best=False)
    assert len(set(history.eval_nll)) == 3, history.eval_nll
    with torch.no_grad():
        batched = float(model.nll(*test).mean())
    with torch.enable_grad():
        per_group = model.nll(*test).mean().item()  # gradients on: group by group
    assert history.eval_nll[-1] == pytest.approx(per_group, abs=1e-4)
    assert batched == pytest.approx(per_group, abs=1e-4)


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


# -- latent cache, order, distributed defaults (issue 5) ---------------------------------------

def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_batch_order_is_a_function_of_seed_and_step():
    first = [batch_indices(100, 30, seed=4, step=s) for s in range(6)]
    assert all(b.shape == (30,) for b in first)
    # 3 batches per epoch, without repetition inside an epoch
    assert torch.cat(first[:3]).unique().numel() == 90
    assert not torch.equal(torch.cat(first[:3]).sort().values, torch.cat(first[3:]).sort().values)
    assert torch.equal(batch_indices(100, 30, 4, 4), first[4])
    assert not torch.equal(batch_indices(100, 30, 5, 4), first[4])
    assert batch_indices(10, 64, 0, 0).shape == (10,)  # a batch larger than the data


def test_fit_takes_latent_pairs_and_in_memory_equals_memory_mapped(tmp_path):
    torch.set_default_dtype(torch.float32)
    x, c = _pairs(700, torch.Generator().manual_seed(4))
    disk_dir = LatentPairs(x, c).save(tmp_path / "cache", shard_rows=256)
    assert sorted(p.name for p in disk_dir.iterdir()) == [
        "latents.json", "shard-00000.safetensors", "shard-00001.safetensors",
        "shard-00002.safetensors"]
    on_disk = LatentPairs.load(disk_dir)
    assert on_disk.on_disk and len(on_disk) == 700 and on_disk.dim == 2
    idx = torch.tensor([699, 0, 300, 256, 255])
    assert torch.equal(on_disk.batch(idx)[0], x[idx]) and torch.equal(on_disk.batch(idx)[1], c[idx])
    runs = []
    for data in ((x, c), LatentPairs(x, c), on_disk, LatentPairs.load(disk_dir, mmap=False)):
        torch.manual_seed(0)
        model = ConditionalINN(2, 1, n_blocks=2, hidden_dim=16)
        fit(model, data, steps=25, batch_size=64, seed=2, progress=False)
        runs.append(_weights(model))
    for w in runs[1:]:
        assert torch.equal(w, runs[0])


def test_stochastic_targets_are_resampled_every_step_reproducibly():
    torch.set_default_dtype(torch.float32)
    gen = torch.Generator().manual_seed(5)
    c = torch.randn(512, 1, generator=gen)
    mean = torch.cat([2 * c, torch.zeros(512, 1)], 1)
    logvar = torch.full((512, 2), math.log(0.3**2))
    pairs = LatentPairs(mean, c, target_logvar=logvar)
    a = pairs.batch(torch.arange(4), torch.Generator().manual_seed(1))[0]
    b = pairs.batch(torch.arange(4), torch.Generator().manual_seed(2))[0]
    assert not torch.equal(a, b)
    draws = pairs.batch(torch.arange(512), torch.Generator().manual_seed(3))[0] - mean
    assert abs(float(draws.std()) - 0.3) < 0.03
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = ConditionalINN(2, 1, n_blocks=3, hidden_dim=32)
        history = fit(model, pairs, steps=250, batch_size=128, lr=3e-3, seed=1, progress=False,
                      eval_data=pairs, eval_every=250)
        weights.append(_weights(model))
    assert torch.equal(weights[0], weights[1])
    # z = (2c + 0.3ε, 0.3ε'): entropy of two N(0, 0.3²) = log(2πe) + 2 log 0.3 ≈ 0.43 nats
    assert history.final_eval_nll < 0.43 + 0.3
    assert evaluate(model, pairs, seed=1) == evaluate(model, pairs, seed=1)


def test_encode_pairs_caches_once_and_reuses_the_disk_cache(tmp_path):
    calls = {"n": 0}

    def source_fn(x):
        calls["n"] += 1
        return x[:, :1] * 2

    source = as_expert(source_fn, dim=1)
    target = as_expert(lambda y: y + 1, dim=2)
    xs, ys = torch.randn(50, 3), torch.randn(50, 2)
    pairs = encode_pairs(source, target, (xs, ys), batch_size=16, progress=False)
    assert calls["n"] == 4 and torch.equal(pairs.condition, xs[:, :1] * 2)
    disk = encode_pairs(source, target, (xs, ys), batch_size=16, cache_dir=tmp_path,
                        shard_rows=20, progress=False)
    assert calls["n"] == 8 and disk.on_disk
    assert torch.equal(disk.tensors()[0], ys + 1) and torch.equal(disk.tensors()[1], 2 * xs[:, :1])
    again = encode_pairs(source, target, (xs, ys), batch_size=16, cache_dir=tmp_path,
                         progress=False)
    assert calls["n"] == 8 and torch.equal(again.tensors()[0], ys + 1)  # reused, not re-encoded
    encode_pairs(source, target, (xs + 1, ys), batch_size=16, cache_dir=tmp_path, progress=False)
    assert calls["n"] == 12  # other data: encoded anew
    with pytest.raises(ValueError, match="same length"):
        encode_pairs(source, target, (xs[:3], ys), progress=False)
    with pytest.raises(TypeError, match="pair"):
        encode_pairs(source, target, xs, progress=False)
    with pytest.raises(TypeError, match="encode_distribution"):
        encode_latents(target, ys, distribution=True, progress=False)


def test_latent_pairs_check_their_inputs():
    with pytest.raises(ValueError, match="same number of rows, got 3 and 2"):
        LatentPairs(torch.zeros(3, 2), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="target_logvar must have the target's shape"):
        LatentPairs(torch.zeros(3, 2), None, target_logvar=torch.zeros(3, 1))
    with pytest.raises(ValueError, match="NaN"):
        LatentPairs(torch.full((3, 2), float("nan")))
    with pytest.raises(FileNotFoundError, match="no latent cache"):
        LatentPairs.load("/nonexistent/cache")


def test_callback_history_round_trip_and_no_distribution_without_torchrun():
    torch.set_default_dtype(torch.float32)
    x, c = _pairs(128, torch.Generator().manual_seed(6))
    seen = []
    model = ConditionalINN(2, 1, n_blocks=1, hidden_dim=8)
    history = fit(model, (x, c), steps=5, batch_size=32, progress=False,
                  callback=lambda step, h: seen.append((step, len(h.loss))))
    assert seen == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert History.from_dict(history.to_dict()) == history
    assert init_distributed() is False
    with pytest.raises(ValueError, match="torchrun"):
        fit(model, (x, c), steps=1, distributed=True, progress=False)
    with pytest.raises(TypeError, match="nll"):
        fit(torch.nn.Linear(2, 2), (x, c), steps=1)
