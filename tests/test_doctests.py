"""Every ``>>>`` example in the library's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import n2nlib

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(n2nlib.__path__, prefix="n2nlib.")
    if not info.name.split(".")[-1].startswith("__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    # examples are written for a user's session: float32 by default, not the suite's float64
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    result = doctest.testmod(
        module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
