"""Defects found by held-out probes and by a researcher plugging in their own experts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from n2nlib import ConditionalINN, Net2Net
from n2nlib.cache import encode_pairs, expert_fingerprint
from n2nlib.encoding import as_pairs
from n2nlib.experts import as_expert, is_frozen

pytestmark = pytest.mark.usefixtures("one_thread")

class MyAutoencoder(nn.Module):
    """A researcher's own target model: encode/decode methods, a forward that does both."""

    def __init__(self) -> None:
        super().__init__()
        self.enc, self.dec = nn.Linear(6, 3), nn.Linear(3, 6)

    def encode(self, y):
        return self.enc(y)

    def decode(self, z):
        return self.dec(z)

    def forward(self, y):
        return self.dec(self.enc(y))


def _n2n(target=None):
    source = as_expert(nn.Linear(5, 4), dim=4)
    target = target or as_expert(nn.Linear(6, 3), dim=3, decode=nn.Linear(3, 6))
    return Net2Net(source, target, ConditionalINN(3, 4, n_blocks=2, hidden_dim=16))


def test_as_expert_uses_a_modules_own_encode_and_decode():
    model = MyAutoencoder()
    expert = as_expert(model, dim=3)
    y = torch.randn(5, 6)
    assert torch.equal(expert.encode(y), model.enc(y).detach())      # encode, not forward
    assert torch.equal(expert.decode(expert.encode(y)), model(y).detach())
    assert expert.frozen == ("MyAutoencoder",) and is_frozen(model)
    assert as_expert(MyAutoencoder(), example=y).dim == 3              # dim from encode
    with pytest.raises(ValueError, match=r"MyAutoencoder.encode could not take .*\(5, 7\)"):
        expert.encode(torch.randn(5, 7))


def test_a_source_input_of_the_wrong_width_is_named():
    n2n = _n2n()
    with pytest.raises(ValueError, match=r"could not take an input of shape \(8, 7\)"):
        n2n.fit((torch.randn(8, 7), torch.randn(8, 6)), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"could not take an input of shape \(2, 7\)"):
        n2n.translate(torch.randn(2, 7))
    # an expert that is not a wrapper: the error names the role
    class Raw(nn.Module):
        dim = 4

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 4)

        def encode(self, x):
            return self.lin(x)

    n2n = Net2Net(Raw(), _n2n().target, ConditionalINN(3, 4, n_blocks=2, hidden_dim=8))
    with pytest.raises(ValueError, match=r"the source expert \(Raw, dim 4\) could not encode "
                                         r"a Tensor of shape \(8, 7\)"):
        n2n.fit((torch.randn(8, 7), torch.randn(8, 6)), steps=1, progress=False)


def test_empty_batches_get_clear_errors():
    n2n = _n2n()
    with pytest.raises(ValueError, match="empty"):
        n2n.translate(torch.zeros(0, 5))
    cinn = ConditionalINN(3, 4, n_blocks=2, hidden_dim=8)
    with pytest.raises(ValueError, match="empty"):
        cinn(torch.zeros(0, 3), torch.zeros(0, 4))    # ActNorm would set its scale from it
    cinn(torch.randn(8, 3), torch.randn(8, 4))
    v, logdet = cinn(torch.zeros(0, 3), torch.zeros(0, 4))
    assert v.shape == (0, 3) and logdet.shape == (0,)


def test_fit_takes_a_dataset_or_a_dataloader_of_pairs():
    torch.manual_seed(0)
    xs, ys = torch.randn(64, 5), torch.randn(64, 6)
    for data in (TensorDataset(xs, ys), DataLoader(TensorDataset(xs, ys), batch_size=10)):
        px, py = as_pairs(data)
        assert torch.equal(px, xs) and torch.equal(py, ys)
        history = _n2n().fit(data, steps=3, batch_size=16, progress=False)
        assert len(history.loss) == 3
    with pytest.raises(TypeError, match="Dataset of pairs must return"):
        as_pairs(TensorDataset(xs))
    with pytest.raises(TypeError, match="DataLoader of pairs must yield"):
        as_pairs(DataLoader(TensorDataset(xs), batch_size=8))


def test_the_cache_notices_retrained_expert_weights(tmp_path):
    torch.manual_seed(0)
    source = as_expert(nn.Linear(5, 4), dim=4)
    target_model = nn.Linear(6, 3)
    target = as_expert(target_model, dim=3)
    data = (torch.randn(32, 5), torch.randn(32, 6))
    first = encode_pairs(source, target, data, cache_dir=tmp_path, progress=False)
    z_before = first.target.to_tensor() if hasattr(first.target, "to_tensor") else first.target
    fingerprint = expert_fingerprint(target)
    with torch.no_grad():
        target_model.weight.add_(1.0)          # "retrain" the expert, keep the cache folder
    assert expert_fingerprint(target) != fingerprint
    second = encode_pairs(source, target, data, cache_dir=tmp_path, progress=False)
    z_after = second.target.to_tensor() if hasattr(second.target, "to_tensor") else second.target
    assert torch.allclose(z_after, target_model(data[1]).detach(), atol=1e-6)
    assert not torch.allclose(z_before, z_after)
    object.__setattr__(target, "cache_key", "release-1")   # a key the user gives
    assert expert_fingerprint(target) == "key:release-1"


def test_get_config_refuses_a_custom_subnet_constructor():
    def subnet(c_in, c_out):
        return nn.Sequential(nn.Linear(c_in, 8), nn.ReLU(), nn.Linear(8, c_out))

    cinn = ConditionalINN(4, 2, n_blocks=2, subnet_constructor=subnet)
    with pytest.raises(ValueError, match="custom subnet_constructor has no config"):
        cinn.get_config()
    assert "n_blocks" in ConditionalINN(4, 2, n_blocks=2).get_config()


def _overfitting_setup():
    torch.manual_seed(0)
    x = torch.randn(40, 2)
    y = torch.cat([x[:, :1], torch.randn(40, 1)], 1)
    xe = torch.randn(400, 2)
    ye = torch.cat([xe[:, :1], torch.randn(400, 1)], 1)
    return (y, x), (ye, xe)


def test_keep_best_early_stopping_and_the_overfitting_warning():
    from n2nlib.train import evaluate, fit

    train, held_out = _overfitting_setup()
    big = dict(n_blocks=6, hidden_dim=64, seed=1)
    cinn = ConditionalINN(2, 2, **big)
    h = fit(cinn, train, steps=300, batch_size=40, lr=3e-3, eval_data=held_out, eval_every=20,
            progress=False)
    best = min(h.eval_nll)
    assert h.eval_nll[-1] > best + 1.0            # it does overfit ...
    assert h.best_step is not None and h.best_step == h.eval_step[h.eval_nll.index(best)]
    assert evaluate(cinn, held_out) == pytest.approx(best, rel=1e-6)   # ... but keeps the best

    cinn = ConditionalINN(2, 2, **big)
    with pytest.warns(UserWarning, match="overfits"):
        fit(cinn, train, steps=300, batch_size=40, lr=3e-3, eval_data=held_out,
            eval_every=20, progress=False, keep_best=False)

    cinn = ConditionalINN(2, 2, **big)
    h = fit(cinn, train, steps=300, batch_size=40, lr=3e-3, eval_data=held_out, eval_every=20,
            progress=False, patience=3)
    assert h.stopped_step is not None and h.stopped_step < 300
    assert len(h.loss) == h.stopped_step
    assert h.stopped_step - 3 * 20 == h.eval_step[h.eval_nll.index(min(h.eval_nll))]


def test_a_callback_can_stop_training():
    from n2nlib.train import fit

    train, _ = _overfitting_setup()
    cinn = ConditionalINN(2, 2, n_blocks=2, hidden_dim=16)
    h = fit(cinn, train, steps=50, batch_size=8, progress=False,
            callback=lambda step, history: step == 9)
    assert h.stopped_step == 10 and len(h.loss) == 10
    with pytest.raises(ValueError, match="patience .* needs eval_data"):
        fit(cinn, train, steps=5, progress=False, patience=2)


def test_min_std_is_an_option_of_the_pairs_and_of_fit():
    from n2nlib.cache import LatentPairs

    mean, logvar = torch.zeros(6, 3), torch.full((6, 3), -10.0)
    pairs = LatentPairs(mean, torch.zeros(6, 2), target_logvar=logvar).with_min_std(0.3)
    assert torch.allclose(pairs.target_logvar, torch.full((6, 3), 2 * torch.log(torch.tensor(
        0.3)).item()))
    wide = LatentPairs(mean, None, target_logvar=torch.zeros(6, 3)).with_min_std(0.3)
    assert torch.equal(wide.target_logvar, torch.zeros(6, 3))          # a floor, not a value
    assert LatentPairs(mean).with_min_std(None).target_logvar is None
    with pytest.raises(ValueError, match="min_std must be > 0"):
        LatentPairs(mean).with_min_std(0.0)
    n2n = _n2n()
    xs, ys = torch.randn(32, 5), torch.randn(32, 6)
    seen = []
    history = n2n.fit((xs, ys), steps=2, batch_size=8, progress=False, min_std=0.5,
                      callback=lambda step, h: seen.append(step))
    assert len(history.loss) == 2 and seen == [0, 1]


def test_translate_batches_sampling_and_decoding_and_reconstruct_is_one_function():
    from n2nlib._batched import batched
    from n2nlib.experts import reconstruct

    seen = []

    def decode(z):
        seen.append(z.shape[0])
        return z * 10

    target = as_expert(lambda y: y[:, :3], dim=3, decode=decode)
    n2n = Net2Net(as_expert(nn.Linear(5, 4), dim=4), target,
                  ConditionalINN(3, 4, n_blocks=2, hidden_dim=8))
    n2n.cinn(torch.randn(8, 3), torch.randn(8, 4))        # ActNorm initialised
    out = n2n.translate(torch.randn(10, 5), n_samples=3, batch_size=4)
    assert out.shape == (30, 3) and seen == [12, 12, 6]   # decoded chunk by chunk
    assert reconstruct(target, torch.full((5, 6), 0.5), batch_size=2).max() == pytest.approx(
        1.0)                                                 # clamped to [0, 1]
    with pytest.raises(TypeError, match="needs a target expert"):
        reconstruct(as_expert(lambda y: y, dim=2), torch.zeros(2, 2))
    parts = batched(lambda b: {"a": b, "b": (b, 2 * b)}, torch.arange(5.0), batch_size=2)
    assert parts["b"][1].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    with pytest.raises(ValueError, match="batch_size"):
        batched(lambda b: b, torch.arange(3.0), batch_size=0)


def test_fingerprints_cover_scalar_and_bool_buffers():
    class WithBuffers(nn.Module):
        def __init__(self, scale):
            super().__init__()
            self.register_buffer("scale", torch.tensor(scale))          # 0-d
            self.register_buffer("ready", torch.tensor(True))            # bool

    assert expert_fingerprint(WithBuffers(1.0)) != expert_fingerprint(WithBuffers(2.0))
