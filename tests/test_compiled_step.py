"""``fit(compile=True)``: the step as torch.compile graphs, its divergence guard on the device.

The compiled step must apply the same updates as the eager one (foreach Adam, the kernel the
compiled optimizer is generated from), read the host only every ``sync_every`` steps, stop a
diverging run with the weights of the last good step, and resume from its checkpoints.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import sys

import pytest
import torch

from n2nlib import ConditionalINN
from n2nlib._checks import check_tensor, finite_checks_off
from n2nlib.flows import ActNorm
from n2nlib.train import TrainingDiverged, batch_indices, fit

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(not (shutil.which("g++") or os.environ.get("CI")),
                       reason="torch.compile on the CPU needs g++ (CI installs it)"),
]

_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "numpy")


def _data(n: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    c = torch.randn(n, 4, generator=gen)
    x = torch.cat([c, torch.randn(n, 4, generator=gen)], 1) @ torch.randn(8, 8, generator=gen)
    return x, c


def _model() -> ConditionalINN:
    """A small cINN with ActNorm initialised and every parameter moved off its initial value,
    so that no gradient is (up to rounding) zero: Adam's first step divides by |g|."""
    torch.manual_seed(0)
    model = ConditionalINN(dim=8, cond_dim=4, n_blocks=3, hidden_dim=32)
    x, c = _data()
    with torch.no_grad():
        model.nll(x[:64], c[:64])
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _fit(model: torch.nn.Module, data, **kwargs):
    kwargs = {"steps": 20, "batch_size": 64, "progress": False, "fused_optimizer": False,
              "warmup": 5, "clip_grad": 1.0} | kwargs
    return fit(model, data, **kwargs)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_step_trains_to_the_weights_of_the_eager_step(dtype):
    model = _model().to(dtype)
    data = tuple(t.to(dtype) for t in _data())
    eager, compiled = copy.deepcopy(model), copy.deepcopy(model)
    he = _fit(eager, data)
    hc = _fit(compiled, data, compile=True)
    assert hc.step == he.step and hc.lr == he.lr
    torch.testing.assert_close(torch.tensor(hc.loss), torch.tensor(he.loss), rtol=1e-4,
                               atol=1e-4)
    moved = (_weights(eager) - _weights(model)).abs().max()
    assert moved > 1e-3  # clipping at 1.0 and 20 steps at lr 1e-3 still move the weights
    torch.testing.assert_close(_weights(compiled), _weights(eager), rtol=0, atol=1e-4)


def _compiling() -> bool:
    """Whether the caller is torch.compile at work (tracing, constant folding): those reads
    happen once per compiled graph, not per step."""
    frame = sys._getframe(2)
    while frame is not None:
        if any(f"torch{os.sep}{part}{os.sep}" in frame.f_code.co_filename
               for part in ("_dynamo", "_inductor", "_functorch", "_subclasses")):
            return True
        frame = frame.f_back
    return False


def _host_reads(monkeypatch, run) -> int:
    """How often ``run()`` reads the value of a (real) tensor back to the host."""
    count = [0]
    for name in _READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            count[0] += not _compiling()
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    try:
        run()
    finally:
        monkeypatch.undo()
    return count[0]


@pytest.mark.parametrize("compile", [False, True])
def test_compiled_step_reads_the_host_once_every_ten_steps(monkeypatch, compile):
    def reads(steps: int) -> int:
        model = _model()
        return _host_reads(monkeypatch, lambda: _fit(model, _data(), steps=steps,
                                                     compile=compile, fused_optimizer=None))

    extra = reads(30) - reads(10)
    if compile:
        assert extra == 2  # two more reads of ten losses and the flag, nothing per step
    else:
        assert extra >= 20 * 3  # the eager step reads the loss and the norm every step


def test_compiled_step_stops_a_diverging_run_with_the_last_good_weights():
    x, c = _data()
    bad_step = 5  # in the first epoch (512 pairs, 8 steps), where each pair comes once
    x = x.clone()
    # one pair of step 5 finite but huge: its NLL (½|v|², v ∝ x) overflows
    x[batch_indices(len(x), 64, 0, bad_step)[5]] = torch.finfo(x.dtype).max / 10
    model = _model()
    compiled, eager = copy.deepcopy(model), copy.deepcopy(model)
    with pytest.raises(TrainingDiverged, match=rf"non-finite at step {bad_step} .*read at "
                       rf"step 9.*after step {bad_step - 1}"):
        _fit(compiled, (x, c), compile=True)
    assert torch.isfinite(_weights(compiled)).all()
    # the eager step stops at the same pair, before its update, with the same weights
    with pytest.raises(TrainingDiverged, match=rf"loss became (inf|nan) at step {bad_step}"):
        _fit(eager, (x, c))
    torch.testing.assert_close(_weights(compiled), _weights(eager), rtol=0, atol=1e-4)
    assert (_weights(eager) - _weights(model)).abs().max() > 1e-3


def test_compiled_run_resumes_from_its_checkpoint(tmp_path):
    model = _model()
    whole, parts = copy.deepcopy(model), copy.deepcopy(model)
    hw = _fit(whole, _data(), compile=True)
    stopped = _fit(parts, _data(), compile=True, checkpoint_dir=tmp_path,
                   callback=lambda step, history: step == 9)
    assert stopped.stopped_step == 10
    parts = copy.deepcopy(model)
    hp = _fit(parts, _data(), compile=True, checkpoint_dir=tmp_path)
    assert hp.step == hw.step
    torch.testing.assert_close(torch.tensor(hp.loss), torch.tensor(hw.loss), rtol=1e-5,
                               atol=1e-5)
    torch.testing.assert_close(_weights(parts), _weights(whole), rtol=0, atol=1e-5)


def test_finite_checks_off_skips_only_the_nan_scan():
    bad = torch.tensor([[1.0, math.nan]])
    with pytest.raises(ValueError, match="1 NaN"):
        check_tensor(bad, "x")
    with finite_checks_off():
        assert check_tensor(bad, "x") is bad
        with pytest.raises(ValueError, match="shape"):
            check_tensor(bad, "x", shape=(None, 3))
    with pytest.raises(ValueError, match="1 NaN"):
        check_tensor(bad, "x")


def test_actnorm_keeps_its_flag_on_the_host_and_through_load_state_dict(monkeypatch):
    norm = ActNorm(3)
    norm(torch.randn(16, 3) * 4 + 1)
    assert norm.is_initialized
    reads = _host_reads(monkeypatch, lambda: norm(torch.randn(8, 3)))
    assert reads == 0  # no device value read in a forward pass once initialised
    fresh = ActNorm(3)
    assert not fresh.is_initialized
    fresh.load_state_dict(norm.state_dict())
    assert fresh.is_initialized
    torch.testing.assert_close(fresh.log_scale, norm.log_scale)
    before = fresh.log_scale.detach().clone()
    fresh(torch.randn(8, 3) * 100)  # a loaded, initialised ActNorm does not re-initialise
    torch.testing.assert_close(fresh.log_scale, before)
    norm.load_state_dict(ActNorm(3).state_dict())
    assert not norm.is_initialized
