"""Notebook 09: the translator ladder — when do you need a cINN?

Every translator of :mod:`n2nlib.translators` is fitted on the same latent pairs
``(x = z_Θ, c = z_Φ)`` and measured on the same held-out pairs:

* **closed form**: orthogonal Procrustes, ridge regression, the conditional Gaussian (the cINN
  with zero blocks), k nearest neighbours;
* **trained** by the one loop :func:`n2nlib.train.fit`: the MLP of supplement E, conditional
  flow matching, and the cINN.

:func:`score_rung` measures a fitted rung: the held-out NLL per dimension where the translator
has a likelihood, the energy distance between true and translated *pairs* ``[c, x]`` (0 when
the translator draws from the true conditional), the spread of its samples for one condition
against the true spread, the accuracy of decoded samples as the experiment's reader sees them,
and the CPU time to fit and to translate. :func:`data_efficiency` repeats fit and score for
growing numbers of pairs.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> c = torch.randn(400, 2, generator=g)
>>> x = c @ torch.tensor([[1.0, 0.5], [0.0, 1.0]]) + 0.1 * torch.randn(400, 2, generator=g)
>>> rung = fit_rung("ridge", x, c)
>>> score_rung(rung, x[:100], c[:100], n_samples=4).energy < 0.1
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib.flows import ConditionalINN
from n2nlib.metrics.translators import energy_distance
from n2nlib.translators import (
    ConditionalGaussian,
    EmbeddingMLP,
    FlowMatchingTranslator,
    KNNTranslator,
    ProcrustesTranslator,
    RidgeTranslator,
)

__all__ = [
    "RUNGS",
    "Rung",
    "RungScores",
    "make_rung",
    "fit_rung",
    "score_rung",
    "data_efficiency",
    "pair_energy",
]

RUNGS: tuple[str, ...] = ("Procrustes", "ridge", "conditional Gaussian", "kNN", "MLP",
                          "flow matching", "cINN")
"""The ladder, from the simplest map to the paper's translator."""

_TRAINED = {"MLP", "flow matching", "cINN"}


def _dtype(module: nn.Module) -> torch.dtype:
    tensors = [*module.parameters(), *module.buffers()]
    return next((t.dtype for t in tensors if t.is_floating_point()), torch.get_default_dtype())


def make_rung(name: str, dim: int, cond_dim: int, *, hidden: int = 128,
              n_blocks: int = 6, k: int = 10) -> nn.Module:
    """An unfitted translator of the ladder.

    Arguments:
        name: one of :data:`RUNGS`.
        dim, cond_dim: sizes of ``x`` and ``c``.
        hidden: width of the trained translators' networks.
        n_blocks: coupling blocks of the cINN.
        k: neighbours of the kNN translator.
    """
    if name == "Procrustes":
        return ProcrustesTranslator(dim, cond_dim)
    if name == "ridge":
        return RidgeTranslator(dim, cond_dim)
    if name == "conditional Gaussian":
        return ConditionalGaussian(dim, cond_dim)
    if name == "kNN":
        return KNNTranslator(dim, cond_dim, k=k)
    if name == "MLP":
        return EmbeddingMLP(dim, cond_dim, hidden=hidden, n_layers=4)
    if name == "flow matching":
        return FlowMatchingTranslator(dim, cond_dim, hidden=hidden, n_layers=3, ode_steps=16)
    if name == "cINN":
        return ConditionalINN(dim, cond_dim, n_blocks=n_blocks, hidden_dim=hidden,
                              embed_dim=min(64, max(8, cond_dim)))
    raise ValueError(f"no rung named {name!r}; the ladder is {list(RUNGS)}")


@dataclass
class Rung:
    """A fitted translator and what fitting cost.

    Attributes:
        name: its rung.
        translator: the fitted module.
        fit_cpu_seconds: process CPU seconds of the fit.
        history: the training history (trained rungs), else ``None``.
    """

    name: str
    translator: nn.Module
    fit_cpu_seconds: float
    history: Any = None


def fit_rung(name: str, x: Tensor, c: Tensor, *, steps: int = 1000, batch_size: int = 256,
             lr: float = 2e-3, eval_data: tuple[Tensor, Tensor] | None = None, seed: int = 0,
             progress: bool = False, **kwargs: Any) -> Rung:
    """Fit one rung on the pairs ``(x, c)``: in closed form, or with :func:`n2nlib.train.fit`.

    Arguments:
        name: one of :data:`RUNGS`.
        x: target codes ``(N, dim)``.
        c: conditions ``(N, cond_dim)``.
        steps, batch_size, lr, seed, progress: of the training loop (trained rungs).
        eval_data: held-out ``(x, c)`` for the training curve (trained rungs).
        **kwargs: of :func:`make_rung`.
    """
    from n2nlib.train import fit

    torch.manual_seed(seed)
    translator = make_rung(name, x.shape[1], c.shape[1], **kwargs)
    dtype = _dtype(translator)
    x, c = x.to(dtype), c.to(dtype)
    if eval_data is not None:
        eval_data = (eval_data[0].to(dtype), eval_data[1].to(dtype))
    start = time.process_time()
    history = None
    if name in _TRAINED:
        history = fit(translator, (x, c), steps=steps, batch_size=min(batch_size, len(x)),
                      lr=lr, warmup=min(100, steps // 10), eval_data=eval_data, seed=seed,
                      progress=progress, desc=f"{name}")
    else:
        translator.fit_closed_form(x, c)
    translator.eval()
    return Rung(name, translator, time.process_time() - start, history)


@dataclass
class RungScores:
    """What :func:`score_rung` measured on held-out pairs (``None``: not defined here).

    Attributes:
        name: the rung.
        nll_per_dim: held-out NLL in nats per dimension (translators with a likelihood).
        energy: :func:`pair_energy` between true pairs ``[c, x]`` and translated pairs
            ``[c, sample]``, one sample per condition (0: indistinguishable).
        spread: mean distance between two samples of one condition, divided by the same for
            the true conditional (1: as varied as the truth; 0: one answer per input).
        reader: accuracy of the decoded samples as the experiment's reader reads them.
        fit_cpu_seconds: CPU seconds to fit.
        translate_ms: wall milliseconds to draw one sample for each of 100 conditions.
    """

    name: str
    nll_per_dim: float | None
    energy: float
    spread: float | None
    reader: float | None
    fit_cpu_seconds: float
    translate_ms: float
    extra: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """A flat dict for a table."""
        return {"rung": self.name, "NLL/dim": self.nll_per_dim, "energy": self.energy,
                "spread": self.spread, "reader": self.reader,
                "fit CPU s": self.fit_cpu_seconds, "ms/100": self.translate_ms, **self.extra}


def pair_energy(x: Tensor, c: Tensor, translated: Tensor) -> float:
    r"""Energy distance between true pairs ``[c, x]`` of one half of the rows and translated
    pairs ``[c, translated]`` of the other half (disjoint halves: a pair and its own
    translation share ``c``, which would bias the distance below zero). Every coordinate is
    standardised on the true pairs, and the condition block is scaled by
    :math:`\sqrt{d_x / d_c}` so that both blocks weigh alike however wide the condition is.

    >>> g = torch.Generator().manual_seed(0)
    >>> c = torch.randn(1000, 8, generator=g)
    >>> x = c[:, :2] + 0.1 * torch.randn(1000, 2, generator=g)
    >>> pair_energy(x, c, x) < 0.02, pair_energy(x, c, -x) > 0.04  # -x: same marginal
    (True, True)
    """
    half = len(x) // 2
    truth = torch.cat([c, x], 1).double()
    model = torch.cat([c, translated.to(c.dtype)], 1).double()
    mean, std = truth.mean(0), truth.std(0).clamp_min(1e-8)
    weight = torch.ones(truth.shape[1], dtype=torch.float64)
    weight[: c.shape[1]] = (x.shape[1] / c.shape[1]) ** 0.5
    return energy_distance((truth[:half] - mean) / std * weight,
                           (model[half:] - mean) / std * weight)


def _pair_spread(samples: Tensor, n_samples: int) -> float:
    grouped = samples.reshape(-1, n_samples, samples.shape[-1])
    return float((grouped[:, 0] - grouped[:, 1]).norm(dim=1).mean())


@torch.no_grad()
def score_rung(rung: Rung, x_test: Tensor, c_test: Tensor, *, n_samples: int = 8,
               true_sampler: Callable[[Tensor], Tensor] | None = None,
               reader: Callable[[Tensor, Tensor], float] | None = None,
               nll: bool = True, nll_rows: int = 500, reader_rows: int = 250,
               seed: int = 0) -> RungScores:
    """Measure a fitted rung on held-out pairs.

    Arguments:
        rung: from :func:`fit_rung`.
        x_test, c_test: held-out pairs.
        n_samples: samples per condition for the spread (at least 2).
        true_sampler: ``c -> x`` draws of the true conditional (toy data); without it the
            spread is measured against two held-out targets of nearby conditions: the
            ``x`` of each held-out pair and of its nearest other condition.
        reader: ``(samples, row index of their condition) -> accuracy`` of decoded samples.
        nll: measure the held-out NLL (translators with a likelihood; for flow matching it
            costs one backward pass per dimension and ODE step).
        nll_rows: held-out pairs the NLL is measured on (the first ones).
        reader_rows: held-out conditions whose samples the reader reads (the first ones: a
            reader that decodes images is the slow part).
        seed: seed of the samples.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 to measure a spread, got {n_samples}")
    tau = rung.translator
    dtype = _dtype(tau)
    x_test, c_test = x_test.to(dtype), c_test.to(dtype)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    tau.sample(c_test[:100], generator=gen)
    translate_ms = 1000 * (time.perf_counter() - start)
    energy = pair_energy(x_test, c_test, tau.sample(c_test, generator=gen))
    reps = c_test.repeat_interleave(n_samples, 0)
    samples = tau.sample(reps, generator=gen)
    if true_sampler is not None:
        truth = _pair_spread(true_sampler(reps).to(dtype), n_samples)
    else:
        nearest = torch.cdist(c_test, c_test).fill_diagonal_(float("inf")).argmin(1)
        truth = float((x_test - x_test[nearest]).norm(dim=1).mean())
    spread = _pair_spread(samples, n_samples) / max(truth, 1e-12)
    nll_value = None
    if nll and rung.name != "MLP":  # the MLP's "NLL" is its L2 loss: no likelihood
        rows = slice(0, nll_rows)
        nll_value = float(tau.nll(x_test[rows], c_test[rows]).mean()) / x_test.shape[1]
    accuracy = None
    if reader is not None:
        index = torch.arange(len(c_test)).repeat_interleave(n_samples)
        keep = index < reader_rows
        accuracy = float(reader(samples[keep], index[keep]))
    return RungScores(rung.name, nll_value, energy, spread, accuracy, rung.fit_cpu_seconds,
                      translate_ms)


def data_efficiency(names: Sequence[str], x: Tensor, c: Tensor, x_test: Tensor, c_test: Tensor,
                    sizes: Sequence[int], *, steps: int = 500, seed: int = 0,
                    **score_kwargs: Any) -> dict[str, list[float]]:
    """The energy distance of each rung on held-out pairs against the number of training pairs.

    Returns:
        ``{rung: [energy at each size]}`` (``nan`` where a rung cannot fit that few pairs).
    """
    out: dict[str, list[float]] = {name: [] for name in names}
    for n in sizes:
        for name in names:
            try:
                rung = fit_rung(name, x[:n], c[:n], steps=steps, seed=seed)
            except ValueError:  # e.g. fewer pairs than neighbours
                out[name].append(float("nan"))
                continue
            out[name].append(score_rung(rung, x_test, c_test, nll=False, **score_kwargs).energy)
    return out


def table(scores: Sequence[RungScores], *, truth_nll: float | None = None) -> str:
    """The scores of one pair of experts as a markdown table (``—``: not defined)."""

    def cell(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    lines = ["| rung | NLL/dim | energy ↓ | spread (1 = truth) | reader ↑ | fit CPU s "
             "| ms per 100 |", "|---|---|---|---|---|---|---|"]
    for s in scores:
        lines.append(f"| {s.name} | {cell(s.nll_per_dim, '.3f')} | {s.energy:.4f} | "
                     f"{cell(s.spread, '.2f')} | {cell(s.reader, '.3f')} | "
                     f"{s.fit_cpu_seconds:.1f} | {s.translate_ms:.1f} |")
    if truth_nll is not None:
        lines.append(f"| *the true conditional* | {truth_nll:.3f} | 0 | 1 | — | — | — |")
    return "\n".join(lines)


__all__ += ["table"]
