"""The five factors of the shapes world (:data:`FACTORS`), its two worlds (:data:`WORLDS`), and
how factor labels are made and sampled (see :mod:`n2nlib.data.shapes`).

>>> make_factors(shape="star", color="red", position="top left").tolist()
[[3, 0, 1, 0, 0]]
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from n2nlib.data import (
    _sdf,
    photos,  # noqa: F401
)
from n2nlib.data._common import (
    check_choice,
    check_int,
    check_split,
    seed_sequence,
)

__all__ = [
    "FACTORS",
    "FACTOR_NAMES",
    "COLOR_RGB",
    "SIZE_RANGES",
    "MIN_SIZE",
    "MAX_SIZE",
    "World",
    "WORLDS",
    "DEFAULT_WORLD",
    "make_factors",
    "sample_factors",
    "factor_names",
]

FACTORS: dict[str, tuple[str, ...]] = {
    "shape": ("circle", "square", "triangle", "star", "heart"),
    "color": ("red", "green", "blue", "yellow", "purple", "orange", "white", "cyan"),
    "size": ("small", "large"),
    "position": (
        "top left", "top", "top right",
        "left", "center", "right",
        "bottom left", "bottom", "bottom right",
    ),
    "background": ("plain", "photo"),
}
"""Factor name -> its values, in order; a factor label is an index into the tuple."""

FACTOR_NAMES: tuple[str, ...] = tuple(FACTORS)

COLOR_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.12, 0.12),
    "green": (0.15, 0.75, 0.20),
    "blue": (0.15, 0.35, 0.95),
    "yellow": (0.95, 0.88, 0.15),
    "purple": (0.60, 0.22, 0.82),
    "orange": (1.00, 0.55, 0.05),
    "white": (0.95, 0.95, 0.95),
    "cyan": (0.10, 0.85, 0.90),
}
"""The base RGB of each colour name; each image varies it by up to ±:data:`COLOR_JITTER`."""

COLOR_JITTER = 0.06
SIZE_RANGES: dict[str, tuple[float, float]] = {"small": (0.10, 0.12), "large": (0.17, 0.20)}
"""Range of the shape radius ``R`` as a fraction of the image side."""



@dataclass(frozen=True)
class World:
    """How big the shapes are and how much detail a photo background keeps.

    Attributes:
        size_ranges: the range of the shape radius ``R`` per size, as a fraction of the side.
        photo_cells: ``None`` keeps photo crops sharp; ``k`` reduces each crop to its ``k × k``
            cell averages and upsamples them bicubically (a low-detail photo crop).
    """

    size_ranges: Mapping[str, tuple[float, float]]
    photo_cells: int | None


WORLDS: dict[str, World] = {
    "v1": World(size_ranges=SIZE_RANGES, photo_cells=None),
    "v2": World(size_ranges={"small": (0.15, 0.17), "large": (0.22, 0.25)}, photo_cells=4),
}
"""The shapes worlds. ``"v1"``: small shapes on sharp photo crops, the world of the first
experts (``shapes-ae-32``, ``shapes-generator``, …). ``"v2"``: larger shapes on low-detail
photo crops, designed so that a small autoencoder can draw it (``benchmarks/probe_world_cause.py``
and the "world" table of ``benchmarks/RESULTS.md``): the world of ``shapes-ae``."""

DEFAULT_WORLD = "v1"

MIN_SIZE = 16
MAX_SIZE = 256
_CELL_MARGIN = 0.05  # centroids stay this fraction of a cell away from the cell's border
_CHUNK = 512  # images rendered at once (fixed: the random noise stream depends on it)

_SHAPE_SDF = {
    "circle": lambda x, y: _sdf.sd_circle(x, y, 1.0),
    "square": lambda x, y: _sdf.sd_box(x, y, 0.85),
    "triangle": lambda x, y: _sdf.sd_triangle(x, y, 1.2),
    "star": lambda x, y: _sdf.sd_star5(x, y, 1.35, 0.5),
    "heart": lambda x, y: _sdf.sd_heart(x / 1.8, y / 1.8) * 1.8,
}


@functools.cache
def _shape_geometry() -> dict[str, tuple[float, float]]:
    """Per shape (in units of R, y-up): centroid height and extent (max distance from it)."""
    n = 1001
    t = torch.linspace(-2.5, 2.5, n, dtype=torch.float64)
    y, x = torch.meshgrid(t, t, indexing="ij")
    out = {}
    for name, sdf in _SHAPE_SDF.items():
        inside = sdf(x, y) <= 0
        gy = float(y[inside].mean())
        extent = float(torch.sqrt(x[inside] ** 2 + (y[inside] - gy) ** 2).max())
        out[name] = (gy, extent + 5.0 / (n - 1))
    return out


def _check_factor_value(name: str, value: object) -> int:
    values = FACTORS[name]
    if isinstance(value, str):
        if value not in values:
            raise ValueError(f"{name} must be one of {list(values)}, got {value!r}")
        return values.index(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if not 0 <= int(value) < len(values):
            raise ValueError(f"{name} index must be in [0, {len(values) - 1}], got {value}")
        return int(value)
    raise TypeError(f"{name} must be a name in {list(values)} or an index, got {value!r}")


def make_factors(
    shape: str | int | Sequence[str | int],
    color: str | int | Sequence[str | int],
    size: str | int | Sequence[str | int] = "large",
    position: str | int | Sequence[str | int] = "center",
    background: str | int | Sequence[str | int] = "plain",
) -> torch.Tensor:
    """Factor labels from names (or indices); lists broadcast against single values.

    Arguments:
        shape, color, size, position, background: a value of :data:`FACTORS` each, by name or
            index, or a list of them (all lists must have the same length).

    Returns:
        LongTensor ``(n, 5)``, columns in the order of :data:`FACTOR_NAMES`.

    >>> make_factors(shape=["star", "heart"], color="red", position="top left").tolist()
    [[3, 0, 1, 0, 0], [4, 0, 1, 0, 0]]
    """
    columns = {"shape": shape, "color": color, "size": size, "position": position,
               "background": background}
    lengths = {len(v) for v in columns.values() if isinstance(v, (list, tuple))}
    if len(lengths) > 1:
        raise ValueError(f"lists given to make_factors must have one length, got {sorted(lengths)}")
    n = lengths.pop() if lengths else 1
    out = torch.empty(n, len(FACTORS), dtype=torch.long)
    for j, (name, value) in enumerate(columns.items()):
        values = value if isinstance(value, (list, tuple)) else [value] * n
        out[:, j] = torch.tensor([_check_factor_value(name, v) for v in values], dtype=torch.long)
    return out


def _as_factor_tensor(factors: object) -> torch.Tensor:
    """Validate a factor array: (N, 5) integers within range."""
    if isinstance(factors, np.ndarray):
        factors = torch.from_numpy(factors)
    elif not isinstance(factors, torch.Tensor):
        try:
            factors = torch.as_tensor(factors)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"factors must be an integer array of shape (N, 5), got {type(factors).__name__}"
            ) from None
    if factors.dtype.is_floating_point or factors.dtype == torch.bool or factors.is_complex():
        raise TypeError(f"factors must hold integers, got dtype {factors.dtype}")
    if factors.ndim == 1 and factors.numel() == len(FACTORS):
        factors = factors[None]
    if factors.ndim != 2 or factors.shape[1] != len(FACTORS):
        raise ValueError(
            f"factors must have shape (N, {len(FACTORS)}) ({', '.join(FACTOR_NAMES)}), "
            f"got {tuple(factors.shape)}"
        )
    factors = factors.long().cpu()
    for j, (name, values) in enumerate(FACTORS.items()):
        col = factors[:, j]
        if col.numel() and (int(col.min()) < 0 or int(col.max()) >= len(values)):
            raise ValueError(
                f"factor column {j} ({name}) must be in [0, {len(values) - 1}], "
                f"got values in [{int(col.min())}, {int(col.max())}]"
            )
    return factors


def factor_names(factors: torch.Tensor | np.ndarray | Sequence[int]) -> list[dict[str, str]]:
    """Turn factor labels into names.

    Arguments:
        factors: integer labels ``(N, 5)`` (or one row of 5).

    Returns:
        One dict per row, factor name -> value name.

    >>> factor_names(make_factors("heart", "cyan", position="top"))[0]["position"]
    'top'
    """
    factors = _as_factor_tensor(factors)
    return [
        {name: FACTORS[name][int(v)] for name, v in zip(FACTOR_NAMES, row, strict=True)}
        for row in factors.tolist()
    ]


def _pair_set(
    pairs: Iterable[tuple[str | int, str | int]] | None, what: str
) -> set[tuple[int, int]]:
    if pairs is None:
        return set()
    if isinstance(pairs, (str, bytes)):
        raise TypeError(f"{what} must be a collection of (shape, color) pairs, got {pairs!r}")
    out = set()
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{what} must hold (shape, color) pairs, got the element {pair!r}")
        out.add((_check_factor_value("shape", pair[0]), _check_factor_value("color", pair[1])))
    return out


def _as_rng(seed: int | np.random.Generator, split: str, stream: int) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed_sequence(seed, split, stream))


def sample_factors(
    n: int,
    seed: int | np.random.Generator = 0,
    *,
    split: str = "train",
    background: str = "plain",
    exclude_pairs: Iterable[tuple[str | int, str | int]] | None = None,
    only_pairs: Iterable[tuple[str | int, str | int]] | None = None,
) -> torch.Tensor:
    """Draw factor labels uniformly at random.

    Arguments:
        n: number of rows.
        seed: int seed (combined with ``split``) or a NumPy Generator.
        split: ``"train"`` or ``"test"``; with an int seed, the two splits draw different rows.
        background: ``"plain"``, ``"photo"`` or ``"mixed"`` (uniform over both).
        exclude_pairs: ``(shape, color)`` pairs (names or indices) that never occur.
        only_pairs: if given, ``(shape, color)`` is drawn uniformly from these pairs only.

    Returns:
        LongTensor ``(n, 5)``.

    >>> f = sample_factors(1000, exclude_pairs={("star", "red")})
    >>> bool(((f[:, 0] == 3) & (f[:, 1] == 0)).any())
    False
    """
    n = check_int("n", n, minimum=0)
    split = check_split(split)
    background = check_choice("background", background, ("plain", "photo", "mixed"))
    excluded = _pair_set(exclude_pairs, "exclude_pairs")
    all_pairs = [(s, c) for s in range(len(FACTORS["shape"])) for c in range(len(FACTORS["color"]))]
    pairs = sorted(_pair_set(only_pairs, "only_pairs")) if only_pairs is not None else all_pairs
    pairs = [p for p in pairs if p not in excluded]
    if not pairs:
        raise ValueError("exclude_pairs/only_pairs leave no (shape, color) pair to sample from")
    rng = _as_rng(seed, split, stream=0xFAC7)
    pair_idx = rng.integers(0, len(pairs), size=n)
    out = np.empty((n, len(FACTORS)), dtype=np.int64)
    out[:, 0] = [pairs[i][0] for i in pair_idx]
    out[:, 1] = [pairs[i][1] for i in pair_idx]
    out[:, 2] = rng.integers(0, len(FACTORS["size"]), size=n)
    out[:, 3] = rng.integers(0, len(FACTORS["position"]), size=n)
    if background == "mixed":
        out[:, 4] = rng.integers(0, 2, size=n)
    else:
        out[:, 4] = FACTORS["background"].index(background)
    return torch.from_numpy(out)
