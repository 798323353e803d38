"""n2nlib.settings: reduced mode, size picking, device choice, seeding."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from n2nlib import settings


@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("true", True), ("YES", True), (" on ", True),
    ("0", False), ("", False), ("false", False), ("off", False),
])
def test_is_fast_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("N2N_FAST", value)
    assert settings.is_fast() is expected


def test_is_fast_rejects_other_values(monkeypatch):
    monkeypatch.setenv("N2N_FAST", "maybe")
    with pytest.raises(ValueError, match="N2N_FAST must be one of"):
        settings.is_fast()


def test_pick_follows_fast(monkeypatch):
    monkeypatch.setattr(settings, "FAST", True)
    assert settings.pick(full=1000, fast=10) == 10
    monkeypatch.setattr(settings, "FAST", False)
    assert settings.pick(full=1000, fast=10) == 1000


def test_device_choice(monkeypatch):
    monkeypatch.delenv("N2N_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert settings.device().type == expected
    assert settings.device("cpu") == torch.device("cpu")
    monkeypatch.setenv("N2N_DEVICE", "cpu")
    assert settings.device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            settings.device("cuda")
        monkeypatch.setenv("N2N_DEVICE", "cuda:1")
        with pytest.raises(ValueError, match="cuda:1"):
            settings.device()


def test_seed_everything_makes_draws_repeat():
    draws = []
    for _ in range(2):
        gen = settings.seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1)),
                      float(torch.rand(1, generator=gen))))
    assert draws[0] == draws[1]
    settings.seed_everything(8)
    assert random.random() != draws[0][0]


def test_bf16_support_reads_the_cpu_and_says_why():
    import torch

    from n2nlib.settings import bf16_support

    ok, why = bf16_support("cpu")
    capability = torch.backends.cpu.get_cpu_capability()
    assert ok == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert capability in why
    if not ok:
        assert "no bf16 instructions" in why
    if not torch.cuda.is_available():
        assert bf16_support("cuda") == (False, "this GPU has no bf16 support")


_FRAGMENT = """
import sys, psutil, torch
from n2nlib import settings
if sys.argv[1] == "freed":
    assert settings.return_freed_memory()
torch.set_num_threads(1)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 32, 3, padding=1))
process = psutil.Process()
start = process.memory_info().rss
keep = []
with torch.no_grad():
    for i in range(200):  # batches of 40..135 images: activations of 5-17 MiB, freed each time
        keep.append(net(torch.rand(40 + (i * 7) % 96, 3, 32, 32))[:, :, :4, :4].clone())
if sys.argv[1] == "trim":
    settings.trim_memory()
print((process.memory_info().rss - start) / 2**20)
"""


def _growth(mode: str) -> float:
    """MiB the batch loop of ``_FRAGMENT`` leaves the process with: ``mode`` ``"none"``,
    ``"freed"`` (``return_freed_memory`` first) or ``"trim"`` (``trim_memory`` after)."""
    out = subprocess.run([sys.executable, "-c", _FRAGMENT, mode],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_return_freed_memory_keeps_a_batch_loop_near_what_is_alive():
    """Batches of 5-17 MiB, freed after each step, with a small result kept: with glibc's
    default (rising) mmap threshold the process grows far above the ~35 MiB that stays alive;
    after ``return_freed_memory`` it stays near it."""
    pytest.importorskip("psutil")
    default, fixed = _growth("none"), _growth("freed")
    assert fixed < 96, (default, fixed)
    assert fixed < 0.5 * default, (default, fixed)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_trim_memory_gives_back_what_a_batch_loop_left():
    pytest.importorskip("psutil")
    default, trimmed = _growth("none"), _growth("trim")
    assert trimmed < 96, (default, trimmed)
    assert trimmed < 0.5 * default, (default, trimmed)


def test_trim_after_each_cell_runs_after_every_cell_of_an_ipython_shell(monkeypatch):
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    assert not settings.trim_after_each_cell()  # no shell yet: nothing to hook into
    shell = InteractiveShell.instance()
    calls = []
    monkeypatch.setattr(settings, "trim_memory", lambda: calls.append(1) or True)
    try:
        assert settings.trim_after_each_cell()
        assert settings.trim_after_each_cell()  # registered once
        shell.run_cell("x = 1")
        shell.run_cell("y = 2")
        assert len(calls) == 2
    finally:
        shell.events.unregister("post_run_cell", settings._trim_hook)
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("kwargs", [{"mmap_threshold": 0}, {"mmap_threshold": 64 << 20},
                                    {"trim_threshold": -1}, {"mmap_threshold": 1.5}])
def test_return_freed_memory_refuses_bad_thresholds(kwargs):
    with pytest.raises(ValueError, match="threshold"):
        settings.return_freed_memory(**kwargs)
