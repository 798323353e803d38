r"""Model diagnosis, and the MLP ablation (paper Sec. 4.2 Fig. 5; supplement E, Fig. 12 / S4).

Take *one* expert f and read its representation at several depths k — an early convolution, a
middle layer, the logits, the argmax. For each depth, translate :math:`z_\Phi = f_k(x)` into the
space of an autoencoder g and sample. What the samples share is what f still knows at depth k;
what varies is what f has become invariant to. Early layers pin the image down; deep layers
leave a lot open.

The ablation replaces the cINN by a deterministic MLP (:class:`n2nlib.baselines.MLPTranslator`),
trained on the *same* pairs by the same loop. Where :math:`z_\Phi` determines the image both do
well; where it does not, the MLP can only return the conditional mean, a blurred average, and
its images leave the data distribution. Per depth we measure, on held-out images:

* **Fréchet distance** between generated and real images on the features of a classifier —
  FID's formula (:func:`n2nlib.metrics.frechet_distance`), but *not* FID: Inception features
  need a download, so the features are those of a zoo classifier (named in every table).
* **Diversity**: mean per-pixel RMS distance between samples drawn for the same input
  (:func:`n2nlib.metrics.sample_diversity`; 0 for the MLP by construction).
* **Distance to the input**: per-pixel RMS distance between a translation and the image whose
  representation it was conditioned on — small when :math:`f_k` pins the image down.
* **f-error**: how far f's own depth-k representation of the translation is from that of the
  input, relative to the spread of :math:`f_k` over the data (0: f sees the same thing, 1: as
  different as a random image). A good translation keeps what f knows.

Everything is computed here so that notebook 07 stays short and its numbers can be tested.

>>> SETTINGS["digits"].layers
('conv1', 'conv3', 'logits', 'argmax')
>>> SETTINGS["shapes"].measure
'shapes-attributes-v1'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from n2nlib import metrics
from n2nlib.cache import LatentPairs
from n2nlib.encoding import encode_latents
from n2nlib.experts.base import reconstruct as _reconstruct
from n2nlib.experts.taps import LayerExpert

__all__ = [
    "Setting",
    "SETTINGS",
    "load_images",
    "feature_extractor",
    "encode_targets",
    "layer_pairs",
    "Scores",
    "translate_batched",
    "evaluate",
    "reconstruct",
    "reference_scores",
    "LayerRun",
    "diagnose_layer",
    "gap_by_layer",
    "trend",
    "table",
    "summary_table",
    "cost_table",
    "sample_columns",
]


@dataclass(frozen=True)
class Setting:
    """One model-diagnosis experiment.

    Attributes:
        name: ``"digits"`` or ``"shapes"``.
        expert: zoo name of f, the model diagnosed (a tapped classifier or segmenter).
        target: zoo name of g, the autoencoder translated into.
        layers: the depths of f, input to output (tap names or ``"argmax"``).
        pool: average-pool spatial taps of f to ``pool × pool`` (cheaper embedders), or
            ``None``.
        measure: zoo name of the classifier whose features the Fréchet distance uses.
        measure_layer: its tap (``None``: its ``encode``).
        independent: whether ``measure`` is a different network from ``expert``.
        description: the data, in words.
    """

    name: str
    expert: str
    target: str
    layers: tuple[str, ...]
    measure: str
    measure_layer: str | None
    independent: bool
    description: str
    pool: int | None = None


SETTINGS: dict[str, Setting] = {
    "digits": Setting(
        name="digits", expert="digits-classifier", target="digits-ae",
        layers=("conv1", "conv3", "logits", "argmax"),
        measure="digits-classifier", measure_layer="fc", independent=False,
        description="scikit-learn's 8×8 handwritten digits (1,438 train / 359 held out)",
    ),
    "shapes": Setting(
        name="shapes", expert="shapes-segmenter-v1", target="shapes-ae-32",
        layers=("enc1", "bottleneck", "logits", "argmax"), pool=16,
        measure="shapes-attributes-v1", measure_layer=None, independent=True,
        description="procedural 32×32 shapes, plain and photo backgrounds",
    ),
}
"""The two experiments of notebook 07. On the digits the only zoo classifier *is* f, so its
``fc`` features measure the Fréchet distance (not independent of f: said in the notebook); on
the shapes the attribute classifier is a separate network."""


def load_images(setting: Setting | str, split: str, n: int | None = None, seed: int = 0, *,
                labels: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Images of a setting, float32 ``(N, C, S, S)`` in [0, 1].

    Arguments:
        setting: a :class:`Setting` or its name.
        split: ``"train"`` or ``"test"`` (held out from the experts and the translators).
        n: number of images (digits: at most the split's size; ``None``: all of it).
        seed: the shapes' generator seed.
        labels: also return the labels: the digit classes, or the shapes' factors ``(N, 5)``
            (columns :data:`n2nlib.data.FACTOR_NAMES`; ``[:, 4]`` is 0 for a plain, 1 for a
            photo background).

    >>> load_images("digits", "test", 5).shape
    torch.Size([5, 1, 8, 8])
    """
    setting = SETTINGS[setting] if isinstance(setting, str) else setting
    if setting.name == "digits":
        from n2nlib.data import load_digits

        data = load_digits(split)
        images, extra = data.images, data.labels
        if n is not None:
            images, extra = images[:n], extra[:n]
        return (images, extra) if labels else images
    if setting.name == "shapes":
        from n2nlib.data import ShapesDataset

        shapes = ShapesDataset(n or 1000, split=split, seed=seed, background="mixed")
        return (shapes.images, shapes.factors) if labels else shapes.images
    raise ValueError(f"unknown setting {setting.name!r}; known: {sorted(SETTINGS)}")


def feature_extractor(model: Any, layer: str | None = None,
                      batch_size: int = 256) -> Callable[[Tensor], Tensor]:
    """``images -> (N, D)`` features of a classifier, batched, without gradients, on the CPU.

    Arguments:
        model: a classifier (``encode``, or ``features(images, layer)`` for a tap).
        layer: the tap to use (``None``: ``encode``).
        batch_size: images per forward pass.
    """

    @torch.no_grad()
    def features(images: Tensor) -> Tensor:
        out = []
        for i in range(0, len(images), batch_size):
            chunk = images[i : i + batch_size]
            f = model.encode(chunk) if layer is None else model.features(chunk, layer)
            out.append(f.flatten(1).float().cpu())
        return torch.cat(out)

    return features


def encode_targets(target: Any, images: Tensor, *, batch_size: int = 256,
                   progress: bool = True) -> tuple[Tensor, Tensor | None]:
    """g's codes of ``images``, once for every layer: ``(mean, logvar)`` for a stochastic
    encoder (the VAE's :math:`q(z \\mid y)`), else ``(codes, None)``."""
    if callable(getattr(target, "encode_distribution", None)):
        mean, logvar = encode_latents(target, images, batch_size=batch_size, distribution=True,
                                      progress=progress, desc="encoding y with g")
        return mean, logvar
    return encode_latents(target, images, batch_size=batch_size, progress=progress,
                          desc="encoding y with g"), None


def layer_pairs(source: Any, images: Tensor, targets: tuple[Tensor, Tensor | None], *,
                batch_size: int = 256, progress: bool = True) -> LatentPairs:
    r"""Training pairs :math:`(\Theta(y), f_k(x))` with ``x = y = images``: the target codes
    from :func:`encode_targets` and the source codes of this layer."""
    cond = encode_latents(source, images, batch_size=batch_size, progress=progress,
                          desc=f"encoding x with {getattr(source, 'name', 'f')}")
    mean, logvar = targets
    return LatentPairs(mean, cond, target_logvar=logvar)


@dataclass
class Scores:
    """What :func:`evaluate` measured for one translator at one depth.

    Attributes:
        fd: Fréchet distance between generated and real held-out images, on the features of
            the setting's measuring classifier.
        diversity: mean pairwise per-pixel RMS distance of samples of the same input.
        to_input: mean per-pixel RMS distance of a translation to its input image.
        f_error: relative squared error of f's depth-k representation of the translation
            against that of the input (0 = identical; 1 = as far as the data's spread).
        n_images: held-out images used; ``n_samples``: samples per input for diversity.
    """

    fd: float
    diversity: float
    to_input: float
    f_error: float
    n_images: int
    n_samples: int

    def as_dict(self) -> dict[str, float]:
        """The numbers as a plain dict."""
        return asdict(self)


@torch.no_grad()
def translate_batched(translator: Any, images: Tensor, n_samples: int = 1, *,
                      batch_size: int = 200, seed: int = 0) -> Tensor:
    """``translator.translate`` in chunks (decoding many images at once needs much memory),
    samples of a chunk drawn from a generator seeded by ``(seed, chunk)``; results on the CPU.

    Returns:
        ``(len(images) * n_samples, ...)`` in Net2Net's layout (samples of an input together).
    """
    out = []
    for k, i in enumerate(range(0, len(images), batch_size)):
        gen = torch.Generator().manual_seed(seed * 100_003 + k)
        y = translator.translate(images[i : i + batch_size], n_samples=n_samples,
                                 generator=gen)
        out.append(y.float().cpu().clamp(0.0, 1.0))
    return torch.cat(out)


def _f_error(source: Any, generated: Tensor, images: Tensor, batch_size: int = 256) -> float:
    def codes(x: Tensor) -> Tensor:
        return torch.cat([source.encode(x[i : i + batch_size]).flatten(1).double().cpu()
                          for i in range(0, len(x), batch_size)])

    ref, got = codes(images), codes(generated)
    spread = (ref - ref.mean(0)).pow(2).sum(1).mean()
    return float((got - ref).pow(2).sum(1).mean() / spread.clamp_min(1e-12))


def evaluate(
    translator: Any,
    images: Tensor,
    *,
    features: Callable[[Tensor], Tensor],
    real_features: Tensor,
    source: Any,
    n_samples: int = 4,
    n_diversity: int = 64,
    seed: int = 0,
    generated: Tensor | None = None,
) -> Scores:
    """Measure one translator (a Net2Net or an MLPTranslator) on held-out images.

    Arguments:
        translator: has ``translate(x, n_samples, generator=...)`` to images.
        images: the held-out inputs ``x`` (also the real images the Fréchet distance compares
            with: source and target see the same image).
        features: the measuring classifier's features (:func:`feature_extractor`).
        real_features: ``features(images)``, computed once per setting.
        source: f at this depth (for the f-error).
        n_samples: samples per input for the diversity (≥ 2).
        n_diversity: inputs used for the diversity.
        seed: seed of the draws.
        generated: one translation per image, if already made (else drawn here).

    Returns:
        :class:`Scores`.
    """
    if generated is None:
        generated = translate_batched(translator, images, 1, seed=seed)
    several = translate_batched(translator, images[:n_diversity], n_samples, seed=seed + 1)
    return Scores(
        fd=metrics.frechet_distance(features(generated), real_features),
        diversity=metrics.sample_diversity(several, n_samples),
        to_input=metrics.rms_distance(generated, images),
        f_error=_f_error(source, generated, images),
        n_images=len(images),
        n_samples=n_samples,
    )


reconstruct = _reconstruct  # g's reconstructions: what a perfect translator would produce


@torch.no_grad()
def reference_scores(target: Any, images: Tensor, *, features: Callable[[Tensor], Tensor],
                     real_features: Tensor, reconstructions: Tensor | None = None,
                     other_images: Tensor | None = None) -> dict[str, float]:
    """The two ends of the Fréchet-distance scale, for reading the table.

    Arguments:
        target: g.
        images: the held-out images.
        features, real_features: as for :func:`evaluate`.
        reconstructions: :func:`reconstruct` of ``images``, if already made.
        other_images: a second set of real images (e.g. training images): their distance to
            ``images`` is the sampling floor of the Fréchet distance at these sizes.

    Returns:
        ``{"fd_reconstruction": …, "fd_mean_image": …, "to_input_reconstruction": …}`` (and
        ``"fd_real"`` with ``other_images``): g's reconstructions of the held-out images (what a
        perfect translator into g's space reaches) and the data's mean image repeated (a
        translator that ignores its input).
    """
    recon = reconstruct(target, images) if reconstructions is None else reconstructions
    mean_image = images.mean(0, keepdim=True).expand_as(images).contiguous()
    out = {
        "fd_reconstruction": metrics.frechet_distance(features(recon), real_features),
        "fd_mean_image": metrics.frechet_distance(features(mean_image), real_features),
        "to_input_reconstruction": metrics.rms_distance(recon, images),
    }
    if other_images is not None:
        out["fd_real"] = metrics.frechet_distance(features(other_images), real_features)
    return out


@dataclass
class LayerRun:
    """One depth of f: both translators, their training costs and their scores.

    Attributes:
        layer: the tap name (or ``"argmax"``).
        cond_shape: shape of :math:`z_\\Phi` at this depth.
        cinn, mlp: the trained translators (a :class:`~n2nlib.Net2Net` and an
            :class:`~n2nlib.baselines.MLPTranslator`).
        seconds: training seconds ``{"cinn": …, "mlp": …}`` (with 5 held-out evaluations).
        nll: held-out NLL per translator (nats per code; the MLP's is that of a unit-variance
            Gaussian around its prediction).
        scores: ``{"cinn": Scores, "mlp": Scores}``.
        samples: ``{"cinn": …, "mlp": …}`` translations of the held-out inputs chosen by
            ``show``, ``n_samples`` each, for pictures.
        reconstruction_f_error: the f-error of g's reconstructions at this depth (what a
            perfect translator into g's space would get), if they were given.
        mlp_r2: the share of the variance of g's held-out codes that the MLP's prediction
            explains, :math:`1 - E\\|z - \\hat z\\|^2 / E\\|z - \\bar z\\|^2`: how much of
            :math:`z_\\Theta` this depth determines — as far as the MLP has learned it.
    """

    layer: str
    cond_shape: tuple[int, ...]
    cinn: Any
    mlp: Any
    seconds: dict[str, float]
    nll: dict[str, float]
    scores: dict[str, Scores]
    samples: dict[str, Tensor] = field(default_factory=dict)
    reconstruction_f_error: float | None = None
    mlp_r2: float | None = None


def diagnose_layer(
    model: Any,
    layer: str,
    target: Any,
    train_images: Tensor,
    targets: tuple[Tensor, Tensor | None],
    test_images: Tensor,
    *,
    features: Callable[[Tensor], Tensor],
    real_features: Tensor,
    steps: int,
    mlp_steps: int | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    cinn_kwargs: dict[str, Any] | None = None,
    mlp_kwargs: dict[str, Any] | None = None,
    pool: int | None = None,
    n_samples: int = 4,
    n_diversity: int = 64,
    show: int | Sequence[int] = 4,
    n_eval_nll: int = 512,
    seed: int = 0,
    reconstructions: Tensor | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> LayerRun:
    r"""Train a cINN and the MLP on :math:`(\Theta(y), f_k(x))` for one depth, and measure both.

    Both translators see the same pairs, the same number of steps (unless ``mlp_steps``), the
    same batch size and learning rate, and are trained by :func:`n2nlib.train.fit`.

    Arguments:
        model: f, a tapped model (e.g. ``zoo.load("shapes-segmenter-v1")``).
        layer: the depth (see :meth:`~n2nlib.experts.taps.LayerExpert.layers`).
        target: g (an autoencoder with ``decode``).
        train_images: training images (x = y).
        targets: g's codes of ``train_images`` (:func:`encode_targets`).
        test_images: held-out images.
        features, real_features: the measuring classifier's features, and those of
            ``test_images``.
        steps: training steps of the cINN (and of the MLP unless ``mlp_steps``).
        batch_size, lr: of both.
        cinn_kwargs: :class:`~n2nlib.ConditionalINN` arguments (``n_blocks``, ``hidden_dim``).
        mlp_kwargs: :class:`~n2nlib.baselines.EmbeddingMLP` arguments.
        pool: pool spatial taps of f to ``pool × pool``.
        n_samples, n_diversity, seed: see :func:`evaluate`.
        show: held-out inputs whose samples are kept for pictures: the first ``show``, or
            these indices of ``test_images``.
        n_eval_nll: held-out pairs for the reported NLL.
        reconstructions: g's reconstructions of ``test_images`` (:func:`reconstruct`), for
            the f-error a perfect translation would have at this depth.
        device: where the translators train.
        progress: progress bars of the two trainings.

    Returns:
        A :class:`LayerRun`.
    """
    from n2nlib.baselines import MLPTranslator
    from n2nlib.flows import ConditionalINN
    from n2nlib.net2net import Net2Net

    source = LayerExpert(model, layer, pool=pool)
    pairs = layer_pairs(source, train_images, targets, progress=False)
    held = test_images[:n_eval_nll]
    held_pairs = layer_pairs(source, held, encode_targets(target, held, progress=False),
                             progress=False)
    cond = pairs.cond_shape
    cinn = ConditionalINN(target.dim, cond[0] if len(cond) == 1 else cond,
                          **(cinn_kwargs or {}))
    n2n = Net2Net(source, target, cinn, device=device)
    mlp = MLPTranslator(source, target, device=device, **(mlp_kwargs or {}))
    seconds, nll = {}, {}
    for name, translator, n_steps in (("cinn", n2n, steps), ("mlp", mlp, mlp_steps or steps)):
        began = time.perf_counter()
        history = translator.fit(pairs, steps=n_steps, batch_size=batch_size, lr=lr, seed=seed,
                                 eval_data=held_pairs, eval_every=max(1, n_steps // 5),
                                 progress=progress, desc=f"{name.upper()} {layer}")
        seconds[name] = time.perf_counter() - began
        nll[name] = history.final_eval_nll
    scores, samples = {}, {}
    for name, translator in (("cinn", n2n), ("mlp", mlp)):
        scores[name] = evaluate(translator, test_images, features=features,
                                real_features=real_features, source=source,
                                n_samples=n_samples, n_diversity=n_diversity, seed=seed)
        shown = test_images[:show] if isinstance(show, int) else test_images[list(show)]
        samples[name] = translate_batched(translator, shown, n_samples, seed=seed + 2)
    recon_error = None if reconstructions is None else _f_error(source, reconstructions,
                                                                 test_images)
    with torch.no_grad():
        z = held_pairs.target.double()
        z_hat = mlp.translate_latent(held_pairs.condition.to(mlp.device)).double().cpu()
        r2 = float(1 - (z - z_hat).pow(2).sum(1).mean() / (z - z.mean(0)).pow(2).sum(1).mean())
    return LayerRun(layer, tuple(cond), n2n, mlp, seconds, nll, scores, samples, recon_error,
                    r2)


def gap_by_layer(runs: Sequence[LayerRun]) -> dict[str, float]:
    """``FD(MLP) − FD(cINN)`` per depth: how much worse the deterministic translator is."""
    return {r.layer: r.scores["mlp"].fd - r.scores["cinn"].fd for r in runs}


def trend(runs: Sequence[LayerRun]) -> dict[str, Any]:
    """Is the paper's trend there: does the MLP's deficit grow with depth?

    Returns:
        ``gaps`` (per depth, input to output), ``first`` and ``last`` gap, ``grows`` (the last
        depth's gap exceeds the first's), ``rank_correlation`` (Spearman correlation of gap with
        depth; 1 = strictly growing), ``cinn_wins_last`` (the cINN's FD is lower at the last
        depth).

    >>> from types import SimpleNamespace as NS
    >>> run = lambda layer, c, m: NS(layer=layer, scores={"cinn": NS(fd=c), "mlp": NS(fd=m)})
    >>> t = trend([run("a", 1.0, 1.1), run("b", 1.0, 2.0), run("c", 1.0, 5.0)])
    >>> t["grows"], round(t["rank_correlation"], 2)
    (True, 1.0)
    """
    gaps = gap_by_layer(runs)
    values = torch.tensor(list(gaps.values()), dtype=torch.float64)
    n = len(values)
    if n >= 2:
        ranks = values.argsort().argsort().double()
        depth = torch.arange(n, dtype=torch.float64)
        rho = float(torch.corrcoef(torch.stack([ranks, depth]))[0, 1])
    else:
        rho = float("nan")
    last = runs[-1].scores
    return {
        "gaps": gaps,
        "first": float(values[0]),
        "last": float(values[-1]),
        "grows": bool(n >= 2 and values[-1] > values[0]),
        "rank_correlation": rho,
        "cinn_wins_last": bool(last["cinn"].fd < last["mlp"].fd),
    }


def table(runs: Sequence[LayerRun], *, title: str = "", reference: dict[str, float] | None = None,
          expert_seconds: float | None = None, measure: str = "") -> str:
    """The measured numbers as a markdown table (one row per depth and translator)."""
    head = (f"| depth | z_Φ shape | translator | FD ({measure or 'features'}) ↓ | diversity | "
            f"to input | f-error | train s |")
    lines = ([f"**{title}**", ""] if title else []) + [head, "|" + "---|" * 8]
    for r in runs:
        shape = "×".join(map(str, r.cond_shape))
        for name, label in (("cinn", "cINN"), ("mlp", "MLP")):
            s = r.scores[name]
            lines.append(f"| {r.layer} | {shape} | {label} | {s.fd:.3f} | {s.diversity:.4f} | "
                         f"{s.to_input:.4f} | {s.f_error:.3f} | {r.seconds[name]:.0f} |")
        if reference and r.reconstruction_f_error is not None:
            lines.append(f"| {r.layer} | {shape} | *g's reconstruction* | "
                         f"{reference['fd_reconstruction']:.3f} | 0 | "
                         f"{reference['to_input_reconstruction']:.4f} | "
                         f"{r.reconstruction_f_error:.3f} | – |")
    notes = []
    if reference:
        notes.append(f"FD of g's reconstructions {reference['fd_reconstruction']:.3f} (the floor "
                     f"for a translation into g's space), of the data's mean image "
                     f"{reference['fd_mean_image']:.3f}")
    r2 = [f"{r.layer} {r.mlp_r2:.2f}" for r in runs if r.mlp_r2 is not None]
    if r2:
        notes.append("share of the variance of g's held-out codes the MLP explains: "
                     + ", ".join(r2))
    if reference and "fd_real" in reference:
        notes.append(f"FD between two sets of real images {reference['fd_real']:.3f} (the "
                     f"sampling floor at these sizes)")
    if expert_seconds is not None:
        total = sum(r.seconds["cinn"] for r in runs) / max(len(runs), 1)
        notes.append(f"cINN training {total:.0f} s per depth vs the experts' "
                     f"{expert_seconds:.0f} s (f + g, zoo cards)")
    if notes:
        lines += ["", "; ".join(notes) + "."]
    return "\n".join(lines)


def summary_table(results: dict[str, Sequence[LayerRun]]) -> str:
    """The final table of notebook 07: per setting and depth, both translators' Fréchet
    distances, the gap, and the cINN's diversity and distance to the input; then the trend.

    Arguments:
        results: ``{setting name: runs, input to output}``.

    Returns:
        Markdown.
    """
    lines = ["| setting | depth | FD cINN | FD MLP | gap (MLP − cINN) | diversity cINN | "
             "to input cINN | to input MLP |", "|" + "---|" * 8]
    verdicts = []
    for name, runs in results.items():
        for r in runs:
            c, m = r.scores["cinn"], r.scores["mlp"]
            lines.append(f"| {name} | {r.layer} | {c.fd:.3f} | {m.fd:.3f} | {m.fd - c.fd:+.3f} | "
                         f"{c.diversity:.4f} | {c.to_input:.4f} | {m.to_input:.4f} |")
        t = trend(runs)
        verdicts.append(f"{name}: gap {t['first']:+.3f} at {runs[0].layer} → {t['last']:+.3f} "
                        f"at {runs[-1].layer} (grows: {'yes' if t['grows'] else 'no'}; rank "
                        f"correlation with depth {t['rank_correlation']:+.2f})")
    return "\n".join(lines + ["", "; ".join(verdicts) + "."])


def cost_table(results: dict[str, Sequence[LayerRun]], experts: dict[str, Sequence[str]]) -> str:
    """Training cost of the translators next to that of the experts they reuse.

    Arguments:
        results: ``{setting name: runs}``.
        experts: ``{setting name: zoo names of its experts (f, g)}``; their training seconds
            come from the model cards (:func:`n2nlib.zoo.card`).

    Returns:
        Markdown: per setting, the experts' seconds and the mean seconds of one cINN and one MLP
        (per depth), measured here.
    """
    from n2nlib import zoo

    lines = ["| setting | experts (zoo cards) | expert training s | cINN s per depth | "
             "MLP s per depth |", "|" + "---|" * 5]
    for name, runs in results.items():
        cards = [zoo.card(e) for e in experts[name]]
        expert_s = sum(c.train_seconds for c in cards)
        cinn = sum(r.seconds["cinn"] for r in runs) / len(runs)
        mlp = sum(r.seconds["mlp"] for r in runs) / len(runs)
        names = " + ".join(f"{c.name} ({c.train_seconds:.0f} s)" for c in cards)
        lines.append(f"| {name} | {names} | {expert_s:.0f} | {cinn:.0f} | {mlp:.0f} |")
    return "\n".join(lines)


def sample_columns(inputs: Tensor, runs: Sequence[LayerRun], n_samples: int,
                   pick: Sequence[int] | None = None) -> tuple[dict[str, Tensor], list[str]]:
    """Columns of pictures for :func:`n2nlib.course.plots.image_columns`: the input ``x``, its
    ``n_samples`` cINN samples and the MLP's output, one row per (depth, input).

    Arguments:
        inputs: the held-out inputs whose samples the runs kept (``LayerRun.samples``, in the
            order of ``show``).
        runs: the depths.
        n_samples: samples per input kept in the runs.
        pick: which of those inputs to show (positions in ``inputs``; default: all).

    Returns:
        ``({column title: images (rows, C, H, W)}, row labels)``.
    """
    kept = len(runs[0].samples["cinn"]) // n_samples if runs else 0
    pick = list(range(min(kept, len(inputs)))) if pick is None else list(pick)
    if any(not 0 <= i < min(kept, len(inputs)) for i in pick):
        raise ValueError(f"pick {pick} must index the {min(kept, len(inputs))} inputs whose "
                         f"samples the runs kept")
    inputs = inputs.float().cpu()
    titles = ["input x", *[f"cINN sample {k + 1}" for k in range(n_samples)], "MLP"]
    columns: dict[str, list[Tensor]] = {t: [] for t in titles}
    labels = []
    for r in runs:
        for i in pick:
            samples = r.samples["cinn"][i * n_samples : (i + 1) * n_samples]
            pictures = [inputs[i], *samples, r.samples["mlp"][i * n_samples]]
            for title, picture in zip(titles, pictures):
                columns[title].append(picture.float().cpu())
            labels.append(f"{r.layer}, x{i + 1}")
    return {t: torch.stack(v) for t, v in columns.items()}, labels
