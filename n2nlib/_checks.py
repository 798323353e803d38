"""Input validation shared by the library: clear errors instead of deep torch stack traces."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

__all__ = ["check_tensor", "check_batch", "check_finite", "check_positive_ints", "first_float",
           "finite_checks_off"]

_FINITE_CHECKS = True  # read by check_tensor; see finite_checks_off


@contextlib.contextmanager
def finite_checks_off() -> Iterator[None]:
    """Skip :func:`check_tensor`'s NaN/Inf scan inside the block (shapes, dtypes and devices
    are still checked). For a caller that has checked its data once already: the scan reads a
    device value back to the host, a sync per call on a GPU and a break in a compiled graph."""
    global _FINITE_CHECKS
    before, _FINITE_CHECKS = _FINITE_CHECKS, False
    try:
        yield
    finally:
        _FINITE_CHECKS = before


def check_tensor(
    value: object,
    name: str,
    *,
    shape: Sequence[int | None] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    finite: bool = True,
) -> Tensor:
    """Check that ``value`` is a floating tensor of the expected shape, dtype and device.

    Arguments:
        value: what the caller passed.
        name: how to call it in the error message (``"x"``, ``"condition c"``, ...).
        shape: the expected shape; ``None`` entries match any size (use it for the batch).
        dtype: the expected floating dtype (usually the model's parameter dtype).
        device: the expected device type (usually the model's).
        finite: reject NaN and infinite entries.

    Returns:
        ``value`` itself, unchanged.

    Raises:
        TypeError: not a tensor, not floating point, or the wrong dtype.
        ValueError: wrong rank or size, wrong device, or non-finite entries.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {value.dtype}; "
            f"convert it with .float()"
        )
    if dtype is not None and value.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {value.dtype} but the model's parameters are {dtype}; "
            f"convert one of them (e.g. x.to({dtype}) or model.to({value.dtype}))"
        )
    if shape is not None:
        expected = "(" + ", ".join("B" if s is None else str(s) for s in shape) + ")"
        if value.ndim != len(shape):
            hint = ""
            if value.ndim == 4 and len(shape) == 2 and value.shape[2:] == (1, 1):
                hint = "; vector latents are (B, D), not (B, D, 1, 1): use x.flatten(1)"
            raise ValueError(
                f"{name} must have shape {expected}, got {tuple(value.shape)} "
                f"({value.ndim} dimensions instead of {len(shape)}){hint}"
            )
        for got, want in zip(value.shape, shape, strict=True):
            if want is not None and got != want:
                raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    if device is not None and value.device.type != device.type:
        raise ValueError(
            f"{name} is on {value.device} but the model is on {device}; move it with .to()"
        )
    if finite and _FINITE_CHECKS:
        check_finite(value, name)
    return value


def check_finite(value: Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``value`` holds NaN or infinite entries, saying how many."""
    bad = ~torch.isfinite(value)
    if bool(bad.any()):
        n_nan = int(torch.isnan(value).sum())
        n_inf = int(bad.sum()) - n_nan
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite entries "
            f"(of {value.numel()}); the input must be finite"
        )


def check_batch(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` if two tensors do not share their batch size."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same batch size, "
            f"got {a.shape[0]} and {b.shape[0]}"
        )


def check_positive_ints(**values: object) -> None:
    """Raise a ``ValueError`` naming the first argument that is not a positive int (a bool is
    not one).

    >>> check_positive_ints(dim=3, k=0)
    Traceback (most recent call last):
    ...
    ValueError: k must be a positive int, got 0
    """
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def first_float(module: nn.Module) -> Tensor:
    """The first floating parameter (or buffer, for translators fitted in closed form): the
    device and dtype a translator works in.

    Raises:
        TypeError: the module holds no floating tensor.
    """
    # lazily: unpacking every parameter of a large translator costs milliseconds per call
    for t in itertools.chain(module.parameters(), module.buffers()):
        if t.is_floating_point():
            return t
    raise TypeError(f"the translator {type(module).__name__} holds no floating tensor")
