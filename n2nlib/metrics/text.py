"""Text to image (notebook 06): stated attributes, unstated diversity."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "normalized_entropy",
    "stated_accuracy",
    "all_stated_correct",
    "unstated_diversity",
]


# -- text to image (notebook 06) ---------------------------------------------------------------


def normalized_entropy(labels: Tensor, n_values: int) -> float:
    r"""Entropy of the empirical distribution of integer ``labels``, divided by
    :math:`\log(\min(n\_values, N))`: 1 when the labels are as spread as ``N`` draws over
    ``n_values`` values can be, 0 when they are all the same.

    Arguments:
        labels: integer labels ``(N,)`` in ``[0, n_values)``.
        n_values: number of possible values.

    Returns:
        A float in [0, 1] (0 for fewer than two labels or a single possible value).

    >>> import torch
    >>> normalized_entropy(torch.tensor([0, 1, 2, 3]), 4), normalized_entropy(torch.zeros(5), 3)
    (1.0, 0.0)
    """
    labels = torch.as_tensor(labels).long().flatten()
    if not isinstance(n_values, int) or n_values < 1:
        raise ValueError(f"n_values must be a positive int, got {n_values!r}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_values):
        raise ValueError(f"labels must be in [0, {n_values - 1}], got "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    top = min(n_values, labels.numel())
    if top < 2:
        return 0.0
    p = torch.bincount(labels, minlength=n_values).double() / labels.numel()
    p = p[p > 0]
    return max(0.0, float(-(p * p.log()).sum() / np.log(top)))


def stated_accuracy(predicted: Tensor, requested: Tensor, stated: Tensor,
                    names: list[str] | tuple[str, ...] | None = None) -> dict[str, float]:
    """Per factor, the accuracy of ``predicted`` against ``requested`` over the rows that
    *state* the factor (e.g. images generated from captions that name it).

    Arguments:
        predicted: labels read from the outputs, integer ``(N, F)``.
        requested: labels the inputs asked for, ``(N, F)``.
        stated: bool ``(N, F)``: which factors each input states.
        names: factor names (default ``f0, f1, ...``).

    Returns:
        ``{name: accuracy}`` for factors stated at least once, and ``"mean"``: their average.

    >>> import torch
    >>> stated_accuracy(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 0], [0, 1]]),
    ...                 torch.tensor([[True, False], [True, True]]), names=["a", "b"])
    {'a': 0.5, 'b': 1.0, 'mean': 0.75}
    """
    predicted, requested = torch.as_tensor(predicted), torch.as_tensor(requested)
    stated = torch.as_tensor(stated).bool()
    if predicted.ndim != 2 or predicted.shape != requested.shape or stated.shape != predicted.shape:
        raise ValueError(f"predicted, requested and stated must all be (N, F), got "
                         f"{tuple(predicted.shape)}, {tuple(requested.shape)}, "
                         f"{tuple(stated.shape)}")
    names = list(names) if names is not None else [f"f{j}" for j in range(predicted.shape[1])]
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        rows = stated[:, j]
        if rows.any():
            out[name] = float((predicted[rows, j] == requested[rows, j]).double().mean())
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


def all_stated_correct(predicted: Tensor, requested: Tensor, stated: Tensor) -> float:
    """Fraction of rows whose every stated factor is predicted as requested.

    >>> import torch
    >>> all_stated_correct(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 0], [0, 1]]),
    ...                    torch.tensor([[True, False], [True, True]]))
    0.5
    """
    predicted, requested = torch.as_tensor(predicted), torch.as_tensor(requested)
    stated = torch.as_tensor(stated).bool()
    ok = (predicted == requested) | ~stated
    return float(ok.all(dim=1).double().mean())


def unstated_diversity(predicted: Tensor, stated: Tensor, n_values: list[int] | tuple[int, ...],
                       names: list[str] | tuple[str, ...] | None = None) -> dict[str, float]:
    """Per factor, how varied the samples of one input are where the input leaves the factor
    open: :func:`normalized_entropy` over the ``S`` samples of each input that does not state
    it, averaged over those inputs.

    Arguments:
        predicted: labels read from the samples, integer ``(B, S, F)`` (``S`` samples of each of
            ``B`` inputs).
        stated: bool ``(B, F)``: which factors each input states.
        n_values: number of values of each factor.
        names: factor names (default ``f0, f1, ...``).

    Returns:
        ``{name: diversity}`` for factors left open at least once, and ``"mean"``.

    >>> import torch
    >>> pred = torch.tensor([[[0, 0], [1, 0]], [[0, 1], [0, 1]]])    # 2 inputs, 2 samples
    >>> unstated_diversity(pred, torch.tensor([[False, True], [True, False]]), [2, 2],
    ...                    names=["a", "b"])
    {'a': 1.0, 'b': 0.0, 'mean': 0.5}
    """
    predicted = torch.as_tensor(predicted)
    stated = torch.as_tensor(stated).bool()
    if predicted.ndim != 3 or stated.shape != (predicted.shape[0], predicted.shape[2]):
        raise ValueError(f"predicted must be (B, S, F) and stated (B, F), got "
                         f"{tuple(predicted.shape)} and {tuple(stated.shape)}")
    if len(n_values) != predicted.shape[2]:
        raise ValueError(f"n_values needs one entry per factor ({predicted.shape[2]}), got "
                         f"{len(n_values)}")
    names = list(names) if names is not None else [f"f{j}" for j in range(predicted.shape[2])]
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        rows = (~stated[:, j]).nonzero().flatten().tolist()
        if rows:
            out[name] = float(np.mean([normalized_entropy(predicted[b, :, j], int(n_values[j]))
                                       for b in rows]))
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


