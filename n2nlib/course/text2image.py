r"""Notebook 06: text to image by translating Sentence-BERT into a generator's latent space.

The pieces live where they belong — the translator and its data in
:mod:`n2nlib.zoo.text2image`, captions and prompts in :mod:`n2nlib.data.prompts`, the
measurements in :mod:`n2nlib.metrics.text` — and are gathered here under the names the notebook
uses; what only the notebook needs (the residual grid and its controls, the ceiling of the text
expert, the widget) is defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from n2nlib.data.factors import FACTOR_NAMES
from n2nlib.data.prompts import (  # the notebook's names, gathered here (see __all__)
    ALL_STATED,
    HELD_OUT_PAIRS,
    IMAGENET_CLASSES,
    MENTION_PROBS,
    AttributeCaptioner,
    Captions,
    ClassNameCaptioner,
    PromptSet,
    caption_factors,
    make_prompts,
    sample_mentions,
)
from n2nlib.metrics.text import T2IScores, generate_for_prompts, summarize_scores
from n2nlib.metrics.text import prompt_scores as evaluate
from n2nlib.net2net import Net2Net
from n2nlib.zoo.text2image import (
    CINN_CONFIG,
    CLASSIFIER,
    DEQUANTIZER,
    GENERATOR,
    TRANSLATOR,
    SyntheticData,
    TextToImage,
    load_target,
    make_translator,
    synthesize,
    translator_groups,
)
from n2nlib.zoo.text2image_recipes import (
    evaluate_dequantizer,
    evaluate_generator,
    measure_translator,
    train_dequantizer,
)

__all__ = [
    "ALL_STATED",
    "HELD_OUT_PAIRS",
    "IMAGENET_CLASSES",
    "MENTION_PROBS",
    "AttributeCaptioner",
    "Captions",
    "ClassNameCaptioner",
    "PromptSet",
    "caption_factors",
    "make_prompts",
    "sample_mentions",
    "T2IScores",
    "generate_for_prompts",
    "summarize_scores",
    "evaluate",
    "CINN_CONFIG",
    "CLASSIFIER",
    "DEQUANTIZER",
    "GENERATOR",
    "TRANSLATOR",
    "SyntheticData",
    "TextToImage",
    "load_target",
    "make_translator",
    "synthesize",
    "translator_groups",
    "evaluate_dequantizer",
    "evaluate_generator",
    "measure_translator",
    "train_dequantizer",
    "fixed_residual_grid",
    "residual_controls",
    "text_expert_ceiling",
    "text_to_image_widget",
    "TABLE_S1",
]

TABLE_S1: tuple[tuple[str, float, str, float, float], ...] = (
    ("cINN (the paper's translator)", 1.0, "1 NVIDIA Titan X", 14.4, 3.11),
    ("BigGAN (expert)", 15.0, "8 NVIDIA V100", 1260.0, 272.16),
    ("FUNIT (expert)", 14.0, "8 NVIDIA V100", 1176.0, 254.02),
    ("BERT (expert)", 10.3, "8 NVIDIA V100", 865.2, 186.88),
)
"""The paper's Table S1: one training run of each model as ``(model, days, hardware, kWh,
EUR)`` (the cINN's days are an upper bound; energy from 0.6 kW per Titan X and 3.5 kW per
DGX-1, cost at 0.216 EUR per kWh)."""


@torch.no_grad()
def fixed_residual_grid(
    translator: Net2Net,
    prompts: Sequence[str],
    n_residuals: int = 8,
    temperature: float = 1.0,
    *,
    seed: int = 0,
) -> Tensor:
    """The same residuals :math:`v` translated under each prompt: ``(len(prompts),
    n_residuals, 3, S, S)``. Down a column the prompt changes and :math:`v` stays; along a
    row :math:`v` changes and the prompt stays.
    """
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n_residuals, translator.target.dim, generator=gen) * temperature
    z_src = translator.encode_source(list(prompts))
    rows = []
    for i in range(len(z_src)):
        cond = z_src[i : i + 1].expand(n_residuals, *z_src.shape[1:])
        rows.append(translator.decode(translator.translate_latent(cond, v=v)).cpu())
    return torch.stack(rows)


@torch.no_grad()
def residual_controls(
    translator: Net2Net,
    classifier: Any,
    prompts: Sequence[str],
    n_residuals: int = 64,
    temperature: float = 1.0,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """What the residual :math:`v` decides: per factor, the fraction of residuals whose images
    under *all* ``prompts`` (:func:`fixed_residual_grid`) show the same value of the factor, as
    the attribute classifier reads it.

    With prompts that differ only in what they state (say shape and colour), a factor they
    leave open is set by :math:`v` alone when its fraction is near 1; the stated factors follow
    the prompts and their fraction is near 0.

    Arguments:
        translator: a text-to-image :class:`~n2nlib.Net2Net`.
        classifier: reads the factors of the images (``predict_factors``).
        prompts: at least two sentences.
        n_residuals: residuals drawn.
        temperature: their standard deviation.
        seed: seed of the draws.

    Returns:
        ``{factor: fraction}`` for every factor of :data:`n2nlib.data.factors.FACTOR_NAMES`.
    """
    prompts = list(prompts)
    if len(prompts) < 2:
        raise ValueError(f"residual_controls needs at least two prompts, got {len(prompts)}")
    grid = fixed_residual_grid(translator, prompts, n_residuals, temperature, seed=seed)
    p, r = grid.shape[:2]
    pred = classifier.predict_factors(grid.flatten(0, 1)).cpu().view(p, r, -1)
    same = (pred == pred[:1]).all(dim=0)  # (R, n_factors)
    return {name: float(same[:, j].float().mean()) for j, name in enumerate(FACTOR_NAMES)}


@torch.no_grad()
def text_expert_ceiling(
    source: Any, n_train: int = 3000, n_test: int = 1000, *, seed: int = 0,
    batch_size: int = 256,
) -> dict[str, float]:
    """How much of each factor the text expert's code carries for held-out phrasings.

    A linear probe per factor (:func:`n2nlib.metrics.linear_probe_accuracy`) is fitted on the
    codes of ``n_train`` prompts in *training* phrasings, over the prompts that state the
    factor, and scored on ``n_test`` fresh prompts in training phrasings and on ``n_test`` in
    *held-out* phrasings (:func:`make_prompts`). A translator conditioned on these codes, with
    a perfect generator, reads a factor from a held-out phrasing about as well as the probe
    does: the held-out column is a ceiling of what the cINN can be asked for (a linear one: a
    better reader of the same code could do a little more).

    Arguments:
        source: the text expert (an :class:`~n2nlib.experts.Expert` with
            ``encode(texts) -> (N, D)``, e.g. :class:`~n2nlib.experts.SentenceBERT`).
        n_train: prompts the probes are fitted on.
        n_test: prompts of each test set.
        seed: seed of the prompts.
        batch_size: texts encoded at once.

    Returns:
        ``train_phrasings/<factor>`` and ``held_out/<factor>`` accuracies, and their
        ``/mean`` over the factors.
    """
    from n2nlib import metrics
    from n2nlib.encoding import encode_latents

    if not callable(getattr(source, "encode", None)):
        raise TypeError("source must be a text expert with encode(texts) -> (N, D)")
    sets = {"fit": make_prompts(n_train, seed, split="train"),
            "train_phrasings": make_prompts(n_test, seed + 1, split="train"),
            "held_out": make_prompts(n_test, seed + 2, split="test")}
    x = {k: encode_latents(source, p.texts, batch_size=batch_size, dtype=torch.float32,
                           progress=False) for k, p in sets.items()}
    out: dict[str, float] = {}
    for j, name in enumerate(FACTOR_NAMES):
        fit = sets["fit"].stated[:, j]
        for key in ("train_phrasings", "held_out"):
            test = sets[key].stated[:, j]
            out[f"{key}/{name}"] = metrics.linear_probe_accuracy(
                x["fit"][fit], sets["fit"].factors[fit, j],
                test_features=x[key][test], test_labels=sets[key].factors[test, j])
    for key in ("train_phrasings", "held_out"):
        out[f"{key}/mean"] = float(np.mean([out[f"{key}/{n}"] for n in FACTOR_NAMES]))
    return out


def text_to_image_widget(
    translator: Any,
    prompt: str = "a large red star in the top left corner",
    *,
    n_samples: int = 8,
    seed: int = 0,
) -> Any:
    """An ipywidgets demo: type a sentence, press **Generate** (or Enter), and see
    ``n_samples`` images; the temperature slider redraws with the same residuals, scaled.

    Arguments:
        translator: a text-to-image :class:`~n2nlib.Net2Net` (e.g. ``zoo.load("sbert-to-shapes")``).
        prompt: the initial sentence.
        n_samples: images per redraw.
        seed: the residual draws are fixed, so the slider only rescales them.

    Returns:
        The widget (display it as the last expression of a cell). In a saved run
        (:func:`n2nlib.settings.static_widgets`) a static figure of the first prompt is
        displayed first, for readers without a kernel.
    """
    import ipywidgets as widgets

    from n2nlib.course import plots
    from n2nlib.course.widgets import show, show_static

    def draw(sentence: str, temperature: float) -> Any:
        gen = torch.Generator().manual_seed(seed)
        images = translator.translate([sentence], n_samples=n_samples,
                                      temperature=float(temperature), generator=gen)
        # 1.25 in per image at the course's 80 dpi: 100 screen pixels per 32-pixel image
        return plots.image_rows({f"T = {temperature:.1f}": images.cpu()}, title=sentence,
                                cell=1.25)

    show_static(lambda: draw(prompt, 1.0))

    text = widgets.Text(value=prompt, description="prompt", layout={"width": "60%"},
                        continuous_update=False)
    button = widgets.Button(description="Generate", button_style="primary",
                            tooltip="draw new images for the sentence (Enter works too)")
    temp = widgets.FloatSlider(value=1.0, min=0.0, max=1.5, step=0.1, description="temperature",
                               continuous_update=False)
    out = widgets.Output()

    def redraw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            if not text.value.strip():
                print("type a sentence, then press Generate")
                return
            show(draw(text.value, temp.value))

    text.observe(redraw, names="value")
    temp.observe(redraw, names="value")
    button.on_click(redraw)
    redraw()
    return widgets.VBox([widgets.HBox([text, button]), temp, out])
