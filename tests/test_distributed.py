"""fit under torchrun: 2 CPU processes with gloo match one process on the same global batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from n2nlib.checkpoint import load_tensors

ROOT = Path(__file__).resolve().parents[1]

# The same script runs under torchrun (2 processes) and in a plain process (1): fit is unchanged.
SCRIPT = textwrap.dedent(
    """
    import json, math, sys
    import torch
    from n2nlib import ConditionalINN
    from n2nlib.cache import LatentPairs
    from n2nlib.checkpoint import save_tensors
    from n2nlib.train import distributed_info, fit

    out = sys.argv[1]
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    c = torch.randn(400, 2, generator=g)
    mean = torch.cat([c.sum(1, keepdim=True), torch.randn(400, 2, generator=g)], 1)
    # a stochastic target: every process must draw the same noise for the global batch
    pairs = LatentPairs(mean, c, target_logvar=torch.full((400, 3), math.log(0.1)))
    torch.manual_seed(0)
    model = ConditionalINN(3, 2, n_blocks=2, hidden_dim=16)
    save_tensors(model.state_dict(), out + "/init.safetensors")
    history = fit(model, pairs, steps=12, batch_size=32, lr=3e-3, seed=3, progress=False,
                  eval_data=(mean[:50], c[:50]), eval_every=6,
                  checkpoint_dir=out + "/ckpt", checkpoint_every=6)
    world, rank = distributed_info()
    if rank == 0:
        save_tensors(model.state_dict(), out + "/weights.safetensors")
        with open(out + "/history.json", "w") as f:
            json.dump({"world": world, "loss": history.loss, "eval": history.eval_nll}, f)
    """
)


def _run(args: list[str], out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    (tmp_path / "ddp").mkdir()
    (tmp_path / "single").mkdir()
    ddp = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", str(script), str(tmp_path / "ddp")], tmp_path)
    assert ddp.returncode == 0, ddp.stdout[-3000:] + ddp.stderr[-3000:]
    single = _run([sys.executable, str(script), str(tmp_path / "single")], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    h_ddp = json.loads((tmp_path / "ddp" / "history.json").read_text())
    h_one = json.loads((tmp_path / "single" / "history.json").read_text())
    assert h_ddp["world"] == 2 and h_one["world"] == 1
    # same global batches, gradients averaged over the two halves: equal up to rounding
    torch.testing.assert_close(torch.tensor(h_ddp["loss"]), torch.tensor(h_one["loss"]),
                               atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(torch.tensor(h_ddp["eval"]), torch.tensor(h_one["eval"]),
                               atol=1e-9, rtol=1e-9)
    w_ddp = load_tensors(tmp_path / "ddp" / "weights.safetensors")
    w_one = load_tensors(tmp_path / "single" / "weights.safetensors")
    w_init = load_tensors(tmp_path / "single" / "init.safetensors")
    assert w_ddp.keys() == w_one.keys()
    for k in w_ddp:
        # Adam divides by sqrt(v): rounding differences of ~1e-16 in the averaged gradients
        # grow to ~1e-9 in the weights after 12 steps, while training moves them by ~1e-2
        torch.testing.assert_close(w_ddp[k], w_one[k], atol=1e-7, rtol=1e-7, msg=k)
    moved = max(float((w_one[k] - w_init[k]).abs().max()) for k in w_one if "coupling" in k)
    assert moved > 1e-3
    # only rank 0 wrote checkpoints, and they are complete
    latest = json.loads((tmp_path / "ddp" / "ckpt" / "latest.json").read_text())
    assert latest["step"] == 12
