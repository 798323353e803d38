"""Where samples land: modes, distances, Fréchet distances (also in EfficientNet-Lite0
features), sample diversity."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from n2nlib.metrics._common import _as_2d_numpy

__all__ = [
    "mode_shares",
    "on_mode_fraction",
    "mode_coverage",
    "mean_distance",
    "total_variation",
    "gaussian_frechet_distance",
    "frechet_distance",
    "efficientnet_features",
    "efficientnet_frechet_distance",
    "sample_diversity",
    "rms_distance",
]


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
    # torch's LAPACK eigh: about 9x faster than NumPy's on a 1280-d covariance here (RESULTS)
    a, b = torch.from_numpy(s_a).double(), torch.from_numpy(s_b).double()
    w, v = torch.linalg.eigh(a)
    root_a = (v * w.clamp_min(0.0).sqrt()) @ v.T
    inner = root_a @ b @ root_a
    cross = float(torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0.0).sqrt().sum())
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
def efficientnet_features(images: Tensor, *, size: int = 128, batch_size: int = 32,
                          network: object | None = None) -> Tensor:
    """The 1280-d pooled features of ImageNet EfficientNet-Lite0 (a network nobody here
    trained), for an independent Fréchet distance.

    Arguments:
        images: RGB ``(N, 3, H, W)`` in [0, 1].
        size: images are resized (bilinear, antialiased when shrinking) to ``size × size``
            first; the network was trained at 224, and 32-pixel images are too small for its
            stride-32 head.
        batch_size: images per forward pass (32: a batch of 128 at 128 × 128 pixels holds
            about 0.6 GiB more of activations and ran 1.8× slower on a 2-core CPU; RESULTS).
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
