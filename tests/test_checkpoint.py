"""Checkpoints: bit-exact round trips, atomic writes, no pickle, and resume after a kill."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from n2nlib import ConditionalINN, Net2Net
from n2nlib.checkpoint import (
    CheckpointError,
    atomic_path,
    latest_checkpoint,
    load_config,
    load_tensors,
    load_training_state,
    save_training_state,
)
from n2nlib.experts import IdentityExpert, Labelator, as_expert
from n2nlib.testing import perturb_parameters
from n2nlib.train import fit

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def _trained_cinn(dtype=torch.float64):
    torch.manual_seed(0)
    cinn = ConditionalINN(3, 2, n_blocks=2, hidden_dim=16).to(dtype)
    x, c = torch.randn(32, 3, dtype=dtype), torch.randn(32, 2, dtype=dtype)
    cinn(x, c)  # ActNorm initialisation
    perturb_parameters(cinn, 0.1, torch.Generator().manual_seed(1))
    return cinn, x, c


@pytest.fixture
def no_pickle(monkeypatch):
    """Make any unpickling during the test an error."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a checkpoint load unpickled something")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cinn_save_load_is_bit_exact(tmp_path, dtype, no_pickle):
    cinn, x, c = _trained_cinn(dtype)
    cinn.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json",
                                                                  "model.safetensors"]
    loaded = ConditionalINN.load(tmp_path / "m")
    assert loaded.get_config() == cinn.get_config()
    for (k, a), (k2, b) in zip(cinn.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype and torch.equal(a, b), k
    v, ld = cinn(x, c)
    v2, ld2 = loaded(x, c)
    assert torch.equal(v, v2) and torch.equal(ld, ld2)


def test_load_errors_are_clear(tmp_path):
    cinn, _, _ = _trained_cinn()
    with pytest.raises(CheckpointError, match="does not exist"):
        ConditionalINN.load(tmp_path / "missing")
    cinn.save(tmp_path / "m")
    with pytest.raises(CheckpointError, match="expected 'n2nlib.Net2Net'"):
        Net2Net.load(tmp_path / "m")
    # weights that do not fit the config
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    doc["config"]["n_blocks"] = 3
    (tmp_path / "m" / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="does not match the model: missing"):
        ConditionalINN.load(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError):
        ConditionalINN.load(tmp_path / "m")


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary left


def test_training_state_round_trip_and_incomplete_checkpoints_are_ignored(tmp_path, no_pickle):
    cinn, x, c = _trained_cinn()
    opt = torch.optim.Adam(cinn.parameters(), lr=1e-3)
    cinn.nll(x, c).mean().backward()
    opt.step()
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    save_training_state(tmp_path, step=7, model=cinn, optimizer=opt, state={"note": "hi"})
    # a checkpoint that a killed process left half-written must not be picked up
    (tmp_path / ".step-00000009.abc.tmp").mkdir()
    (tmp_path / ".step-00000009.abc.tmp" / "model.safetensors").write_bytes(b"partial")
    torch.manual_seed(999)
    cinn2, _, _ = _trained_cinn()
    perturb_parameters(cinn2, 1.0)
    opt2 = torch.optim.Adam(cinn2.parameters(), lr=5.0)
    loaded = load_training_state(tmp_path, model=cinn2, optimizer=opt2)
    assert loaded["step"] == 7 and loaded["state"] == {"note": "hi"}
    assert latest_checkpoint(tmp_path).name == "step-00000007"
    for a, b in zip(cinn.state_dict().values(), cinn2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for pid, st in s1["state"].items():
        for key, value in st.items():
            assert torch.equal(value, s2["state"][pid][key]), (pid, key)
    assert torch.equal(torch.rand(3), expected_draw)  # the RNG state came back too
    assert load_training_state(tmp_path / "none", model=cinn2, optimizer=opt2) is None


def test_old_checkpoints_are_pruned(tmp_path):
    cinn, _, _ = _trained_cinn()
    opt = torch.optim.Adam(cinn.parameters())
    for step in (1, 2, 3, 4):
        save_training_state(tmp_path, step=step, model=cinn, optimizer=opt, state={}, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000003", "step-00000004"]
    assert json.loads((tmp_path / "latest.json").read_text())["step"] == 4


def test_net2net_save_load_round_trip(tmp_path, no_pickle):
    cinn, _, _ = _trained_cinn()
    n2n = Net2Net(Labelator(["a", "b"]), IdentityExpert(3),
                  ConditionalINN(3, 2, n_blocks=2, hidden_dim=16),
                  device="cpu")
    n2n.cinn.load_state_dict(cinn.state_dict())
    n2n.save(tmp_path / "n2n")
    config = load_config(tmp_path / "n2n", kind="n2nlib.Net2Net")
    assert config["source"] == {"name": "labels", "kwargs": {"classes": ["a", "b"]}}
    assert config["target"] == {"name": "identity", "kwargs": {"dim": 3}}
    back = Net2Net.load(tmp_path / "n2n", device="cpu")  # experts rebuilt from their names
    y, labels = torch.randn(4, 3), ["a", "b", "b", "a"]
    assert torch.equal(n2n.residual(y, labels), back.residual(y, labels))
    for a, b in zip(n2n.cinn.state_dict().values(), back.cinn.state_dict().values()):
        assert torch.equal(a, b)
    # an expert without a registered name must be given on load
    custom = Net2Net(as_expert(lambda x: x, dim=2), IdentityExpert(3), cinn, device="cpu")
    custom.save(tmp_path / "custom")
    with pytest.raises(ValueError, match=r"pass Net2Net.load\(\.\.\., source=<the expert>\)"):
        Net2Net.load(tmp_path / "custom")
    again = Net2Net.load(tmp_path / "custom", source=as_expert(lambda x: x, dim=2))
    assert torch.equal(again.residual(y, y[:, :2]), custom.residual(y, y[:, :2]))


# -- resume -----------------------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    from n2nlib import ConditionalINN
    from n2nlib.checkpoint import save_tensors
    from n2nlib.train import fit

    ckpt, out, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    c = torch.randn(600, 2, generator=g)
    x = torch.cat([c.sum(1, keepdim=True), torch.randn(600, 2, generator=g)], 1)
    model = ConditionalINN(3, 2, n_blocks=2, hidden_dim=32)
    history = fit(model, (x, c), steps=60, batch_size=32, lr=2e-3, warmup=5, seed=7,
                  checkpoint_dir=ckpt, checkpoint_every=5, progress=False,
                  eval_data=(x[:64], c[:64]), eval_every=20,
                  callback=lambda step, h: time.sleep(delay))
    save_tensors(model.state_dict(), out)
    print("done", len(history.loss), history.eval_step)
    """
)


def _run(script, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kwargs)


def test_resume_after_sigkill_reaches_the_same_weights_bit_for_bit(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    straight = _run(script, tmp_path / "ckpt_straight", tmp_path / "straight.safetensors", 0)
    killed = _run(script, tmp_path / "ckpt", tmp_path / "killed.safetensors", 0.05)
    latest = tmp_path / "ckpt" / "latest.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if latest.exists() and json.loads(latest.read_text())["step"] >= 10:
            break
        assert killed.poll() is None, killed.communicate()[0]
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed.safetensors").exists()
    step_at_kill = json.loads(latest.read_text())["step"]
    assert 10 <= step_at_kill < 60
    resumed = _run(script, tmp_path / "ckpt", tmp_path / "resumed.safetensors", 0)
    out_resumed, out_straight = resumed.communicate(timeout=120)[0], straight.communicate(
        timeout=120)[0]
    assert resumed.returncode == 0, out_resumed
    assert straight.returncode == 0, out_straight
    assert "done 60 [20, 40, 60]" in out_resumed  # the history spans the whole run
    a = load_tensors(tmp_path / "straight.safetensors")
    b = load_tensors(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_in_process_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    torch.set_default_dtype(torch.float32)
    g = torch.Generator().manual_seed(3)
    c = torch.randn(300, 1, generator=g)
    x = torch.cat([c, torch.randn(300, 1, generator=g)], 1)
    kwargs = dict(steps=24, batch_size=32, lr=3e-3, seed=5, progress=False, checkpoint_every=4)

    def model():
        torch.manual_seed(0)
        return ConditionalINN(2, 1, n_blocks=2, hidden_dim=16)

    straight = model()
    h_straight = fit(straight, (x, c), checkpoint_dir=tmp_path / "a", **kwargs)

    def crash(step, history):
        if step == 13:
            raise KeyboardInterrupt

    crashed = model()
    with pytest.raises(KeyboardInterrupt):
        fit(crashed, (x, c), checkpoint_dir=tmp_path / "b", callback=crash, **kwargs)
    assert json.loads((tmp_path / "b" / "latest.json").read_text())["step"] == 12
    resumed = model()
    h_resumed = fit(resumed, (x, c), checkpoint_dir=tmp_path / "b", **kwargs)
    assert h_resumed.loss == h_straight.loss and h_resumed.step == list(range(24))
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    # a finished run resumes to an immediate return
    again = model()
    assert fit(again, (x, c), checkpoint_dir=tmp_path / "b", **kwargs).loss == h_straight.loss
    with pytest.raises(ValueError, match=r"other arguments \(lr: 0.003 then, 0.01 now\)"):
        fit(model(), (x, c), checkpoint_dir=tmp_path / "b", **{**kwargs, "lr": 1e-2})
