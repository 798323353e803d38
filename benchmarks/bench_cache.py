"""Epoch time of Net2Net training with the latent cache against re-encoding, in the same run.

    python benchmarks/bench_cache.py                  # 1024 pairs, batch 64, 2 epochs each
    python benchmarks/bench_cache.py --experts resnet18 --cinn small --epochs 1

The experts are fixed, so Φ(x) and Θ(y) are the same in every epoch. Without a cache every
epoch pays for running both image encoders over all its pairs again; with the cache (computed
once by :func:`n2nlib.cache.encode_pairs`) an epoch is only the cINN's training steps.

Both experts here are *randomly initialised* ResNet-style convolutional encoders over 32×32 RGB
images (a stem convolution, four stages of two residual blocks with batch norm, global average
pooling and a linear map to a 64-d code): CIFAR-style ResNet-18 at full width (64-128-256-512)
or half width — the size of a small image classifier's or autoencoder's encoder, not trained
weights: the compute is the same either way, and the images are uniform noise for the same
reason. The cINN (dim 64, condition 64) is "small" (4 blocks, hidden width 128, the size of the
notebooks' translators) or "mid" (8 blocks, hidden width 256).

What is timed, per epoch of ``n // batch`` steps of :func:`n2nlib.train.fit`:

* **re-encoding**: encode the epoch's pairs with both experts (batches of the training batch
  size, no gradients) — as a loop that encodes every step would — then train on them;
* **cache in memory**: train on the codes encoded once before;
* **cache on disk**: the same codes as memory-mapped safetensors shards.

The ratio re-encoding / cache is measured in the same process, so it holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time

import torch
from torch import nn

from n2nlib import ConditionalINN
from n2nlib.cache import LatentPairs, encode_pairs
from n2nlib.experts import as_expert
from n2nlib.train import fit


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                   nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def resnet_encoder(dim: int = 64, widths: tuple[int, ...] = (32, 64, 128, 256)) -> nn.Module:
    """A randomly initialised ResNet-18-style encoder, 32×32 RGB → ``dim``."""
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c_in = widths[0]
    for i, w in enumerate(widths):
        layers += [_Block(c_in, w, 1 if i == 0 else 2), _Block(w, w, 1)]
        c_in = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, dim)]
    return nn.Sequential(*layers)


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


EXPERTS = {
    # CIFAR-style ResNet-18 (2 blocks per stage), 11.2M parameters, ~0.56 GFLOPs per 32×32 image
    "resnet18": (64, 128, 256, 512),
    # the same at half width, 2.8M parameters, ~0.14 GFLOPs per image
    "resnet18-half": (32, 64, 128, 256),
}
CINNS = {
    "small": {"n_blocks": 4, "hidden_dim": 128},  # notebook-sized
    "mid": {"n_blocks": 8, "hidden_dim": 256},
}


def run(expert: str, cinn_name: str, n: int, batch: int, epochs: int) -> dict:
    """Time one configuration; returns the measured figures."""
    gen = torch.Generator().manual_seed(0)
    xs = torch.rand(n, 3, 32, 32, generator=gen)
    ys = torch.rand(n, 3, 32, 32, generator=gen)
    torch.manual_seed(0)
    source = as_expert(resnet_encoder(64, EXPERTS[expert]), dim=64)
    target = as_expert(resnet_encoder(64, EXPERTS[expert]), dim=64)
    steps = n // batch

    def new_cinn() -> ConditionalINN:
        torch.manual_seed(0)
        return ConditionalINN(64, 64, **CINNS[cinn_name])

    def train_epoch(pairs: LatentPairs, seed: int) -> float:
        start = time.perf_counter()
        fit(new_cinn(), pairs, steps=steps, batch_size=batch, seed=seed, progress=False)
        return time.perf_counter() - start

    # warm-up (allocator, kernels), not timed
    warm = encode_pairs(source, target, (xs[:128], ys[:128]), batch_size=batch, progress=False)
    fit(new_cinn(), warm, steps=2, batch_size=batch, progress=False)

    times: dict[str, list[float]] = {"reencode": [], "encode": [], "memory": [], "disk": []}
    start = time.perf_counter()
    cached = encode_pairs(source, target, (xs, ys), batch_size=batch, progress=False)
    one_time = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        on_disk = LatentPairs.load(cached.save(tmp, shard_rows=256))
        for epoch in range(epochs):
            t0 = time.perf_counter()
            fresh = encode_pairs(source, target, (xs, ys), batch_size=batch, progress=False)
            t_enc = time.perf_counter() - t0
            t_train = train_epoch(fresh, epoch)
            times["encode"].append(t_enc)
            times["reencode"].append(t_enc + t_train)
            times["memory"].append(train_epoch(cached, epoch))
            times["disk"].append(train_epoch(on_disk, epoch))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "expert": expert, "expert_params_each": sum(p.numel() for p in source.parameters()),
        "cinn": cinn_name, "cinn_params": sum(p.numel() for p in new_cinn().parameters()),
        "n": n, "batch": batch, "steps_per_epoch": steps, "epochs": epochs,
        "one_time_encoding_s": round(one_time, 3),
        "epoch_reencode_s": round(med["reencode"], 3),
        "of_which_encoding_s": round(med["encode"], 3),
        "epoch_cache_memory_s": round(med["memory"], 3),
        "epoch_cache_disk_s": round(med["disk"], 3),
        "speedup_memory": round(med["reencode"] / med["memory"], 1),
        "speedup_disk": round(med["reencode"] / med["disk"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="pairs per epoch")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per variant")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--experts", default="resnet18,resnet18-half",
                        help=f"comma-separated, of {sorted(EXPERTS)}")
    parser.add_argument("--cinn", default="small,mid", help=f"comma-separated, of {sorted(CINNS)}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import os

    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, {args.threads} torch threads, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at start")
    rows = []
    for expert in args.experts.split(","):
        for cinn_name in args.cinn.split(","):
            report = run(expert, cinn_name, args.n, args.batch, args.epochs)
            print(json.dumps(report), flush=True)
            rows.append(report)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("| experts (each) | cINN | re-encoding epoch (s) | of which encoding (s) | "
          "cached epoch, memory (s) | cached epoch, disk mmap (s) | speed-up memory | "
          "speed-up disk |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['expert']} ({r['expert_params_each'] / 1e6:.1f}M) | {r['cinn']} "
              f"({r['cinn_params'] / 1e6:.2f}M) | {r['epoch_reencode_s']:.2f} | "
              f"{r['of_which_encoding_s']:.2f} | {r['epoch_cache_memory_s']:.2f} | "
              f"{r['epoch_cache_disk_s']:.2f} | {r['speedup_memory']}x | {r['speedup_disk']}x |")


if __name__ == "__main__":
    main()
