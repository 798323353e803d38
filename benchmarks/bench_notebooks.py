"""Issue 11, target 5: the notebooks fit CI and Binder.

    .venv/bin/python benchmarks/bench_notebooks.py              # run all notebooks, reduced mode
    .venv/bin/python benchmarks/bench_notebooks.py --no-run     # only summarise the record

Runs every notebook in reduced mode (``N2N_FAST=1``, what CI runs) with
``scripts/run_notebooks.py --fast --no-save``, which stores wall/CPU seconds and the kernel's
peak RSS per notebook and mode in ``benchmarks/notebook_runs.json``. The full-mode figures in
that record come from the runs that made the committed outputs (``scripts/run_notebooks.py``
without ``--fast``). Prints one table and the verdicts: the reduced-mode total within 10
minutes, every notebook's reduced run within 60 s, every full run within 5 minutes, and every
full-mode peak RSS within Binder's 2 GiB (issue 23, goal 4). Times are wall clock, what a
reader waits at "Run All": the notebooks use both cores of a 2-core machine, so their CPU time
(shown beside) is up to twice their wall time. A wall time is only meaningful for a run made
alone on the machine; re-run a notebook that shared it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "benchmarks" / "notebook_runs.json"
CI_BUDGET_S = 600.0
BINDER_MIB = 2048.0
FAST_EACH_S = 60.0
FULL_EACH_S = 300.0


def summarize(runs: dict, notebooks: list[str]) -> tuple[str, list[str]]:
    """A markdown table of the record for ``notebooks``, and the verdict lines."""
    lines = ["| notebook | reduced: wall s | reduced: CPU s | reduced: peak MiB | "
             "full: wall s | full: CPU s | full: peak MiB |", "|---|---|---|---|---|---|---|"]

    def cell(entry: dict | None, key: str, fmt: str = "{:.0f}") -> str:
        return fmt.format(entry[key]) if entry and key in entry else "–"

    fast_wall = fast_cpu = 0.0
    missing_fast, missing_full, too_big, slow_fast, slow_full = [], [], [], [], []
    for name in notebooks:
        fast, full = runs.get(name, {}).get("fast"), runs.get(name, {}).get("full")
        lines.append(f"| {name} | {cell(fast, 'wall_s')} | {cell(fast, 'cpu_s')} | "
                     f"{cell(fast, 'peak_rss_mib')} | {cell(full, 'wall_s')} | "
                     f"{cell(full, 'cpu_s')} | {cell(full, 'peak_rss_mib')} |")
        if fast:
            fast_wall += fast["wall_s"]
            fast_cpu += fast["cpu_s"]
            if fast["wall_s"] > FAST_EACH_S:
                slow_fast.append(f"{name} ({fast['wall_s']:.0f} s)")
        else:
            missing_fast.append(name)
        if not full:
            missing_full.append(name)
            continue
        if full["peak_rss_mib"] > BINDER_MIB:
            too_big.append(f"{name} ({full['peak_rss_mib']:.0f} MiB)")
        if full["wall_s"] > FULL_EACH_S:
            slow_full.append(f"{name} ({full['wall_s']:.0f} s)")
    lines.append(f"| **total** | {fast_wall:.0f} | {fast_cpu:.0f} | | | | |")
    verdicts = []
    if missing_fast:
        verdicts.append(f"- not measured in reduced mode: {', '.join(missing_fast)}")
    else:
        verdicts.append(f"- {'MET' if fast_wall <= CI_BUDGET_S else 'MISSED'}: reduced-mode "
                        f"total {fast_wall:.0f} s wall clock (target ≤ {CI_BUDGET_S:.0f} s); "
                        f"{fast_cpu:.0f} s of kernel CPU time")
    ran_fast = len(notebooks) - len(missing_fast)
    if ran_fast:
        verdicts.append(_each(slow_fast, f"every reduced run ≤ {FAST_EACH_S:.0f} s "
                                         f"({ran_fast} notebooks)"))
    if missing_full:
        verdicts.append(f"- no full-mode record yet: {', '.join(missing_full)}")
    measured = len(notebooks) - len(missing_full)
    if measured:
        verdicts.append(_each(too_big, f"full-mode peak RSS ≤ {BINDER_MIB:.0f} MiB "
                                       f"({measured} notebooks)"))
        verdicts.append(_each(slow_full, f"every full run ≤ {FULL_EACH_S:.0f} s "
                                         f"({measured} notebooks)"))
    return "\n".join(lines), verdicts


def _each(over: list[str], what: str) -> str:
    return f"- {'MISSED' if over else 'MET'}: {what}" + (f"; over: {', '.join(over)}"
                                                          if over else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-run", action="store_true",
                        help="do not run the notebooks, only summarise the record")
    args = parser.parse_args(argv)
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    if not args.no_run:
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"),
                               "--fast", "--no-save"], cwd=ROOT)
        if proc.returncode != 0:
            print("a notebook failed in reduced mode", file=sys.stderr)
            return proc.returncode
    runs = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    table, verdicts = summarize(runs, notebooks)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{len(notebooks)} notebooks; record {RECORD.relative_to(ROOT)}; "
          f"{os.cpu_count()} CPUs, 1-minute load average now {load:.1f}\n")
    print(table)
    print()
    print("\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
