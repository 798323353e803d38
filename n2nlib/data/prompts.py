"""Captions and prompts of the text-to-image experiment (Sec. 4.1): which factors a sentence
states, captioning experts that turn images into sentences, and prompt sets with what they ask.

>>> caps = caption_factors(torch.tensor([[3, 0, 1, 0, 0]]), rng=0, probs=ALL_STATED)
>>> caps[0].text
'at the top left, a big five-pointed star in scarlet on a plain background'
>>> prompts = make_prompts(4, seed=0)
>>> len(prompts.texts), tuple(prompts.factors.shape), tuple(prompts.stated.shape)
(4, (4, 5), (4, 5))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from n2nlib.data.captions import Caption, caption
from n2nlib.data.factors import FACTOR_NAMES, FACTORS, sample_factors

__all__ = [
    "HELD_OUT_PAIRS",
    "MENTION_PROBS",
    "ALL_STATED",
    "IMAGENET_CLASSES",
    "sample_mentions",
    "caption_factors",
    "Captions",
    "AttributeCaptioner",
    "ClassNameCaptioner",
    "PromptSet",
    "make_prompts",
]


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
    """Sentences for factor rows with :func:`n2nlib.data.captions.caption`, stating a random
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
        One :class:`~n2nlib.data.captions.Caption` per row.
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
