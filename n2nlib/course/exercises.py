"""The checks behind the "your turn" exercises of notebooks 01, 02 and 06.

Each exercise leaves a blank (``...``) for the reader; a hidden cell below it calls one of these
functions, which says ``not answered yet`` while the blank is there, and otherwise checks the
answer against the library itself and says what is right or wrong. A check returns its verdict
as a :class:`Verdict` (printed by the notebook), so that a notebook run with blanks still runs.

>>> check_coupling_inverse(...).status
'not answered yet'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "Verdict",
    "check_coupling_inverse",
    "lightest_mode_temperature",
    "check_mode_temperature",
    "check_prompt",
]


@dataclass(frozen=True)
class Verdict:
    """What a check found: ``status`` is ``"correct"``, ``"not yet"`` or
    ``"not answered yet"``; ``message`` says why."""

    status: str
    message: str

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


_BLANK = Verdict("not answered yet", "fill in the blank (...) in the cell above, then run both "
                                     "cells again")


def _is_blank(answer: Any) -> bool:
    return answer is ... or answer is None


def check_coupling_inverse(coupling_inverse: Callable[[Any, Tensor, Tensor], Tensor] | Any,
                           *, seed: int = 0) -> Verdict:
    """Notebook 01: ``coupling_inverse(block, y, h)`` must undo one
    :class:`~n2nlib.flows.coupling.AffineCoupling` — Eq. 22 first, then Eq. 21 — and return
    ``x`` with ``block(x, h)[0] == y``.

    The check builds a block with random (not identity) weights in float64, and compares the
    answer with the block's own inverse on random inputs.
    """
    if _is_blank(coupling_inverse):
        return _BLANK
    from n2nlib.flows.coupling import AffineCoupling
    from n2nlib.testing import perturb_parameters

    gen = torch.Generator().manual_seed(seed)
    block = AffineCoupling(4, cond_features=3, hidden=16).double()
    perturb_parameters(block, 0.3, generator=gen)
    y = torch.randn(32, 4, generator=gen, dtype=torch.float64)
    h = torch.randn(32, 3, generator=gen, dtype=torch.float64)
    try:
        with torch.no_grad():
            x = coupling_inverse(block, y, h)
    except NotImplementedError:
        return _BLANK
    if not isinstance(x, Tensor) or x.shape != y.shape:
        return Verdict("not yet", f"return a tensor of the shape of y {tuple(y.shape)}, got "
                                  f"{getattr(x, 'shape', type(x).__name__)}")
    with torch.no_grad():
        truth = block.inverse(y, h)[0]
        error = float((x.double() - truth).abs().max())
    if error < 1e-9:
        return Verdict("correct", f"block(x, h) gives y back (largest error {error:.1e})")
    with torch.no_grad():
        forward = float((block(x.double(), h)[0] - y).abs().max())
    return Verdict("not yet", f"block(your x, h) misses y by up to {forward:.3g}: undo the "
                              f"second update (Eq. 22) first, with z'_b = y_b known, then the "
                              f"first (Eq. 21); a scale e^s is undone by e^-s")


@torch.no_grad()
def lightest_mode_temperature(cinn: Any, task: Any, condition: float = 1.75, *,
                              n: int = 4000, seed: int = 0, step: float = 0.05) -> float:
    """Notebook 02: the lowest temperature (on a grid of ``step``) at which the mixture's
    lightest mode receives at least a quarter of its weight in samples of ``cinn``.

    Arguments:
        cinn: a trained 2-D :class:`~n2nlib.flows.ConditionalINN` with ``cond_dim=1``.
        task: the :class:`~n2nlib.course.toy.RingModes` it was trained on.
        condition: the radius.
        n: samples per temperature.
        seed: seed of the residuals (the same for every temperature).
        step: the grid of temperatures.

    Returns:
        The temperature, or ``nan`` if the mode stays empty up to 1.5.
    """
    from n2nlib import metrics

    p = next(cinn.parameters())
    c = torch.full((n, 1), float(condition), dtype=p.dtype, device=p.device)
    centres = task.centers(c[:1].cpu().double())[0]
    lightest = int(task.weights.argmin())
    share = float(task.weights[lightest])
    radius = 3 * float(task.sigma)
    for k in range(1, int(round(1.5 / step)) + 1):
        temperature = k * step
        gen = torch.Generator().manual_seed(seed)
        x = cinn.sample(c, temperature, generator=gen).cpu().double()
        shares = metrics.mode_shares(x, centres, radius)
        if float(shares[lightest]) >= share / 4:
            return round(temperature, 6)
    return float("nan")


def check_mode_temperature(answer: float | Any, cinn: Any, task: Any, *,
                           tolerance: float = 0.1, **kwargs: Any) -> Verdict:
    """Notebook 02: is ``answer`` within ``tolerance`` of :func:`lightest_mode_temperature`?"""
    if _is_blank(answer):
        return _BLANK
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Verdict("not yet", f"answer with a number (a temperature), got {answer!r}")
    truth = lightest_mode_temperature(cinn, task, **kwargs)
    if abs(value - truth) <= tolerance:
        return Verdict("correct", f"the lightest mode first gets a quarter of its share at "
                                  f"T ≈ {truth:.2f}")
    hint = "higher" if value < truth else "lower"
    return Verdict("not yet", f"at T = {value:.2f} the lightest mode is "
                              f"{'still empty' if value < truth else 'long filled'}: look "
                              f"{hint} (draw the samples at a few temperatures, as in the "
                              f"row of pictures above)")


@torch.no_grad()
def check_prompt(prompt: str | Any, translator: Any, classifier: Any,
                 wanted: dict[str, str], *, n_samples: int = 8, need: int = 6,
                 seed: int = 0) -> Verdict:
    """Notebook 06: does ``translator`` turn ``prompt`` into images with every ``wanted``
    factor, as the attribute ``classifier`` reads them, in at least ``need`` of ``n_samples``?

    Arguments:
        prompt: the reader's sentence.
        translator: a text-to-image Net2Net.
        classifier: reads the factors of images (``predict_factors``).
        wanted: ``{factor: value}``, e.g. ``{"shape": "heart", "color": "green"}``.
        n_samples: images drawn.
        need: how many must have every wanted factor.
        seed: seed of the residuals.
    """
    if _is_blank(prompt):
        return _BLANK
    if not isinstance(prompt, str) or not prompt.strip():
        return Verdict("not yet", f"the answer is a sentence, got {prompt!r}")
    from n2nlib.data.factors import FACTOR_NAMES, FACTORS

    unknown = {k: v for k, v in wanted.items()
               if k not in FACTORS or v not in FACTORS[k]}
    if unknown:
        raise ValueError(f"wanted names factors/values that do not exist: {unknown}")
    gen = torch.Generator().manual_seed(seed)
    images = translator.translate([prompt], n_samples=n_samples, generator=gen)
    read = classifier.predict_factors(images).cpu()
    ok = torch.ones(len(read), dtype=torch.bool)
    missing = []
    for name, value in wanted.items():
        hit = read[:, FACTOR_NAMES.index(name)] == FACTORS[name].index(value)
        ok &= hit
        if int(hit.sum()) < need:
            missing.append(f"{name} {value} ({int(hit.sum())} of {n_samples})")
    if int(ok.sum()) >= need:
        return Verdict("correct", f"{int(ok.sum())} of {n_samples} images are read as "
                                  + ", ".join(wanted.values()))
    return Verdict("not yet", f"only {int(ok.sum())} of {n_samples} images have everything; "
                              f"short of: {', '.join(missing) or 'all at once'}. Try other "
                              f"words for what is missing")
