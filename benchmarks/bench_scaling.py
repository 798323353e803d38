"""How the cINN's training step time grows with dim, blocks and batch, against the matmul limit.

    python benchmarks/bench_scaling.py                   # table + benchmarks/scaling.png
    python benchmarks/bench_scaling.py --quick           # fewer points, 2 steps each
    python benchmarks/bench_scaling.py --device cuda --png benchmarks/scaling_cuda.png

Three one-at-a-time sweeps around a base configuration (condition 128 through the MLP
embedder, subnets FC 8·dim × 3 hidden layers, float32, :func:`n2nlib.train.fit` steps with
fused Adam and no clipping):

* **dim** 32 … 512 with 1 block, batch 64 (at dim 512 one block has 135 M parameters; step
  time is linear in the block count, see the next sweep, so one block shows the trend);
* **blocks** 4 … 32 at dim 128, batch 64 (32 blocks: 300 M parameters);
* **batch** 8 … 1024 at dim 128, 4 blocks.

For every point the *matmul limit* is the step's linear-layer FLOPs (forward ``2·B·in·out``,
backward twice that) divided by the FLOP/s of a ``(batch, 8·dim) @ (8·dim, 8·dim)`` matmul
measured right before and after that point (the better of the two): the step time the
linear layers would take if they ran as fast as one bare matmul of their dominant shape. The
ratio limit / measured is the efficiency (1.0 is the limit).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cinn import device_name, linear_flops_per_sample, time_matmul  # noqa: E402
from bench_peers import _fit_steps  # noqa: E402

from n2nlib import ConditionalINN  # noqa: E402

HERE = Path(__file__).resolve().parent
SWEEPS = {
    "dim": {"values": (32, 64, 128, 256, 512), "base": {"blocks": 1, "batch": 64}},
    "blocks": {"values": (4, 8, 16, 32), "base": {"dim": 128, "batch": 64}},
    "batch": {"values": (8, 32, 64, 128, 256, 1024), "base": {"dim": 128, "blocks": 4}},
}
QUICK = {"dim": (32, 128, 512), "blocks": (4, 16), "batch": (8, 64, 1024)}


@dataclass
class Point:
    sweep: str
    dim: int
    blocks: int
    batch: int
    params_m: float
    step_ms: float
    limit_ms: float
    efficiency: float
    samples_per_s: float
    matmul_gflop_s: float


def measure(sweep: str, dim: int, blocks: int, batch: int, steps: int, warmup: int,
            device: str = "cpu") -> Point:
    torch.manual_seed(0)
    model = ConditionalINN(dim, 128, n_blocks=blocks).to(device)
    x = torch.randn(batch, dim, device=device)
    c = torch.randn(batch, 128, device=device)
    hidden = 8 * dim
    before = time_matmul(batch, hidden, repeats=10, device=device)
    times = _fit_steps(model, x, c, warmup + steps)[warmup:]
    matmul = max(before, time_matmul(batch, hidden, repeats=10, device=device))
    step = statistics.median(times)
    limit = 3 * linear_flops_per_sample(model) * batch / (matmul * 1e9)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    del model
    gc.collect()
    return Point(sweep, dim, blocks, batch, params, step * 1e3, limit * 1e3, limit / step,
                 batch / step, matmul)


def plot(points: list[Point], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), dpi=80)
    for ax, sweep in zip(axes, SWEEPS, strict=True):
        pts = [p for p in points if p.sweep == sweep]
        if not pts:
            ax.set_visible(False)
            continue
        xs = [getattr(p, sweep) for p in pts]
        ax.loglog(xs, [p.step_ms for p in pts], "o-", label="training step (fit)")
        ax.loglog(xs, [p.limit_ms for p in pts], "k--", label="matmul limit")
        base = ", ".join(f"{k} {v}" for k, v in SWEEPS[sweep]["base"].items())
        ax.set_xlabel(f"{sweep}  ({base})")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("ms per step")
    shown = [ax for ax in axes if ax.get_visible()]
    if shown:
        shown[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[Point]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer points")
    parser.add_argument("--sweeps", default=",".join(SWEEPS))
    parser.add_argument("--png", default=str(HERE / "scaling.png"))
    parser.add_argument("--json", default=None, help="also write the points to this file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    points: list[Point] = []
    for sweep in args.sweeps.split(","):
        spec = SWEEPS[sweep]
        for value in (QUICK[sweep] if args.quick else spec["values"]):
            cfg = {"dim": 128, "blocks": 4, "batch": 64, **spec["base"], sweep: value}
            points.append(measure(sweep, cfg["dim"], cfg["blocks"], cfg["batch"],
                                  args.steps, args.warmup, args.device))
            p = points[-1]
            print(f"# {sweep}={value}: {p.step_ms:.0f} ms, limit {p.limit_ms:.0f} ms",
                  file=sys.stderr, flush=True)
    header = (f"# {device_name(args.device)}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}; "
              f"median of {args.steps} fit() steps after {args.warmup}")
    print(header)
    print("| sweep | dim | blocks | batch | params (M) | step (ms) | matmul limit (ms) | "
          "efficiency | samples/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in points:
        print(f"| {p.sweep} | {p.dim} | {p.blocks} | {p.batch} | {p.params_m:.1f} | "
              f"{p.step_ms:.1f} | {p.limit_ms:.1f} | {p.efficiency:.2f} | "
              f"{p.samples_per_s:.0f} |")
    plot(points, Path(args.png), header.lstrip("# "))
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header,
                                               "points": [asdict(p) for p in points]}, indent=1))
    return points


if __name__ == "__main__":
    main()
