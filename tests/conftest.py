"""Test defaults: float64 tensors and fixed seeds, so that exactness checks are tight."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _float64_and_seed():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def float32():
    """Float32 for one test module (``pytestmark = pytest.mark.usefixtures("float32")``): the
    image experts, the zoo and the generators run in float32, as in a user's session."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def one_thread():
    """One torch thread (``pytestmark = pytest.mark.usefixtures("one_thread")``): tiny models
    train fastest on one thread, and do not stall when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
