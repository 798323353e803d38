"""Small helpers shared by the data modules: argument checks, seeding, progress bars."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "test")
_SPLIT_CODE = {"train": 0, "test": 1, "all": 2}


def check_int(name: str, value: object, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_split(split: object, allowed: Sequence[str] = SPLITS) -> str:
    """Validate a split name (``"train"`` or ``"test"``, sometimes ``"all"``)."""
    return check_choice("split", split, allowed)


def seed_sequence(seed: int, split: str, stream: int) -> np.random.SeedSequence:
    """A SeedSequence for (seed, split, stream): different splits never share random numbers."""
    seed = check_int("seed", seed, minimum=0)
    return np.random.SeedSequence([seed, _SPLIT_CODE[split], stream])


def auto_progress(progress: bool | None, n: int, threshold: int) -> bool:
    """Show a progress bar when asked, or (``None``) when ``n`` is at least ``threshold``."""
    if progress is None:
        return n >= threshold
    return bool(progress)
