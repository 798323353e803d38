"""Text to image (notebook 06): stated attributes, unstated diversity, and the scores of a
translator on a prompt set (:func:`prompt_scores`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from n2nlib.data.factors import FACTOR_NAMES, FACTORS

if TYPE_CHECKING:
    from n2nlib.data.prompts import PromptSet

__all__ = [
    "normalized_entropy",
    "stated_accuracy",
    "all_stated_correct",
    "unstated_diversity",
    "generate_for_prompts",
    "T2IScores",
    "prompt_scores",
    "summarize_scores",
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


# -- a translator on a prompt set -------------------------------------------------------------


@torch.no_grad()
def generate_for_prompts(
    translator: Any,
    prompts: Sequence[str],
    n_samples: int = 16,
    temperature: float = 1.0,
    *,
    batch_size: int = 64,
    seed: int = 0,
) -> Tensor:
    """Images for each prompt: ``(len(prompts), n_samples, 3, S, S)``, drawn in batches.

    Arguments:
        translator: a :class:`~n2nlib.Net2Net` (or anything with ``encode_source``,
            ``translate_latent`` and ``decode``, e.g. an MLP baseline).
        prompts: the sentences.
        n_samples: images per prompt.
        temperature: of the residual draws.
        batch_size: prompts encoded and decoded at once.
        seed: seed of the residual draws.
    """
    gen = torch.Generator().manual_seed(seed)
    out = []
    prompts = list(prompts)
    for i in range(0, len(prompts), batch_size):
        z_src = translator.encode_source(prompts[i : i + batch_size])
        z = translator.translate_latent(z_src, n_samples, temperature, generator=gen)
        images = translator.decode(z).cpu()
        out.append(images.view(len(z_src), n_samples, *images.shape[1:]))
    return torch.cat(out)


@dataclass
class T2IScores:
    """The measured quality of a text-to-image translator on one prompt set.

    Attributes:
        accuracy: per factor, the fraction of images whose factor (as the attribute classifier
            reads it) is the one the prompt states, over prompts that state it; ``"mean"``
            averages the factors.
        all_correct: fraction of images with *every* stated factor right.
        diversity: per factor, the normalised entropy of the factor over the samples of a
            prompt that does not state it, averaged over such prompts (1: as varied as
            possible; 0: always the same); ``"mean"`` averages the factors.
        n_prompts: prompts measured.
        n_samples: images per prompt.
        seconds_per_prompt: wall-clock time to translate one prompt into ``n_samples`` images.
    """

    accuracy: dict[str, float]
    all_correct: float
    diversity: dict[str, float]
    n_prompts: int
    n_samples: int
    seconds_per_prompt: float = float("nan")

    def row(self) -> dict[str, float]:
        """A flat dict for a table: ``acc/<factor>``, ``acc/mean``, ``all_correct``,
        ``div/<factor>``, ``div/mean``."""
        out = {f"acc/{k}": v for k, v in self.accuracy.items()}
        out["all_correct"] = self.all_correct
        out.update({f"div/{k}": v for k, v in self.diversity.items()})
        return out


def prompt_scores(
    translator: Any,
    classifier: Any,
    prompts: PromptSet,
    n_samples: int = 16,
    temperature: float = 1.0,
    *,
    batch_size: int = 64,
    seed: int = 0,
) -> T2IScores:
    """Measure a translator on a prompt set: stated-factor accuracy and unstated diversity.

    Arguments:
        translator: a :class:`~n2nlib.Net2Net` or an MLP baseline (see
            :func:`generate_for_prompts`).
        classifier: reads the factors of the images (``predict_factors``).
        prompts: from :func:`make_prompts`.
        n_samples: images per prompt.
        temperature: of the residual draws.
        batch_size: prompts at once.
        seed: seed of the residual draws.

    Returns:
        :class:`T2IScores`.
    """
    start = time.perf_counter()
    images = generate_for_prompts(translator, prompts.texts, n_samples, temperature,
                                  batch_size=batch_size, seed=seed)
    seconds = (time.perf_counter() - start) / max(len(prompts), 1)
    b, s = images.shape[:2]
    predicted = classifier.predict_factors(images.flatten(0, 1)).cpu().view(b, s, -1)
    requested = prompts.factors[:, None].expand(b, s, -1)
    stated = prompts.stated[:, None].expand(b, s, -1)
    accuracy = stated_accuracy(predicted.reshape(b * s, -1), requested.reshape(b * s, -1),
                                       stated.reshape(b * s, -1), names=FACTOR_NAMES)
    all_correct = all_stated_correct(predicted.reshape(b * s, -1),
                                             requested.reshape(b * s, -1),
                                             stated.reshape(b * s, -1))
    n_values = [len(FACTORS[k]) for k in FACTOR_NAMES]
    diversity = unstated_diversity(predicted, prompts.stated, n_values,
                                           names=FACTOR_NAMES)
    return T2IScores(accuracy, all_correct, diversity, b, s, seconds)


def summarize_scores(scores: Mapping[str, T2IScores]) -> dict[str, float]:
    """The headline numbers of :func:`measure_translator`'s result, as on the
    ``sbert-to-shapes`` card: ``accuracy/<factor>``, ``accuracy/mean``, ``all_correct``,
    ``diversity/<factor>``, ``diversity/mean`` (held-out phrasings),
    ``compositional/accuracy`` (mean over the stated factors of the compositional prompts)
    and ``compositional/shape_and_color`` (every stated factor right at once); with a
    ``"training phrasings"`` entry also ``train_phrasings/<factor>`` and ``/mean`` accuracies
    (and ``train_phrasings/compositional``).

    >>> s = T2IScores({"shape": 1.0, "mean": 1.0}, 1.0, {"size": 0.5, "mean": 0.5}, 2, 4)
    >>> c = T2IScores({"shape": 0.5, "mean": 0.5}, 0.25, {"mean": 0.0}, 2, 4)
    >>> summarize_scores({"held-out phrasings": s, "compositional": c})["compositional/accuracy"]
    0.5
    """
    main, comp = scores["held-out phrasings"], scores["compositional"]
    out = {f"accuracy/{k}": float(v) for k, v in main.accuracy.items()}
    out["all_correct"] = float(main.all_correct)
    out.update({f"diversity/{k}": float(v) for k, v in main.diversity.items()})
    out["compositional/accuracy"] = float(comp.accuracy["mean"])
    out["compositional/shape_and_color"] = float(comp.all_correct)
    if "training phrasings" in scores:
        out.update({f"train_phrasings/{k}": float(v)
                    for k, v in scores["training phrasings"].accuracy.items()})
    if "compositional, training phrasings" in scores:
        out["train_phrasings/compositional"] = float(
            scores["compositional, training phrasings"].accuracy["mean"])
    return out
