"""Reproduce every performance figure with one command, and check the targets of issue 23.

    python benchmarks/run_all.py                  # everything, writes benchmarks/run_all.md
    python benchmarks/run_all.py --quick          # fewer steps and points (a smoke run)
    python benchmarks/run_all.py --only peers,latency
    python benchmarks/run_all.py --device cuda --only peers,scaling   # GPU figures

Each part runs its own script in a fresh process (so one model's memory is gone before the
next starts) and reports the machine's 1-minute load average before and after it, since the
shared machines this project runs on are noisy and the figures are only comparable as the
same-run ratios each script prints. The run ends with every goal as MET or MISSED:

1. ``peers``   — training step of the paper configuration with the library's default settings
   against every equal-work peer: the plain Table S3 reference, FrEIA RNVP, FrEIA
   AllInOneBlock ×4 and normflows (``bench_peers.py --bf16``); target ≥ 1.3× the samples/s of
   each, and ≥ 0.75 of a same-shape matmul's FLOP/s (with ``--ceiling``: what an exact fp32
   step can reach on this machine, printed beside it).
2. ``peers``   — bf16: the row runs, or it is refused with the reason (``settings.bf16_support``).
3. ``peers`` with ``--device cuda`` — the step of ``fit(compile=True)`` (the ``n2nlib-compiled``
   row) ≥ 3× faster than the 87 ms measured on the H100 (issue 23); not measured on a machine
   without CUDA.
4. ``notebooks`` — every notebook's reduced run ≤ 60 s, full run ≤ 5 minutes and ≤ 2 GiB
   (``bench_notebooks.py``; the full-mode figures come from the committed runs' record).
5. ``latency`` — text → 16 images with the shipped text-to-image model, p50 ≤ 25 ms warm
   (``bench_translate.py``), with glibc's ``malloc`` as a fresh process has it; a second run
   with its thresholds fixed at glibc's ceiling (``--malloc steady``) is printed beside it.
6. ``cache`` and ``scaling`` — the latent cache against re-encoding (≥ 10×) and the step time
   against dim, blocks and batch (``bench_cache.py``, ``bench_scaling.py``; figures only).
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


EQUAL_WORK = (("reference", "plain Table S3 reference"),
              ("freia-rnvp", "FrEIA RNVPCouplingBlock, same architecture"),
              ("freia-allinone-x4", "FrEIA AllInOneBlock ×4 (equal work)"),
              ("normflows", "normflows"))
GPU_BASELINE_MS = 87.0  # the paper-configuration step on the H100 before issue 23
LATENCY_S = 0.025


def check_peers(path: Path, device: str = "cpu") -> list[str]:
    """Goals 1–3 from ``bench_peers.py --json``."""
    rows = {r["name"]: r for r in json.loads(path.read_text())["rows"]}
    ours = rows.get("n2nlib")
    if ours is None:
        return ["- not measured: the n2nlib row is missing"]
    lines = []
    for name, label in EQUAL_WORK:
        if name not in rows:
            lines.append(f"- not measured: {label}")
            continue
        ratio = ours["samples_per_s"] / rows[name]["samples_per_s"]
        lines.append(_verdict(ratio >= 1.3, f"1 {label}: n2nlib (default settings) {ratio:.2f}× "
                                            f"its samples/s (target ≥ 1.3×)"))
    frac = ours["fraction_of_matmul"]
    ceiling = json.loads(path.read_text()).get("ceiling")
    why = ""
    if ceiling:  # bench_peers.py --ceiling
        why = (f"; the ceiling of an exact fp32 step here is "
               f"{ceiling['ceiling_fraction']:.2f} (matmuls over distinct weights + Adam "
               f"alone), and n2nlib runs at {ceiling['ceiling_step_ms'] / ours['step_ms']:.2f} "
               f"of its speed")
    lines.append(_verdict(frac >= 0.75, f"1 efficiency: n2nlib reaches {frac:.2f} of a "
                                        f"same-shape matmul's FLOP/s (target ≥ 0.75){why}"))
    compiled = rows.get("n2nlib-compiled")
    if device == "cuda" and compiled is not None:
        speedup = GPU_BASELINE_MS / compiled["step_ms"]
        lines.append(_verdict(speedup >= 3.0,
                              f"3 GPU step of fit(compile=True) {compiled['step_ms']:.1f} ms "
                              f"({ours['step_ms']:.1f} ms eager in the same run): "
                              f"{speedup:.2f}× faster than {GPU_BASELINE_MS:.0f} ms "
                              f"(target ≥ 3×)"))
    elif device == "cuda":
        lines.append("- not measured: 3 GPU step (no n2nlib-compiled row: add --compiled)")
    else:
        lines.append("- not measured: 3 GPU step (run with --device cuda on a GPU)")
    return lines


def check_bf16(output: str, rows_path: Path) -> str:
    """Goal 2: a bf16 row that is not slower than fp32, or a refusal with its reason."""
    if "--bf16 refused:" in output:
        reason = output.split("--bf16 refused:", 1)[1].splitlines()[0].strip()
        return _verdict(True, f"2 bf16 refused with a reason: {reason}")
    rows = {r["name"]: r for r in json.loads(rows_path.read_text())["rows"]}
    if "n2nlib-bf16" not in rows or "n2nlib" not in rows:
        return "- not measured: 2 bf16"
    ratio = rows["n2nlib-bf16"]["samples_per_s"] / rows["n2nlib"]["samples_per_s"]
    return _verdict(ratio >= 1.0, f"2 bf16 autocast runs at {ratio:.2f}× fp32 (target ≥ 1×)")


def check_latency(path: Path, steady: Path | None = None) -> str:
    """Goal 5 from ``bench_translate.py --json``; ``steady``: the ``--malloc steady`` run's
    json, whose p50 is added to the line (the verdict is the first run's)."""
    run = json.loads(path.read_text())
    p50 = run["p50_s"]
    line = (f"5 text → 16 images: p50 {1000 * p50:.1f} ms, {p50 / LATENCY_S:.2f}× the "
            f"{1000 * LATENCY_S:.0f} ms target (≤ 1 meets it)")
    if steady is not None and steady.exists():
        other = json.loads(steady.read_text())
        line += (f"; with malloc's thresholds fixed (--malloc steady) {1000 * other['p50_s']:.1f}"
                 f" ms, {other['page_faults_per_prompt']:.0f} page faults per prompt against "
                 f"{run.get('page_faults_per_prompt', 0):.0f}")
    return _verdict(p50 <= LATENCY_S, line)


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

    doc = [f"# Performance run ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
           "", f"Machine: {model}, {os.cpu_count()} cores, torch {torch.__version__}, "
           f"2 torch threads unless a part says otherwise; load average at start "
           f"{_load():.1f}.", ""]
    verdicts: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="n2n-bench-"))

    if "peers" in parts:
        js = tmp / "peers.json"
        cmd = [py, "benchmarks/bench_peers.py", "--json", str(js), "--device", args.device,
               "--bf16", "--ceiling"] + (["--compiled"] if args.device == "cuda" else [])
        cmd += ["--steps", "2", "--warmup", "1"] if args.quick else []
        result = _run(cmd)
        doc.append(_section("1–3. Training step against peers (paper configuration)", cmd,
                            result))
        if js.exists():
            verdicts += [*check_peers(js, args.device), check_bf16(result[1], js)]
        else:
            verdicts.append("- peers: the run failed")

    if "scaling" in parts:
        cmd = [py, "benchmarks/bench_scaling.py", "--device", args.device] + (
            ["--quick", "--steps", "1"] if args.quick else [])
        if args.device != "cpu":
            cmd += ["--png", str(HERE / f"scaling_{args.device}.png")]
        doc.append(_section("Scaling with dim, blocks and batch (scaling.png)", cmd,
                            _run(cmd)))

    if "cache" in parts:
        cmd = [py, "benchmarks/bench_cache.py", "--threads", "1"]
        cmd += ["--epochs", "1"] if args.quick else []
        # one thread, as its RESULTS.md section explains (tiny steps stall on 2 busy cores)
        result = _run(cmd, env={"OMP_NUM_THREADS": "1"})
        doc.append(_section("Latent cache vs re-encoding", cmd, result))

    if "latency" in parts:
        js, steady = tmp / "latency.json", tmp / "latency_steady.json"
        for path, extra, title in ((js, [], ""), (steady, ["--malloc", "steady"],
                                                  ", malloc's thresholds fixed")):
            cmd = [py, "benchmarks/bench_translate.py", "--json", str(path), *extra]
            cmd += ["--prompts", "20"] if args.quick else []
            doc.append(_section(f"5. Translation latency (text → 16 images){title}", cmd,
                                _run(cmd)))
        verdicts.append(check_latency(js, steady) if js.exists()
                        else "- latency: the run failed")

    if "notebooks" in parts:
        cmd = [py, "benchmarks/bench_notebooks.py"] + (["--no-run"] if args.quick else [])
        result = _run(cmd)
        doc.append(_section("4. Notebooks: reduced and full run time, peak RSS", cmd, result))
        verdicts += [ln for ln in result[1].splitlines() if ln.startswith(("- MET", "- MISSED"))]

    doc += ["## Targets", "", *(verdicts or ["- none checked in this run"]), ""]
    text = "\n".join(doc)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
