"""The n2n command: train from a YAML config naming registered experts, translate from a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from n2nlib import Net2Net
from n2nlib.cli import load_config, load_inputs, main

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("float32", "one_thread")


def _write_run(tmp_path: Path, **overrides) -> Path:
    """Two domains (labels 'left'/'right') of 2-d points shifted by 3 along the first axis."""
    gen = np.random.default_rng(0)
    labels = ["left"] * 300 + ["right"] * 300
    points = gen.normal(0, 0.5, (600, 2)).astype(np.float32)
    points[300:, 0] += 3.0
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    np.save(tmp_path / "points.npy", points)
    (tmp_path / "eval_labels.json").write_text(json.dumps(labels[::10]))
    np.save(tmp_path / "eval_points.npy", points[::10])
    config = {
        "source": {"name": "labels", "kwargs": {"classes": ["left", "right"]}},
        "target": {"name": "identity", "kwargs": {"dim": 2}},
        "cinn": {"n_blocks": 2, "hidden_dim": 16},
        "data": {"train": {"x": "labels.json", "y": "points.npy"},
                 "eval": {"x": "eval_labels.json", "y": "eval_points.npy"}},
        "train": {"steps": 150, "batch_size": 64, "lr": 0.003},
        "output": "run",
        "device": "cpu",
        **overrides,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_then_translate(tmp_path, capsys):
    config = _write_run(tmp_path)
    assert main(["train", str(config), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trained 150 steps" in out and "held-out NLL" in out
    run = tmp_path / "run"
    assert (run / "model" / "config.json").is_file()
    assert (run / "checkpoints" / "latest.json").is_file()
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 150 and history["eval_nll"][-1] < 2.5
    n2n = Net2Net.load(run / "model", device="cpu")  # experts rebuilt from their names
    assert n2n.source.names == ["left", "right"]

    assert main(["translate", str(run), "--input", "right", "--input", "0",
                 "--n-samples", "50", "--seed", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 100 and all(len(r) == 2 for r in rows)
    right, left = np.mean(rows[:50], axis=0), np.mean(rows[50:], axis=0)
    assert right[0] - left[0] > 2.0  # 'right' samples lie ~3 to the right of 'left' ones

    assert main(["translate", str(run / "model"), "--input", "left", "--latent",
                 "--output", str(tmp_path / "z.npy")]) == 0
    assert np.load(tmp_path / "z.npy").shape == (4, 2)
    # a second `train` finds the finished checkpoint and does not train again
    assert main(["train", str(config), "--quiet"]) == 0
    assert "trained 150 steps" in capsys.readouterr().out


def test_bad_configs_and_inputs_give_one_line_errors(tmp_path, capsys):
    bad = _write_run(tmp_path, source={"name": "mypackage.models:Encoder"})
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "import string" in err and "registered names" in err and "Traceback" not in err
    bad = _write_run(tmp_path, learning_rate=1)
    assert main(["train", str(bad)]) == 2
    assert "unknown config keys ['learning_rate']" in capsys.readouterr().err
    bad = _write_run(tmp_path, source="no-such-expert")
    assert main(["train", str(bad)]) == 2
    assert "unknown expert 'no-such-expert'" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["translate", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fly"])


def test_load_inputs_formats(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\nsecond line\n")
    assert load_inputs(tmp_path / "a.txt") == ["first line", "second line"]
    (tmp_path / "b.json").write_text("[[1, 2], [3, 4]]")
    assert load_inputs(tmp_path / "b.json").shape == (2, 2)
    (tmp_path / "c.json").write_text("[0, 1, 1]")
    assert load_inputs(tmp_path / "c.json") == [0, 1, 1]
    np.save(tmp_path / "d.npy", np.zeros((3, 2), dtype=np.float64))
    assert load_inputs(tmp_path / "d.npy").dtype == torch.float32
    np.save(tmp_path / "e.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_inputs(tmp_path / "e.npy")  # object arrays would need unpickling: refused
    with pytest.raises(ValueError, match="unsupported input file"):
        (tmp_path / "f.pt").write_bytes(b"")
        load_inputs(tmp_path / "f.pt")
    config = load_config(_write_run(tmp_path, source="sentence-bert"))
    assert config["source"] == {"name": "sentence-bert", "kwargs": {}}


def test_console_script_and_module_entry_point():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = Path(sys.executable).parent / "n2n"
    # the console script is installed by `pip install -e .` (make venv); else the module runs
    command = [str(script)] if script.exists() else [sys.executable, "-m", "n2nlib.cli"]
    done = subprocess.run(command + ["experts"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "sentence-bert" in done.stdout and "labels" in done.stdout


def test_your_own_expert_from_the_command_line(tmp_path):
    """The documented way: register a factory in a small script, then run the CLI from it."""
    script = tmp_path / "my_n2n.py"
    script.write_text(
        "import sys, torch\n"
        "from n2nlib.cli import main\n"
        "from n2nlib.experts import as_expert, register_expert\n"
        "class Doubler(torch.nn.Module):\n"
        "    def encode(self, y): return 2 * y\n"
        "    def decode(self, z): return z / 2\n"
        "register_expert('my-doubler', lambda: as_expert(Doubler(), dim=2))\n"
        "sys.exit(main(sys.argv[1:]))\n")
    config = _write_run(tmp_path, target={"name": "my-doubler"},
                        train={"steps": 5, "batch_size": 32})
    out = subprocess.run([sys.executable, str(script), "train", str(config), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "model" / "config.json").is_file()
    # the plain command does not know the name, and says so
    out = subprocess.run([sys.executable, "-m", "n2nlib.cli", "train", str(config), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "unknown expert 'my-doubler'" in out.stderr
