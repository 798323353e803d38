r"""The measured quality of each experiment: small, documented functions on tensors.

Every notebook ends with a table of numbers computed here, on held-out data, so that a claim
("the residual carries no information about the condition", "the samples cover every mode")
is a number with a stated tolerance rather than a picture. The module is a flat collection of
functions; add new ones freely.

Information
    :func:`knn_mutual_information` (Kraskov–Stögbauer–Grassberger estimator, any dependence)
    and :func:`gaussian_mutual_information` (linear dependence only, closed form from
    covariances).
Likelihood
    :func:`nll_gap`: a model's held-out NLL minus the ground truth's, with its standard error.
Modes
    :func:`mode_shares`, :func:`mode_coverage`, :func:`on_mode_fraction`: where samples land
    relative to the known mode centres of a mixture.
Distances
    :func:`mean_distance`, :func:`total_variation`.
Diagnosis (notebook 07)
    :func:`frechet_distance` (FID's formula on any features),
    :func:`efficientnet_frechet_distance` (that formula on ImageNet EfficientNet-Lite0 features,
    an independent reader), :func:`sample_diversity`,
    :func:`rms_distance`.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randn(1000, 1, generator=g)
>>> y = x + 0.1 * torch.randn(1000, 1, generator=g)
>>> noise = torch.randn(1000, 1, generator=g)   # independent of x
>>> knn_mutual_information(x, y) > 1.5, abs(knn_mutual_information(x, noise)) < 0.1
(True, True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "NLLGap",
    "knn_mutual_information",
    "gaussian_mutual_information",
    "nll_gap",
    "mode_shares",
    "mode_coverage",
    "on_mode_fraction",
    "mean_distance",
    "total_variation",
    "gaussian_frechet_distance",
    "frechet_distance",
    "efficientnet_features",
    "efficientnet_frechet_distance",
    "sample_diversity",
    "rms_distance",
]


def _as_2d_numpy(a: object, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu().double().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (N,) or (N, D), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or infinite entries")
    return arr


def _pair(x: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = _as_2d_numpy(x, "x"), _as_2d_numpy(y, "y")
    if xa.shape[0] != ya.shape[0]:
        raise ValueError(f"x and y need the same number of samples, got {xa.shape[0]} and "
                         f"{ya.shape[0]}")
    return xa, ya


def knn_mutual_information(x: object, y: object, k: int = 3, *, standardize: bool = True,
                           jitter: float = 1e-10, seed: int = 0) -> float:
    r"""Estimate :math:`I(x; y)` in nats from paired samples with the k-nearest-neighbour
    estimator of Kraskov, Stögbauer & Grassberger (2004, their first estimator).

    For each sample, :math:`\varepsilon_i` is the max-norm distance to its ``k``-th neighbour
    in the joint space; :math:`n_x(i), n_y(i)` count the samples strictly closer than
    :math:`\varepsilon_i` in each marginal space. Then

    .. math:: \hat I = \psi(k) + \psi(N) - \big\langle \psi(n_x + 1) + \psi(n_y + 1) \big\rangle.

    It sees any kind of dependence (not only linear), is close to 0 for independent variables
    (it can come out slightly negative) and is nearly unbiased for low dimensions and a few
    thousand samples. Mutual information does not change under invertible maps of ``x`` or
    ``y`` alone, so each variable is standardised first (``standardize``), which helps the
    max-norm neighbourhoods.

    Arguments:
        x: ``(N,)`` or ``(N, Dx)`` samples (tensor or array).
        y: ``(N,)`` or ``(N, Dy)`` samples paired with ``x``.
        k: the neighbour order (3 is the usual choice: low bias, moderate variance).
        standardize: rescale each column to zero mean and unit variance first.
        jitter: relative size of tiny noise added to break ties (duplicate values, e.g.
            discrete conditions); 0 to disable.
        seed: seed of the jitter.

    Returns:
        The estimate in nats.

    References:
        Kraskov, Stögbauer & Grassberger, *Estimating mutual information*, Phys. Rev. E 69,
        066138 (2004).

    >>> import torch
    >>> x = torch.randn(500, 2)
    >>> abs(knn_mutual_information(x, torch.randn(500, 1))) < 0.1
    True
    """
    from scipy.spatial import cKDTree
    from scipy.special import digamma

    xa, ya = _pair(x, y)
    n = xa.shape[0]
    if not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"k must be an int in [1, N), got {k!r} for N={n}")
    if standardize:
        xa = (xa - xa.mean(0)) / np.maximum(xa.std(0), 1e-12)
        ya = (ya - ya.mean(0)) / np.maximum(ya.std(0), 1e-12)
    if jitter > 0:
        rng = np.random.default_rng(seed)
        xa = xa + jitter * rng.standard_normal(xa.shape)
        ya = ya + jitter * rng.standard_normal(ya.shape)
    joint = np.hstack([xa, ya])
    dist, _ = cKDTree(joint).query(joint, k=k + 1, p=np.inf)
    radius = np.nextafter(dist[:, -1], 0)  # strictly closer than the k-th neighbour
    n_x = cKDTree(xa).query_ball_point(xa, radius, p=np.inf, return_length=True) - 1
    n_y = cKDTree(ya).query_ball_point(ya, radius, p=np.inf, return_length=True) - 1
    estimate = digamma(k) + digamma(n) - np.mean(digamma(n_x + 1) + digamma(n_y + 1))
    return float(estimate)


def gaussian_mutual_information(x: object, y: object) -> float:
    r""":math:`I(x; y)` of the Gaussian with the samples' covariance, in nats:
    :math:`\tfrac12 \log \frac{\det\Sigma_{xx}\det\Sigma_{yy}}{\det\Sigma}`.

    Exact for jointly Gaussian data; otherwise it measures only *linear* dependence (it is 0
    for ``y = x²`` with symmetric ``x``), which is why :func:`knn_mutual_information` is the
    estimator the notebooks report.

    >>> import torch
    >>> x = torch.randn(20000, 1)
    >>> y = 0.6 * x + 0.8 * torch.randn(20000, 1)   # correlation 0.6
    >>> abs(gaussian_mutual_information(x, y) - 0.223) < 0.02   # -log(1 - 0.36) / 2
    True
    """
    xa, ya = _pair(x, y)
    cov = np.cov(np.hstack([xa, ya]), rowvar=False)
    cov = np.atleast_2d(cov)
    dx = xa.shape[1]
    logdet = np.linalg.slogdet
    value = 0.5 * (logdet(cov[:dx, :dx])[1] + logdet(cov[dx:, dx:])[1] - logdet(cov)[1])
    return float(value)


class NLLGap(NamedTuple):
    """Result of :func:`nll_gap`: ``gap`` (nats) and its standard error ``stderr``."""

    gap: float
    stderr: float


def nll_gap(model_nll: Tensor, reference_nll: Tensor) -> NLLGap:
    r"""Mean per-sample gap between a model's NLL and the true NLL on the *same* samples.

    With :math:`x \sim p`, :math:`E[-\log q(x)] - E[-\log p(x)] = \mathrm{KL}(p \| q) \ge 0`:
    the gap estimates how far the model is from the truth, in nats. Pairing the two on the
    same samples removes most of the sampling noise; the standard error is that of the paired
    differences.

    Arguments:
        model_nll: ``(N,)`` the model's per-sample NLL (e.g. ``cinn.nll(x, c)``).
        reference_nll: ``(N,)`` the ground truth's, ``-log p(x | c)``.

    Returns:
        :class:`NLLGap` ``(gap, stderr)``.

    >>> import torch
    >>> nll_gap(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 1.5, 3.0])).gap
    0.1666666...
    """
    a = torch.as_tensor(model_nll).detach().double().flatten()
    b = torch.as_tensor(reference_nll).detach().double().flatten()
    if a.shape != b.shape or a.numel() < 2:
        raise ValueError(f"need two per-sample NLL vectors of the same length >= 2, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    diff = a - b
    return NLLGap(float(diff.mean()), float(diff.std() / diff.numel() ** 0.5))


def _distances(samples: Tensor, centers: Tensor) -> Tensor:
    samples = torch.as_tensor(samples).detach().double()
    centers = torch.as_tensor(centers).detach().double()
    if samples.ndim != 2:
        raise ValueError(f"samples must be (N, D), got {tuple(samples.shape)}")
    if centers.ndim == 2:
        centers = centers.unsqueeze(0).expand(samples.shape[0], -1, -1)
    if centers.ndim != 3 or centers.shape[0] != samples.shape[0] or \
            centers.shape[2] != samples.shape[1]:
        raise ValueError(f"centers must be (K, D) or (N, K, D) matching samples "
                         f"{tuple(samples.shape)}, got {tuple(centers.shape)}")
    return (samples.unsqueeze(1) - centers).norm(dim=-1)  # (N, K)


def mode_shares(samples: Tensor, centers: Tensor, radius: float) -> Tensor:
    """Share of the samples that fall near each mode.

    A sample counts for its nearest centre if it is within ``radius`` of it; samples far
    from every centre count for none.

    Arguments:
        samples: ``(N, D)``.
        centers: the mode centres, ``(K, D)``, or one set per sample ``(N, K, D)`` (for
            conditional distributions, whose modes move with the condition).
        radius: how close counts as "at the mode" (e.g. 3 standard deviations of a mode).

    Returns:
        ``(K,)``: the fraction of all samples at each mode (sums to at most 1).

    >>> import torch
    >>> centers = torch.tensor([[0.0, 0.0], [5.0, 0.0]])
    >>> samples = torch.tensor([[0.1, 0.0], [4.9, 0.0], [2.5, 0.0], [0.0, 0.2]])
    >>> mode_shares(samples, centers, 1.0).tolist()
    [0.5, 0.25]
    """
    dist = _distances(samples, centers)
    nearest, index = dist.min(dim=1)
    counts = torch.bincount(index[nearest <= radius], minlength=dist.shape[1])
    return counts.double() / dist.shape[0]


def on_mode_fraction(samples: Tensor, centers: Tensor, radius: float) -> float:
    """Fraction of the samples within ``radius`` of some mode centre (1 = none in between).

    >>> import torch
    >>> on_mode_fraction(torch.tensor([[0.0, 0.0], [2.5, 0.0]]), torch.tensor([[0.0, 0.0]]), 1.0)
    0.5
    """
    return float(mode_shares(samples, centers, radius).sum())


def mode_coverage(samples: Tensor, centers: Tensor, radius: float,
                  weights: Tensor | None = None, min_fraction: float = 0.25) -> float:
    """Fraction of the modes that the samples visit about as often as they should.

    Mode ``j`` is *covered* if its share (:func:`mode_shares`) is at least
    ``min_fraction * weights[j]``: with the default, a mode of weight 0.2 needs at least 5%
    of the samples. A model that collapses onto one mode covers ``1/K``; one that outputs the
    mean of the modes (between them) covers none.

    Arguments:
        samples, centers, radius: as in :func:`mode_shares`.
        weights: the true mode weights ``(K,)`` (default: uniform).
        min_fraction: share of its weight a mode needs to count as covered.

    Returns:
        A number in ``[0, 1]``.

    >>> import torch
    >>> centers = torch.tensor([[0.0, 0.0], [5.0, 0.0]])
    >>> mode_coverage(torch.zeros(10, 2), centers, 1.0)
    0.5
    """
    shares = mode_shares(samples, centers, radius)
    k = shares.numel()
    w = torch.full((k,), 1.0 / k, dtype=torch.float64) if weights is None else \
        torch.as_tensor(weights).detach().double().flatten()
    if w.numel() != k:
        raise ValueError(f"weights must have one entry per mode ({k}), got {w.numel()}")
    return float((shares >= min_fraction * w / w.sum()).double().mean())


def mean_distance(a: Tensor, b: Tensor) -> float:
    """Mean Euclidean distance between paired rows of ``a`` and ``b`` ``(N, D)``.

    >>> import torch
    >>> mean_distance(torch.zeros(2, 2), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    3.0
    """
    a = torch.as_tensor(a).detach().double()
    b = torch.as_tensor(b).detach().double()
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return float((a - b).reshape(a.shape[0], -1).norm(dim=1).mean())


def total_variation(p: Tensor, q: Tensor) -> float:
    """Total-variation distance ``½ Σ |p - q|`` between two discrete distributions
    (each normalised to sum to 1 first).

    >>> import torch
    >>> total_variation(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0]))
    0.5
    """
    p = torch.as_tensor(p).detach().double().flatten()
    q = torch.as_tensor(q).detach().double().flatten()
    if p.shape != q.shape or bool((p < 0).any() | (q < 0).any()) or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("p and q must be non-negative vectors of the same length with mass > 0")
    return float(0.5 * (p / p.sum() - q / q.sum()).abs().sum())


# -- model diagnosis (notebook 07): Fréchet distance and sample diversity -----------------------


def gaussian_frechet_distance(mean_a: object, cov_a: object, mean_b: object,
                              cov_b: object) -> float:
    r"""Fréchet (2-Wasserstein²) distance between two Gaussians, in closed form:
    :math:`\|\mu_a - \mu_b\|^2 + \mathrm{tr}\,\Sigma_a + \mathrm{tr}\,\Sigma_b
    - 2\,\mathrm{tr}\big(\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2}\big)^{1/2}`.

    The matrix square roots are taken by symmetric eigen-decompositions (negative eigenvalues
    from round-off are set to 0), which is exact for positive semi-definite inputs and needs no
    ``scipy.linalg.sqrtm``.

    Arguments:
        mean_a, mean_b: means ``(D,)``.
        cov_a, cov_b: covariances ``(D, D)``, symmetric positive semi-definite.

    Returns:
        The distance (≥ 0; squared units of the features).

    Raises:
        ValueError: shapes that do not fit, or non-finite entries.

    >>> import torch
    >>> gaussian_frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), 4 * torch.eye(2))
    4.0
    """
    mu_a = _as_2d_numpy(mean_a, "mean_a").ravel()
    mu_b = _as_2d_numpy(mean_b, "mean_b").ravel()
    s_a, s_b = _as_2d_numpy(cov_a, "cov_a"), _as_2d_numpy(cov_b, "cov_b")
    d = mu_a.shape[0]
    if mu_b.shape != (d,) or s_a.shape != (d, d) or s_b.shape != (d, d):
        raise ValueError(f"means must be (D,) and covariances (D, D) with one D, got "
                         f"{mu_a.shape}, {mu_b.shape}, {s_a.shape}, {s_b.shape}")
    s_a, s_b = (s_a + s_a.T) / 2, (s_b + s_b.T) / 2
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = root_a @ s_b @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * cross)
    return max(value, 0.0)


def frechet_distance(feats_a: object, feats_b: object) -> float:
    r"""Fréchet distance between two sets of features, each summarised by a Gaussian (mean
    and covariance) — the formula of FID (Heusel et al., 2017).

    FID proper uses Inception-v3 features of ImageNet images; this project cannot download
    Inception, so notebooks compute it on the features of one of the zoo's classifiers and
    say so ("Fréchet distance on <classifier> features", not "FID"). Like FID it is biased
    upwards for small sets: compare numbers measured with the same sizes and features.

    Arguments:
        feats_a, feats_b: ``(N_a, D)`` and ``(N_b, D)`` (tensors or arrays; ``N ≥ 2``).

    Returns:
        :func:`gaussian_frechet_distance` of the two fitted Gaussians (unbiased covariances).

    Raises:
        ValueError: different feature sizes, fewer than two rows, or non-finite values.

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> a = torch.randn(4000, 2, generator=g)
    >>> round(frechet_distance(a, a + 3.0), 3)   # a shift by (3, 3): 3² + 3²
    18.0
    """
    a, b = _as_2d_numpy(feats_a, "feats_a"), _as_2d_numpy(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feats_a and feats_b must have the same feature size, got "
                         f"{a.shape[1]} and {b.shape[1]}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"need at least 2 rows in each set, got {a.shape[0]} and {b.shape[0]}")
    return gaussian_frechet_distance(a.mean(0), np.cov(a, rowvar=False).reshape(a.shape[1], -1),
                                     b.mean(0), np.cov(b, rowvar=False).reshape(b.shape[1], -1))


@torch.no_grad()
def efficientnet_features(images: Tensor, *, size: int = 128, batch_size: int = 128,
                          network: object | None = None) -> Tensor:
    """The 1280-d pooled features of ImageNet EfficientNet-Lite0 (a network nobody here
    trained), for an independent Fréchet distance.

    Arguments:
        images: RGB ``(N, 3, H, W)`` in [0, 1].
        size: images are resized (bilinear, antialiased when shrinking) to ``size × size``
            first; the network was trained at 224, and 32-pixel images are too small for its
            stride-32 head.
        batch_size: images per forward pass.
        network: an :class:`~n2nlib.experts.efficientnet.EfficientNetLite0` (default: the
            ImageNet one, loaded once).

    Returns:
        float32 ``(N, 1280)`` on the CPU.
    """
    from n2nlib.experts.efficientnet import load_efficientnet_lite0

    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be RGB (N, 3, H, W) in [0, 1], got {got}")
    net = network if network is not None else load_efficientnet_lite0()
    param = next(net.parameters())
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device=param.device, dtype=param.dtype)
        if x.shape[-1] != size or x.shape[-2] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                align_corners=False,
                                                antialias=x.shape[-1] > size)
        out.append(net.features(x.clamp(0, 1), ["pool"])["pool"].float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 1280)


def efficientnet_frechet_distance(images_a: Tensor, images_b: Tensor, *, size: int = 128,
                                  network: object | None = None) -> float:
    """Fréchet distance between two image sets in ImageNet EfficientNet-Lite0 features.

    FID's formula (:func:`frechet_distance`) on :func:`efficientnet_features`: an independent
    reader of image quality beside the project's own classifiers. It is not FID (that uses
    Inception-v3); compare only numbers measured with the same set sizes and ``size``.

    Arguments:
        images_a, images_b: RGB ``(N, 3, H, W)`` in [0, 1], ``N ≥ 2`` each.
        size: the side the images are resized to before the network.
        network: see :func:`efficientnet_features`.

    Returns:
        The distance (≥ 0).
    """
    fa = efficientnet_features(images_a, size=size, network=network)
    fb = efficientnet_features(images_b, size=size, network=network)
    return frechet_distance(fa, fb)


def sample_diversity(samples: Tensor, n_samples: int) -> float:
    """Mean distance between different samples drawn for the *same* input.

    ``samples`` holds ``n_samples`` outputs per input in ``repeat_interleave`` order (the
    layout of ``Net2Net.translate``): rows ``i * n_samples … (i + 1) * n_samples - 1`` belong
    to input ``i``. For every input, the root-mean-square difference per element (e.g. per
    pixel) between each pair of its samples is averaged; the result is the mean over inputs.
    0 means a deterministic translator (every sample the same); images in [0, 1] give values
    in [0, 1].

    Arguments:
        samples: ``(B * n_samples, ...)``.
        n_samples: samples per input (≥ 2).

    Returns:
        The mean pairwise RMS distance.

    Raises:
        ValueError: ``n_samples < 2`` or a number of rows that is not a multiple of it.

    >>> import torch
    >>> sample_diversity(torch.tensor([[0.0], [1.0], [2.0], [2.0]]), n_samples=2)
    0.5
    """
    samples = torch.as_tensor(samples).detach().double()
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    if samples.ndim < 2 or samples.shape[0] % n_samples or samples.shape[0] == 0:
        raise ValueError(f"samples must be (B * n_samples, ...) with n_samples={n_samples}, "
                         f"got shape {tuple(samples.shape)}")
    groups = samples.reshape(samples.shape[0] // n_samples, n_samples, -1)
    d2 = (groups[:, :, None] - groups[:, None, :]).pow(2).mean(-1)  # (B, S, S)
    iu = torch.triu_indices(n_samples, n_samples, offset=1)
    return float(d2[:, iu[0], iu[1]].sqrt().mean())


def rms_distance(a: Tensor, b: Tensor) -> float:
    """Root-mean-square difference per element between paired rows, averaged over rows.

    For images in [0, 1] it is the per-pixel distance of each pair, in [0, 1]; ``b`` may have
    fewer rows than ``a`` when each row of ``b`` goes with ``len(a) // len(b)`` consecutive
    rows of ``a`` (several samples per input, ``repeat_interleave`` order).

    >>> import torch
    >>> rms_distance(torch.zeros(2, 4), torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]))
    0.5
    >>> rms_distance(torch.zeros(4, 2), torch.ones(2, 2))   # two samples per row of b
    1.0
    """
    a = torch.as_tensor(a).detach().double()
    b = torch.as_tensor(b).detach().double()
    if b.shape[0] == 0 or a.shape[0] % b.shape[0] or a.shape[1:] != b.shape[1:]:
        raise ValueError(f"a must be (k * N, ...) and b (N, ...) with the same trailing shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    b = b.repeat_interleave(a.shape[0] // b.shape[0], dim=0)
    return float((a - b).reshape(a.shape[0], -1).pow(2).mean(1).sqrt().mean())


# -- image experts: reconstruction, classification, segmentation (the zoo cards) -------------
# (used by n2nlib.zoo to measure the shipped experts, and by the notebooks)


def psnr(images: Tensor, reconstructions: Tensor, max_value: float = 1.0) -> float:
    r"""Peak signal-to-noise ratio in dB, :math:`10 \log_{10}(\text{max}^2 / \text{MSE})`,
    computed per image and averaged over the batch.

    Arguments:
        images: ``(N, ...)`` reference images (in [0, ``max_value``]).
        reconstructions: same shape.
        max_value: the largest possible pixel value (1 for images in [0, 1]).

    Returns:
        The mean PSNR in dB (an identical pair of images is capped at 100 dB).

    >>> import torch
    >>> round(psnr(torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.1)), 2)
    20.0
    """
    a = torch.as_tensor(images).detach().double()
    b = torch.as_tensor(reconstructions).detach().double().to(a.device)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"images and reconstructions must have the same shape (N, ...), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    mse = (a - b).pow(2).flatten(1).mean(dim=1).clamp_min(max_value**2 * 1e-10)
    return float((10.0 * torch.log10(max_value**2 / mse)).mean())


def accuracy(predicted: Tensor, labels: Tensor) -> float:
    """Fraction of ``predicted`` labels equal to ``labels`` (both integer ``(N,)``).

    >>> import torch
    >>> accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 0]))
    0.75
    """
    p, t = torch.as_tensor(predicted).detach().cpu(), torch.as_tensor(labels).detach().cpu()
    if p.shape != t.shape or p.numel() == 0:
        raise ValueError(f"predicted and labels must have the same non-empty shape, got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    return float((p == t).double().mean())


def accuracy_per_factor(predicted: dict[str, Tensor] | Tensor, labels: Tensor,
                        names: list[str] | tuple[str, ...] | None = None) -> dict[str, float]:
    """Accuracy of each factor of a multi-factor classifier.

    Arguments:
        predicted: ``{factor: (N,)}`` (as ``AttributeClassifier.predict`` returns) or an
            ``(N, F)`` label table.
        labels: the true labels ``(N, F)``, columns in the order of ``names``.
        names: the factor names of the columns (default: the shapes factors,
            :data:`n2nlib.data.FACTOR_NAMES`).

    Returns:
        ``{factor: accuracy}``.

    >>> import torch
    >>> accuracy_per_factor({"a": torch.tensor([0, 1]), "b": torch.tensor([1, 1])},
    ...                     torch.tensor([[0, 0], [1, 1]]), names=["a", "b"])
    {'a': 1.0, 'b': 0.5}
    """
    if names is None:
        from n2nlib.data import FACTOR_NAMES

        names = list(FACTOR_NAMES)
    labels = torch.as_tensor(labels)
    if labels.ndim != 2 or labels.shape[1] != len(names):
        raise ValueError(f"labels must be (N, {len(names)}) with columns {list(names)}, got "
                         f"{tuple(labels.shape)}")
    if isinstance(predicted, Tensor):
        if predicted.shape != labels.shape:
            raise ValueError(f"predicted must have the shape of labels {tuple(labels.shape)}, "
                             f"got {tuple(predicted.shape)}")
        predicted = {name: predicted[:, j] for j, name in enumerate(names)}
    missing = [n for n in names if n not in predicted]
    if missing:
        raise ValueError(f"predicted has no labels for {missing}")
    return {name: accuracy(predicted[name], labels[:, j]) for j, name in enumerate(names)}


def confusion_matrix(predicted: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Counts ``(n_classes, n_classes)``: row = true class, column = predicted class.

    >>> import torch
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2).tolist()
    [[1, 1], [0, 1]]
    """
    p = torch.as_tensor(predicted).detach().cpu().long().flatten()
    t = torch.as_tensor(labels).detach().cpu().long().flatten()
    if p.shape != t.shape:
        raise ValueError(f"predicted and labels must have the same number of entries, got "
                         f"{p.numel()} and {t.numel()}")
    if p.numel() and (int(min(p.min(), t.min())) < 0 or int(max(p.max(), t.max())) >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes - 1}]")
    return torch.bincount(t * n_classes + p, minlength=n_classes**2).view(n_classes, n_classes)


def iou_per_class(predicted: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Intersection over union of each class over all pixels of all images, ``(n_classes,)``
    (NaN for a class absent from both).

    >>> import torch
    >>> iou_per_class(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 1, 0]]), 2).tolist()
    [0.5, 0.5]
    """
    cm = confusion_matrix(predicted, labels, n_classes).double()
    inter = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(inter, float("nan")))


def miou(predicted: Tensor, labels: Tensor, n_classes: int) -> float:
    """Mean intersection over union of a segmentation, over the classes that occur.

    IoU is accumulated over all pixels of all images per class (as in PASCAL VOC), then
    averaged over the classes present in ``labels`` or ``predicted``.

    Arguments:
        predicted: predicted class per pixel, integer ``(N, H, W)``.
        labels: true class per pixel, same shape.
        n_classes: number of classes (background included).

    Returns:
        mIoU in [0, 1].

    >>> import torch
    >>> miou(torch.tensor([[[0, 1], [1, 1]]]), torch.tensor([[[0, 1], [0, 1]]]), 2)
    0.5833333333333333
    """
    ious = iou_per_class(predicted, labels, n_classes)
    return float(ious[~torch.isnan(ious)].mean())


__all__ += ["psnr", "accuracy", "accuracy_per_factor", "confusion_matrix", "iou_per_class", "miou"]


# -- text to image (notebook 06) ---------------------------------------------------------------


def normalized_entropy(labels: Tensor, n_values: int) -> float:
    r"""Entropy of the empirical distribution of integer ``labels``, divided by
    :math:`\log(\min(n\_values, N))`: 1 when the labels are as spread as ``N`` draws over
    ``n_values`` values can be, 0 when they are all the same.

    Arguments:
        labels: integer labels ``(N,)`` in ``[0, n_values)``.
        n_values: number of possible values.

    Returns:
        A float in [0, 1] (0 for fewer than two labels or a single possible value).

    >>> import torch
    >>> normalized_entropy(torch.tensor([0, 1, 2, 3]), 4), normalized_entropy(torch.zeros(5), 3)
    (1.0, 0.0)
    """
    labels = torch.as_tensor(labels).long().flatten()
    if not isinstance(n_values, int) or n_values < 1:
        raise ValueError(f"n_values must be a positive int, got {n_values!r}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_values):
        raise ValueError(f"labels must be in [0, {n_values - 1}], got "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    top = min(n_values, labels.numel())
    if top < 2:
        return 0.0
    p = torch.bincount(labels, minlength=n_values).double() / labels.numel()
    p = p[p > 0]
    return max(0.0, float(-(p * p.log()).sum() / np.log(top)))


def stated_accuracy(predicted: Tensor, requested: Tensor, stated: Tensor,
                    names: list[str] | tuple[str, ...] | None = None) -> dict[str, float]:
    """Per factor, the accuracy of ``predicted`` against ``requested`` over the rows that
    *state* the factor (e.g. images generated from captions that name it).

    Arguments:
        predicted: labels read from the outputs, integer ``(N, F)``.
        requested: labels the inputs asked for, ``(N, F)``.
        stated: bool ``(N, F)``: which factors each input states.
        names: factor names (default ``f0, f1, ...``).

    Returns:
        ``{name: accuracy}`` for factors stated at least once, and ``"mean"``: their average.

    >>> import torch
    >>> stated_accuracy(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 0], [0, 1]]),
    ...                 torch.tensor([[True, False], [True, True]]), names=["a", "b"])
    {'a': 0.5, 'b': 1.0, 'mean': 0.75}
    """
    predicted, requested = torch.as_tensor(predicted), torch.as_tensor(requested)
    stated = torch.as_tensor(stated).bool()
    if predicted.ndim != 2 or predicted.shape != requested.shape or stated.shape != predicted.shape:
        raise ValueError(f"predicted, requested and stated must all be (N, F), got "
                         f"{tuple(predicted.shape)}, {tuple(requested.shape)}, "
                         f"{tuple(stated.shape)}")
    names = list(names) if names is not None else [f"f{j}" for j in range(predicted.shape[1])]
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        rows = stated[:, j]
        if rows.any():
            out[name] = float((predicted[rows, j] == requested[rows, j]).double().mean())
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


def all_stated_correct(predicted: Tensor, requested: Tensor, stated: Tensor) -> float:
    """Fraction of rows whose every stated factor is predicted as requested.

    >>> import torch
    >>> all_stated_correct(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 0], [0, 1]]),
    ...                    torch.tensor([[True, False], [True, True]]))
    0.5
    """
    predicted, requested = torch.as_tensor(predicted), torch.as_tensor(requested)
    stated = torch.as_tensor(stated).bool()
    ok = (predicted == requested) | ~stated
    return float(ok.all(dim=1).double().mean())


def unstated_diversity(predicted: Tensor, stated: Tensor, n_values: list[int] | tuple[int, ...],
                       names: list[str] | tuple[str, ...] | None = None) -> dict[str, float]:
    """Per factor, how varied the samples of one input are where the input leaves the factor
    open: :func:`normalized_entropy` over the ``S`` samples of each input that does not state
    it, averaged over those inputs.

    Arguments:
        predicted: labels read from the samples, integer ``(B, S, F)`` (``S`` samples of each of
            ``B`` inputs).
        stated: bool ``(B, F)``: which factors each input states.
        n_values: number of values of each factor.
        names: factor names (default ``f0, f1, ...``).

    Returns:
        ``{name: diversity}`` for factors left open at least once, and ``"mean"``.

    >>> import torch
    >>> pred = torch.tensor([[[0, 0], [1, 0]], [[0, 1], [0, 1]]])    # 2 inputs, 2 samples
    >>> unstated_diversity(pred, torch.tensor([[False, True], [True, False]]), [2, 2],
    ...                    names=["a", "b"])
    {'a': 1.0, 'b': 0.0, 'mean': 0.5}
    """
    predicted = torch.as_tensor(predicted)
    stated = torch.as_tensor(stated).bool()
    if predicted.ndim != 3 or stated.shape != (predicted.shape[0], predicted.shape[2]):
        raise ValueError(f"predicted must be (B, S, F) and stated (B, F), got "
                         f"{tuple(predicted.shape)} and {tuple(stated.shape)}")
    if len(n_values) != predicted.shape[2]:
        raise ValueError(f"n_values needs one entry per factor ({predicted.shape[2]}), got "
                         f"{len(n_values)}")
    names = list(names) if names is not None else [f"f{j}" for j in range(predicted.shape[2])]
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        rows = (~stated[:, j]).nonzero().flatten().tolist()
        if rows:
            out[name] = float(np.mean([normalized_entropy(predicted[b, :, j], int(n_values[j]))
                                       for b in rows]))
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


__all__ += ["normalized_entropy", "stated_accuracy", "all_stated_correct", "unstated_diversity"]


# -- superresolution and unpaired transfer (notebooks 03 and 04) -----------------------------


def _image_batch(images: object, name: str) -> Tensor:
    x = torch.as_tensor(images).detach()
    if x.ndim != 4:
        raise ValueError(f"{name} must be images (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating-point images in [0, 1], got {x.dtype}")
    return x.double()


def _gaussian_window(size: int, sigma: float) -> Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(images: Tensor, references: Tensor, *, window: int = 7, sigma: float = 1.5,
         max_value: float = 1.0, per_image: bool = False) -> float | Tensor:
    r"""Structural similarity (Wang et al. 2004) between two batches of images.

    Local means, variances and the covariance are taken in a Gaussian window (``sigma``,
    ``window`` × ``window`` pixels, positions where the window fits inside the image only),
    per channel; with :math:`C_1 = (0.01 L)^2, C_2 = (0.03 L)^2`,

    .. math:: \mathrm{SSIM} = \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
              {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)},

    averaged over positions and channels. It is 1 for identical images, near 0 for unrelated
    noise, and unlike PSNR it rewards matching *structure* (edges, texture) over matching
    mean intensities. The usual window is 11 pixels; the default 7 suits 32×32 images.

    Arguments:
        images: ``(N, C, H, W)`` in [0, ``max_value``].
        references: the same shape.
        window: side of the Gaussian window (odd, at most the image side).
        sigma: its standard deviation in pixels.
        max_value: the dynamic range ``L``.
        per_image: return the ``(N,)`` values instead of their mean.

    Returns:
        The mean SSIM (a float), or per image.

    >>> import torch
    >>> x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> ssim(x, x)
    1.0
    >>> ssim(x, torch.rand(2, 3, 16, 16)) < 0.2
    True
    """
    a, b = _image_batch(images, "images"), _image_batch(references, "references")
    if a.shape != b.shape:
        raise ValueError(f"images and references must have the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd positive int, got {window!r}")
    if window > min(a.shape[-2:]):
        raise ValueError(f"window {window} is larger than the images {tuple(a.shape[-2:])}")
    c = a.shape[1]
    kernel = _gaussian_window(window, sigma).to(a.device)[None, None].repeat(c, 1, 1, 1)

    def blur(x: Tensor) -> Tensor:
        return torch.nn.functional.conv2d(x, kernel, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * max_value) ** 2, (0.03 * max_value) ** 2
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    per = value.flatten(1).mean(dim=1)
    return per.float() if per_image else float(per.mean())


def downsample(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Shrink images with an antialiased bilinear filter, clipped to [0, 1].

    This is the filter that made the low-resolution training images of the zoo's
    ``textures-ae-8`` (:func:`n2nlib.zoo.training.lowres`), so it is the one to measure
    low-resolution consistency with (:func:`lr_consistency`).

    Arguments:
        images: ``(N, C, H, W)``.
        size: the new side (or ``(height, width)``).

    Returns:
        ``(N, C, size, size)``.

    >>> import torch
    >>> downsample(torch.rand(2, 3, 32, 32), 8).shape
    torch.Size([2, 3, 8, 8])
    """
    x = torch.as_tensor(images)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
    hw = (size, size) if isinstance(size, int) else tuple(size)
    return torch.nn.functional.interpolate(x, size=hw, mode="bilinear", antialias=True,
                                           align_corners=False).clamp(0.0, 1.0)


def lr_consistency(samples: Tensor, low_res: Tensor, *, per_image: bool = False
                   ) -> float | Tensor:
    """Low-resolution consistency of superresolved images: the PSNR (dB) between each sample,
    downsampled to the low resolution (:func:`downsample`), and the low-resolution input.

    A superresolution that invents detail but keeps what the input showed scores high, however
    different its detail is from the truth. The truth itself scores 100 (the cap of
    :func:`psnr`) when ``low_res = downsample(truth)``; a realistic upper bound for samples
    decoded by an autoencoder is the same number for the autoencoder's reconstruction of the
    truth.

    Arguments:
        samples: ``(N, C, H, W)`` high-resolution images; for several samples per input
            repeat the inputs to match (``low_res.repeat_interleave(k, 0)``).
        low_res: ``(N, C, h, w)`` the low-resolution inputs.
        per_image: return ``(N,)`` values instead of their mean.

    Returns:
        The mean PSNR in dB, or per image.

    >>> import torch
    >>> hi = torch.rand(2, 3, 32, 32)
    >>> lr_consistency(hi, downsample(hi, 8))
    100.0
    """
    hi = _image_batch(samples, "samples")
    lo = _image_batch(low_res, "low_res")
    if hi.shape[:2] != lo.shape[:2]:
        raise ValueError(f"samples {tuple(hi.shape)} and low_res {tuple(lo.shape)} must have the "
                         f"same number of images and channels")
    down = downsample(hi, tuple(lo.shape[-2:]))
    mse = (down - lo).pow(2).flatten(1).mean(dim=1).clamp_min(1e-10)
    per = 10.0 * torch.log10(1.0 / mse)
    return per.float() if per_image else float(per.mean())


def pixel_std(samples: Tensor, n_samples: int) -> Tensor:
    """Per-pixel standard deviation across the samples drawn for the same input: *where* a
    translator is uncertain (:func:`sample_diversity` gives one number for how much).

    Arguments:
        samples: ``(B * n_samples, C, H, W)`` images in ``repeat_interleave`` order (the layout
            of ``Net2Net.translate``): rows ``i * n_samples … (i + 1) * n_samples - 1`` belong
            to input ``i``.
        n_samples: samples per input (≥ 2).

    Returns:
        ``(B, H, W)``: the standard deviation over the samples, averaged over channels (0
        where all samples agree).

    >>> import torch
    >>> pixel_std(torch.zeros(8, 3, 4, 4), n_samples=4).abs().max().item()
    0.0
    >>> pixel_std(torch.rand(8, 3, 4, 4), n_samples=4).shape
    torch.Size([2, 4, 4])
    """
    s = torch.as_tensor(samples).detach()
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    if s.ndim != 4 or s.shape[0] % n_samples or s.shape[0] == 0:
        raise ValueError(f"samples must be (B * n_samples, C, H, W) with n_samples={n_samples}, "
                         f"got shape {tuple(s.shape)}")
    s = s.double().reshape(s.shape[0] // n_samples, n_samples, *s.shape[1:])
    return s.std(dim=1).mean(dim=1).float()


def diversity_vs_ambiguity(diversity: Tensor, ambiguity: Tensor, quantile: float = 0.25
                           ) -> dict[str, float]:
    """Is the spread of the samples larger where the input leaves more open?

    The maps are compared pixel by pixel over the whole batch (their Pearson correlation, and
    the mean diversity in the most ambiguous ``quantile`` of the pixels divided by that in the
    least ambiguous ``quantile``) and image by image (the correlation of the per-image means:
    do inputs that leave more open get more varied samples?). For superresolution a natural
    ambiguity map is the detail that the low-resolution input lost, ``|truth −
    bicubic(low_res)|`` (averaged over channels): flat regions are determined by the
    low-resolution pixels, edges and texture are not.

    Arguments:
        diversity: ``(B, H, W)`` from :func:`pixel_std`.
        ambiguity: ``(B, H, W)`` (or ``(B, C, H, W)``, averaged over channels).
        quantile: the share of pixels at each end.

    Returns:
        ``{"correlation": r, "ratio": high / low, "high": ..., "low": ...,
        "image_correlation": r of the per-image means}``.

    >>> import torch
    >>> amb = torch.rand(4, 8, 8)
    >>> out = diversity_vs_ambiguity(2 * amb, amb)
    >>> round(out["correlation"], 6), out["ratio"] > 1
    (1.0, True)
    """
    d = torch.as_tensor(diversity).detach().double()
    a = torch.as_tensor(ambiguity).detach().double()
    if a.ndim == 4:
        a = a.mean(dim=1)
    if d.shape != a.shape or d.ndim != 3:
        raise ValueError(f"diversity and ambiguity must be (B, H, W) maps of one shape, got "
                         f"{tuple(d.shape)} and {tuple(a.shape)}")
    if not 0 < quantile <= 0.5:
        raise ValueError(f"quantile must be in (0, 0.5], got {quantile}")
    def pearson(x: Tensor, y: Tensor) -> float:
        xc, yc = x - x.mean(), y - y.mean()
        return float((xc * yc).sum() / (xc.norm() * yc.norm()).clamp_min(1e-30))

    per_image = pearson(d.flatten(1).mean(1), a.flatten(1).mean(1)) if len(d) > 1 else 0.0
    d, a = d.flatten(), a.flatten()
    order = torch.argsort(a)
    k = max(1, int(round(quantile * a.numel())))
    low, high = float(d[order[:k]].mean()), float(d[order[-k:]].mean())
    return {"correlation": pearson(d, a), "ratio": high / max(low, 1e-30), "high": high,
            "low": low, "image_correlation": per_image}


def sharpness(images: Tensor) -> float:
    """Mean magnitude of the image gradient (finite differences, over pixels, channels and
    images): blurry images score low, noisy or detailed ones high. Compare it with the same
    number of the true images.

    >>> import torch
    >>> sharpness(torch.zeros(1, 3, 8, 8))
    0.0
    >>> sharpness(torch.rand(1, 3, 8, 8)) > sharpness(torch.full((1, 3, 8, 8), 0.5))
    True
    """
    x = _image_batch(images, "images")
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return float(torch.sqrt(dx[..., :-1, :] ** 2 + dy[..., :, :-1] ** 2).mean())


def content_preservation(predicted: dict[str, Tensor], reference: dict[str, Tensor] | Tensor,
                         names: tuple[str, ...] | list[str] = ("shape", "color", "size",
                                                                "position"),
                         all_names: tuple[str, ...] | list[str] | None = None
                         ) -> dict[str, float]:
    """How often the factors read from a translation equal those of its source.

    Arguments:
        predicted: ``{factor: (N,)}`` labels read from the translated images (e.g.
            ``AttributeClassifier.predict``).
        reference: the source's labels, as a dict like ``predicted`` or an ``(N, F)`` table
            whose columns are ``all_names``.
        names: the factors that a translation should keep (default: all but the background).
        all_names: the column names of a table ``reference`` (default: the shapes factors,
            :data:`n2nlib.data.FACTOR_NAMES`).

    Returns:
        ``{factor: fraction equal}`` for each of ``names``, and ``"all"``: the fraction of
        images where *every* one of them is equal.

    >>> import torch
    >>> pred = {"shape": torch.tensor([0, 1, 2]), "color": torch.tensor([1, 1, 1])}
    >>> ref = {"shape": torch.tensor([0, 1, 0]), "color": torch.tensor([1, 1, 1])}
    >>> content_preservation(pred, ref, names=("shape", "color"))
    {'shape': 0.6666666666666666, 'color': 1.0, 'all': 0.6666666666666666}
    """
    if isinstance(reference, Tensor):
        if all_names is None:
            from n2nlib.data import FACTOR_NAMES

            all_names = FACTOR_NAMES
        if reference.ndim != 2 or reference.shape[1] != len(all_names):
            raise ValueError(f"a reference table must be (N, {len(all_names)}) with columns "
                             f"{list(all_names)}, got {tuple(reference.shape)}")
        reference = {n: reference[:, j] for j, n in enumerate(all_names)}
    missing = [n for n in names if n not in predicted or n not in reference]
    if missing or not names:
        raise ValueError(f"predicted and reference need labels for {list(names)}; missing "
                         f"{missing}")
    equal = []
    for n in names:
        p = torch.as_tensor(predicted[n]).detach().cpu().long().flatten()
        r = torch.as_tensor(reference[n]).detach().cpu().long().flatten()
        if p.shape != r.shape or p.numel() == 0:
            raise ValueError(f"factor {n!r}: predicted and reference must have the same "
                             f"non-empty length, got {p.numel()} and {r.numel()}")
        equal.append(p == r)
    eq = torch.stack(equal, dim=1)
    out = {n: float(eq[:, j].double().mean()) for j, n in enumerate(names)}
    out["all"] = float(eq.all(dim=1).double().mean())
    return out


def linear_probe_accuracy(features: Tensor, labels: Tensor, *, test_fraction: float = 0.3,
                          seed: int = 0, test_features: Tensor | None = None,
                          test_labels: Tensor | None = None) -> float:
    """How well a linear classifier predicts ``labels`` from ``features`` (held-out accuracy).

    A logistic regression (scikit-learn, standardised features) is fitted on a random
    ``1 - test_fraction`` of the rows and scored on the rest. Chance level means the features
    hold no *linearly readable* information about the labels: e.g. the residual ``v`` of a
    cINN conditioned on the labels should sit at chance, the representation it came from far
    above it. With ``test_features`` and ``test_labels`` the probe is fitted on *all* rows and
    scored on that separate set instead — a transfer test, e.g. from training phrasings to
    held-out ones.

    Arguments:
        features: ``(N, D)``.
        labels: ``(N,)`` integer classes.
        test_fraction: share of rows held out for scoring (without a separate test set).
        seed: seed of the split.
        test_features: ``(M, D)``, a separate test set (with ``test_labels``).
        test_labels: ``(M,)``.

    Returns:
        Held-out accuracy in [0, 1].

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.randint(0, 2, (400,), generator=g)
    >>> x = torch.randn(400, 3, generator=g)
    >>> linear_probe_accuracy(x + 4.0 * y[:, None], y) > 0.95
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _as_2d_numpy(features, "features")
    y = torch.as_tensor(labels).detach().cpu().long().numpy().ravel()
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"features and labels need the same number of rows, got {x.shape[0]} "
                         f"and {y.shape[0]}")
    if (test_features is None) != (test_labels is None):
        raise ValueError("give test_features and test_labels together")
    if test_features is not None:
        x_test = _as_2d_numpy(test_features, "test_features")
        y_test = torch.as_tensor(test_labels).detach().cpu().long().numpy().ravel()
        if x_test.shape[1] != x.shape[1] or y_test.shape[0] != x_test.shape[0]:
            raise ValueError(f"test_features must be (M, {x.shape[1]}) with M test_labels, got "
                             f"{x_test.shape} and {y_test.shape[0]} labels")
        x_train, y_train = x, y
    else:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        order = rng.permutation(x.shape[0])
        n_test = max(1, int(round(test_fraction * x.shape[0])))
        test, train = order[:n_test], order[n_test:]
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    if len(np.unique(y_train)) < 2:
        raise ValueError("the training part of the split holds a single class")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(x_train, y_train)
    return float((clf.predict(x_test) == y_test).mean())


__all__ += ["ssim", "downsample", "lr_consistency", "pixel_std", "diversity_vs_ambiguity",
            "sharpness", "content_preservation", "linear_probe_accuracy"]
