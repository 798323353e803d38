"""Running an expert over inputs of any kind, in batches: lists (of sentences, say), tensors,
arrays, a ``Dataset`` or a ``DataLoader``; and reading paired data as ``(xs, ys)``.

:func:`encode_latents` is how every latent code of the library is computed (no gradients, a
progress bar, one dtype); :mod:`n2nlib.cache` stores the codes of pairs.

>>> import torch
>>> from n2nlib.experts import as_expert
>>> encode_latents(as_expert(lambda x: 2 * x, dim=3), torch.ones(5, 3), batch_size=2,
...                progress=False).shape
torch.Size([5, 3])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from n2nlib.experts.base import check_latent, is_stochastic_expert, latent_shape

__all__ = [
    "as_pairs",
    "call_expert",
    "encode_latents",
    "iter_batches",
    "input_length",
    "item_bar",
    "take_rows",
]


def input_length(inputs: Any) -> int:
    """The number of items in a batch of expert inputs (tensor, array, list, Dataset).

    Raises:
        TypeError: a single string or an object without a length.
        ValueError: a 0-d tensor.

    >>> input_length(["a", "b"]), input_length(torch.zeros(3, 2))
    (2, 3)
    """
    if isinstance(inputs, Tensor | np.ndarray):
        if inputs.ndim == 0:
            raise ValueError("inputs must be a batch (first dimension = items), got a scalar")
        return int(inputs.shape[0])
    if isinstance(inputs, str | bytes):
        raise TypeError("inputs must be a batch; wrap a single string in a list: [text]")
    if hasattr(inputs, "__len__") and hasattr(inputs, "__getitem__"):
        return len(inputs)
    raise TypeError(
        f"inputs must be a tensor, an array, a list or a Dataset, got {type(inputs).__name__}"
    )


def take_rows(inputs: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of ``inputs`` (sliced, or collated from a ``Dataset``'s items)."""
    if isinstance(inputs, Tensor | np.ndarray | list | tuple):
        return inputs[start:stop]
    from torch.utils.data import default_collate

    return default_collate([inputs[i] for i in range(start, stop)])


def iter_batches(inputs: Any, batch_size: int) -> Iterator[Any]:
    """Yield consecutive batches of ``inputs`` (a Dataset's items are collated).

    >>> [b.tolist() for b in iter_batches(torch.arange(5), 2)]
    [[0, 1], [2, 3], [4]]
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    n = input_length(inputs)
    for start in range(0, n, batch_size):
        yield take_rows(inputs, start, min(n, start + batch_size))


def _describe(inputs: Any) -> str:
    if isinstance(inputs, Tensor | np.ndarray):
        return f"a {type(inputs).__name__} of shape {tuple(inputs.shape)}"
    return f"a {type(inputs).__name__} of {input_length(inputs)} items"


def call_expert(expert: Any, method: str, inputs: Any, role: str = "the expert") -> Any:
    """``getattr(expert, method)(inputs)``, with an error that names the expert and the input.

    An input the expert cannot take (a source vector of the wrong width, say) otherwise
    surfaces as torch's ``mat1 and mat2 shapes cannot be multiplied`` from deep inside it.

    Raises:
        ValueError: the expert raised a ``RuntimeError`` (shape or dtype mismatch) on the input.
    """
    try:
        return getattr(expert, method)(inputs)
    except RuntimeError as err:
        dim = getattr(expert, "dim", "?")
        raise ValueError(
            f"{role} ({type(expert).__name__}, dim {dim}) could not {method} {_describe(inputs)}: "
            f"{err}"
        ) from err


def as_pairs(data: Any) -> tuple[Any, Any]:
    """Paired data as ``(xs, ys)``: a pair passes through; a ``Dataset`` whose items are
    ``(x, y)`` pairs, or a ``DataLoader`` (any iterable) of ``(xb, yb)`` batches, is collected
    (tensors concatenated, lists joined).

    Raises:
        TypeError: items or batches that are not pairs.
        ValueError: no pairs at all.

    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> xs, ys = as_pairs(DataLoader(TensorDataset(torch.zeros(5, 2), torch.ones(5)), batch_size=2))
    >>> xs.shape, ys.shape
    (torch.Size([5, 2]), torch.Size([5]))
    """
    from torch.utils.data import DataLoader, Dataset, default_collate

    if isinstance(data, tuple | list) and len(data) == 2:
        return data[0], data[1]
    if isinstance(data, Dataset) and not isinstance(data, DataLoader) and hasattr(data,
                                                                               "__len__"):
        items = [data[i] for i in range(len(data))]
        bad = next((it for it in items if not isinstance(it, tuple | list) or len(it) != 2), None)
        if bad is not None:
            raise TypeError(f"a Dataset of pairs must return (x, y) items, got "
                            f"{type(bad).__name__}")
        if not items:
            raise ValueError("the Dataset of pairs is empty")
        xs, ys = default_collate(items)
        return xs, ys
    if isinstance(data, DataLoader) or (hasattr(data, "__iter__")
                                        and not isinstance(data, str | bytes | Tensor)):
        xs_parts, ys_parts = [], []
        for batch in data:
            if not isinstance(batch, tuple | list) or len(batch) != 2:
                raise TypeError(f"a DataLoader of pairs must yield (xs, ys) batches, got "
                                f"{type(batch).__name__}")
            xs_parts.append(batch[0])
            ys_parts.append(batch[1])
        if not xs_parts:
            raise ValueError("the DataLoader of pairs yielded no batch")

        def join(parts: list[Any]) -> Any:
            if all(isinstance(p, Tensor) for p in parts):
                return torch.cat(parts)
            return [item for part in parts for item in part]

        return join(xs_parts), join(ys_parts)
    raise TypeError(f"data must be (xs, ys), a Dataset of (x, y) pairs or a DataLoader of "
                    f"(xs, ys) batches, got {type(data).__name__}")


def item_bar(total: int, desc: str, enabled: bool) -> Any:
    """A progress bar over ``total`` items (:func:`n2nlib.settings.progress_bar`)."""
    from n2nlib.settings import progress_bar as tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, unit="item", leave=False)


def encode_latents(
    expert: Any,
    inputs: Any,
    *,
    batch_size: int = 256,
    dtype: torch.dtype | None = None,
    distribution: bool = False,
    progress: bool = True,
    desc: str = "encoding",
    role: str = "the expert",
) -> Tensor | tuple[Tensor, Tensor]:
    """Encode ``inputs`` with ``expert`` in batches, without gradients, onto the CPU.

    Arguments:
        expert: an :class:`~n2nlib.experts.Expert`.
        inputs: whatever the expert takes, batched along the first dimension.
        batch_size: items per ``encode`` call.
        dtype: the floating dtype of the result (default: what the expert returns).
        distribution: call ``encode_distribution`` and return ``(mean, logvar)``.
        progress: show a tqdm bar.
        desc: the bar's label.
        role: how error messages name the expert (e.g. "the source expert").

    Returns:
        ``(N, dim)`` codes, or ``(mean, logvar)`` with ``distribution=True``.

    Raises:
        ValueError, TypeError: the expert returned something other than ``(B, dim)``, or
            ``distribution=True`` for an expert without ``encode_distribution``.

    >>> from n2nlib.experts import as_expert
    >>> encode_latents(as_expert(lambda x: 2 * x, dim=1), torch.ones(5, 1),
    ...                batch_size=2, progress=False).flatten().tolist()
    [2.0, 2.0, 2.0, 2.0, 2.0]
    """
    if distribution and not is_stochastic_expert(expert):
        raise TypeError(
            f"distribution=True needs an expert with encode_distribution(inputs) -> "
            f"(mean, logvar); {type(expert).__name__} has none"
        )
    n = input_length(inputs)
    if n == 0:
        raise ValueError("there is nothing to encode: inputs is empty")
    shape = latent_shape(expert)
    means: list[Tensor] = []
    logvars: list[Tensor] = []
    with torch.no_grad(), item_bar(n, desc, progress) as bar:
        for batch in iter_batches(inputs, batch_size):
            if distribution:
                mean, logvar = call_expert(expert, "encode_distribution", batch, role)
                check_latent(logvar, shape, "encode_distribution's logvar")
                logvars.append(logvar.detach().to("cpu", dtype or logvar.dtype))
            else:
                mean = call_expert(expert, "encode", batch, role)
            check_latent(mean, shape, f"{type(expert).__name__}.encode(...)")
            means.append(mean.detach().to("cpu", dtype or mean.dtype))
            bar.update(mean.shape[0])
    z = torch.cat(means)
    if z.shape[0] != n:
        raise ValueError(f"the expert returned {z.shape[0]} codes for {n} inputs")
    return (z, torch.cat(logvars)) if distribution else z
