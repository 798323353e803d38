"""n2nlib: Network-to-Network Translation with conditional invertible neural networks.

A small PyTorch library (and a Jupyter course) implementing Rombach, Esser & Ommer,
*Network-to-Network Translation with Conditional Invertible Neural Networks*, NeurIPS 2020.

>>> from n2nlib import ConditionalINN
>>> cinn = ConditionalINN(dim=8, cond_dim=4, n_blocks=2)
"""

from __future__ import annotations

import importlib
from typing import Any

from n2nlib import settings, zoo  # importing the zoo registers "zoo:<name>" experts
from n2nlib.flows import ConditionalINN, GroupedCINN

__version__ = "0.1.0"

# Heavier parts of the public contract are imported on first use, so that
# ``import n2nlib`` stays fast and a missing optional dependency only bites
# the code that needs it.
_LAZY = {
    "Net2Net": ("n2nlib.net2net", "Net2Net"),
    "testing": ("n2nlib.testing", None),
}

__all__ = ["ConditionalINN", "GroupedCINN", "Net2Net", "settings", "testing", "zoo", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'n2nlib' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
