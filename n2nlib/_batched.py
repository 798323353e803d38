"""One helper for running a model over a big batch in chunks.

>>> import torch
>>> batched(lambda x: 2 * x, torch.arange(5.0), batch_size=2).tolist()
[0.0, 2.0, 4.0, 6.0, 8.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["batched"]


def _to_cpu(out: Any) -> Any:
    if isinstance(out, Tensor):
        return out.detach().cpu()
    if isinstance(out, tuple | list):
        return type(out)(_to_cpu(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_cpu(v) for k, v in out.items()}
    raise TypeError(f"the function must return tensors (or a tuple, list or dict of them), "
                    f"got {type(out).__name__}")


def _cat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, Tensor):
        return torch.cat(parts)
    if isinstance(first, tuple | list):
        return type(first)(_cat([p[i] for p in parts]) for i in range(len(first)))
    return {k: _cat([p[k] for p in parts]) for k in first}


@torch.no_grad()
def batched(fn: Callable[[Any], Any], inputs: Any, *, batch_size: int = 256,
            progress: bool = False, desc: str = "running") -> Any:
    """``fn`` over ``inputs`` in chunks of ``batch_size`` rows, without gradients, gathered on
    the CPU.

    Arguments:
        fn: called on ``inputs[i : i + batch_size]``; returns a tensor, or a tuple, list or
            dict of tensors (each batched along dimension 0).
        inputs: a tensor, array or list (anything with ``len`` and slicing).
        batch_size: rows per call.
        progress: show a tqdm bar (when there is more than one chunk).
        desc: the bar's label.

    Returns:
        The outputs of every chunk, concatenated along dimension 0, on the CPU.

    Raises:
        ValueError: a ``batch_size`` below 1, or no inputs.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    n = len(inputs)
    if n == 0:
        raise ValueError("there is nothing to run: inputs is empty")
    from n2nlib.settings import progress_bar as tqdm

    starts = range(0, n, batch_size)
    parts = [_to_cpu(fn(inputs[i:i + batch_size]))
             for i in tqdm(starts, desc=desc, disable=not progress or len(starts) < 2,
                           leave=False)]
    return _cat(parts)
