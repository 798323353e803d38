"""Argument checks shared by the metrics."""

from __future__ import annotations

import numpy as np
from torch import Tensor


def _as_2d_numpy(a: object, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu().double().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (N,) or (N, D), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or infinite entries")
    return arr


def _pair(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = _as_2d_numpy(x, "x"), _as_2d_numpy(y, "y")
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"x and y need the same number of samples, got {xa.shape[0]} and "
                         f"{ya.shape[0]}")
    return xa, ya
