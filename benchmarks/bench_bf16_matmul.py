"""Why bf16 autocast is slow on this CPU: one matmul in float32 and in bfloat16, side by side.

A bfloat16 GEMM is fast only where the CPU has bf16 dot-product instructions (AVX512_BF16 or
AMX-BF16) for oneDNN to use; elsewhere torch falls back to a reference kernel. Prints the CPU's
bf16 flags, the times and their ratio (one run, one thread).

    python benchmarks/bench_bf16_matmul.py
"""

from __future__ import annotations

import time

import torch


def bf16_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            flags = next(line for line in fh if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if "bf16" in f)


def timed(fn, n: int = 10) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def main() -> None:
    torch.set_num_threads(1)
    x, w = torch.randn(256, 1024), torch.randn(1024, 1024)
    xb, wb = x.bfloat16(), w.bfloat16()
    lin = torch.nn.Linear(1024, 1024)
    fp32 = timed(lambda: x @ w)
    bf16 = timed(lambda: xb @ wb, n=3)
    lin32 = timed(lambda: lin(x))

    def autocast_linear() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return lin(x)

    lin_ac = timed(autocast_linear, n=3)
    print(f"torch {torch.__version__}, CPU bf16 flags: {bf16_flags() or 'none'}")
    print(f"matmul 256×1024 @ 1024×1024: float32 {fp32:.1f} ms, bfloat16 {bf16:.1f} ms "
          f"(×{bf16 / fp32:.0f})")
    print(f"nn.Linear(1024, 1024), batch 256: float32 {lin32:.1f} ms, bf16 autocast "
          f"{lin_ac:.1f} ms (×{lin_ac / lin32:.1f})")


if __name__ == "__main__":
    main()
