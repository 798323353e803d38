"""Training-step throughput of the ConditionalINN, against a matmul measured in the same run.

    python benchmarks/bench_cinn.py                 # paper and small configurations
    python benchmarks/bench_cinn.py --config small --steps 20
    python benchmarks/bench_cinn.py --device cuda   # timed steps bracketed by synchronize

For each configuration it times full training steps (forward, NLL, backward, Adam step) at
batch 64 and reports samples/s and the achieved FLOP/s of the step as a fraction of the
FLOP/s of a plain matmul of the step's dominant shape ``(batch, hidden) @ (hidden, hidden)``,
measured in the same process right before. The ratio is what to compare across machines and
runs: these machines are noisy, absolute numbers drift.

FLOPs are counted for the linear layers only (``2·B·in·out`` forward, twice that backward):
the element-wise work of the couplings is small beside them.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from n2nlib import ConditionalINN
from n2nlib.flows.subnets import PairedMLP

CONFIGS = {
    # dim 128, condition 128 through the MLP embedder, 20 blocks, subnets FC 8·dim x 3 hidden
    "paper": {"dim": 128, "cond_dim": 128, "n_blocks": 20},
    "small": {"dim": 16, "cond_dim": 8, "n_blocks": 8},
}


@dataclass
class Result:
    config: str
    dim: int
    cond_dim: int
    n_blocks: int
    hidden: int
    params_m: float
    batch: int
    step_ms: float
    samples_per_s: float
    step_gflops: float
    achieved_gflop_s: float
    matmul_gflop_s: float
    fraction_of_matmul: float


def linear_flops_per_sample(model: nn.Module) -> int:
    """Forward FLOPs per sample of every linear layer (the embedder runs once per sample too):
    each ``nn.Linear``, and each layer of every fused :class:`~n2nlib.flows.subnets.PairedMLP`
    (``n_nets`` stacked ``(in, out)`` weights)."""
    flops = 0
    for m in model.modules():
        if isinstance(m, nn.Linear):
            flops += 2 * m.in_features * m.out_features
        elif isinstance(m, PairedMLP):
            flops += sum(2 * w.numel() for w in m.weights)
    return flops


def synchronize(device: str | torch.device = "cpu") -> None:
    """Wait for queued kernels (a no-op on the CPU), so that wall-clock timers are honest."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_matmul(batch: int, hidden: int, repeats: int = 30,
                device: str | torch.device = "cpu") -> float:
    """GFLOP/s of ``(batch, hidden) @ (hidden, hidden)`` on ``device``, best of a few bursts."""
    a = torch.randn(batch, hidden, device=device)
    b = torch.randn(hidden, hidden, device=device)
    for _ in range(5):
        a @ b
    best = float("inf")
    for _ in range(5):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * batch * hidden * hidden / best / 1e9


def bench(name: str, batch: int, steps: int, warmup: int, device: str = "cpu") -> Result:
    cfg = CONFIGS[name]
    torch.manual_seed(0)
    model = ConditionalINN(**cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, cfg["dim"], device=device)
    c = torch.randn(batch, cfg["cond_dim"], device=device)
    matmul_before = time_matmul(batch, model.hidden_dim, device=device)
    times = []
    for i in range(warmup + steps):
        synchronize(device)
        start = time.perf_counter()
        loss = model.nll(x, c).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    step = statistics.median(times)
    flops = 3 * linear_flops_per_sample(model) * batch  # forward + 2x backward
    # the best of two measurements, one on each side of the steps: a busy neighbour
    # slows one of them, and the ratio must not flatter the cINN
    matmul = max(matmul_before, time_matmul(batch, model.hidden_dim, device=device))
    achieved = flops / step / 1e9
    return Result(
        config=name, dim=cfg["dim"], cond_dim=cfg["cond_dim"], n_blocks=cfg["n_blocks"],
        hidden=model.hidden_dim,
        params_m=sum(p.numel() for p in model.parameters()) / 1e6,
        batch=batch, step_ms=step * 1e3, samples_per_s=batch / step,
        step_gflops=flops / 1e9, achieved_gflop_s=achieved, matmul_gflop_s=matmul,
        fraction_of_matmul=achieved / matmul,
    )


def device_name(device: str | torch.device = "cpu") -> str:
    """The processor a benchmark ran on: the GPU's name for a CUDA device, else the CPU's."""
    if torch.device(device).type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return cpu_name()


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=[*CONFIGS, "all"], default="all")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = list(CONFIGS) if args.config == "all" else [args.config]
    if not args.json:
        print(f"# {device_name(args.device)}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}")
        print("| config | params (M) | batch | step (ms) | samples/s | GFLOP/step | "
              "achieved GFLOP/s | matmul GFLOP/s | fraction of matmul |")
        print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = bench(name, args.batch, args.steps, args.warmup, args.device)
        if args.json:
            print(json.dumps(asdict(r)))
        else:
            print(f"| {r.config} (dim {r.dim}, cond {r.cond_dim}, {r.n_blocks} blocks, "
                  f"hidden {r.hidden}) | {r.params_m:.1f} | {r.batch} | {r.step_ms:.1f} | "
                  f"{r.samples_per_s:.0f} | {r.step_gflops:.2f} | {r.achieved_gflop_s:.1f} | "
                  f"{r.matmul_gflop_s:.1f} | {r.fraction_of_matmul:.2f} |")


if __name__ == "__main__":
    main()
