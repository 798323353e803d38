"""Reproduce every performance figure of issue 11 with one command, and check the targets.

    python benchmarks/run_all.py                  # everything, writes benchmarks/run_all.md
    python benchmarks/run_all.py --quick          # fewer steps and points (a smoke run)
    python benchmarks/run_all.py --only peers,scaling
    python benchmarks/run_all.py --device cuda --only peers,scaling   # GPU figures

Each part runs its own script in a fresh process (so one model's memory is gone before the
next starts) and reports the machine's 1-minute load average before and after it, since the
shared machines this project runs on are noisy and the figures are only comparable as the
same-run ratios each script prints:

1. ``peers``   — training step of the paper configuration against FrEIA, normflows and the plain
   reference (``bench_peers.py``); target: n2nlib ≥ 1.3× the samples/s of each.
2. ``peers``   — the same run's efficiency: achieved FLOP/s ≥ 50% of a same-size matmul.
3. ``cache``   — epoch time with the latent cache vs re-encoding (``bench_cache.py``); ≥ 10×.
4. ``latency`` — text → 16 images with the shipped text-to-image model, p50/p95 over 100
   prompts (``bench_translate.py``).
5. ``notebooks`` — CI-mode run time of all notebooks and peak RSS per notebook in full mode
   (``bench_notebooks.py``).
6. ``scaling`` — step time vs dim, blocks and batch with the matmul limit
   (``bench_scaling.py``, table and ``scaling.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PARTS = ("peers", "scaling", "cache", "latency", "notebooks")


def _load() -> float:
    return os.getloadavg()[0]


def _run(cmd: list[str], env: dict[str, str] | None = None
         ) -> tuple[int, str, float, float, float]:
    before, start = _load(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - start
    out = proc.stdout if proc.returncode == 0 else proc.stdout + proc.stderr[-3000:]
    return proc.returncode, out, before, _load(), seconds


def _section(title: str, cmd: list[str], result: tuple[int, str, float, float, float]) -> str:
    rc, out, before, after, seconds = result
    shown = " ".join(Path(c).name if c == sys.executable else c for c in cmd)
    status = "" if rc == 0 else f"\n**failed (exit {rc})**\n"
    return (f"## {title}\n\nCommand: `{shown}` ({seconds:.0f} s; 1-minute load average "
            f"{before:.1f} before, {after:.1f} after){status}\n\n{out.strip()}\n")


def _verdict(ok: bool, what: str) -> str:
    return f"- {'MET' if ok else 'MISSED'}: {what}"


def check_peers(path: Path) -> list[str]:
    """Targets 1 and 2 from ``bench_peers.py --json``."""
    rows = {r["name"]: r for r in json.loads(path.read_text())["rows"]}
    ours = rows.get("n2nlib")
    if ours is None:
        return ["- not measured: the n2nlib row is missing"]
    lines = []
    for name, label in (("freia-allinone", "1(a) FrEIA AllInOneBlock, equal block count"),
                        ("freia-allinone-x4", "1(a) FrEIA AllInOneBlock, equal work"),
                        ("freia-rnvp", "1(a) FrEIA RNVPCouplingBlock, same architecture"),
                        ("normflows", "1(b) normflows"),
                        ("reference", "1(c) plain Table S3 reference")):
        if name in rows:
            ratio = ours["samples_per_s"] / rows[name]["samples_per_s"]
            lines.append(_verdict(ratio >= 1.3, f"{label}: n2nlib {ratio:.2f}× its samples/s "
                                                f"(target ≥ 1.3×)"))
    frac = ours["fraction_of_matmul"]
    lines.append(_verdict(frac >= 0.5, f"2 efficiency: n2nlib reaches {frac:.2f} of a same-size "
                                       f"matmul's FLOP/s (target ≥ 0.50)"))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(HERE / "run_all.md"))
    parser.add_argument("--device", default="cpu",
                        help="cpu or cuda: where peers and scaling run (the other parts are "
                             "CPU-only)")
    args = parser.parse_args(argv)
    parts = args.only.split(",")
    py = sys.executable
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines()
                  if ln.startswith("Model name")), platform.processor())
    import torch

    doc = [f"# Issue 11 performance run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
           "", f"Machine: {model}, {os.cpu_count()} cores, torch {torch.__version__}, "
           f"2 torch threads unless a part says otherwise; load average at start "
           f"{_load():.1f}.", ""]
    verdicts: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="n2n-bench-"))

    if "peers" in parts:
        js = tmp / "peers.json"
        cmd = [py, "benchmarks/bench_peers.py", "--json", str(js), "--device", args.device]
        cmd += ["--steps", "2", "--warmup", "1"] if args.quick else []
        result = _run(cmd)
        doc.append(_section("1–2. Training step against peers (paper configuration)", cmd,
                            result))
        verdicts += check_peers(js) if js.exists() else ["- peers: the run failed"]

    if "scaling" in parts:
        cmd = [py, "benchmarks/bench_scaling.py", "--device", args.device] + (
            ["--quick", "--steps", "1"] if args.quick else [])
        if args.device != "cpu":
            cmd += ["--png", str(HERE / f"scaling_{args.device}.png")]
        doc.append(_section("6. Scaling with dim, blocks and batch (scaling.png)", cmd,
                            _run(cmd)))

    if "cache" in parts:
        cmd = [py, "benchmarks/bench_cache.py", "--threads", "1"]
        cmd += ["--epochs", "1"] if args.quick else []
        # one thread, as its RESULTS.md section explains (tiny steps stall on 2 busy cores)
        result = _run(cmd, env={"OMP_NUM_THREADS": "1"})
        doc.append(_section("3. Latent cache vs re-encoding", cmd, result))

    if "latency" in parts:
        cmd = [py, "benchmarks/bench_translate.py"]
        doc.append(_section("4. Translation latency (text → 16 images)", cmd, _run(cmd)))

    if "notebooks" in parts:
        cmd = [py, "benchmarks/bench_notebooks.py"]
        doc.append(_section("5. Notebooks: CI-mode time and peak RSS per notebook", cmd,
                            _run(cmd)))

    doc += ["## Targets", "", *(verdicts or ["- none checked in this run"]), ""]
    text = "\n".join(doc)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
