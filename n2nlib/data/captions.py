"""English captions of the shapes world: templates and synonyms, with held-out phrasings for
the test split (:func:`caption`, :func:`make_captions`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from n2nlib.data._common import (
    check_int,
    check_split,
    seed_sequence,
)
from n2nlib.data.factors import (
    FACTOR_NAMES,
    FACTORS,
    _as_factor_tensor,
    _as_rng,
    _check_factor_value,
)

__all__ = [
    "Caption",
    "Template",
    "TEMPLATES",
    "NOUN_PHRASES",
    "SYNONYMS",
    "POSITION_LABELS",
    "GENERIC_NOUNS",
    "caption",
    "make_captions",
]


@dataclass(frozen=True)
class Template:
    """A caption template.

    Arguments:
        text: a format string with the slots ``{np}`` (noun phrase), ``{pos}`` (prepositional
            position phrase) or ``{pos_label}`` (short position label), and ``{bg}``
            (background phrase); slots of unstated factors are left empty. Noun phrase
            patterns use ``{size}``, ``{color}`` and ``{shape}``.
        requires: the factors that must be stated for the template to be used.
    """

    text: str
    requires: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Caption:
    """A generated caption.

    Attributes:
        text: the sentence.
        stated: the factor names the sentence states (a subset of :data:`FACTOR_NAMES`).
        novel: whether it uses a template or word reserved for the held-out split.
    """

    text: str
    stated: frozenset[str]
    novel: bool = False

    def __str__(self) -> str:
        return self.text


_P = frozenset({"position"})
_B = frozenset({"background"})

TEMPLATES: dict[str, tuple[Template, ...]] = {
    "train": (
        Template("{np} {pos} {bg}"),
        Template("there is {np} {pos} {bg}"),
        Template("a picture of {np} {pos} {bg}"),
        Template("an image with {np} {pos} {bg}"),
        Template("{pos_label}: {np} {bg}", _P),
        Template("{pos}, {np} {bg}", _P),
        Template("{np}, {pos_label}, {bg}", _P),
        Template("{bg}, {np} {pos}", _B),
    ),
    "test": (
        Template("you can see {np} {pos} {bg}"),
        Template("this image contains {np} {pos} {bg}"),
        Template("{np} is shown {pos} {bg}"),
        Template("{np} {bg}, toward the {pos_label}", _P),
    ),
}
"""Sentence templates; ``"test"`` ones are never used for ``split="train"`` captions."""

NOUN_PHRASES: dict[str, tuple[Template, ...]] = {
    "train": (
        Template("a {size} {color} {shape}"),
        Template("a {size} {shape} in {color}", frozenset({"color"})),
    ),
    "test": (Template("a {size} {shape} which is {color}", frozenset({"color"})),),
}
"""Noun phrase patterns (slots ``{size}``, ``{color}``, ``{shape}``)."""


def _syn(train: Sequence[str], test: Sequence[str]) -> dict[str, tuple[str, ...]]:
    return {"train": tuple(train), "test": tuple(test)}


SYNONYMS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "shape": {
        "circle": _syn(["circle", "disc", "dot"], ["orb"]),
        "square": _syn(["square", "box"], ["block"]),
        "triangle": _syn(["triangle", "three-sided shape"], ["triangular shape"]),
        "star": _syn(["star", "five-pointed star"], ["pentagram"]),
        "heart": _syn(["heart", "love heart"], ["valentine"]),
    },
    "color": {
        "red": _syn(["red", "scarlet"], ["crimson"]),
        "green": _syn(["green", "lime"], ["emerald"]),
        "blue": _syn(["blue", "cobalt"], ["azure"]),
        "yellow": _syn(["yellow", "golden"], ["lemon"]),
        "purple": _syn(["purple", "violet"], ["lavender"]),
        "orange": _syn(["orange", "tangerine"], ["amber"]),
        "white": _syn(["white", "snow-white"], ["ivory"]),
        "cyan": _syn(["cyan", "turquoise"], ["aqua"]),
    },
    "size": {
        "small": _syn(["small", "little"], ["tiny"]),
        "large": _syn(["large", "big"], ["huge"]),
    },
    "position": {
        "top left": _syn(["in the top left corner", "at the top left", "in the upper left"],
                         ["up and to the left"]),
        "top": _syn(["at the top", "at the top center", "in the upper middle"],
                    ["along the top edge"]),
        "top right": _syn(["in the top right corner", "at the top right", "in the upper right"],
                          ["up and to the right"]),
        "left": _syn(["on the left", "at the left side", "in the middle left"],
                     ["along the left edge"]),
        "center": _syn(["in the center", "in the middle"], ["in the centre"]),
        "right": _syn(["on the right", "at the right side", "in the middle right"],
                      ["along the right edge"]),
        "bottom left": _syn(["in the bottom left corner", "at the bottom left",
                             "in the lower left"], ["down and to the left"]),
        "bottom": _syn(["at the bottom", "at the bottom center", "in the lower middle"],
                       ["along the bottom edge"]),
        "bottom right": _syn(["in the bottom right corner", "at the bottom right",
                              "in the lower right"], ["down and to the right"]),
    },
    "background": {
        "plain": _syn(["on a dark background", "on a plain background"],
                      ["against a dim backdrop"]),
        "photo": _syn(["on a photo", "over a photograph"], ["against a photographic backdrop"]),
    },
}
"""Factor -> value -> ``{"train": words, "test": held-out words}``; positions and backgrounds
are prepositional phrases."""

POSITION_LABELS: dict[str, dict[str, tuple[str, ...]]] = {
    "top left": _syn(["top left", "upper-left"], ["northwest"]),
    "top": _syn(["top", "top middle"], ["north"]),
    "top right": _syn(["top right", "upper-right"], ["northeast"]),
    "left": _syn(["left", "middle left"], ["west"]),
    "center": _syn(["center", "middle"], ["centre"]),
    "right": _syn(["right", "middle right"], ["east"]),
    "bottom left": _syn(["bottom left", "lower-left"], ["southwest"]),
    "bottom": _syn(["bottom", "bottom middle"], ["south"]),
    "bottom right": _syn(["bottom right", "lower-right"], ["southeast"]),
}
"""Short position labels for templates like ``"top left: a red star"``."""

GENERIC_NOUNS: dict[str, tuple[str, ...]] = {
    "train": ("shape", "object", "figure"),
    "test": ("item",),
}
"""Nouns used when the shape is not stated (``"a red shape at the top"``)."""

_AN = re.compile(r"\ba(?= [aeiou])")
_SPACES = re.compile(r"\s+")


def _factor_row(factors: object) -> list[int]:
    if isinstance(factors, Mapping):
        unknown = set(factors) - set(FACTOR_NAMES)
        if unknown:
            raise ValueError(
                f"factor names must be among {list(FACTOR_NAMES)}, got {sorted(unknown)}"
            )
        return [_check_factor_value(k, factors[k]) if k in factors else -1 for k in FACTOR_NAMES]
    row = _as_factor_tensor(factors)
    if row.shape[0] != 1:
        raise ValueError(
            f"caption takes the factors of one image (5 labels), got {tuple(row.shape)}"
        )
    return row[0].tolist()


def _check_mention(mention: Iterable[str] | None) -> frozenset[str]:
    if mention is None:
        return frozenset(FACTOR_NAMES)
    if isinstance(mention, str):
        mention = [mention]
    out = frozenset(mention)
    unknown = out - set(FACTOR_NAMES)
    if unknown:
        raise ValueError(f"mention must be factor names among {list(FACTOR_NAMES)}, "
                         f"got {sorted(unknown)}")
    return out


def caption(
    factors: Mapping[str, str | int] | Sequence[int] | torch.Tensor,
    rng: int | np.random.Generator = 0,
    split: str = "train",
    mention: Iterable[str] | None = None,
    *,
    novel: float = 0.5,
) -> Caption:
    """Describe one image in English.

    Arguments:
        factors: the image's 5 labels, or a dict factor name -> value name (factors that are
            not mentioned may be missing from the dict).
        rng: a NumPy Generator, or an int seed.
        split: ``"train"`` uses only the ``"train"`` entries of :data:`TEMPLATES`,
            :data:`NOUN_PHRASES`, :data:`SYNONYMS`, :data:`POSITION_LABELS` and
            :data:`GENERIC_NOUNS`; ``"test"`` takes, at every choice, a held-out entry with
            probability ``novel`` and a train entry otherwise.
        mention: the factors to state (default: all five); the others are left out, a missing
            shape becomes a generic noun ("shape", "object", ...).
        novel: see ``split``; ignored for train.

    Returns:
        A :class:`Caption` with ``.text`` and ``.stated`` (equal to ``mention``).

    >>> c = caption({"shape": "star", "color": "red"}, rng=0, mention=["shape", "color"])
    >>> sorted(c.stated)
    ['color', 'shape']
    """
    split = check_split(split)
    stated = _check_mention(mention)
    row = _factor_row(factors)
    missing = [k for k, v in zip(FACTOR_NAMES, row, strict=True) if v < 0 and k in stated]
    if missing:
        raise ValueError(
            f"caption must know the value of every mentioned factor, missing {missing}"
        )
    if not 0.0 <= float(novel) <= 1.0:
        raise ValueError(f"novel must be a probability in [0, 1], got {novel}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(seed_sequence(check_int("rng", rng, minimum=0), split, 0xCA9))
    used_novel = False

    def choose(pools: Mapping[str, Sequence]):
        nonlocal used_novel
        pool = pools["train"]
        if split == "test" and pools.get("test") and rng.random() < novel:
            pool = pools["test"]
            used_novel = True
        return pool[int(rng.integers(0, len(pool)))]

    def eligible(templates: Mapping[str, Sequence[Template]]) -> dict[str, list[Template]]:
        return {k: [t for t in v if t.requires <= stated] for k, v in templates.items()}

    value = {k: FACTORS[k][v] if v >= 0 else None
             for k, v in zip(FACTOR_NAMES, row, strict=True)}
    template = choose(eligible(TEMPLATES)).text
    pattern = choose(eligible(NOUN_PHRASES)).text
    words = {k: choose(SYNONYMS[k][value[k]]) if k in stated else ""
             for k in ("shape", "color", "size", "background")}
    if "shape" not in stated:
        words["shape"] = choose(GENERIC_NOUNS)
    pos = label = ""
    if "position" in stated:
        if "{pos_label}" in template:
            label = choose(POSITION_LABELS[value["position"]])
        else:
            pos = choose(SYNONYMS["position"][value["position"]])
    noun = pattern.format(size=words["size"], color=words["color"], shape=words["shape"])
    text = template.format(np=noun, pos=pos, pos_label=label, bg=words["background"])
    text = _SPACES.sub(" ", text).replace(" ,", ",").strip(" ,")
    text = _AN.sub("an", text)
    return Caption(text=text, stated=stated, novel=used_novel)


def make_captions(
    factors: torch.Tensor | np.ndarray | Sequence[Sequence[int]],
    seed: int | np.random.Generator = 0,
    split: str = "train",
    mention: str | Iterable[str] | None = "all",
    *,
    novel: float = 0.5,
) -> list[Caption]:
    """One caption per row of factor labels.

    Arguments:
        factors: integer labels ``(N, 5)``.
        seed: int seed (combined with ``split``) or NumPy Generator.
        split: ``"train"`` or ``"test"`` (see :func:`caption`).
        mention: ``"all"`` (or ``None``): state every factor; ``"random"``: each factor stated
            with probability 1/2 (at least one); or a collection of factor names for all rows.
        novel: probability of a held-out choice in test captions (see :func:`caption`).

    Returns:
        A list of :class:`Caption`.

    >>> from n2nlib.data.factors import make_factors
    >>> caps = make_captions(make_factors("star", "red", "large", "top left"), mention=["shape"])
    >>> caps[0].stated
    frozenset({'shape'})
    """
    factors = _as_factor_tensor(factors)
    split = check_split(split)
    rng = _as_rng(seed, split, stream=0xCA9)
    if mention == "random":
        picks = []
        for _ in range(factors.shape[0]):
            chosen: list[str] = []
            while not chosen:
                chosen = [k for k in FACTOR_NAMES if rng.random() < 0.5]
            picks.append(chosen)
    else:
        fixed = _check_mention(None if mention == "all" else mention)
        picks = [fixed] * factors.shape[0]
    return [caption(row, rng, split, mention=m, novel=novel)
            for row, m in zip(factors.tolist(), picks, strict=True)]
