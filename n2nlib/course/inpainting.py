r"""Inpainting with a classifier as the source expert (paper Sec. 4.3, "texture-aware
inpainting" with a ResNet-50).

The source expert Φ is the zoo's attribute classifier, applied to an image with a hole cut
out of it (:func:`cut_holes`); the target is the autoencoder of whole images. τ learns
:math:`p(\Theta(y) \mid \Phi(\text{hole}(y)))`: everything the classifier reads from the
visible part of the image fixes the translation, the residual :math:`v` draws what the hole
hides. Neither expert ever saw a hole during its own training.

The measures (:func:`evaluate`): how close the samples stay to the truth *outside* the hole
(the classifier keeps the visible part, so the samples should too), which factors they share
with the truth, and how much they differ *inside* the hole, against the baseline of the
autoencoder reconstructing the image with the hole.

>>> holes = random_holes(2, size=8, side=4, seed=0)
>>> holes.shape, int(holes[0].sum())
(torch.Size([2, 8, 8]), 16)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["SOURCE", "HOLE", "FILL", "random_holes", "cut_holes", "region_psnr", "Inpainting",
           "evaluate"]

SOURCE = "shapes-attributes"
"""The zoo's attribute classifier: its hidden layer is Φ."""
HOLE = 14
"""Side of the square hole, in pixels of a 32×32 image (a fifth of the image)."""
FILL = 0.5
"""The grey value the hole is filled with."""


def random_holes(n: int, size: int = 32, side: int = HOLE, seed: int = 0) -> Tensor:
    """Square holes at uniform random places.

    Arguments:
        n: number of holes.
        size: image side.
        side: hole side (``1 <= side <= size``).
        seed: the same seed gives the same holes.

    Returns:
        ``(n, size, size)`` booleans, ``True`` inside the hole.
    """
    if not 1 <= side <= size:
        raise ValueError(f"side must be in [1, size={size}], got {side}")
    gen = torch.Generator().manual_seed(seed)
    corners = torch.randint(0, size - side + 1, (n, 2), generator=gen)
    grid = torch.arange(size)
    rows = (grid >= corners[:, :1]) & (grid < corners[:, :1] + side)
    cols = (grid >= corners[:, 1:]) & (grid < corners[:, 1:] + side)
    return rows[:, :, None] & cols[:, None, :]


def cut_holes(images: Tensor, holes: Tensor, fill: float = FILL) -> Tensor:
    """``images`` with the pixels inside ``holes`` set to ``fill``.

    >>> cut_holes(torch.ones(1, 3, 2, 2), torch.tensor([[[True, False], [False, False]]]))[0, 0]
    tensor([[0.5000, 1.0000],
            [1.0000, 1.0000]])
    """
    if images.ndim != 4 or holes.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"holes must be (N, H, W) for images (N, C, H, W), got "
                         f"{tuple(holes.shape)} and {tuple(images.shape)}")
    return torch.where(holes[:, None], torch.full_like(images, fill), images)


def region_psnr(images: Tensor, reference: Tensor, region: Tensor) -> float:
    """PSNR in dB over the pixels of ``region`` only, per image, averaged.

    Arguments:
        images, reference: ``(N, C, H, W)`` in [0, 1].
        region: ``(N, H, W)`` booleans.

    >>> x = torch.zeros(1, 1, 2, 2)
    >>> y = torch.tensor([[[[0.1, 0.5], [0.1, 0.1]]]])
    >>> round(region_psnr(x, y, torch.tensor([[[True, False], [True, True]]])), 2)
    20.0
    """
    if images.shape != reference.shape or region.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"images {tuple(images.shape)}, reference {tuple(reference.shape)} and "
                         f"region {tuple(region.shape)} do not match")
    weight = region[:, None].expand_as(images).double()
    err = (images.double() - reference.double()).pow(2).mul(weight).flatten(1).sum(1)
    mse = err / weight.flatten(1).sum(1).clamp_min(1.0)
    return float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())


@dataclass
class Inpainting:
    """Inpainting, measured (see :func:`evaluate`).

    Attributes:
        psnr_outside, psnr_inside: samples against the truth, outside / inside the hole (dB).
        baseline_outside, baseline_inside: the same for the autoencoder's reconstruction of
            the image with the hole.
        factors: per factor, the share of samples whose factor the classifier reads as the
            truth's; ``baseline_factors`` the same for the baseline.
        spread_inside, spread_outside: mean per-pixel standard deviation across the samples
            of one input, inside / outside the hole.
    """

    psnr_outside: float
    psnr_inside: float
    baseline_outside: float
    baseline_inside: float
    factors: dict[str, float]
    baseline_factors: dict[str, float]
    spread_inside: float
    spread_outside: float


@torch.no_grad()
def evaluate(classifier: Any, samples: Tensor, baseline: Tensor, truth: Tensor, holes: Tensor,
             factors: Tensor, n_samples: int) -> Inpainting:
    """Measure inpainting on held-out images.

    Arguments:
        classifier: the attribute classifier that reads the factors (``predict``).
        samples: ``(N · n_samples, 3, S, S)`` translations of the holed images
            (``repeat_interleave`` order).
        baseline: ``(N, 3, S, S)`` e.g. the autoencoder's reconstruction of the holed images.
        truth: ``(N, 3, S, S)`` the whole images.
        holes: ``(N, S, S)`` the holes.
        factors: ``(N, 5)`` the true factors.
        n_samples: samples per image (≥ 2).

    Returns:
        An :class:`Inpainting`.
    """
    from n2nlib import metrics
    from n2nlib.course.common import factor_agreement

    if n_samples < 2 or len(samples) != n_samples * len(truth):
        raise ValueError(f"samples must hold n_samples >= 2 per image, got {len(samples)} rows "
                         f"for {len(truth)} images and n_samples={n_samples}")
    rep = lambda t: t.repeat_interleave(n_samples, 0)  # noqa: E731
    std = metrics.pixel_std(samples, n_samples)  # (N, S, S)

    return Inpainting(
        psnr_outside=region_psnr(samples, rep(truth), rep(~holes)),
        psnr_inside=region_psnr(samples, rep(truth), rep(holes)),
        baseline_outside=region_psnr(baseline, truth, ~holes),
        baseline_inside=region_psnr(baseline, truth, holes),
        factors=factor_agreement(classifier, samples, factors, n_samples),
        baseline_factors=factor_agreement(classifier, baseline, factors),
        spread_inside=float(std[holes].mean()),
        spread_outside=float(std[~holes].mean()),
    )
