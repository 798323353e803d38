r"""Notebook 09: the translator ladder — when do you need a cINN?

Every translator of :mod:`n2nlib.translators` is fitted on the same latent pairs
``(x = z_Θ, c = z_Φ)`` and measured on the same held-out pairs:

* **closed form**: orthogonal Procrustes, ridge regression, the conditional Gaussian (the cINN
  with zero blocks), k nearest neighbours;
* **trained** by the one loop :func:`n2nlib.train.fit`: the MLP of supplement E, conditional
  flow matching, the cINN, and (:data:`GROUPED`, where the target has parts) one cINN per
  group of dimensions.

:func:`score_rung` measures a fitted rung: the held-out NLL per dimension where the translator
has a likelihood, two two-sample tests between true and translated *pairs* ``[c, x]`` (the
energy distance, 0 when the translator draws from the true conditional, and a k-NN
classifier's held-out accuracy, 0.5 when it cannot tell them apart), the spread and the Vendi
score of its samples for one condition against the truth's, the accuracy of decoded samples
as the experiment's reader sees them, the label-free agreement :math:`\Phi(\Lambda(\hat z))`
with the condition, and the CPU time to fit and to translate. :func:`cycle_r2` checks both
directions :math:`\tau_{AB}`, :math:`\tau_{BA}` against each other without labels;
:func:`data_efficiency` repeats fit and score for growing numbers of pairs.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> c = torch.randn(400, 2, generator=g)
>>> x = c @ torch.tensor([[1.0, 0.5], [0.0, 1.0]]) + 0.1 * torch.randn(400, 2, generator=g)
>>> rung = fit_rung("ridge", x, c)
>>> score_rung(rung, x[:100], c[:100], n_samples=4).energy < 0.1
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib.flows import ConditionalINN, GroupedCINN
from n2nlib.metrics.translators import (
    classifier_two_sample_test,
    energy_distance,
    median_bandwidth,
    r_squared,
    vendi_score,
)
from n2nlib.translators import (
    ConditionalGaussian,
    EmbeddingMLP,
    FlowMatchingTranslator,
    KNNTranslator,
    ProcrustesTranslator,
    RidgeTranslator,
)

__all__ = [
    "GROUPED",
    "RUNGS",
    "Rung",
    "RungScores",
    "make_rung",
    "fit_rung",
    "score_rung",
    "data_efficiency",
    "pair_energy",
    "pair_c2st",
    "cycle_r2",
    "truth_vendi",
]

RUNGS: tuple[str, ...] = ("Procrustes", "ridge", "conditional Gaussian", "kNN", "MLP",
                          "flow matching", "cINN")
"""The ladder, from the simplest map to the paper's translator."""

GROUPED = "grouped cINN"
"""One more rung for targets made of parts (:class:`~n2nlib.flows.GroupedCINN`): it needs the
group sizes (``groups=``), so it is not in :data:`RUNGS`."""

_TRAINED = {"MLP", "flow matching", "cINN", GROUPED}


def _dtype(module: nn.Module) -> torch.dtype:
    tensors = [*module.parameters(), *module.buffers()]
    return next((t.dtype for t in tensors if t.is_floating_point()), torch.get_default_dtype())


def make_rung(name: str, dim: int, cond_dim: int, *, hidden: int = 128,
              n_blocks: int = 6, k: int = 10, groups: Sequence[int] | None = None) -> nn.Module:
    """An unfitted translator of the ladder.

    Arguments:
        name: one of :data:`RUNGS`, or :data:`GROUPED`.
        dim, cond_dim: sizes of ``x`` and ``c``.
        hidden: width of the trained translators' networks.
        n_blocks: coupling blocks of the cINN (of each group's cINN).
        k: neighbours of the kNN translator.
        groups: the group sizes of :data:`GROUPED` (adding up to ``dim``).
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
    cinn_kwargs = dict(n_blocks=n_blocks, hidden_dim=hidden, embed_dim=min(64, max(8, cond_dim)))
    if name == "cINN":
        return ConditionalINN(dim, cond_dim, **cinn_kwargs)
    if name == GROUPED:
        if groups is None or sum(groups) != dim:
            raise ValueError(f"{GROUPED!r} needs groups= adding up to dim={dim}, got {groups}")
        return GroupedCINN(list(groups), cond_dim, **cinn_kwargs)
    raise ValueError(f"no rung named {name!r}; the ladder is {[*RUNGS, GROUPED]}")


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
    r"""What :func:`score_rung` measured on held-out pairs (``None``: not defined here).

    Attributes:
        name: the rung.
        nll_per_dim: held-out NLL in nats per dimension (translators with a likelihood).
        energy: :func:`pair_energy` between true pairs ``[c, x]`` and translated pairs
            ``[c, sample]``, one sample per condition (0: indistinguishable).
        c2st: :func:`pair_c2st` on the same pairs (0.5: indistinguishable, 1: apart).
        spread: mean distance between two samples of one condition, divided by the same for
            the true conditional (1: as varied as the truth; 0: one answer per input).
        vendi: the Vendi score of the samples of one condition (1: one answer; at most
            ``n_samples``), averaged over conditions.
        reader: accuracy of the decoded samples as the experiment's reader reads them.
        reencode: :func:`~n2nlib.metrics.r_squared` of :math:`\Phi(\Lambda(\hat z))` against
            the condition: a label-free agreement.
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
    c2st: float | None = None
    vendi: float | None = None
    reencode: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def bits_per_dim(self) -> float | None:
        """The held-out NLL in bits per dimension (``nll_per_dim / ln 2``)."""
        return None if self.nll_per_dim is None else self.nll_per_dim / math.log(2)

    def row(self) -> dict[str, Any]:
        """A flat dict for a table."""
        return {"rung": self.name, "NLL/dim": self.nll_per_dim,
                "bits/dim": self.bits_per_dim, "energy": self.energy,
                "C2ST": self.c2st, "spread": self.spread, "Vendi": self.vendi,
                "reader": self.reader, "re-encode R²": self.reencode,
                "fit CPU s": self.fit_cpu_seconds, "ms/100": self.translate_ms, **self.extra}


def _pair_halves(x: Tensor, c: Tensor, translated: Tensor) -> tuple[Tensor, Tensor]:
    half = len(x) // 2
    truth = torch.cat([c, x], 1).double()
    model = torch.cat([c, translated.to(c.dtype)], 1).double()
    pooled = torch.cat([truth, model])  # both sets scaled alike: a dimension that is
    mean, std = pooled.mean(0), pooled.std(0).clamp_min(1e-8)  # constant in one stays finite
    weight = torch.ones(truth.shape[1], dtype=torch.float64)
    weight[: c.shape[1]] = (x.shape[1] / c.shape[1]) ** 0.5
    return (truth[:half] - mean) / std * weight, (model[half:] - mean) / std * weight


def pair_energy(x: Tensor, c: Tensor, translated: Tensor) -> float:
    r"""Energy distance between true pairs ``[c, x]`` of one half of the rows and translated
    pairs ``[c, translated]`` of the other half (disjoint halves: a pair and its own
    translation share ``c``, which would bias the distance below zero). Every coordinate is
    standardised on both sets together (a coordinate that is constant in the truth, e.g. a
    dead ReLU feature, would otherwise blow up any deviation), and the condition block is
    scaled by :math:`\sqrt{d_x / d_c}` so that both blocks weigh alike however wide the
    condition is.

    >>> g = torch.Generator().manual_seed(0)
    >>> c = torch.randn(1000, 8, generator=g)
    >>> x = c[:, :2] + 0.1 * torch.randn(1000, 2, generator=g)
    >>> pair_energy(x, c, x) < 0.02, pair_energy(x, c, -x) > 0.04  # -x: same marginal
    (True, True)
    """
    return energy_distance(*_pair_halves(x, c, translated))


def pair_c2st(x: Tensor, c: Tensor, translated: Tensor, *, seed: int = 0) -> float:
    """The classifier two-sample test on the pairs of :func:`pair_energy` (the same halves and
    scaling): the held-out accuracy of a 10-nearest-neighbour classifier that tells true pairs
    from translated ones — 0.5 when it cannot, 1 when every translated pair gives itself away.

    >>> g = torch.Generator().manual_seed(0)
    >>> c = torch.randn(1000, 2, generator=g)
    >>> x = c.flip(1) + 0.1 * torch.randn(1000, 2, generator=g)
    >>> pair_c2st(x, c, x) < 0.6, pair_c2st(x, c, -x) > 0.9
    (True, True)
    """
    return classifier_two_sample_test(*_pair_halves(x, c, translated), model="knn", seed=seed)


def _pair_spread(samples: Tensor, n_samples: int) -> float:
    grouped = samples.reshape(-1, n_samples, samples.shape[-1])
    return float((grouped[:, 0] - grouped[:, 1]).norm(dim=1).mean())


def _bandwidth(x_test: Tensor) -> float:
    """One kernel scale per pair of experts: the median distance between held-out targets."""
    return median_bandwidth(torch.cdist(x_test[:500].double(), x_test[:500].double()))


def _vendi(samples: Tensor, n_samples: int, bandwidth: float, conditions: int = 100) -> float:
    grouped = samples.reshape(-1, n_samples, samples.shape[-1])[:conditions].double()
    return sum(vendi_score(g, bandwidth=bandwidth) for g in grouped) / len(grouped)


@torch.no_grad()
def score_rung(rung: Rung, x_test: Tensor, c_test: Tensor, *, n_samples: int = 8,
               true_sampler: Callable[[Tensor], Tensor] | None = None,
               reader: Callable[[Tensor, Tensor], float] | None = None,
               reencode: Callable[[Tensor], Tensor] | None = None,
               nll: bool = True, nll_rows: int = 500, reader_rows: int = 250,
               c2st: bool = True, seed: int = 0) -> RungScores:
    r"""Measure a fitted rung on held-out pairs.

    Arguments:
        rung: from :func:`fit_rung`.
        x_test, c_test: held-out pairs.
        n_samples: samples per condition for the spread and the Vendi score (at least 2).
        true_sampler: ``c -> x`` draws of the true conditional (toy data); without it the
            spread is measured against two held-out targets of nearby conditions: the
            ``x`` of each held-out pair and of its nearest other condition.
        reader: ``(samples, row index of their condition) -> accuracy`` of decoded samples.
        reencode: ``x -> c``, the source expert applied to the decoded target
            (:math:`\Phi \circ \Lambda`), for the label-free agreement ``reencode``.
        nll: measure the held-out NLL (translators with a likelihood; for flow matching it
            costs one backward pass per dimension and ODE step).
        nll_rows: held-out pairs the NLL is measured on (the first ones).
        reader_rows: held-out conditions whose samples the reader reads (the first ones: a
            reader that decodes images is the slow part).
        c2st: run the classifier two-sample test (a few seconds on wide conditions).
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
    one = tau.sample(c_test, generator=gen)
    energy = pair_energy(x_test, c_test, one)
    c2st_value = pair_c2st(x_test, c_test, one, seed=seed) if c2st else None
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
    agreement = None if reencode is None else r_squared(reencode(one).to(c_test), c_test)
    return RungScores(rung.name, nll_value, energy, spread, accuracy, rung.fit_cpu_seconds,
                      translate_ms, c2st=c2st_value,
                      vendi=_vendi(samples, n_samples, _bandwidth(x_test)), reencode=agreement)


def truth_vendi(x_test: Tensor, c_test: Tensor, true_sampler: Callable[[Tensor], Tensor], *,
                n_samples: int = 8) -> float:
    """The Vendi score of :func:`score_rung` for draws of the true conditional."""
    reps = c_test.repeat_interleave(n_samples, 0)
    return _vendi(true_sampler(reps), n_samples, _bandwidth(x_test))


@torch.no_grad()
def cycle_r2(forward: Rung, backward: Rung, c_test: Tensor, *, n_back: int = 8,
             seed: int = 0) -> float:
    r"""Both directions checked against each other without labels: each held-out condition
    goes :math:`c \to \hat x \sim \tau_{AB}(c) \to \hat c`, with :math:`\hat c` the mean of
    ``n_back`` draws of :math:`\tau_{BA}(\hat x)`, and the :func:`~n2nlib.metrics.r_squared`
    of :math:`\hat c` against :math:`c` says how much of the condition survives the round trip
    (1: all of it; it cannot reach 1 where the target forgets part of the source, e.g.
    handwriting that a class code does not keep). The backward draws are averaged because a
    single draw also carries the spread of :math:`p(c \mid x)` (many captions fit one image),
    which would count against a translator that samples it correctly.

    Arguments:
        forward: a rung fitted on ``(x, c)``.
        backward: a rung fitted on ``(c, x)`` (the roles swapped).
        c_test: held-out conditions.
        n_back: backward draws averaged per condition (1 for a deterministic rung is enough).
        seed: seed of both directions' samples.
    """
    if n_back < 1:
        raise ValueError(f"n_back must be at least 1, got {n_back}")
    gen = torch.Generator().manual_seed(seed)
    x_hat = forward.translator.sample(c_test.to(_dtype(forward.translator)), generator=gen)
    x_rep = x_hat.to(_dtype(backward.translator)).repeat_interleave(n_back, 0)
    c_hat = backward.translator.sample(x_rep, generator=gen)
    return r_squared(c_hat.view(len(c_test), n_back, -1).mean(1).to(c_test), c_test)


def data_efficiency(names: Sequence[str], x: Tensor, c: Tensor, x_test: Tensor, c_test: Tensor,
                    sizes: Sequence[int], *, steps: int = 500, seed: int = 0,
                    measure: str = "energy", fit_kwargs: dict[str, Any] | None = None,
                    progress: bool = False, **score_kwargs: Any) -> dict[str, list[float]]:
    """One held-out measure of each rung against the number of training pairs.

    Arguments:
        names: the rungs.
        x, c: the training pairs; the first ``n`` are used for each ``n`` of ``sizes``.
        x_test, c_test: held-out pairs.
        sizes: numbers of training pairs.
        steps: training steps of the trained rungs (the same at every size).
        seed: of every fit and score.
        measure: a field of :class:`RungScores` (``"energy"``, ``"c2st"``, ``"reader"``, …).
        fit_kwargs: more arguments of :func:`fit_rung` (e.g. ``hidden``).
        progress: a bar over the fits.
        **score_kwargs: of :func:`score_rung` (e.g. ``reader``).

    Returns:
        ``{rung: [measure at each size]}`` (``nan`` where a rung cannot fit that few pairs).
    """
    if measure not in RungScores.__dataclass_fields__ or measure in ("name", "extra"):
        raise ValueError(f"measure must be a score of RungScores, got {measure!r}")
    if max(sizes) > len(x):
        raise ValueError(f"sizes go up to {max(sizes)} but there are {len(x)} training pairs")
    from tqdm.auto import tqdm

    out: dict[str, list[float]] = {name: [] for name in names}
    bar = tqdm(total=len(sizes) * len(names), desc=f"data efficiency ({measure})",
               disable=not progress)
    score_kwargs = {"nll": measure == "nll_per_dim", "c2st": measure == "c2st", **score_kwargs}
    for n in sizes:
        for name in names:
            bar.update()
            try:
                rung = fit_rung(name, x[:n], c[:n], steps=steps, seed=seed, **(fit_kwargs or {}))
            except ValueError:  # e.g. fewer pairs than neighbours
                out[name].append(float("nan"))
                continue
            value = getattr(score_rung(rung, x_test, c_test, seed=seed, **score_kwargs), measure)
            out[name].append(float("nan") if value is None else float(value))
    bar.close()
    return out


def table(scores: Sequence[RungScores], *, truth_nll: float | None = None,
          truth_vendi: float | None = None) -> str:
    """The scores of one pair of experts as a markdown table (``—``: not defined)."""

    def cell(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    def nll(nats: float | None) -> str:
        return "—" if nats is None else f"{nats:.3f} ({nats / math.log(2):.3f})"

    lines = ["| rung | NLL/dim: nats (bits) | energy ↓ | C2ST (0.5 = truth) | spread (1 = truth) "
             "| Vendi | reader ↑ | re-encode R² ↑ | fit CPU s | ms per 100 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in scores:
        lines.append(f"| {s.name} | {nll(s.nll_per_dim)} | {s.energy:.4f} | "
                     f"{cell(s.c2st, '.2f')} | {cell(s.spread, '.2f')} | "
                     f"{cell(s.vendi, '.2f')} | {cell(s.reader, '.3f')} | "
                     f"{cell(s.reencode, '.3f')} | {s.fit_cpu_seconds:.1f} | "
                     f"{s.translate_ms:.1f} |")
    if truth_nll is not None or truth_vendi is not None:
        lines.append(f"| *the true conditional* | {nll(truth_nll)} | 0 | 0.5 | 1 | "
                     f"{cell(truth_vendi, '.2f')} | — | — | — | — |")
    return "\n".join(lines)


__all__ += ["table"]


def residual_figure(reports: dict[str, Any], ranks: dict[str, Tensor], *, size: float = 2.3):
    """The residual checks of notebook 09 as pictures, one column per pair of experts: a QQ
    plot of the cINN's residual ``v`` against N(0, 1) (on the diagonal when ``v`` is standard
    normal) over the rank histogram of held-out targets among its samples (flat when the
    samples are calibrated; U-shaped when too narrow; a hump when too wide).

    Arguments:
        reports: ``{pair: ResidualReport}`` (:func:`~n2nlib.metrics.residual_report`).
        ranks: ``{pair: rank frequencies}`` (:func:`~n2nlib.metrics.rank_histogram`).
        size: inches per panel.

    Returns:
        The figure.
    """
    from n2nlib.course.plots import new_figure

    if set(reports) != set(ranks):
        raise ValueError(f"reports and ranks must name the same pairs, got {sorted(reports)} "
                         f"and {sorted(ranks)}")
    fig, axes = new_figure(len(reports), 2, size=size)
    for j, pair in enumerate(reports):
        theoretical, observed = (q.numpy() for q in reports[pair].quantiles)
        qq, hist = axes[j], axes[len(reports) + j]
        qq.plot(theoretical, observed, ".", ms=3)
        qq.plot(theoretical, theoretical, "k--", lw=1)
        qq.set_title(f"{pair}: QQ of v", fontsize=9)
        qq.set_xlabel("N(0, 1) quantile", fontsize=8)
        qq.set_ylabel("v quantile", fontsize=8)
        freq = ranks[pair].numpy()
        hist.bar(range(len(freq)), freq, width=0.9)
        hist.axhline(1 / len(freq), color="k", ls="--", lw=1, label="calibrated")
        hist.set_title(f"{pair}: rank of the truth", fontsize=9)
        hist.set_xlabel(f"rank among {len(freq) - 1} samples", fontsize=8)
        hist.legend(fontsize=7, loc="lower center")
    return fig


__all__ += ["residual_figure"]
