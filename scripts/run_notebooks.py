#!/usr/bin/env python
"""Re-execute the course notebooks and save them with their outputs.

The committed notebooks carry the outputs of a *full* run (``N2N_FAST`` unset), so that a
reader on the web sees real results. This script makes those outputs:

    .venv/bin/python scripts/run_notebooks.py                  # all notebooks, full mode
    .venv/bin/python scripts/run_notebooks.py notebooks/02_toy_2d_flows.ipynb
    .venv/bin/python scripts/run_notebooks.py --fast --no-save # reduced mode, a quick check

For each notebook it reports the wall-clock time, the CPU time and the peak memory (RSS) of
its kernel: the kernel's own ``getrusage`` maximum, read by an extra cell that is not saved, or
the polled RSS of the kernel's processes if that is larger. On a shared machine CPU time is
the honest measure of cost. The figures go to ``benchmarks/notebook_runs.json`` (one entry per
notebook and mode, the latest run), for issue 11's Binder budget: peak RSS at most 2 GiB in
full mode, all notebooks within 10 minutes in reduced mode.
A notebook whose cell raises stops the script with a non-zero exit status; with ``--no-save``
the files are left untouched. ``make notebooks`` runs it in full mode.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RECORD = ROOT / "benchmarks" / "notebook_runs.json"


def record_run(name: str, mode: str, seconds: float, cpu: float, peak_mib: float,
               path: Path = RECORD) -> None:
    """Store one notebook run (wall and CPU seconds, peak RSS) in the JSON record."""
    import json
    import platform

    runs = json.loads(path.read_text()) if path.exists() else {}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    runs.setdefault(name, {})[mode] = {
        "wall_s": round(seconds, 1), "cpu_s": round(cpu, 1), "peak_rss_mib": round(peak_mib),
        "date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(),
        "load_average_end": None if load is None else round(load, 2),
        "machine": platform.processor() or platform.machine(),
    }
    path.write_text(json.dumps(dict(sorted(runs.items())), indent=1) + "\n")


class _KernelMonitor:
    """Poll the memory and CPU time of this process's children (the kernel) in a thread.

    Wall-clock time on a shared machine says little; the kernel's CPU seconds are what the
    notebook costs. Needs psutil (installed with jupyter); without it, both stay 0.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.peak_rss, self._cpu = interval, 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def _poll(self, psutil) -> None:
        rss = 0
        for child in psutil.Process().children(recursive=True):
            try:
                rss += child.memory_info().rss
                times = child.cpu_times()
                self._cpu[child.pid] = times.user + times.system
            except psutil.Error:
                pass
        self.peak_rss = max(self.peak_rss, rss)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        while not self._stop.is_set():
            self._poll(psutil)
            self._stop.wait(self.interval)

    def __enter__(self) -> _KernelMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def run_one(path: Path, *, timeout: int, save: bool, kernel: str) -> tuple[float, float, float]:
    """Execute one notebook in its folder and save it with its outputs.

    Returns:
        ``(wall seconds, kernel CPU seconds, kernel peak RSS in MiB)``.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # the kernel's own accounting of its peak memory, read by a cell that is not saved
    nb.cells.append(nbformat.v4.new_code_cell(_PEAK_CELL))
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with _KernelMonitor() as monitor:
        client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.perf_counter() - start
    probe = nb.cells.pop()
    peak = max(monitor.peak_rss / 2**20, _peak_from(probe))
    final_bar_states(nb)
    describe_widgets(nb)
    shrink_images(nb)
    if save:
        nbformat.write(nb, path)
    return seconds, monitor.cpu_seconds, peak


_OVERWRITTEN = re.compile(r"[^\n]*\r(?=[^\n])")
# a text tqdm state ("desc:  15%|█▌   | 3/20 [00:01<00:05, 2.9it/s]") followed directly by a
# later state of the same bar: what remains of a carriage return once the outputs were split
_SUPERSEDED = re.compile(r"(?P<desc>[^\n\r\]]*?): *\d+%\|[^\n\r]*?\]\s*(?=(?P=desc): *\d+%\|)")
# a bar with leave=False erases itself with a run of spaces: nothing of it stays on screen
_CLEARED = re.compile(r"[^\n\r\]]*?: *\d+%\|[^\n\r]*?\] {8,}")


def final_bar_states(nb) -> None:
    """Keep only what a terminal would show of the streams: consecutive stream outputs of one
    cell and stream are joined (the kernel sends a bar's updates as separate messages), text
    that a carriage return overwrote is dropped, and so is a bar state that a later state of
    the same bar follows or that the bar erased (``leave=False``). The saved notebook shows
    every bar at its final state, with its time."""
    for cell in nb.cells:
        merged = []
        for out in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (out.get("output_type") == "stream" and last is not None
                    and last.get("output_type") == "stream" and last["name"] == out["name"]):
                last["text"] += out["text"]
            else:
                merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream":
                text = _OVERWRITTEN.sub("", out["text"]).replace("\r\n", "\n")
                out["text"] = _CLEARED.sub("", _SUPERSEDED.sub("", text))
        if "outputs" in cell:
            cell["outputs"] = [out for out in merged
                               if out.get("output_type") != "stream" or out["text"].strip()]


WIDGET_NOTE = ("[an interactive widget: run this notebook in Jupyter to use it; the picture "
               "above shows what it first drew]")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


_BAR = re.compile(r"\d+%\|")


def describe_widgets(nb) -> int:
    """Give every widget output a readable text form. A static viewer shows ``text/plain``,
    which for a widget is its constructor ("interactive(children=(FloatSlider(...") — replaced
    by :data:`WIDGET_NOTE`; a progress-bar widget of another library (a model's "Loading
    weights" bar) is saved at its first state ("0%") and is dropped. Returns how many outputs
    were changed or dropped."""
    count = 0
    for cell in nb.cells:
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if _WIDGET_VIEW in data:
                count += 1
                if _BAR.search("".join(data.get("text/plain", ""))):
                    continue
                data["text/plain"] = WIDGET_NOTE
            kept.append(out)
        if "outputs" in cell:
            cell["outputs"] = kept
    return count


def shrink_images(nb, colors: int = 256) -> int:
    """Store each PNG output with an adaptive palette of ``colors`` colours where that is
    smaller (figures of photographs compress poorly in full colour); returns the bytes saved.

    The figures of this course are small images upscaled without interpolation, so a
    256-colour palette keeps them visibly the same while the committed notebooks stay under
    the size that a static viewer renders quickly."""
    import base64
    import io

    from PIL import Image

    saved = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            raw = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(raw))
            buffer = io.BytesIO()
            image.convert("RGB").quantize(colors=colors).save(buffer, format="PNG",
                                                              optimize=True)
            if buffer.tell() < len(raw):
                saved += len(raw) - buffer.tell()
                data["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    return saved


_PEAK_CELL = ("import resource as _r\n"
              "print('N2N_PEAK_KIB', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)")


def _peak_from(cell) -> float:
    """The kernel's peak RSS in MiB from the output of :data:`_PEAK_CELL` (0 if absent)."""
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith("N2N_PEAK_KIB"):
                return int(line.split()[1]) / 1024  # Linux reports KiB
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/*.ipynb)")
    parser.add_argument("--fast", action="store_true", help="reduced mode (N2N_FAST=1)")
    parser.add_argument("--no-save", action="store_true", help="do not write outputs back")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    parser.add_argument("--no-record", action="store_true",
                        help=f"do not store the measurements in {RECORD.relative_to(ROOT)}")
    args = parser.parse_args(argv)

    # the kernel inherits this process's environment
    os.environ["N2N_FAST"] = "1" if args.fast else "0"
    os.environ["N2N_TEXT_BARS"] = "1"  # saved bars show their final state on any viewer
    os.environ["N2N_STATIC_WIDGETS"] = "1"  # widgets leave a static picture of their first state
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    mode = "fast" if args.fast else "full"
    rows = []
    for path in paths:
        print(f"running {path.name} ({mode} mode) ...", flush=True)
        try:
            seconds, cpu, peak = run_one(path.resolve(), timeout=args.timeout,
                                         save=not args.no_save, kernel=args.kernel)
        except Exception as err:  # a failing cell: report which notebook, then stop
            print(f"FAILED {path.name}: {type(err).__name__}: {err}", file=sys.stderr)
            return 1
        size = path.stat().st_size / 1024
        rows.append((path.name, seconds, cpu, peak, size))
        if not args.no_record:
            record_run(path.name, mode, seconds, cpu, peak)
        print(f"  {seconds:7.1f} s wall, {cpu:7.1f} s CPU, peak RSS {peak:5.0f} MiB, "
              f"file {size:5.0f} KiB", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{'notebook':28} {'mode':5} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9} {'KiB':>6}")
    for name, seconds, cpu, peak, size in rows:
        print(f"{name:28} {mode:5} {seconds:7.1f} {cpu:7.1f} {peak:9.0f} {size:6.0f}")
    print(f"({os.cpu_count()} CPUs, load average at the end {load:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
