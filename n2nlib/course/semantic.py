r"""Semantic image synthesis, exemplar-guided synthesis, image-to-image and attribute
modification with one autoencoder (paper Sec. 4.2–4.3, Fig. 3, 5, 6, 7a, 14).

One target expert — the zoo's shapes autoencoder g = Λ∘Θ — and several *source* experts f,
each solving another task through its own cINN τ:

* **label maps → image** (Fig. 14): Φ = the one-hot argmax of the zoo's segmenter
  (:class:`~n2nlib.nets.edges.LabelMaps` of ``segmenter.predict_masks``). A label map says
  where each shape is, nothing about colours or backgrounds: high variability.
* **segmenter logits → image** (Fig. 5/7 text, "controlling variability"): Φ = the segmenter's
  logits, which still carry some of the image (contrast, confidence): lower variability.
* **exemplar-guided** (Fig. 7a): :math:`v = \tau^{-1}(\Theta(y) \mid \Phi(y))` of an exemplar
  ``y`` is applied with a new label map: the new layout in ``y``'s style.
* **edge-to-image** and **colorisation** (Fig. 3): Φ = a Sobel edge map or the luminance
  (:mod:`n2nlib.nets.edges`).
* **attribute modification** (Fig. 6): Φ = the attribute vector itself
  (:class:`~n2nlib.nets.edges.AttributeVectors`); one attribute is changed and the residual of
  the original image keeps the rest.

Everything is measured with the zoo's segmenter (mIoU of generated images against the label
maps they came from) and attribute classifier (which factors a generated image has).
The target codes are encoded once (:func:`encode_targets`) and shared by every translator
(:func:`latent_pairs`).

>>> data = make_data(4, split="test", seed=0)
>>> data.images.shape, data.masks.shape, data.factors.shape
(torch.Size([4, 3, 32, 32]), torch.Size([4, 32, 32]), torch.Size([4, 5]))
>>> new, which = change_one_factor(data.factors, seed=0)
>>> int(((new != data.factors).sum(1) == 1).sum())
4
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from n2nlib import metrics
from n2nlib.course.common import (
    LinearCode,
    TrainedTranslator,
    _repeat,
    encode_targets,
    factor_agreement,
    fit_linear_code,
    fit_translator,
    latent_pairs,
)
from n2nlib.encoding import encode_latents
from n2nlib.experts.base import reconstruct as _reconstruct

__all__ = [
    "WORLD",
    "factor_means",
    "mean_shift_edit",
    "TARGET",
    "SEGMENTER",
    "CLASSIFIER",
    "N_CLASSES",
    "SemanticData",
    "make_data",
    "encode_targets",
    "latent_pairs",
    "TrainedTranslator",
    "fit_translator",
    "LinearCode",
    "fit_linear_code",
    "translate",
    "exemplar_transfer",
    "reconstruct",
    "segmentation_miou",
    "foreground_iou",
    "pixel_diversity",
    "factor_agreement",
    "edge_agreement",
    "factor_probes",
    "change_one_factor",
    "ModificationScores",
    "modification_scores",
    "distinct_values",
    "PALETTE",
    "colorize_labels",
]

WORLD = "v2"
"""The shapes world (:data:`n2nlib.data.WORLDS`) the experts below were trained on."""
TARGET = "shapes-ae-swap"
"""The zoo's autoencoder g = Λ∘Θ: the one target expert of every task here. Its code has an
appearance part and a geometry part (its card); with ``shapes-ae``, whose code stores a
shape's colour where the shape is, an exemplar's colour did not follow a moved shape
(``benchmarks/RESULTS.md``, notebook 08)."""
SEGMENTER = "shapes-segmenter"
"""The zoo's segmenter: the source of label maps and logits, and the mIoU measuring stick."""
CLASSIFIER = "shapes-attributes"
"""The zoo's attribute classifier, which reads the factors of generated images."""
N_CLASSES = 6
"""Segmentation classes: background and the five shapes."""


@dataclass
class SemanticData:
    """Images with their true masks and factors (and, once computed, the segmenter's maps).

    Attributes:
        images: ``(N, 3, S, S)`` in [0, 1].
        masks: ``(N, S, S)`` the renderer's masks (0 background, ``k + 1`` shape ``k``).
        factors: ``(N, 5)`` factor labels.
        labels: ``(N, S, S)`` the segmenter's argmax label maps (``None`` until
            :meth:`segment` is called).
    """

    images: Tensor
    masks: Tensor
    factors: Tensor
    labels: Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def segment(self, segmenter: Any, batch_size: int = 512) -> Tensor:
        """Compute (once) and return the segmenter's label maps of the images."""
        if self.labels is None:
            self.labels = segmenter.predict_masks(self.images, batch_size=batch_size)
        return self.labels


def make_data(n: int, split: str = "train", seed: int = 0, size: int = 32,
              background: str = "mixed") -> SemanticData:
    """Shapes images of both backgrounds with masks and factors (test split: held-out photos).

    Arguments:
        n: number of images.
        split: ``"train"`` or ``"test"``.
        seed: the same seed gives the same images.
        size: image side.
        background: ``"mixed"``, ``"plain"`` or ``"photo"``.

    Returns:
        A :class:`SemanticData` (without segmenter label maps yet).
    """
    from n2nlib.data import render_shapes, sample_factors

    factors = sample_factors(n, seed, split=split, background=background)
    images, masks = render_shapes(factors, size, seed, split, world=WORLD)
    return SemanticData(images, masks, factors)


def _batches(n: int, batch_size: int, progress: bool, desc: str) -> Any:
    from n2nlib.settings import progress_bar as tqdm

    starts = range(0, n, batch_size)
    return tqdm(starts, desc=desc, disable=not progress or len(starts) < 2, leave=False)


@torch.no_grad()
def translate(n2n: Any, inputs: Any, n_samples: int = 1, temperature: float = 1.0, *,
              seed: int = 0, batch_size: int = 128, progress: bool = True) -> Tensor:
    """Translations :math:`\\Lambda(\\tau(v \\mid \\Phi(x)))`, ``n_samples`` per input, on the CPU.

    Arguments:
        n2n: a trained :class:`~n2nlib.Net2Net`.
        inputs: ``B`` source inputs (images, label maps, factor labels: what its source takes).
        n_samples: samples per input (``repeat_interleave`` order).
        temperature: the residuals' standard deviation.
        seed: seed of the residuals.
        batch_size: inputs per call.
        progress: show a progress bar (for more than one batch).

    Returns:
        ``(B * n_samples, 3, S, S)``.
    """
    generator = torch.Generator(device=n2n.device).manual_seed(seed)
    return torch.cat([
        n2n.translate(inputs[i : i + batch_size], n_samples=n_samples, temperature=temperature,
                      generator=generator).cpu()
        for i in _batches(len(inputs), batch_size, progress, "translating")
    ])


@torch.no_grad()
def exemplar_transfer(n2n: Any, exemplars: Tensor, exemplar_inputs: Any, new_inputs: Any, *,
                      batch_size: int = 256, progress: bool = True) -> Tensor:
    r"""Exemplar-guided synthesis (Fig. 7a): keep the exemplar's residual, change its source.

    :math:`y^* = \Lambda(\tau(\tau^{-1}(\Theta(y) \mid \Phi(x_y)) \mid \Phi(x_{new})))`.

    Arguments:
        n2n: a trained translator.
        exemplars: ``(B, 3, S, S)`` images ``y`` whose style (residual) is kept.
        exemplar_inputs: the source inputs ``x_y`` that go with them (e.g. their label maps).
        new_inputs: ``B`` new source inputs (e.g. other label maps).
        batch_size: items per call.
        progress: show a progress bar (for more than one batch).

    Returns:
        ``(B, 3, S, S)`` on the CPU.
    """
    return torch.cat([
        n2n.transfer(exemplars[i : i + batch_size], new_inputs[i : i + batch_size],
                     x=exemplar_inputs[i : i + batch_size]).cpu()
        for i in _batches(len(exemplars), batch_size, progress, "transferring")
    ])


reconstruct = _reconstruct  # the autoencoder's reconstructions Λ(Θ(y)), a measuring ceiling


@torch.no_grad()
def segmentation_miou(segmenter: Any, generated: Tensor, label_maps: Tensor,
                      n_samples: int = 1) -> float:
    """mIoU of the segmenter's maps of ``generated`` images against the maps they came from.

    Arguments:
        segmenter: the segmenter (``predict_masks``).
        generated: ``(B * n_samples, 3, S, S)``.
        label_maps: ``(B, S, S)`` the label maps the images were generated from.
        n_samples: generated images per label map (``repeat_interleave`` order).

    Returns:
        mIoU in [0, 1] (:func:`n2nlib.metrics.miou`, over all pixels of all images).
    """
    pred = segmenter.predict_masks(generated)
    return metrics.miou(pred, _repeat(label_maps.cpu(), n_samples), segmenter.n_classes)


@torch.no_grad()
def foreground_iou(segmenter: Any, generated: Tensor, label_maps: Tensor,
                   n_samples: int = 1) -> float:
    """The layout alone: mIoU of "some shape" against background (two classes).

    :func:`segmentation_miou` also asks *which* shape each pixel belongs to; an autoencoder that
    draws the right blob in the right place but not its outline (the zoo's ``shapes-ae-32``)
    scores near zero there. This counts every non-background class as one, so it measures
    whether the generated image puts a shape where the label map has one.

    Arguments:
        segmenter: the segmenter (``predict_masks``).
        generated: ``(B * n_samples, 3, S, S)``.
        label_maps: ``(B, S, S)`` (0 = background).
        n_samples: generated images per label map (``repeat_interleave`` order).

    Returns:
        Mean of the foreground and background IoU, in [0, 1].
    """
    pred = segmenter.predict_masks(generated) > 0
    truth = _repeat(label_maps.cpu(), n_samples) > 0
    return metrics.miou(pred.long(), truth.long(), 2)


@torch.no_grad()
def pixel_diversity(samples: Tensor, n_samples: int) -> float:
    """Variability of the samples drawn for one input: the per-pixel standard deviation over
    the ``n_samples`` samples of each input, averaged over pixels, channels and inputs.

    0 means every sample is the same image; independent uniform pixels give ≈ 0.29.

    Arguments:
        samples: ``(B * n_samples, C, H, W)`` in ``repeat_interleave`` order.
        n_samples: samples per input (≥ 2).

    >>> pixel_diversity(torch.zeros(6, 3, 4, 4), 3)
    0.0
    >>> round(pixel_diversity(torch.tensor([0.0, 1.0]).view(2, 1, 1, 1), 2), 4)
    0.7071
    """
    if n_samples < 2 or samples.shape[0] % n_samples:
        raise ValueError(f"need n_samples >= 2 dividing the batch ({samples.shape[0]}), "
                         f"got {n_samples}")
    grouped = samples.double().reshape(-1, n_samples, *samples.shape[1:])
    return float(grouped.std(dim=1).mean())


@torch.no_grad()
def edge_agreement(generated: Tensor, images: Tensor, n_samples: int = 1) -> float:
    """Pearson correlation between the Sobel edge maps of generated and reference images.

    1 means the edges are where the reference's are; 0 means unrelated.
    """
    from n2nlib.nets.edges import sobel

    a = sobel(generated.double()).flatten()
    b = sobel(_repeat(images, n_samples).double()).flatten()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


@torch.no_grad()
def distinct_values(classifier: Any, generated: Tensor, n_samples: int, factor: str) -> float:
    """Mean number of distinct classified values of ``factor`` among the samples of one input:
    1 means every sample agrees (no variability in that factor)."""
    labels = classifier.predict(generated)[factor].reshape(-1)
    return float(metrics.distinct_per_input(labels, n_samples).double().mean())


def factor_probes(features: Tensor, factors: Tensor,
                  names: Sequence[str] | None = None) -> dict[str, float]:
    """How well a linear probe reads each factor from ``features``: fitted on the first half
    of the rows, scored on the second (:func:`n2nlib.metrics.linear_probe_accuracy`).

    Arguments:
        features: ``(N, D)``, e.g. the codes Θ(y) or a translator's residuals v.
        factors: ``(N, 5)`` the true factors of the same rows.
        names: the factors to probe (default: all of :data:`n2nlib.data.FACTOR_NAMES`).

    Returns:
        ``{factor: held-out accuracy}``.
    """
    from n2nlib.data import FACTOR_NAMES

    half = len(features) // 2
    return {name: metrics.linear_probe_accuracy(
                features[:half], factors[:half, k], test_features=features[half:],
                test_labels=factors[half:, k])
            for k, name in enumerate(FACTOR_NAMES) if names is None or name in names}


def change_one_factor(factors: Tensor, seed: int = 0,
                      which: Sequence[int] | Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Change exactly one factor per row to another value (uniform among the other values).

    Arguments:
        factors: ``(N, F)`` labels (shapes factors).
        seed: seed of the choices.
        which: the factor index to change in each row (default: cycle through the factors,
            row ``i`` changes factor ``i mod F``).

    Returns:
        ``(new_factors, which)``: the changed labels and the changed factor of each row.

    >>> new, which = change_one_factor(torch.zeros(5, 5, dtype=torch.long), seed=1)
    >>> which.tolist(), bool((new.gather(1, which[:, None]) > 0).all())
    ([0, 1, 2, 3, 4], True)
    """
    from n2nlib.data import FACTORS

    factors = torch.as_tensor(factors).long()
    n, f = factors.shape
    sizes = torch.tensor([len(v) for v in FACTORS.values()])
    if f != len(sizes):
        raise ValueError(f"factors must be (N, {len(sizes)}), got {tuple(factors.shape)}")
    which = torch.arange(n) % f if which is None else torch.as_tensor(which).long()
    gen = torch.Generator().manual_seed(seed)
    size = sizes[which]
    offset = 1 + (torch.rand(n, generator=gen) * (size - 1)).long()
    new = factors.clone()
    rows = torch.arange(n)
    new[rows, which] = (factors[rows, which] + offset) % size
    return new, which


def factor_means(codes: Tensor, factors: Tensor) -> list[Tensor]:
    """The mean latent code of the images with each value of each factor (for
    :func:`mean_shift_edit`, the baseline of attribute modification).

    Arguments:
        codes: ``(N, D)`` latent codes Θ(y) of training images.
        factors: ``(N, F)`` their factor labels.

    Returns:
        One ``(n_values, D)`` tensor per factor (a value with no image gets the overall mean).

    >>> means = factor_means(torch.tensor([[0.0], [2.0], [4.0]]), torch.tensor([[0], [1], [1]]))
    >>> means[0].flatten().tolist()
    [0.0, 3.0]
    """
    from n2nlib.data import FACTORS

    codes, factors = torch.as_tensor(codes).float(), torch.as_tensor(factors).long()
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes (N, D) and factors (N, F) must pair up, got "
                         f"{tuple(codes.shape)} and {tuple(factors.shape)}")
    if factors.shape[1] == len(FACTORS):  # the shapes factors: every value, seen or not
        sizes = [len(v) for v in FACTORS.values()]
    else:
        sizes = [int(factors[:, k].max()) + 1 for k in range(factors.shape[1])]
    out = []
    for k, n_values in enumerate(sizes):
        means = codes.mean(0).repeat(n_values, 1)
        for value in range(n_values):
            rows = factors[:, k] == value
            if rows.any():
                means[value] = codes[rows].mean(0)
        out.append(means)
    return out


@torch.no_grad()
def mean_shift_edit(target: Any, images: Tensor, factors: Tensor, new_factors: Tensor,
                    means: list[Tensor], *, batch_size: int = 256) -> Tensor:
    r"""Attribute modification without a translator: move each image's code by the difference
    of the class means, :math:`z' = \Theta(y) + \sum_k (\mu_k[\text{new}_k] -
    \mu_k[\text{old}_k])`, and decode.

    Arguments:
        target: the autoencoder (``encode``, ``decode``).
        images: ``(B, 3, S, S)``.
        factors: ``(B, F)`` their factors.
        new_factors: ``(B, F)`` the requested factors.
        means: from :func:`factor_means`.
        batch_size: images per call.

    Returns:
        ``(B, 3, S, S)`` on the CPU, in [0, 1].
    """
    if factors.shape != new_factors.shape or factors.shape[1] != len(means):
        raise ValueError(f"factors {tuple(factors.shape)} and new_factors "
                         f"{tuple(new_factors.shape)} must match, with {len(means)} columns")
    shift = sum(m[new_factors[:, k]] - m[factors[:, k]] for k, m in enumerate(means))
    z = encode_latents(target, images, batch_size=batch_size, progress=False) + shift
    if isinstance(target, torch.nn.Module):  # the codes come back on the CPU
        z = z.to(next(target.parameters()).device)
    return torch.cat([target.decode(z[i : i + batch_size]).clamp(0.0, 1.0).cpu()
                      for i in range(0, len(z), batch_size)])


@dataclass
class ModificationScores:
    """Attribute modification, measured (see :func:`modification_scores`).

    Attributes:
        n: modified images.
        flipped: fraction whose changed factor was classified as the new value.
        kept: fraction of the *other* factors (over all images and factors) classified as
            the original values.
        flipped_by_factor: ``flipped`` for the images that changed each factor.
        kept_by_factor: per factor, how often it was kept when another factor changed.
        all_kept: fraction of images whose other four factors were all kept.
    """

    n: int
    flipped: float
    kept: float
    flipped_by_factor: dict[str, float]
    kept_by_factor: dict[str, float]
    all_kept: float


@torch.no_grad()
def modification_scores(classifier: Any, modified: Tensor, original: Tensor, new: Tensor,
                        which: Tensor, judged: Sequence[str] | None = None) -> ModificationScores:
    """Did only the requested attribute change?

    Arguments:
        classifier: the attribute classifier.
        modified: ``(N, 3, S, S)`` the modified images.
        original: ``(N, F)`` the original factors.
        new: ``(N, F)`` the requested factors (``original`` with one entry changed).
        which: ``(N,)`` the changed factor of each row.
        judged: count only these factors as "the others" in ``kept``, ``kept_by_factor`` and
            ``all_kept`` (default: all). Use it to leave out factors that the target expert
            cannot draw, or that the classifier cannot read on decoded images.

    Returns:
        A :class:`ModificationScores`.
    """
    from n2nlib.data import FACTOR_NAMES

    pred = classifier.predict(modified)
    table = torch.stack([pred[name] for name in FACTOR_NAMES], dim=1)
    rows = torch.arange(len(which))
    hit = (table[rows, which] == new[rows, which]).double()
    other = torch.ones_like(table, dtype=torch.bool)
    other[rows, which] = False
    if judged is not None:
        unknown = set(judged) - set(FACTOR_NAMES)
        if unknown:
            raise ValueError(f"judged must name factors of {list(FACTOR_NAMES)}, got {unknown}")
        other &= torch.tensor([name in judged for name in FACTOR_NAMES])[None]
    same = table == original
    kept = same[other].double()
    flipped_by = {name: float(hit[which == j].mean()) for j, name in enumerate(FACTOR_NAMES)
                  if bool((which == j).any())}
    kept_by = {name: float(same[:, j][which != j].double().mean())
               for j, name in enumerate(FACTOR_NAMES)
               if bool((which != j).any()) and (judged is None or name in judged)}
    all_kept = float((same | ~other).all(dim=1).double().mean())
    return ModificationScores(n=len(which), flipped=float(hit.mean()), kept=float(kept.mean()),
                              flipped_by_factor=flipped_by, kept_by_factor=kept_by,
                              all_kept=all_kept)


PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),  # background
    (0.95, 0.3, 0.3),  # circle
    (0.3, 0.8, 0.3),  # square
    (0.3, 0.5, 1.0),  # triangle
    (1.0, 0.85, 0.2),  # star
    (0.9, 0.4, 0.9),  # heart
)
"""A colour per segmentation class (background black), for pictures of label maps."""


def colorize_labels(maps: Tensor) -> Tensor:
    """Label maps ``(B, S, S)`` as RGB pictures ``(B, 3, S, S)`` with :data:`PALETTE`.

    >>> colorize_labels(torch.tensor([[[0, 1]]]))[0, :, 0, 1].tolist()
    [0.949999988079071, 0.30000001192092896, 0.30000001192092896]
    """
    palette = torch.tensor(PALETTE, dtype=torch.float32)
    maps = torch.as_tensor(maps).long().clamp(0, len(PALETTE) - 1)
    return palette[maps].permute(0, 3, 1, 2).contiguous()
