r"""Superresolution by translating between two autoencoders (paper Sec. 4.2, Fig. 4).

The source expert is an autoencoder of *low-resolution* images (its encoder Φ gives
:math:`z_\Phi`), the target expert one of *high-resolution* images (encoder Θ, decoder Λ). Neither
was trained for superresolution; the cINN τ learns :math:`p(z_\Theta \mid z_\Phi)` from pairs
``(downsample(y), y)``, and a superresolved image is :math:`\Lambda(\tau(v \mid \Phi(x)))` with
:math:`v \sim \mathcal{N}(0, T^2 I)`: as many different high-resolution images per input as there
are draws of :math:`v`.

This module holds what notebook 03 runs, so that the notebook stays short and the numbers can be
tested: the data (:func:`make_shape_pairs`: shapes of the drawable world, with
:func:`shape_alternatives` saying where an 8×8 input leaves the shape open; :func:`make_pairs`:
photo crops for the zoo's ``textures-ae-*`` pair), the training pairs of codes
(:func:`latent_pairs`), the bicubic baseline (:func:`bicubic`), the samples (:func:`sample`),
the autoencoders' reconstructions (:func:`reconstruct`) and every measured number
(:func:`evaluate`).

>>> lo, hi = make_pairs(4, split="test", seed=0, size=16, low=4)
>>> lo.shape, hi.shape
(torch.Size([4, 3, 4, 4]), torch.Size([4, 3, 16, 16]))
>>> bicubic(lo, 16).shape
torch.Size([4, 3, 16, 16])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from n2nlib import metrics
from n2nlib.cache import LatentPairs
from n2nlib.encoding import encode_latents
from n2nlib.experts.base import reconstruct as _reconstruct

__all__ = [
    "WORLD",
    "SOURCE",
    "TARGET",
    "TEXTURE_SOURCE",
    "TEXTURE_TARGET",
    "ShapePairs",
    "make_shape_pairs",
    "shape_alternatives",
    "make_pairs",
    "augment_crops",
    "latent_pairs",
    "bicubic",
    "nearest",
    "sample",
    "reconstruct",
    "SRScores",
    "evaluate",
    "temperature_sweep",
]

WORLD = "v2"
"""The shapes world (:data:`n2nlib.data.WORLDS`) the experts below were trained on."""
SOURCE = "shapes-ae-8"
"""The zoo's low-resolution autoencoder (the drawable world's shapes at 8×8): Φ."""
TARGET = "shapes-ae"
"""The zoo's high-resolution autoencoder (the same shapes at 32×32): Θ and Λ."""
TEXTURE_SOURCE = "textures-ae-8"
"""The zoo's autoencoder of 8×8 photo crops (for :func:`make_pairs`' crops)."""
TEXTURE_TARGET = "textures-ae-32"
"""The zoo's autoencoder of 32×32 photo crops."""


@dataclass
class ShapePairs:
    """Superresolution pairs of the shapes world, with the factors that drew them.

    Attributes:
        low: ``(N, 3, low, low)`` inputs, :func:`n2nlib.metrics.downsample` of ``high``.
        high: ``(N, 3, S, S)`` the true images.
        factors: ``(N, 5)`` their factor labels (columns :data:`n2nlib.data.FACTOR_NAMES`).
        seed, split: how they were drawn (:func:`shape_alternatives` redraws them).
    """

    low: Tensor
    high: Tensor
    factors: Tensor
    seed: int
    split: str

    def __len__(self) -> int:
        return int(self.high.shape[0])


def make_shape_pairs(
    n: int, split: str = "train", seed: int = 0, *, size: int = 32, low: int = 8,
    progress: bool | None = None,
) -> ShapePairs:
    """Pairs ``(low-resolution, high-resolution)`` of shapes on both backgrounds.

    The images are :func:`n2nlib.data.render_shapes` of the world :data:`WORLD` (the one the
    zoo's ``shapes-ae`` and ``shapes-ae-8`` were trained on); ``split="test"`` draws from the
    held-out stream and photographs. The low-resolution images use the filter ``shapes-ae-8``
    was trained with.

    Arguments:
        n: number of pairs.
        split: ``"train"`` or ``"test"``.
        seed: the same seed gives the same pairs.
        size: side of the high-resolution images.
        low: side of the low-resolution images.
        progress: show a progress bar while rendering (default: for large ``n`` only).

    Returns:
        A :class:`ShapePairs`.

    >>> pairs = make_shape_pairs(3, split="test", seed=0)
    >>> pairs.low.shape, pairs.high.shape, pairs.factors.shape
    (torch.Size([3, 3, 8, 8]), torch.Size([3, 3, 32, 32]), torch.Size([3, 5]))
    """
    from n2nlib.data import render_shapes, sample_factors

    if not isinstance(low, int) or not 1 <= low <= size:
        raise ValueError(f"low must be an int in [1, size={size}], got {low!r}")
    factors = sample_factors(n, seed, split=split, background="mixed")
    high, _ = render_shapes(factors, size, seed, split, world=WORLD, progress=progress)
    return ShapePairs(metrics.downsample(high, low), high, factors, seed, split)


def _shape_variants(pairs: ShapePairs, tolerance: float) -> tuple[Tensor, Tensor]:
    """Every image drawn with each shape (everything else the same), and which of those
    versions the low-resolution input cannot tell from it: ``(S, N, C, H, W)`` and ``(S, N)``
    (the true shape always counts)."""
    from n2nlib.data import FACTORS, render_shapes

    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    size, low = pairs.high.shape[-1], pairs.low.shape[-1]
    versions, alike = [], []
    for shape in range(len(FACTORS["shape"])):
        other = pairs.factors.clone()
        other[:, 0] = shape
        images, _ = render_shapes(other, size, pairs.seed, pairs.split, world=WORLD)
        rms = (metrics.downsample(images, low) - pairs.low).pow(2).flatten(1).mean(1).sqrt()
        versions.append(images)
        alike.append((rms < tolerance) | (pairs.factors[:, 0] == shape))
    return torch.stack(versions), torch.stack(alike)


def shape_alternatives(pairs: ShapePairs, tolerance: float) -> Tensor:
    """How many *other* shapes the low-resolution input cannot tell from the true one.

    Each image is drawn again with each of the other shapes and everything else the same
    (factors, colour jitter, position draw, background crop: the renderer's random numbers do
    not depend on the shape), and downsampled. A shape is an alternative when its
    low-resolution image differs from the input by less than ``tolerance`` (root mean square,
    in [0, 1] units): then the input leaves the shape open between them.

    Arguments:
        pairs: from :func:`make_shape_pairs`.
        tolerance: the RMS difference below which two low-resolution images count as the same
            (e.g. the low-resolution autoencoder's own reconstruction error: what Φ cannot
            keep anyway).

    Returns:
        ``(N,)`` integers in 0 … 4 (0: the input determines the shape).

    >>> pairs = make_shape_pairs(4, split="test", seed=0)
    >>> shape_alternatives(pairs, tolerance=0.0).tolist()
    [0, 0, 0, 0]
    """
    return _shape_variants(pairs, tolerance)[1].sum(dim=0) - 1


def shape_ambiguity(pairs: ShapePairs, tolerance: float) -> Tensor:
    """Where the input leaves the image open: the per-pixel standard deviation over the
    high-resolution versions the input cannot tell apart (the truth and its
    :func:`shape_alternatives`), each counted once.

    It is the spread a translator that draws those versions equally often would show, and 0
    where the input determines the image. Its mean over an image is this notebook's measure
    of how ambiguous the input is.

    Returns:
        ``(N, H, W)``, the standard deviation averaged over the colour channels.

    >>> pairs = make_shape_pairs(3, split="test", seed=0)
    >>> float(shape_ambiguity(pairs, tolerance=0.0).abs().max())
    0.0
    """
    versions, alike = _shape_variants(pairs, tolerance)
    weight = alike.to(versions.dtype)[:, :, None, None, None]
    count = weight.sum(dim=0)
    mean = (versions * weight).sum(dim=0) / count
    var = ((versions - mean).pow(2) * weight).sum(dim=0) / count
    return var.sqrt().mean(dim=1)


def knn_read(train_features: Tensor, train_labels: Tensor, features: Tensor, k: int = 15
             ) -> Tensor:
    """A k-nearest-neighbour probe: the majority label of each row's ``k`` nearest training
    rows (Euclidean, on features standardised with the training rows' mean and std).

    It asks whether a representation *carries* a label at all, with no model fitted: section 6
    of notebook 03 reads the shape from the source code and from the raw 8×8 pixels this way.

    Returns:
        ``(N,)`` predicted labels.

    >>> x = torch.tensor([[0.0], [0.1], [1.0], [1.1]])
    >>> knn_read(x, torch.tensor([0, 0, 1, 1]), torch.tensor([[0.05], [0.9]]), k=2).tolist()
    [0, 1]
    """
    if not 1 <= k <= len(train_features):
        raise ValueError(f"k must be in 1 … {len(train_features)}, got {k}")
    a = train_features.float().flatten(1)
    mean, std = a.mean(0), a.std(0).clamp_min(1e-6)
    a, b = (a - mean) / std, (features.float().flatten(1) - mean) / std
    labels = train_labels.long()
    out = []
    for i in range(0, len(b), 256):
        nearest = torch.cdist(b[i:i + 256], a).topk(k, dim=1, largest=False).indices
        votes = torch.nn.functional.one_hot(labels[nearest], int(labels.max()) + 1).sum(1)
        out.append(votes.argmax(dim=1))
    return torch.cat(out)


def make_pairs(
    n: int, split: str = "train", seed: int = 0, *, size: int = 32, low: int = 8,
    augment: bool = False, progress: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """Pairs ``(low-resolution, high-resolution)`` of real photo crops (for the zoo's
    :data:`TEXTURE_SOURCE` and :data:`TEXTURE_TARGET`).

    The crops are :func:`n2nlib.data.random_crops` (``split="test"``: the held-out photographs,
    never seen by the experts or the translator); the low-resolution version is
    :func:`n2nlib.metrics.downsample` of the crop, the filter the zoo's ``textures-ae-8`` was
    trained with.

    Arguments:
        n: number of pairs.
        split: ``"train"`` or ``"test"``.
        seed: the same seed gives the same crops (and augmentations).
        size: side of the high-resolution crops.
        low: side of the low-resolution images.
        augment: turn each crop by a random multiple of 90° and permute its colour channels at
            random (:func:`augment_crops`) before downsampling. The training split has only ten
            photographs; a translator trained on their crops as they are meets held-out
            textures and colours it has never seen, and its held-out NLL stays far above its
            training NLL (notebook 03).
        progress: show a progress bar (default: for large ``n`` only).

    Returns:
        ``(lo, hi)``: ``(n, 3, low, low)`` and ``(n, 3, size, size)`` in [0, 1].
    """
    from n2nlib.data import random_crops

    if not isinstance(low, int) or not 1 <= low <= size:
        raise ValueError(f"low must be an int in [1, size={size}], got {low!r}")
    hi = random_crops(n, size, split, seed, progress=progress)[0]
    if augment:
        hi = augment_crops(hi, seed=seed)
    return metrics.downsample(hi, low), hi


def augment_crops(images: Tensor, seed: int = 0) -> Tensor:
    """Turn each image by a random multiple of 90° and permute its colour channels at random.

    Both keep what a photograph is made of (its pixel values, its textures up to their
    orientation) and multiply what ten photographs show: 4 turns × 6 channel orders (grey
    photos are unchanged by the permutation). With the horizontal flips of
    :func:`n2nlib.data.random_crops` the turns give all 8 symmetries of the square.

    Arguments:
        images: ``(N, 3, S, S)`` square images.
        seed: the same seed gives the same turns and permutations.

    Returns:
        A new ``(N, 3, S, S)`` tensor; each image holds the same values as before.

    >>> x = torch.rand(5, 3, 4, 4)
    >>> y = augment_crops(x, seed=0)
    >>> bool(torch.equal(y.flatten(1).sort(1).values, x.flatten(1).sort(1).values))
    True
    """
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be (N, 3, S, S) squares, got {tuple(images.shape)}")
    gen = torch.Generator().manual_seed(seed)
    turns = torch.randint(0, 4, (len(images),), generator=gen)
    orders = torch.rand(len(images), 3, generator=gen).argsort(dim=1)
    out = images.clone()
    for k in range(1, 4):
        rows = turns == k
        out[rows] = torch.rot90(images[rows], k, dims=(2, 3))
    return torch.gather(out, 1, orders[:, :, None, None].expand_as(out))


def latent_pairs(
    source: Any, target: Any, low_res: Tensor, high_res: Tensor, *,
    min_std: float | None = None, batch_size: int = 256, progress: bool = True,
) -> LatentPairs:
    r"""Encode superresolution pairs once into the cINN's training pairs
    :math:`(z_\Theta, z_\Phi)` (for ``Net2Net.fit``).

    :math:`z_\Phi` is the low-resolution autoencoder's code of ``low_res`` (its posterior
    mean); for :math:`z_\Theta` the high-resolution autoencoder's posterior ``(mean,
    logvar)`` is kept, and a fresh code is drawn from it at every training step.

    Arguments:
        source: the low-resolution autoencoder (Φ).
        target: the high-resolution autoencoder (Θ, with ``encode_distribution``).
        low_res: ``(N, 3, h, w)`` inputs of ``source``.
        high_res: ``(N, 3, H, W)`` the matching inputs of ``target``.
        min_std: draw the target codes with at least this standard deviation. The zoo's
            autoencoders are trained with a small KL weight and have a very narrow posterior
            (σ ≈ 0.04 while codes spread ≈ 1.4 per dimension), so that a cINN trained on
            the posterior as it is memorises isolated training codes and its held-out NLL
            rises while it trains; widening the draw smooths the target density (see
            :func:`n2nlib.course.common.latent_pairs`).
        batch_size: images per expert call.
        progress: show progress bars.

    Returns:
        Stochastic :class:`~n2nlib.cache.LatentPairs` (target mean and log-variance, condition).

    >>> from n2nlib.experts import as_expert
    >>> class Gauss:  # a stand-in autoencoder with a posterior
    ...     dim = 2
    ...     def encode(self, y): return y.flatten(1)[:, :2]
    ...     def encode_distribution(self, y): return self.encode(y), torch.full((len(y), 2), -9.0)
    >>> pairs = latent_pairs(as_expert(lambda x: x.flatten(1), dim=3), Gauss(),
    ...                      torch.rand(5, 3, 1, 1), torch.rand(5, 3, 2, 2), min_std=0.5,
    ...                      progress=False)
    >>> len(pairs), pairs.stochastic, round(float(pairs.target_logvar.min()), 4)
    (5, True, -1.3863)
    """
    if len(low_res) != len(high_res):
        raise ValueError(f"low_res and high_res must pair up, got {len(low_res)} and "
                         f"{len(high_res)} images")
    if min_std is not None and not min_std > 0:
        raise ValueError(f"min_std must be > 0 (or None), got {min_std!r}")
    condition = encode_latents(source, low_res, batch_size=batch_size, progress=progress,
                               desc="encoding x with the low-res AE (z_Φ)")
    mean, logvar = encode_latents(target, high_res, batch_size=batch_size, distribution=True,
                                  progress=progress, desc="encoding y with the high-res AE (z_Θ)")
    return LatentPairs(mean, condition, target_logvar=logvar).with_min_std(min_std)


def bicubic(images: Tensor, size: int) -> Tensor:
    """Bicubic resize (antialiased when shrinking), clipped to [0, 1]: the classic baseline.

    >>> import torch
    >>> bicubic(torch.rand(1, 3, 8, 8), 32).shape
    torch.Size([1, 3, 32, 32])
    """
    return F.interpolate(images, size=(size, size), mode="bicubic", antialias=True,
                         align_corners=False).clamp(0.0, 1.0)


def nearest(images: Tensor, size: int) -> Tensor:
    """Nearest-neighbour resize: shows low-resolution pixels as blocks in a figure.

    >>> import torch
    >>> nearest(torch.rand(1, 3, 8, 8), 32).shape
    torch.Size([1, 3, 32, 32])
    """
    return F.interpolate(images, size=(size, size), mode="nearest")


@torch.no_grad()
def sample(
    n2n: Any, low_res: Tensor, n_samples: int = 4, temperature: float = 1.0, *,
    seed: int = 0, batch_size: int = 32, progress: bool = False,
) -> Tensor:
    """Superresolved samples :math:`\\Lambda(\\tau(v \\mid \\Phi(x)))`, ``n_samples`` per input.

    Arguments:
        n2n: a trained :class:`~n2nlib.Net2Net` (low-res autoencoder → high-res autoencoder).
        low_res: ``(B, 3, h, w)`` inputs.
        n_samples: samples per input.
        temperature: standard deviation of the residuals ``v`` (0: one deterministic output).
        seed: seed of the residuals (the same seed gives the same samples).
        batch_size: inputs per call (each call decodes ``batch_size * n_samples`` images at
            once: keep it small, the decoder's activations dominate the memory).
        progress: show a progress bar over the batches.

    Returns:
        ``(B * n_samples, 3, H, W)`` on the CPU, in ``repeat_interleave`` order (the samples
        of input ``i`` are rows ``i * n_samples … (i + 1) * n_samples - 1``).
    """
    from n2nlib.settings import progress_bar as tqdm

    generator = torch.Generator().manual_seed(seed)
    starts = range(0, len(low_res), batch_size)
    out = [
        n2n.translate(low_res[i : i + batch_size], n_samples=n_samples,
                      temperature=temperature, generator=generator).cpu()
        for i in tqdm(starts, desc=f"sampling (T={temperature:g})", disable=not progress)
    ]
    return torch.cat(out)


reconstruct = _reconstruct  # the high-res AE's bound; the low-res AE's view of z_Φ


@dataclass
class SRScores:
    """The measured numbers of one superresolution run (see :func:`evaluate`).

    Attributes:
        temperature: the temperature of the samples.
        n_images, n_samples: held-out inputs, samples per input.
        lr_consistency_db: PSNR between the downsampled samples and the low-res input.
        lr_bound_db: the same for the high-res autoencoder's reconstruction of the truth.
        lr_gap_db: ``lr_bound_db - lr_consistency_db`` (the goal: at most 2 dB).
        lr_bicubic_db: the same for bicubic upsampling (nearly exact by construction).
        psnr_db, ssim: of the samples against the truth (mean over samples).
        psnr_mean_db, ssim_mean: of the mean of the samples per input against the truth.
        psnr_bicubic_db, ssim_bicubic: bicubic upsampling against the truth.
        psnr_recon_db, ssim_recon: the autoencoder's reconstruction against the truth.
        diversity: mean per-pixel standard deviation across the samples of one input.
        diversity_correlation: Pearson correlation, over pixels, of the per-pixel standard
            deviation with the detail the low-res input lost, ``|truth − bicubic|``.
        diversity_ratio: mean standard deviation in the 25 % most ambiguous pixels over that in
            the 25 % least ambiguous.
        diversity_image_correlation: correlation, over images, of the mean standard deviation
            with the mean lost detail.
        sharpness, sharpness_truth, sharpness_bicubic, sharpness_recon: mean gradient
            magnitude (:func:`n2nlib.metrics.sharpness`).
    """

    temperature: float
    n_images: int
    n_samples: int
    lr_consistency_db: float
    lr_bound_db: float
    lr_gap_db: float
    lr_bicubic_db: float
    psnr_db: float
    ssim: float
    psnr_mean_db: float
    ssim_mean: float
    psnr_bicubic_db: float
    ssim_bicubic: float
    psnr_recon_db: float
    ssim_recon: float
    diversity: float
    diversity_correlation: float
    diversity_ratio: float
    diversity_image_correlation: float
    sharpness: float
    sharpness_truth: float
    sharpness_bicubic: float
    sharpness_recon: float

    def as_dict(self) -> dict[str, float]:
        """The numbers as a plain dict."""
        return asdict(self)


def evaluate(
    n2n: Any, low_res: Tensor, truth: Tensor, *, n_samples: int = 4, temperature: float = 1.0,
    seed: int = 0, samples: Tensor | None = None, reconstruction: Tensor | None = None,
) -> SRScores:
    """Measure superresolution on held-out pairs (the numbers of notebook 03).

    Arguments:
        n2n: the trained translator (its target expert decodes the high-res images).
        low_res: ``(B, 3, h, w)`` held-out inputs.
        truth: ``(B, 3, H, W)`` the true high-resolution images.
        n_samples: samples per input (≥ 2, for the diversity).
        temperature: temperature of the samples.
        seed: seed of the samples.
        samples: reuse these samples (``(B * n_samples, 3, H, W)``) instead of drawing.
        reconstruction: reuse the target autoencoder's reconstruction of ``truth`` (from
            :func:`reconstruct`) instead of computing it.

    Returns:
        An :class:`SRScores`.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2 to measure diversity, got {n_samples}")
    if samples is None:
        samples = sample(n2n, low_res, n_samples, temperature, seed=seed)
    size = truth.shape[-1]
    lo_rep = low_res.repeat_interleave(n_samples, 0)
    truth_rep = truth.repeat_interleave(n_samples, 0)
    recon = reconstruct(n2n.target, truth) if reconstruction is None else reconstruction
    up = bicubic(low_res, size)
    mean = samples.view(len(truth), n_samples, *truth.shape[1:]).mean(dim=1)
    std = metrics.pixel_std(samples, n_samples)
    ambiguity = (truth - up).abs().mean(dim=1)
    amb = metrics.diversity_vs_ambiguity(std, ambiguity)
    lr_samples = metrics.lr_consistency(samples, lo_rep)
    lr_bound = metrics.lr_consistency(recon, low_res)
    return SRScores(
        temperature=float(temperature),
        n_images=len(truth),
        n_samples=n_samples,
        lr_consistency_db=lr_samples,
        lr_bound_db=lr_bound,
        lr_gap_db=lr_bound - lr_samples,
        lr_bicubic_db=metrics.lr_consistency(up, low_res),
        psnr_db=metrics.psnr(samples, truth_rep),
        ssim=metrics.ssim(samples, truth_rep),
        psnr_mean_db=metrics.psnr(mean, truth),
        ssim_mean=metrics.ssim(mean, truth),
        psnr_bicubic_db=metrics.psnr(up, truth),
        ssim_bicubic=metrics.ssim(up, truth),
        psnr_recon_db=metrics.psnr(recon, truth),
        ssim_recon=metrics.ssim(recon, truth),
        diversity=float(std.mean()),
        diversity_correlation=amb["correlation"],
        diversity_ratio=amb["ratio"],
        diversity_image_correlation=amb["image_correlation"],
        sharpness=metrics.sharpness(samples),
        sharpness_truth=metrics.sharpness(truth),
        sharpness_bicubic=metrics.sharpness(up),
        sharpness_recon=metrics.sharpness(recon),
    )


def temperature_sweep(
    n2n: Any, low_res: Tensor, truth: Tensor, temperatures: tuple[float, ...] = (0.0, 0.5,
                                                                               0.8, 1.0),
    *, n_samples: int = 4, seed: int = 0, progress: bool = True,
) -> list[SRScores]:
    """:func:`evaluate` at several temperatures: sharpness and diversity against fidelity.

    At temperature 0 every sample is the same (:math:`v = 0`, the most typical translation);
    raising it adds detail and diversity and lowers the PSNR to the truth.

    Returns:
        One :class:`SRScores` per temperature.
    """
    from n2nlib.settings import progress_bar as tqdm

    recon = reconstruct(n2n.target, truth)
    return [evaluate(n2n, low_res, truth, n_samples=n_samples, temperature=t, seed=seed,
                     reconstruction=recon)
            for t in tqdm(temperatures, desc="temperatures", disable=not progress)]
