r"""Text to image by translating Sentence-BERT into a generator's latent space (Sec. 4.1, G.2).

The paper's BERT-to-BigGAN experiment, end to end, with offline experts:

1. **target expert** — a class-conditional generator with BigGAN's interface: the real
   :class:`~n2nlib.experts.biggan.BigGAN` when its weights are here, else the project's
   ``shapes-generator`` (:class:`~n2nlib.experts.generator.ShapesGenerator`, 40 classes =
   shape × colour). Its latent :math:`[\tilde z, Wc]` (Eq. 23) is dequantised by a small VAE to
   :math:`z_\Theta = [\tilde z, \hat h]` (Eq. 24, :class:`~n2nlib.experts.dequant.
   DequantizedGenerator`).
2. **synthetic training data** (:func:`synthesize`) — sample :math:`\tilde z` and a class,
   generate an image, and caption it with a *captioning expert*: here the zoo's
   ``shapes-attributes-v1`` classifier reads the five factors of the image and
   :class:`AttributeCaptioner` turns them into a sentence with the training templates of
   :mod:`n2nlib.data.shapes` (each factor stated or not at random); with the real BigGAN,
   :class:`ClassNameCaptioner` puts ImageNet class names into templates.
3. **source expert** — :class:`~n2nlib.experts.text.SentenceBERT` encodes the captions:
   :math:`z_\Phi`.
4. **translator** — the cINN learns :math:`p(z_\Theta \mid z_\Phi)` with
   :meth:`n2nlib.Net2Net.fit` (:func:`make_translator`); text becomes images by
   :math:`\Lambda(\tau(v \mid \Phi(\text{text})))`.
5. **measurements** (:func:`evaluate`) on prompts with held-out phrasings
   (:func:`make_prompts`): accuracy of every factor the prompt states, diversity (normalised
   entropy) of every factor it leaves open, and compositional generalisation to shape–colour
   pairs that no training caption names (:data:`HELD_OUT_PAIRS`).

The zoo ships the trained translator: ``zoo.load("sbert-to-shapes")`` is a
:class:`TextToImage`, a :class:`~n2nlib.Net2Net` whose ``translate(["a large red star in the top
left corner"], n_samples=8)`` returns 8 images ``(8, 3, 32, 32)`` in [0, 1]. Everything here is
trained by ``python -m n2nlib.text2image train NAME`` (see :func:`main`).

>>> caps = caption_factors(torch.tensor([[3, 0, 1, 0, 0]]), rng=0, probs=ALL_STATED)
>>> caps[0].text
'at the top left, a big five-pointed star in scarlet on a plain background'
>>> prompts = make_prompts(4, seed=0)
>>> len(prompts.texts), tuple(prompts.factors.shape), tuple(prompts.stated.shape)
(4, (4, 5), (4, 5))
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from n2nlib import settings
from n2nlib.data.shapes import FACTOR_NAMES, FACTORS, Caption, caption, sample_factors
from n2nlib.experts.dequant import DequantizationVAE, DequantizedGenerator
from n2nlib.experts.generator import (
    KNOWN_NOISE,
    ShapesGenerator,
    class_factors,
    truncated_noise,
)
from n2nlib.flows import ConditionalINN, GroupedCINN, cinn_from_config
from n2nlib.net2net import Net2Net

__all__ = [
    "GENERATOR",
    "DEQUANTIZER",
    "TRANSLATOR",
    "CLASSIFIER",
    "HELD_OUT_PAIRS",
    "MENTION_PROBS",
    "ALL_STATED",
    "IMAGENET_CLASSES",
    "sample_mentions",
    "caption_factors",
    "Captions",
    "AttributeCaptioner",
    "ClassNameCaptioner",
    "SyntheticData",
    "synthesize",
    "load_target",
    "make_translator",
    "translator_groups",
    "CINN_CONFIG",
    "PromptSet",
    "make_prompts",
    "generate_for_prompts",
    "T2IScores",
    "evaluate",
    "fixed_residual_grid",
    "residual_controls",
    "summarize_scores",
    "TextToImage",
    "text_to_image_widget",
    "evaluate_generator",
    "evaluate_dequantizer",
    "train_dequantizer",
    "measure_translator",
    "text_expert_ceiling",
    "zoo_recipes",
    "train",
    "train_translator",
    "main",
]

GENERATOR = "shapes-generator"
"""The zoo's offline BigGAN stand-in (:class:`~n2nlib.experts.generator.ShapesGenerator`)."""
DEQUANTIZER = "shapes-generator-dequant"
"""The zoo's dequantisation VAE of the shapes generator's class embeddings (Table S4)."""
TRANSLATOR = "sbert-to-shapes"
"""The zoo's trained text-to-image Net2Net (:class:`TextToImage`)."""
CLASSIFIER = "shapes-attributes-v1"
"""The zoo's attribute classifier: the captioning expert and the measuring stick."""

HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("circle", "purple"),
    ("square", "orange"),
    ("triangle", "white"),
    ("star", "cyan"),
    ("heart", "green"),
)
"""Shape–colour pairs that no training caption of the translator names together (the generator
knows them; images of these classes appear in training only with captions that leave the shape
or the colour unstated)."""

MENTION_PROBS: dict[str, float] = {
    "shape": 0.8, "color": 0.8, "size": 0.5, "position": 0.5, "background": 0.5,
}
"""Probability that a caption states each factor (independently; at least one is stated)."""

ALL_STATED: dict[str, float] = dict.fromkeys(FACTOR_NAMES, 1.0)
"""A mention policy that states every factor."""

IMAGENET_CLASSES: dict[int, str] = {
    1: "goldfish", 207: "golden retriever", 281: "tabby cat", 291: "lion", 340: "zebra",
    417: "balloon", 430: "basketball", 483: "castle", 817: "sports car", 933: "cheeseburger",
    949: "strawberry", 954: "banana", 963: "pizza", 980: "volcano", 985: "daisy",
}
"""A few ImageNet-1k classes (index in the standard order -> name) for the real BigGAN's
captions; pass your own ``class_names`` for others."""

_IMAGENET_TEMPLATES = ("a photo of a {}", "a picture of a {}", "{}", "an image showing a {}",
                       "a close-up photo of a {}", "there is a {} in this picture")


# -- captions -----------------------------------------------------------------------------------


def _rng(rng: int | np.random.Generator) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_probs(probs: Mapping[str, float]) -> dict[str, float]:
    unknown = set(probs) - set(FACTOR_NAMES)
    if unknown:
        raise ValueError(f"mention probabilities are for {list(FACTOR_NAMES)}, got {unknown}")
    out = {k: float(probs.get(k, 0.0)) for k in FACTOR_NAMES}
    if any(not 0.0 <= p <= 1.0 for p in out.values()) or not any(out.values()):
        raise ValueError(f"mention probabilities must be in [0, 1], not all 0; got {out}")
    return out


def _pair_indices(pairs: Sequence[tuple[str, str]] | None) -> set[tuple[int, int]]:
    return {(FACTORS["shape"].index(s), FACTORS["color"].index(c)) for s, c in pairs or ()}


def sample_mentions(
    n: int,
    rng: int | np.random.Generator = 0,
    probs: Mapping[str, float] = MENTION_PROBS,
    *,
    always: Sequence[str] = (),
) -> list[frozenset[str]]:
    """Which factors each of ``n`` captions states: each factor independently with its
    probability, at least one, and every factor in ``always``.

    >>> [sorted(m) for m in sample_mentions(2, rng=0, probs={"shape": 1.0}, always=["color"])]
    [['color', 'shape'], ['color', 'shape']]
    """
    gen, p = _rng(rng), _check_probs(probs)
    out = []
    for _ in range(n):
        chosen: set[str] = set()
        while not chosen:
            chosen = {k for k in FACTOR_NAMES if gen.random() < p[k]} | set(always)
        out.append(frozenset(chosen))
    return out


def caption_factors(
    factors: Tensor,
    rng: int | np.random.Generator = 0,
    *,
    split: str = "train",
    probs: Mapping[str, float] = MENTION_PROBS,
    held_out_pairs: Sequence[tuple[str, str]] | None = None,
    always: Sequence[str] = (),
    novel: float = 0.5,
) -> list[Caption]:
    """Sentences for factor rows with :func:`n2nlib.data.shapes.caption`, stating a random
    subset of the factors (:func:`sample_mentions`).

    Arguments:
        factors: ``(N, 5)`` labels (e.g. what the attribute classifier read from images).
        rng: seed or NumPy generator.
        split: ``"train"`` (training templates and words only) or ``"test"`` (held-out ones
            with probability ``novel`` at each choice).
        probs: probability that each factor is stated.
        held_out_pairs: shape–colour pairs never named together: a row of such a pair whose
            draw states both loses one of the two (at random).
        always: factors every caption states (kept even for held-out pairs).
        novel: see ``split``.

    Returns:
        One :class:`~n2nlib.data.shapes.Caption` per row.
    """
    factors = torch.as_tensor(factors).long().cpu()
    gen = _rng(rng)
    held = _pair_indices(held_out_pairs)
    out = []
    for row, mention in zip(factors.tolist(), sample_mentions(len(factors), gen, probs,
                                                                always=always)):
        if (row[0], row[1]) in held and {"shape", "color"} <= mention:
            drop = "shape" if gen.random() < 0.5 else "color"
            mention = mention - {drop}
            if not mention:
                mention = frozenset({"color" if drop == "shape" else "shape"})
        out.append(caption(row, gen, split, mention=mention, novel=novel))
    return out


@dataclass
class Captions:
    """What a captioning expert said about a batch of generated images.

    Attributes:
        texts: one sentence per image.
        factors: the factor labels the captioner read, ``(N, 5)`` (``None`` for a class-name
            captioner).
        stated: which factors each sentence states, bool ``(N, 5)`` (``None`` if unknown).
    """

    texts: list[str]
    factors: Tensor | None = None
    stated: Tensor | None = None


class AttributeCaptioner:
    """The captioning expert of the shapes world: an attribute classifier + sentence templates.

    The classifier (the zoo's ``shapes-attributes-v1``) reads all five factors of each image; the
    caption states a random subset of them in the *training* phrasings of
    :mod:`n2nlib.data.shapes` (:func:`caption_factors`).

    Arguments:
        classifier: anything with ``predict_factors(images) -> (N, 5)`` labels.
        probs: probability that each factor is stated.
        held_out_pairs: shape–colour pairs never named together (see :func:`caption_factors`).
        split: the phrasings to use (``"train"`` for training data).
    """

    def __init__(
        self,
        classifier: Any,
        probs: Mapping[str, float] = MENTION_PROBS,
        held_out_pairs: Sequence[tuple[str, str]] | None = HELD_OUT_PAIRS,
        split: str = "train",
    ) -> None:
        if not callable(getattr(classifier, "predict_factors", None)):
            raise TypeError("the classifier must have predict_factors(images) -> (N, 5), e.g. "
                            "zoo.load('shapes-attributes-v1')")
        self.classifier = classifier
        self.probs = _check_probs(probs)
        self.held_out_pairs = tuple(held_out_pairs or ())
        self.split = split

    @torch.no_grad()
    def __call__(self, images: Tensor, labels: Tensor, rng: np.random.Generator) -> Captions:
        factors = self.classifier.predict_factors(images).cpu()
        caps = caption_factors(factors, rng, split=self.split, probs=self.probs,
                               held_out_pairs=self.held_out_pairs)
        stated = torch.tensor([[k in c.stated for k in FACTOR_NAMES] for c in caps],
                              dtype=torch.bool).reshape(-1, len(FACTOR_NAMES))
        return Captions([c.text for c in caps], factors, stated)


class ClassNameCaptioner:
    """Captions from class names in templates ("a photo of a goldfish"), for the real BigGAN.

    Arguments:
        class_names: class index -> name.
        templates: format strings with one ``{}`` for the name.

    >>> cap = ClassNameCaptioner({3: "lion"}, templates=("a {}",))
    >>> cap(None, torch.tensor([3]), np.random.default_rng(0)).texts
    ['a lion']
    """

    def __init__(self, class_names: Mapping[int, str],
                 templates: Sequence[str] = _IMAGENET_TEMPLATES) -> None:
        if not class_names:
            raise ValueError("class_names must name at least one class")
        self.class_names = {int(k): str(v) for k, v in class_names.items()}
        self.templates = tuple(templates)

    def __call__(self, images: Tensor | None, labels: Tensor,
                 rng: np.random.Generator) -> Captions:
        texts = []
        for label in torch.as_tensor(labels).tolist():
            if label not in self.class_names:
                raise ValueError(f"class {label} has no name; classes: {sorted(self.class_names)}")
            template = self.templates[int(rng.integers(0, len(self.templates)))]
            texts.append(template.format(self.class_names[label]))
        return Captions(texts)


# -- synthetic data ---------------------------------------------------------------------------


@dataclass
class SyntheticData:
    """Synthetic training data of the text-to-image translator (the paper's Sec. 4.1 recipe).

    Attributes:
        noise: the sampled :math:`\\tilde z`, ``(N, z_dim)``.
        labels: the sampled classes ``(N,)``.
        captions: what the captioning expert said, one sentence per image.
        factors: what the captioning expert read (``(N, 5)``, or ``None``).
        stated: which factors each caption states (``(N, 5)`` bool, or ``None``).
        num_classes: K.
        seconds: time to generate and caption.
    """

    noise: Tensor
    labels: Tensor
    captions: list[str]
    factors: Tensor | None
    stated: Tensor | None
    num_classes: int
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.captions)

    def inputs(self) -> Tensor:
        """The generator's inputs ``[z̃, c]`` (``c`` one-hot), ``(N, z_dim + K)``: the target
        expert's ``y``."""
        onehot = torch.nn.functional.one_hot(self.labels.long(), self.num_classes)
        return torch.cat([self.noise.float(), onehot.float()], dim=1)

    def pairs(self) -> tuple[list[str], Tensor]:
        """``(captions, inputs)``: the paired data for :meth:`n2nlib.Net2Net.fit`."""
        return self.captions, self.inputs()

    def agreement(self) -> float:
        """Fraction of images whose shape and colour, as read by the captioner, are the
        requested class (``nan`` without factors)."""
        if self.factors is None:
            return float("nan")
        shape, color = class_factors(self.labels)
        return float(((self.factors[:, 0] == shape) & (self.factors[:, 1] == color))
                     .float().mean())

    def subset(self, index: Tensor | slice) -> SyntheticData:
        """The rows ``index`` (a slice or an index tensor)."""
        idx = torch.arange(len(self))[index] if isinstance(index, slice) else index
        pick = idx.tolist()
        return SyntheticData(
            self.noise[idx], self.labels[idx], [self.captions[i] for i in pick],
            None if self.factors is None else self.factors[idx],
            None if self.stated is None else self.stated[idx], self.num_classes, self.seconds,
        )


@torch.no_grad()
def synthesize(
    n: int,
    generator: Any,
    captioner: Callable[[Tensor, Tensor, np.random.Generator], Captions],
    *,
    truncation: float = 1.0,
    classes: Sequence[int] | None = None,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = True,
) -> SyntheticData:
    r"""Make ``n`` training pairs: sample :math:`\tilde z` and a class, generate, caption.

    Arguments:
        n: number of examples.
        generator: the target generator (``sample_noise``, ``generate``, ``num_classes``).
        captioner: ``captioner(images, labels, rng) -> Captions`` (an
            :class:`AttributeCaptioner` or a :class:`ClassNameCaptioner`).
        truncation: scale of the truncated-normal noise.
        classes: the classes to sample from (uniformly); default all.
        seed: seed of the noise, the classes and the captions.
        batch_size: images generated at once.
        progress: show a progress bar.

    Returns:
        A :class:`SyntheticData` (the images are not kept: they are the generator's output for
        ``inputs()``).
    """
    from n2nlib.settings import progress_bar as tqdm

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    pool = torch.arange(generator.num_classes) if classes is None else torch.as_tensor(
        list(classes)).long()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = pool[torch.randint(0, len(pool), (n,), generator=gen)]
    noise = truncated_noise(n, generator.z_dim, truncation, gen)
    texts: list[str] = []
    factors, stated = [], []
    start = time.perf_counter()
    with tqdm(total=n, desc="generating and captioning", disable=not progress,
              leave=False) as bar:
        for i in range(0, n, batch_size):
            images = generator.generate(noise[i : i + batch_size], labels[i : i + batch_size])
            caps = captioner(images, labels[i : i + batch_size], rng)
            texts += caps.texts
            if caps.factors is not None:
                factors.append(caps.factors)
            if caps.stated is not None:
                stated.append(caps.stated)
            bar.update(len(images))
    return SyntheticData(
        noise, labels, texts, torch.cat(factors) if factors else None,
        torch.cat(stated) if stated else None, int(generator.num_classes),
        time.perf_counter() - start,
    )


# -- the translator ---------------------------------------------------------------------------

CINN_CONFIG: dict[str, Any] = {"n_blocks": 8, "hidden_dim": 128, "embed_dim": 64}
"""The cINN of the text-to-image translator (Table S3 with fewer, narrower blocks: z_Θ has 48
dimensions here, 268 in the paper)."""


def load_target(
    generator: str | nn.Module = GENERATOR,
    dequantizer: str | DequantizationVAE = DEQUANTIZER,
    *,
    root: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> DequantizedGenerator:
    """The target expert: a generator with its dequantised class embedding (Eq. 24).

    Arguments:
        generator: a zoo name or the generator itself.
        dequantizer: a zoo name or the VAE itself.
        root: the zoo folder to load names from (default: the shipped zoo).
        device: where to put them.
    """
    from n2nlib import zoo

    if isinstance(generator, str):
        generator = zoo.load(generator, device=device, root=root)
    if isinstance(dequantizer, str):
        dequantizer = zoo.load(dequantizer, device=device, root=root)
    return DequantizedGenerator(generator, dequantizer)


def translator_groups(target: Any) -> list[int] | None:
    r"""How :func:`make_translator` splits :math:`z_\Theta = [\tilde z, \hat h]` into groups
    that get separate cINNs (:class:`~n2nlib.flows.GroupedCINN`), or ``None`` for one cINN.

    One shared cINN learns :math:`p(\hat h \mid c)` — the class embedding, nearly a function
    of the sentence — and leaves the noise :math:`\tilde z` at its prior: the large, steep
    likelihood gains of :math:`\hat h` dominate the gradients of the shared weights, and the
    weak dependence of size and position on the sentence is never learned (notebook 06,
    section 6). Separate groups give each part its own weights. For the zoo's shapes generator,
    whose first seven noise dimensions are its renderer's parameters
    (:func:`~n2nlib.experts.generator.known_noise`), the groups are: the centre (x, y), the
    radius, the colour jitter (3), the background, the remaining noise, and :math:`\hat h`.
    For other generators (e.g. the real BigGAN): :math:`[\tilde z, \hat h]`.

    Arguments:
        target: the target expert (a :class:`~n2nlib.experts.dequant.DequantizedGenerator`);
            without ``z_dim`` and ``embed_dim`` there are no groups.

    Returns:
        The group sizes (adding up to ``target.dim``), or ``None``.

    >>> class Target:
    ...     z_dim, embed_dim, dim = 120, 128, 248
    >>> translator_groups(Target())
    [120, 128]
    """
    z_dim, embed_dim = getattr(target, "z_dim", None), getattr(target, "embed_dim", None)
    if z_dim is None or embed_dim is None:
        return None
    known = getattr(getattr(target, "generator", None), "known_dims", 0)
    if known == len(KNOWN_NOISE) and z_dim > known:
        return [len(g) for g in _KNOWN_NOISE_GROUPS] + [int(z_dim) - known, int(embed_dim)]
    return [int(z_dim), int(embed_dim)]


_KNOWN_NOISE_GROUPS = (("x", "y"), ("radius",), ("red", "green", "blue"), ("photo",))
"""The groups of the generator's renderer parameters (:data:`~n2nlib.experts.generator.
KNOWN_NOISE`, in its order) that :func:`translator_groups` gives a cINN each."""


def make_translator(
    source: Any = None,
    target: Any = None,
    *,
    device: str | torch.device | None = None,
    groups: Sequence[int] | str | None = "auto",
    **cinn_kwargs: Any,
) -> Net2Net:
    r"""A fresh (untrained) text-to-image :class:`~n2nlib.Net2Net`.

    Arguments:
        source: the text expert (default: :class:`~n2nlib.experts.text.SentenceBERT`).
        target: the target expert (default: :func:`load_target`).
        device: where the cINN lives.
        groups: ``"auto"`` (:func:`translator_groups`), explicit group sizes for a
            :class:`~n2nlib.flows.GroupedCINN`, or ``None`` for one
            :class:`~n2nlib.ConditionalINN` over all of :math:`z_\Theta` (the paper's τ).
        **cinn_kwargs: override :data:`CINN_CONFIG` (for every group).
    """
    if source is None:
        from n2nlib.experts.text import SentenceBERT

        source = SentenceBERT(device=device)
    if target is None:
        target = load_target(device=device)
    config = {**CINN_CONFIG, **cinn_kwargs}
    if isinstance(groups, str):
        if groups != "auto":
            raise ValueError(f"groups must be 'auto', a list of sizes or None, got {groups!r}")
        groups = translator_groups(target)
    if groups is None:
        cinn: ConditionalINN | GroupedCINN = ConditionalINN(int(target.dim), int(source.dim),
                                                             **config)
    else:
        if sum(groups) != int(target.dim):
            raise ValueError(f"groups {list(groups)} add up to {sum(groups)}, but the target "
                             f"encodes to {int(target.dim)} dimensions")
        cinn = GroupedCINN(list(groups), int(source.dim), **config)
    return Net2Net(source, target, cinn, device=device)


# -- prompts and measurements -----------------------------------------------------------------


@dataclass
class PromptSet:
    """Prompts with what they ask for.

    Attributes:
        texts: the sentences.
        factors: the requested factor labels ``(N, 5)`` (unstated columns hold the value the
            sentence was written from, which nothing checks).
        stated: which factors each sentence states, bool ``(N, 5)``.
    """

    texts: list[str]
    factors: Tensor
    stated: Tensor

    def __len__(self) -> int:
        return len(self.texts)


def make_prompts(
    n: int,
    seed: int = 0,
    *,
    split: str = "test",
    novel: float = 0.5,
    probs: Mapping[str, float] = MENTION_PROBS,
    always: Sequence[str] = (),
    only_pairs: Sequence[tuple[str, str]] | None = None,
    exclude_pairs: Sequence[tuple[str, str]] | None = None,
    require_novel: bool = True,
) -> PromptSet:
    """Prompts for measuring a translator, by default in held-out phrasings.

    Arguments:
        n: number of prompts.
        seed: seed of the factors, the mentions and the words.
        split: ``"test"``: templates and words reserved for evaluation may be used (each choice
            with probability ``novel``); ``"train"``: training phrasings only.
        novel: see ``split``.
        probs: probability that each factor is stated.
        always: factors every prompt states.
        only_pairs: draw ``(shape, colour)`` from these pairs only (compositional prompts).
        exclude_pairs: never draw these pairs.
        require_novel: with ``split="test"``, redraw sentences until each uses at least one
            held-out template or word (so no prompt is a training phrasing).

    Returns:
        A :class:`PromptSet`.
    """
    factors = sample_factors(n, seed, split="test", background="mixed",
                             only_pairs=only_pairs, exclude_pairs=exclude_pairs)
    rng = np.random.default_rng(seed + 7919)
    texts, stated = [], []
    for row in factors:
        for _ in range(100):
            cap = caption_factors(row[None], rng, split=split, probs=probs, always=always,
                                  novel=novel)[0]
            if not (require_novel and split == "test") or cap.novel:
                break
        texts.append(cap.text)
        stated.append([k in cap.stated for k in FACTOR_NAMES])
    return PromptSet(texts, factors, torch.tensor(stated, dtype=torch.bool).reshape(-1, 5))


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


def evaluate(
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
    from n2nlib import metrics

    start = time.perf_counter()
    images = generate_for_prompts(translator, prompts.texts, n_samples, temperature,
                                  batch_size=batch_size, seed=seed)
    seconds = (time.perf_counter() - start) / max(len(prompts), 1)
    b, s = images.shape[:2]
    predicted = classifier.predict_factors(images.flatten(0, 1)).cpu().view(b, s, -1)
    requested = prompts.factors[:, None].expand(b, s, -1)
    stated = prompts.stated[:, None].expand(b, s, -1)
    accuracy = metrics.stated_accuracy(predicted.reshape(b * s, -1), requested.reshape(b * s, -1),
                                       stated.reshape(b * s, -1), names=FACTOR_NAMES)
    all_correct = metrics.all_stated_correct(predicted.reshape(b * s, -1),
                                             requested.reshape(b * s, -1),
                                             stated.reshape(b * s, -1))
    n_values = [len(FACTORS[k]) for k in FACTOR_NAMES]
    diversity = metrics.unstated_diversity(predicted, prompts.stated, n_values,
                                           names=FACTOR_NAMES)
    return T2IScores(accuracy, all_correct, diversity, b, s, seconds)


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
        ``{factor: fraction}`` for every factor of :data:`n2nlib.data.shapes.FACTOR_NAMES`.
    """
    prompts = list(prompts)
    if len(prompts) < 2:
        raise ValueError(f"residual_controls needs at least two prompts, got {len(prompts)}")
    grid = fixed_residual_grid(translator, prompts, n_residuals, temperature, seed=seed)
    p, r = grid.shape[:2]
    pred = classifier.predict_factors(grid.flatten(0, 1)).cpu().view(p, r, -1)
    same = (pred == pred[:1]).all(dim=0)  # (R, n_factors)
    return {name: float(same[:, j].float().mean()) for j, name in enumerate(FACTOR_NAMES)}


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


# -- the zoo's translator --------------------------------------------------------------------


class TextToImage(Net2Net):
    """The shipped text-to-image translator (``zoo.load("sbert-to-shapes")``): a
    :class:`~n2nlib.Net2Net` from Sentence-BERT into a dequantised generator.

    Its experts are fixed and come from their own sources (the bundled Sentence-BERT, the zoo's
    generator and dequantisation VAE); its own weights are τ's only, so ``state_dict`` and
    ``load_state_dict`` hold the cINN (keys ``cinn.*``).

    As an :class:`~n2nlib.experts.Expert` (what the zoo hands out), ``encode(texts)`` draws one
    code :math:`z_\\Theta = \\tau(v \\mid \\Phi(\\text{text}))` per sentence, ``dim`` is the
    target's, and ``decode(z)`` makes the images: ``decode(encode(texts))`` is
    ``translate(texts, n_samples=1)``.

    Arguments:
        cinn: the cINN's config (:meth:`~n2nlib.ConditionalINN.get_config`).
        source: ``{"name": ..., "kwargs": ...}`` of a registered text expert (default
            Sentence-BERT on the bundled model).
        generator: the zoo name of the generator.
        dequantizer: the zoo name of its dequantisation VAE.
        device: where everything runs.
        zoo_root: the zoo folder to load the generator and the VAE from (default: shipped).
    """

    def __init__(
        self,
        cinn: dict[str, Any],
        source: dict[str, Any] | None = None,
        generator: str = GENERATOR,
        dequantizer: str = DEQUANTIZER,
        device: str | torch.device | None = None,
        zoo_root: str | None = None,
    ) -> None:
        from n2nlib.experts.base import create_expert

        source = source or {"name": "sentence-bert", "kwargs": {}}
        src = create_expert(source["name"], **source.get("kwargs", {}))
        tgt = load_target(generator, dequantizer, root=zoo_root, device=device)
        super().__init__(src, tgt, cinn_from_config(cinn), device=device)
        self.config: dict[str, Any] = {"cinn": dict(cinn), "source": dict(source),
                                       "generator": generator, "dequantizer": dequantizer}
        self.dim = int(tgt.dim)
        self.name = f"TextToImage({generator})"

    def encode(self, texts: Sequence[str]) -> Tensor:
        """One translated code :math:`z_\\Theta` per sentence, ``(B, dim)``."""
        return self.translate(list(texts), n_samples=1, decode=False)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """τ's weights only (``cinn.*``); the experts are fixed and stored elsewhere."""
        return {f"cinn.{k}": v for k, v in self.cinn.state_dict().items()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """Load τ's weights (keys ``cinn.*``)."""
        extra = [k for k in state_dict if not k.startswith("cinn.")]
        if strict and extra:
            raise RuntimeError(f"unexpected keys {extra[:5]} (a TextToImage stores only cinn.*)")
        own = {k[len("cinn."):]: v for k, v in state_dict.items() if k.startswith("cinn.")}
        return self.cinn.load_state_dict(own, strict=strict, assign=assign)


def text_to_image_widget(
    translator: Any,
    prompt: str = "a large red star in the top left corner",
    *,
    n_samples: int = 8,
    seed: int = 0,
) -> Any:
    """An ipywidgets demo: a text box and a temperature slider redraw a grid of samples.

    Arguments:
        translator: a text-to-image :class:`~n2nlib.Net2Net`.
        prompt: the initial sentence.
        n_samples: images per redraw.
        seed: the residual draws are fixed, so the slider only rescales them.

    Returns:
        The widget (display it as the last expression of a cell).
    """
    import ipywidgets as widgets
    from IPython.display import display

    from n2nlib import plots

    text = widgets.Text(value=prompt, description="prompt", layout={"width": "60%"},
                        continuous_update=False)
    temp = widgets.FloatSlider(value=1.0, min=0.0, max=1.5, step=0.1, description="temperature",
                               continuous_update=False)
    out = widgets.Output()

    def redraw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            if not text.value.strip():
                print("type a sentence")
                return
            gen = torch.Generator().manual_seed(seed)
            images = translator.translate([text.value], n_samples=n_samples,
                                          temperature=float(temp.value), generator=gen)
            fig = plots.image_grid(images.cpu(), nrow=n_samples, title=text.value)
            display(fig)
            plots.close(fig)

    text.observe(redraw, names="value")
    temp.observe(redraw, names="value")
    redraw()
    return widgets.VBox([text, temp, out])


# -- measuring the experts (zoo cards) ---------------------------------------------------------


def _classifier(classifier: Any = None) -> Any:
    if classifier is not None:
        return classifier
    from n2nlib import zoo

    return zoo.load(CLASSIFIER)


@torch.no_grad()
def _generate(generator: Any, noise: Tensor, labels: Tensor, batch_size: int = 500) -> Tensor:
    return torch.cat([generator.generate(noise[i : i + batch_size], labels[i : i + batch_size])
                      .cpu() for i in range(0, len(noise), batch_size)])


@torch.no_grad()
def evaluate_generator(
    generator: Any, n: int = 2000, *, classifier: Any = None, truncation: float = 1.0,
    seed: int = 1000,
) -> dict[str, float]:
    """Measure a class-conditional shapes generator with the attribute classifier.

    Arguments:
        generator: a :class:`~n2nlib.experts.generator.ShapesGenerator`.
        n: generated images (classes in turn).
        classifier: the attribute classifier (default: the zoo's ``shapes-attributes-v1``).
        truncation: of the noise.
        seed: seed of the noise.

    Returns:
        ``class_agreement`` (shape and colour both as requested), ``accuracy/shape``,
        ``accuracy/color``; ``entropy/<factor>`` — the normalised entropy of size, position and
        background over all images (what the noise varies); ``noise_controls/<factor>`` — for
        one noise decoded with 8 different classes, the fraction of noises for which the factor
        is read the same in all 8 (the noise, not the class, sets it).
    """
    from n2nlib import metrics

    clf = _classifier(classifier)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % generator.num_classes
    noise = truncated_noise(n, generator.z_dim, truncation, gen)
    pred = clf.predict_factors(_generate(generator, noise, labels)).cpu()
    shape, color = class_factors(labels)
    out = {
        "class_agreement": float(((pred[:, 0] == shape) & (pred[:, 1] == color)).float().mean()),
        "accuracy/shape": float((pred[:, 0] == shape).float().mean()),
        "accuracy/color": float((pred[:, 1] == color).float().mean()),
    }
    for j, name in enumerate(FACTOR_NAMES[2:], start=2):
        out[f"entropy/{name}"] = metrics.normalized_entropy(pred[:, j], len(FACTORS[name]))
    m, k = max(n // 16, 8), 8
    noise = truncated_noise(m, generator.z_dim, truncation, gen).repeat_interleave(k, 0)
    labels = torch.randint(0, generator.num_classes, (m * k,), generator=gen)
    pred = clf.predict_factors(_generate(generator, noise, labels)).cpu().view(m, k, -1)
    for j, name in enumerate(FACTOR_NAMES[2:], start=2):
        same = (pred[:, :, j] == pred[:, :1, j]).all(dim=1)
        out[f"noise_controls/{name}"] = float(same.float().mean())
    return out


@torch.no_grad()
def evaluate_dequantizer(
    vae: DequantizationVAE, generator: Any, n: int = 2000, *, classifier: Any = None,
    seed: int = 1000,
) -> dict[str, float]:
    """Measure the dequantisation VAE: is :math:`\\hat h` close to :math:`h`, and does it
    decode to the same class?

    Returns:
        ``recon_r2`` — :math:`1 - E\\|\\hat h - h\\|^2 / E\\|h - \\bar h\\|^2` over classes;
        ``nearest_class`` — fraction of :math:`\\hat h` whose nearest class embedding is the
        true one; ``class_agreement`` — fraction of images ``decode([z̃, ĥ])`` whose shape
        and colour (attribute classifier) are the class's; ``class_agreement/exact_h`` — the
        same with :math:`h = Wc` itself, for reference.
    """
    clf = _classifier(classifier)
    gen = torch.Generator().manual_seed(seed)
    w = generator.class_embedding_matrix.detach().float().cpu().T  # (K, d)
    labels = torch.arange(n) % w.shape[0]
    h = w[labels]
    device = next(vae.parameters()).device
    h_hat = vae.dequantize(h.to(device), generator=gen).cpu()
    r2 = 1.0 - float((h_hat - h).pow(2).sum(1).mean() / (w - w.mean(0)).pow(2).sum(1).mean())
    nearest = torch.cdist(h_hat, w).argmin(1)
    noise = truncated_noise(n, generator.z_dim, 1.0, gen)
    shape, color = class_factors(labels)
    out = {"recon_r2": r2, "nearest_class": float((nearest == labels).float().mean())}
    for key, emb in (("class_agreement", h_hat), ("class_agreement/exact_h", h)):
        z = torch.cat([noise, emb], 1)
        images = torch.cat([generator.decode(z[i : i + 500]).cpu() for i in range(0, n, 500)])
        pred = clf.predict_factors(images).cpu()
        out[key] = float(((pred[:, 0] == shape) & (pred[:, 1] == color)).float().mean())
    return out


def train_dequantizer(
    generator: Any, *, steps: int = 2000, batch_size: int = 256, lr: float = 1e-3,
    seed: int = 0, progress: bool = True, **vae_kwargs: Any,
) -> DequantizationVAE:
    """Train a :class:`~n2nlib.experts.dequant.DequantizationVAE` on a generator's class
    embeddings (the columns of W, each class equally often), with the zoo's expert loop.

    Arguments:
        generator: anything with ``class_embedding_matrix`` ``(embed_dim, K)`` — the shapes
            generator, or the real BigGAN (then ``hidden`` and ``steps`` may want to grow).
        steps, batch_size, lr, seed, progress: of :func:`n2nlib.zoo.training.fit_expert`.
        **vae_kwargs: architecture (``hidden``, ``n_layers``, ``latent_dim``, ``min_std``).

    Returns:
        The trained VAE (eval mode, on the generator's device).
    """
    from n2nlib.experts.dequant import DequantizationObjective
    from n2nlib.zoo.training import fit_expert

    w = generator.class_embedding_matrix.detach().float().T.contiguous()
    vae = DequantizationVAE(int(w.shape[1]), **vae_kwargs).to(w.device)
    vae.set_normalization(w)
    reps = max(1, math.ceil(4 * batch_size / w.shape[0]))
    fit_expert(vae, DequantizationObjective(), {"h": w.repeat(reps, 1)}, steps=steps,
               batch_size=batch_size, lr=lr, warmup=min(100, steps // 10), seed=seed,
               progress=progress, desc="training dequantisation VAE")
    return vae.eval()


def measure_translator(
    translator: Any,
    classifier: Any = None,
    *,
    n_prompts: int = 200,
    n_compositional: int = 100,
    n_samples: int = 16,
    temperature: float = 1.0,
    seed: int = 1000,
    batch_size: int = 64,
    n_train_phrasings: int = 0,
) -> dict[str, T2IScores]:
    """The measurements of notebook 06 and of the ``sbert-to-shapes`` card.

    Arguments:
        translator: a text-to-image Net2Net (or the MLP baseline).
        classifier: the attribute classifier (default: the zoo's ``shapes-attributes-v1``).
        n_prompts: prompts in held-out phrasings, shape–colour pairs of training captions.
        n_compositional: prompts in held-out phrasings that name a pair of
            :data:`HELD_OUT_PAIRS` (shape and colour always stated).
        n_train_phrasings: also this many prompts in *training* phrasings (new sentences of
            the training templates and words; 0: none), and ``n_compositional`` compositional
            ones — what separates the translator from its text expert (see
            :func:`text_expert_ceiling`).
        n_samples: images per prompt.
        temperature: of the residual draws.
        seed: seed of the prompts and the draws.
        batch_size: prompts translated at once (``batch_size * n_samples`` images are
            decoded together: smaller saves memory).

    Returns:
        ``{"held-out phrasings": T2IScores, "compositional": T2IScores}``, and with
        ``n_train_phrasings`` also ``"training phrasings"`` and ``"compositional, training
        phrasings"``.
    """
    clf = _classifier(classifier)
    # (name, phrasings, prompts, compositional); set i draws its prompts and images with seed + i
    sets = [("held-out phrasings", "test", n_prompts, False),
            ("compositional", "test", n_compositional, True)]
    if n_train_phrasings:
        sets += [("training phrasings", "train", n_train_phrasings, False),
                 ("compositional, training phrasings", "train", n_compositional, True)]
    out = {}
    for i, (name, split, n, compositional) in enumerate(sets):
        pairs = ({"only_pairs": HELD_OUT_PAIRS, "always": ("shape", "color")} if compositional
                 else {"exclude_pairs": HELD_OUT_PAIRS})
        prompts = make_prompts(n, seed + i, split=split, **pairs)
        out[name] = evaluate(translator, clf, prompts, n_samples, temperature,
                             batch_size=batch_size, seed=seed + i)
    return out


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
    from n2nlib.cache import encode_latents

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


def _card_quality(scores: Mapping[str, T2IScores]) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in summarize_scores(scores).items()}


# -- zoo recipes and training -------------------------------------------------------------------

_CONTEXT: dict[str, Any] = {"root": None}  # the zoo folder a training run writes into


def _generator_data(n: int, seed: int) -> dict[str, Tensor]:
    from n2nlib.data.shapes import render_shapes_full
    from n2nlib.experts.generator import known_noise

    factors = sample_factors(n, seed, split="train", background="mixed")
    r = render_shapes_full(factors, 32, seed, "train")
    known = known_noise(r.centers, r.radii, r.colors, factors,
                        generator=torch.Generator().manual_seed(seed))
    return {"image": r.images, "factors": factors, "mask": r.masks, "known": known}


def _zoo_model(name: str) -> Any:
    """``name`` from the zoo being written (if it is there), else from the shipped zoo."""
    from n2nlib import zoo

    root = _CONTEXT["root"]
    if root is not None and name in zoo.registry(root):
        return zoo.load(name, root=root)
    return zoo.load(name)


def _recipe_generator() -> Any:
    try:
        return _zoo_model(GENERATOR)
    except (ValueError, OSError, RuntimeError):
        if _CONTEXT.get("fast"):  # --fast pipeline check before any generator was trained
            return ShapesGenerator()
        raise


def _dequantizer_data(n: int, seed: int) -> dict[str, Tensor]:
    w = _recipe_generator().class_embedding_matrix.detach().float().cpu().T.contiguous()
    return {"h": w.repeat(max(1, n // w.shape[0]), 1)}


def _dequantizer_objective() -> Any:
    from n2nlib.experts.dequant import DequantizationObjective

    w = _recipe_generator().class_embedding_matrix.detach().float().cpu().T.contiguous()
    return DequantizationObjective(embeddings=w, kl_warmup=300)


_GENERATOR_CONFIG = {"size": 32, "z_dim": 16, "embed_dim": 32, "width": 16, "max_width": 128,
                     "encoder_width": 16, "attention": True}
_DEQUANTIZER_CONFIG = {"dim": 32, "latent_dim": 32, "hidden": 256, "n_layers": 3,
                       "min_std": 0.1}


def zoo_recipes() -> list[Any]:
    """The zoo recipes of the text-to-image experts (``shapes-generator``,
    ``shapes-generator-dequant``) as :class:`n2nlib.zoo.training.Recipe` objects, trained by
    the zoo's own loop (:func:`n2nlib.zoo.training.fit_expert`).

    >>> [r.name for r in zoo_recipes()]
    ['shapes-generator', 'shapes-generator-dequant']
    """
    from n2nlib.experts.generator import GeneratorObjective
    from n2nlib.zoo.training import Recipe, augment_flip_shapes

    generator = Recipe(
        name=GENERATOR,
        kind="generator",
        summary="A class-conditional generator with BigGAN's interface (noise z̃ + class "
                "embedding h = Wc, 40 classes = shape × colour): the offline target expert of "
                "the BERT-to-BigGAN notebook.",
        model=ShapesGenerator,
        config=dict(_GENERATOR_CONFIG),
        make_data=_generator_data,
        n_train=20000,
        steps=3000,
        batch_size=64,
        lr=2e-3,
        objective=lambda: GeneratorObjective(kl_weight=1.0, mask_weight=1.0),
        augment=augment_flip_shapes,
        evaluate=lambda model, n: evaluate_generator(model, n),
        eval_n=2000,
        data="20,000 images `render_shapes(sample_factors(n, seed=0, background='mixed'))` "
             "with their factors (class = shape × colour), half plain and half photo "
             "backgrounds; random left-right flips",
        held_out="2,000 generated images (z̃ ~ truncated N(0, I), classes in turn), read by "
                 "the zoo's shapes-attributes-v1 classifier",
        architecture="BigGAN-style layered generator, z̃ ∈ R^16 (7 Gaussianised renderer "
                     "parameters x, y, radius, colour jitter ×3, photo flag + 9 inferred), "
                     "h = Wc ∈ R^32 (W: 32×40, no bias). Shape layer: FC([z̃_known, h]) → "
                     "4×4×64; 3 residual up-blocks (64, 32, 16 ch) with batch norm conditioned "
                     "on the same; non-local block at 16×16; BN, ReLU, conv → mask α; one "
                     "foreground colour (linear). Background: photo flag > 0 → a half-width "
                     "trunk on [flag, z̃_free]; ≤ 0 → the plain layer (grey level, tint and "
                     "gradient, bounded, linear in z̃_free; blotches 0.03·R z̃_free, R a fixed "
                     "random 48×9 map, upsampled bicubically). Image = "
                     "α·fg + (1 − α)·bg. Training encoder q(z̃_free|y): 3×3 stem (16 ch), 3 "
                     "downsampling ResNet blocks, FC → (μ, log σ²)",
        notes=(
            "Trained as a conditional VAE (the ELBO: L1 pixel NLL with a learnable scale γ, "
            "KL weight 1, true class given to the decoder), not as a GAN: on two shared CPU "
            "cores a GAN is neither fast nor reliable, a VAE is both. Sampling is BigGAN's: "
            "z̃ from a (truncated) normal, any class.",
            "The shape layer's α is also fitted to the renderer's mask (binary cross-entropy, "
            "weight 1): the shapes are small, and from the pixel loss alone α learns them "
            "slowly.",
            "The encoder is kept (`noise_distribution`) to show what z̃ holds; BigGAN has none.",
            "The plain layer is switched on the photo flag by construction: with one "
            "background trunk for both, the encoder told plain from photo in the free "
            "dimensions, the trunk ignored the flag, and prior noise decoded to photo-like "
            "backgrounds almost always (background entropy 0.21 over random noise).",
        ),
    )
    dequantizer = Recipe(
        name=DEQUANTIZER,
        kind="dequantizer",
        summary="The small fully connected VAE of supplement Table S4 on the class embeddings "
                "h = Wc of shapes-generator: its stochastic reconstruction ĥ dequantises the "
                "class part of z_Θ = [z̃, ĥ] (Eq. 24).",
        model=DequantizationVAE,
        config=dict(_DEQUANTIZER_CONFIG),
        make_data=_dequantizer_data,
        n_train=4000,
        n_train_fast=400,
        steps=3000,
        batch_size=256,
        lr=1e-3,
        objective=_dequantizer_objective,
        evaluate=lambda model, n: evaluate_dequantizer(model, _recipe_generator(), n),
        eval_n=2000,
        data="the 40 class embeddings of shapes-generator (columns of W), 100 copies each",
        held_out="2,000 stochastic reconstructions ĥ (classes in turn), decoded with "
                 "shapes-generator and read by shapes-attributes-v1",
        architecture="Table S4 with width 256 instead of 4096: encoder 3×(FC, LReLU 0.01) → "
                     "(FC, LReLU) → 32; μ and log σ² heads 3×(FC, LReLU) → FC 32; decoder "
                     "4×(FC, LReLU) → FC 32; Gaussian output with a learned σ ≥ 0.1 "
                     "(standardised units)",
        notes=(
            "Inputs are standardised per dimension with the statistics of the 40 class "
            "embeddings; the last layers are linear (Table S4 ends each part with a LeakyReLU).",
            "The KL weight rises from 0 to 1 over the first 300 steps: with the full weight from "
            "the start this deep, narrow VAE stays in the collapsed solution (posterior = prior) "
            "for thousands of steps.",
            "The stochastic reconstruction samples the decoder's Gaussian too (σ floored at "
            "0.1), so that ĥ is full-dimensional although 40 classes need few latent "
            "dimensions.",
        ),
    )
    return [generator, dequantizer]


def _register_recipes() -> None:
    from n2nlib.zoo import training

    for recipe in zoo_recipes():
        training.RECIPES.setdefault(recipe.name, recipe)


def _save_translator(model: Net2Net, path: Path) -> None:
    from safetensors.torch import save_file

    state = {f"cinn.{k}": v.detach().to(torch.float16).contiguous()
             for k, v in model.cinn.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"name": TRANSLATOR, "format": "n2nlib-zoo-1",
                                          "storage": "float16"})


def train_translator(
    fast: bool = False,
    *,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    n_train: int | None = None,
    steps: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train ``sbert-to-shapes`` (synthetic data → :meth:`n2nlib.Net2Net.fit`), save τ in
    float16, reload it as shipped and measure it (:func:`measure_translator`), and write its
    registry entry and card.

    Arguments:
        fast: tiny data and a few steps (into a temporary folder unless ``out`` is given).
        out: the zoo folder to write into (default: the shipped zoo; never with ``fast``).
        seed: seed of the data and the training.
        n_train: synthetic examples (default 40,000; 2,000 with ``fast``).
        steps: cINN steps (default 6,000; 30 with ``fast``).
        device: where to train.
        progress: progress bars.
        threads: the torch threads the run used (recorded in the card's command).

    Returns:
        The card (a dict).
    """
    from n2nlib import zoo
    from n2nlib.experts._nets import n_parameters
    from n2nlib.zoo.training import machine_description

    root = Path(out) if out is not None else (
        Path(tempfile.mkdtemp(prefix="n2n-zoo-")) if fast else zoo.PACKAGE_ROOT)
    if fast and root.resolve() == zoo.PACKAGE_ROOT.resolve():
        raise ValueError("--fast never writes into the shipped zoo; choose another --out folder")
    _CONTEXT.update(root=root, fast=fast)
    settings.seed_everything(seed)
    n_train = n_train or (2000 if fast else 40000)
    steps = steps or (30 if fast else 6000)
    batch_size = 128
    zoo_root = None
    if root.resolve() != zoo.PACKAGE_ROOT.resolve() and GENERATOR in zoo.registry(root):
        zoo_root = str(root)
    classifier = zoo.load(CLASSIFIER, device=device)
    target = load_target(root=zoo_root, device=device)
    start = time.perf_counter()
    data = synthesize(n_train, target.generator, AttributeCaptioner(classifier), seed=seed,
                      progress=progress)
    translator = make_translator(target=target, device=device)
    pairs = translator.encode_data(data.pairs(), progress=progress)
    data_seconds = time.perf_counter() - start
    cpu_start = time.process_time()
    history = translator.fit(pairs, steps=steps, batch_size=batch_size, lr=1e-3,
                             warmup=min(200, steps // 10), seed=seed, progress=progress)
    cpu_seconds = time.process_time() - cpu_start
    rel = f"weights/{TRANSLATOR}.safetensors"
    weights = root / rel
    _save_translator(translator, weights)
    config: dict[str, Any] = {"cinn": translator.cinn.get_config(),
                              "source": {"name": "sentence-bert", "kwargs": {}},
                              "generator": GENERATOR, "dequantizer": DEQUANTIZER}
    if zoo_root is not None:
        config["zoo_root"] = zoo_root
    n_eval = (8, 4, 4) if fast else (200, 100, 16)
    card: dict[str, Any] = {
        "kind": "translator",
        "summary": "Text to image (the paper's Sec. 4.1 on offline experts): a cINN from "
                   "Sentence-BERT (all-MiniLM-L6-v2) into z_Θ = [z̃, ĥ] of shapes-generator, "
                   "dequantised by shapes-generator-dequant. "
                   "`zoo.load('sbert-to-shapes').translate([...], n_samples=8)`.",
        "architecture": (
            f"GroupedCINN(groups={translator.cinn.groups}, cond_dim=384, {CINN_CONFIG}): one "
            "ConditionalINN (Table S3 coupling blocks, MLP embedder of the sentence code) per "
            "group of z_Θ = [centre, radius, colour jitter, background, other noise, ĥ] "
            "(`text2image.translator_groups`)"
            if isinstance(translator.cinn, GroupedCINN) else
            f"ConditionalINN(dim=48, cond_dim=384, {CINN_CONFIG}) (Table S3 coupling blocks, "
            "MLP embedder of the sentence code)"),
        "dim": int(translator.target.dim),
        "parameters": n_parameters(translator.cinn),
        "data": f"{n_train:,} synthetic examples (`text2image.synthesize`): z̃ ~ N(0, I), class "
                "uniform, image by shapes-generator, caption by the shapes-attributes-v1 "
                "classifier in training templates (each factor stated with probability "
                f"{MENTION_PROBS}); no caption names a pair of {list(HELD_OUT_PAIRS)}",
        "held_out": f"{n_eval[0]} prompts in held-out phrasings (test templates/synonyms) × "
                    f"{n_eval[2]} samples; {n_eval[1]} compositional prompts naming a held-out "
                    f"pair; for comparison {n_eval[0]} + {n_eval[1]} new prompts of both "
                    "kinds in training phrasings (train_phrasings/...); images read by "
                    "shapes-attributes-v1",
        "quality": {},
        "command": f"python -m n2nlib.text2image train {TRANSLATOR}" + (
            " --fast" if fast else "") + (f" --threads {threads}" if threads else "") + (
            f" --seed {seed}" if seed else ""),
        "train_seconds": round(history.seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "data_seconds": round(data_seconds, 1),
        "steps": steps,
        "batch_size": batch_size,
        "machine": machine_description(),
        "notes": [
            "Trained with n2nlib.Net2Net.fit (the one cINN training loop); the experts are "
            "fixed and not stored here: the file holds τ only.",
            f"Agreement of the captioning expert with the requested class on the training "
            f"data: {data.agreement():.4f}.",
        ],
        "seed": seed,
        "n_train": n_train,
        "trained": time.strftime("%Y-%m-%d"),
    }
    entries = zoo.registry(root) if (root / zoo.REGISTRY_FILE).exists() else {}
    entries[TRANSLATOR] = {"class": "n2nlib.text2image:TextToImage", "config": config,
                           "file": rel, "sha256": zoo.sha256_file(weights),
                           "bytes": weights.stat().st_size, "storage": "float16", "card": card}
    zoo.write_registry(entries, root)
    shipped = zoo.load(TRANSLATOR, device=device, root=root)
    scores = measure_translator(shipped, classifier, n_prompts=n_eval[0],
                                n_compositional=n_eval[1], n_samples=n_eval[2],
                                n_train_phrasings=n_eval[0])
    card["quality"] = _card_quality(scores)
    entries = zoo.registry(root)
    entries[TRANSLATOR]["card"] = card
    zoo.write_registry(entries, root)
    return card


def train(
    name: str,
    fast: bool = False,
    *,
    out: str | os.PathLike | None = None,
    threads: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one of this module's zoo entries (``shapes-generator``,
    ``shapes-generator-dequant``, ``sbert-to-shapes``) into ``out`` (default: the shipped zoo).

    Returns:
        The written card.
    """
    from n2nlib import zoo
    from n2nlib.zoo import training

    if name == TRANSLATOR:
        if threads is not None:
            torch.set_num_threads(threads)
        return train_translator(fast, out=out, seed=seed, device=device, progress=progress,
                                threads=threads)
    if name not in (GENERATOR, DEQUANTIZER):
        raise ValueError(f"no text-to-image recipe named {name!r}; choose one of "
                         f"{[GENERATOR, DEQUANTIZER, TRANSLATOR]}")
    _register_recipes()
    if fast and out is None:
        out = tempfile.mkdtemp(prefix="n2n-zoo-")
    root = Path(out) if out is not None else zoo.PACKAGE_ROOT
    _CONTEXT.update(root=root, fast=fast)
    training.train_expert(name, fast=fast, out=out, threads=threads, seed=seed, device=device,
                          progress=progress)
    # the zoo's own command line does not know these recipes: name the one that ran
    entries = zoo.registry(root)
    card = entries[name]["card"]
    card["command"] = card["command"].replace("python -m n2nlib.zoo train",
                                              "python -m n2nlib.text2image train")
    zoo.write_registry(entries, root)
    return card


def main(argv: list[str] | None = None) -> int:
    """``python -m n2nlib.text2image train NAME|all [--fast] [--out DIR] [--threads N]``."""
    parser = argparse.ArgumentParser(prog="python -m n2nlib.text2image",
                                     description="train the text-to-image zoo entries")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("name", choices=[GENERATOR, DEQUANTIZER, TRANSLATOR, "all"])
    p.add_argument("--fast", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    names = [GENERATOR, DEQUANTIZER, TRANSLATOR] if args.name == "all" else [args.name]
    out = args.out
    if args.fast and out is None and len(names) > 1:
        out = tempfile.mkdtemp(prefix="n2n-zoo-")
    for name in names:
        card = train(name, args.fast, out=out, threads=args.threads, seed=args.seed,
                     device=args.device, progress=not args.no_progress)
        quality = ", ".join(f"{k}={v:.4g}" for k, v in card["quality"].items())
        print(f"{name}: {card['train_seconds']:.0f} s, {quality}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
