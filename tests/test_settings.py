"""n2nlib.settings: reduced mode, size picking, device choice, seeding."""

from __future__ import annotations

import random

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
