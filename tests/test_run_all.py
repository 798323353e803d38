"""``benchmarks/run_all.py`` turns the benchmarks' JSON into MET/MISSED lines (issue 23, goal 6);
``benchmarks/bench_notebooks.py`` does the same for the notebook record."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run_all():
    return _module("run_all")


def _peers(tmp_path: Path, **samples_per_s: float) -> Path:
    rows = [{"name": name.replace("_", "-"), "samples_per_s": value, "step_ms": 64_000 / value,
             "fraction_of_matmul": 0.8} for name, value in samples_per_s.items()]
    path = tmp_path / "peers.json"
    path.write_text(json.dumps({"header": "", "rows": rows}))
    return path


def test_peers_are_met_only_at_1_3_times_each(run_all, tmp_path):
    lines = run_all.check_peers(_peers(tmp_path, n2nlib=130.0, reference=100.0,
                                       freia_rnvp=101.0, freia_allinone_x4=90.0))
    verdicts = {ln.split(":")[1].strip(): ln.split(":")[0] for ln in lines if ":" in ln}
    assert verdicts["1 plain Table S3 reference"] == "- MET"
    assert verdicts["1 FrEIA RNVPCouplingBlock, same architecture"] == "- MISSED"  # 1.29×
    assert "- not measured: normflows" in lines
    assert any(ln.startswith("- MET: 1 efficiency") for ln in lines)
    cuda = run_all.check_peers(_peers(tmp_path, n2nlib=64_000 / 80.0,
                                      n2nlib_compiled=64_000 / 29.0), device="cuda")
    assert any(ln.startswith("- MET: 3 GPU step of fit(compile=True) 29.0 ms (80.0 ms eager")
               and "3.00× faster" in ln for ln in cuda)
    slow = run_all.check_peers(_peers(tmp_path, n2nlib=64_000 / 80.0,
                                      n2nlib_compiled=64_000 / 30.0), device="cuda")
    assert any(ln.startswith("- MISSED: 3 GPU step") and "2.90×" in ln for ln in slow)
    eager_only = run_all.check_peers(_peers(tmp_path, n2nlib=64_000 / 29.0), device="cuda")
    assert "- not measured: 3 GPU step (no n2nlib-compiled row: add --compiled)" in eager_only


def test_efficiency_verdict_prints_the_ceiling_beside_it(run_all, tmp_path):
    path = _peers(tmp_path, n2nlib=100.0)
    data = json.loads(path.read_text())
    data["rows"][0]["fraction_of_matmul"] = 0.40
    data["ceiling"] = {"ceiling_fraction": 0.6, "ceiling_step_ms": 480.0}
    path.write_text(json.dumps(data))
    line = next(ln for ln in run_all.check_peers(path) if "1 efficiency" in ln)
    assert line.startswith("- MISSED: 1 efficiency: n2nlib reaches 0.40")
    assert "ceiling of an exact fp32 step here is 0.60" in line
    assert "runs at 0.75 of its speed" in line  # 480 ms against 640 ms


def test_bf16_refusal_latency_and_notebooks(run_all, tmp_path):
    peers = _peers(tmp_path, n2nlib=50.0, n2nlib_bf16=25.0)
    assert run_all.check_bf16("--bf16 refused: no bf16 instructions. The row", peers) == \
        "- MET: 2 bf16 refused with a reason: no bf16 instructions. The row"
    assert run_all.check_bf16("", peers).startswith("- MISSED: 2 bf16 autocast runs at 0.50×")
    latency = tmp_path / "latency.json"
    latency.write_text(json.dumps({"p50_s": 0.0415}))
    assert run_all.check_latency(latency).startswith("- MISSED: 5 text → 16 images: p50 41.5 ms")
    latency.write_text(json.dumps({"p50_s": 0.024, "page_faults_per_prompt": 1100.0}))
    steady = tmp_path / "steady.json"
    steady.write_text(json.dumps({"p50_s": 0.021, "page_faults_per_prompt": 30.0}))
    line = run_all.check_latency(latency, steady)
    assert line.startswith("- MET: 5 text → 16 images: p50 24.0 ms, 0.96×")
    assert line.endswith("(--malloc steady) 21.0 ms, 30 page faults per prompt against 1100")
    # wall clock decides (what a reader waits); CPU time, up to twice it on two threads, not
    runs = {"a.ipynb": {"fast": {"wall_s": 30, "cpu_s": 61, "peak_rss_mib": 500},
                        "full": {"wall_s": 200, "cpu_s": 390, "peak_rss_mib": 1900}},
            "b.ipynb": {"fast": {"wall_s": 65, "cpu_s": 55, "peak_rss_mib": 500},
                        "full": {"wall_s": 350, "cpu_s": 290, "peak_rss_mib": 2100}}}
    _, verdicts = _module("bench_notebooks").summarize(runs, ["a.ipynb", "b.ipynb"])
    assert verdicts[1] == ("- MISSED: every reduced run ≤ 60 s (2 notebooks); "
                           "over: b.ipynb (65 s)")
    assert verdicts[-1].endswith("over: b.ipynb (350 s)") and "b.ipynb (2100 MiB)" in verdicts[-2]
