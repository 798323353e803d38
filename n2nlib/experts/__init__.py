"""Experts: the fixed models that Net2Net translates between.

The protocol and helpers live in :mod:`n2nlib.experts.base` and are imported here directly;
the text experts (which import ``transformers``) are loaded on first use.

>>> from n2nlib.experts import as_expert, freeze, Labelator
>>> Labelator(3).encode([2]).tolist()
[[0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import importlib
from typing import Any

from n2nlib.experts.base import (
    CallableExpert,
    CallableTargetExpert,
    Expert,
    IdentityExpert,
    StochasticExpert,
    TargetExpert,
    as_expert,
    available_experts,
    check_latent,
    create_expert,
    expert_spec,
    freeze,
    is_expert,
    is_frozen,
    is_stochastic_expert,
    is_target_expert,
    latent_shape,
    reconstruct,
    register_expert,
    register_expert_source,
)

_LAZY = {
    "SentenceBERT": "n2nlib.experts.text",
    "BERT": "n2nlib.experts.text",
    "Labelator": "n2nlib.experts.labels",
}

__all__ = [
    "BERT",
    "CallableExpert",
    "CallableTargetExpert",
    "Expert",
    "IdentityExpert",
    "Labelator",
    "SentenceBERT",
    "StochasticExpert",
    "TargetExpert",
    "as_expert",
    "available_experts",
    "check_latent",
    "create_expert",
    "expert_spec",
    "freeze",
    "is_expert",
    "is_frozen",
    "is_stochastic_expert",
    "is_target_expert",
    "latent_shape",
    "reconstruct",
    "register_expert",
    "register_expert_source",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'n2nlib.experts' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
