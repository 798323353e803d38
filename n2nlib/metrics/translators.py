r"""Measures of a translator on held-out pairs, and checks of the residual the method assumes.

Two-sample distances between translated and true target codes
    :func:`energy_distance`, :func:`mmd` (Gaussian kernel, median bandwidth) and
    :func:`classifier_two_sample_test` (a logistic regression tells the sets apart: 0.5 is
    indistinguishable).
Diversity
    :func:`vendi_score` (the effective number of distinct samples) and
    :func:`mean_pairwise_distance`.
The residual :math:`v = \tau^{-1}(z_\Theta \mid z_\Phi)`
    The method assumes :math:`v \sim \mathcal N(0, I)` and independent of :math:`z_\Phi`;
    transfer (Eq. 6) and model diagnosis rest on that. :func:`residual_report` measures both:
    per-dimension Kolmogorov–Smirnov statistics against :math:`\mathcal N(0, 1)`, HSIC between
    :math:`v` and :math:`z_\Phi` against a permutation null, and the rank histogram of held-out
    targets among samples (flat when the conditional is calibrated).

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> a, b = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g)
>>> energy_distance(a, b) < 0.05, energy_distance(a, b + 2.0) > 1.0
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from n2nlib.metrics._common import _as_2d_numpy

__all__ = [
    "ResidualReport",
    "classifier_two_sample_test",
    "energy_distance",
    "hsic",
    "mean_pairwise_distance",
    "median_bandwidth",
    "mmd",
    "r_squared",
    "rank_histogram",
    "residual_report",
    "vendi_score",
]


def _two_sets(a: object, b: object) -> tuple[Tensor, Tensor]:
    x = torch.from_numpy(_as_2d_numpy(a, "a"))
    y = torch.from_numpy(_as_2d_numpy(b, "b"))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"a and b must have the same width, got {x.shape[1]} and {y.shape[1]}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"need at least 2 rows in each set, got {len(x)} and {len(y)}")
    return x, y


def median_bandwidth(distances: Tensor) -> float:
    """The median heuristic for a Gaussian kernel's σ: the median of the non-zero entries of a
    distance matrix (1.0 when every distance is 0)."""
    positive = distances[distances > 0]
    return float(positive.median()) if positive.numel() else 1.0


def energy_distance(a: object, b: object) -> float:
    r"""The energy distance :math:`2E\|X-Y\| - E\|X-X'\| - E\|Y-Y'\|` (Székely & Rizzo; ≥ 0,
    0 iff the distributions are equal), with the unbiased within-set means.

    Arguments:
        a, b: samples ``(N, D)`` and ``(M, D)``.

    Returns:
        The distance, in the units of the codes.
    """
    x, y = _two_sets(a, b)
    n, m = len(x), len(y)
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).sum() / (n * (n - 1))
    yy = torch.cdist(y, y).sum() / (m * (m - 1))
    return float(2 * xy - xx - yy)


def mmd(a: object, b: object, bandwidth: float | None = None) -> float:
    r"""The squared maximum mean discrepancy with a Gaussian kernel (unbiased estimate).

    Arguments:
        a, b: samples ``(N, D)`` and ``(M, D)``.
        bandwidth: the kernel's σ; default: the median distance between the pooled samples.

    Returns:
        :math:`\widehat{\mathrm{MMD}}^2` (near 0, possibly slightly negative, for equal
        distributions).
    """
    x, y = _two_sets(a, b)
    pooled = torch.cat([x, y])
    if bandwidth is None:
        d = torch.cdist(pooled, pooled)
        bandwidth = median_bandwidth(d)

    def k(p: Tensor, q: Tensor) -> Tensor:
        return torch.exp(-torch.cdist(p, q).pow(2) / (2 * bandwidth**2))

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(xx + yy - 2 * k(x, y).mean())


def classifier_two_sample_test(a: object, b: object, *, folds: int = 5, seed: int = 0,
                               model: str = "logistic", neighbours: int = 10) -> float:
    """Held-out accuracy of a classifier that tells ``a`` from ``b`` (Lopez-Paz & Oquab's
    C2ST): 0.5 when it cannot, 1.0 when the sets are apart.

    A logistic regression sees differences of the means (and of linear features); a
    k-nearest-neighbour classifier also sees differences of shape, e.g. samples between the
    modes of a multimodal target.

    Arguments:
        a, b: samples ``(N, D)`` and ``(M, D)`` (balanced by subsampling the larger one).
        folds: cross-validation folds.
        seed: the shuffling seed.
        model: ``"logistic"`` or ``"knn"`` (on standardised coordinates).
        neighbours: the k of ``"knn"``.

    Returns:
        The mean held-out accuracy.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model not in ("logistic", "knn"):
        raise ValueError(f"model must be 'logistic' or 'knn', got {model!r}")
    x, y = _two_sets(a, b)
    rng = np.random.default_rng(seed)
    n = min(len(x), len(y))
    x = x[rng.permutation(len(x))[:n]].numpy()
    y = y[rng.permutation(len(y))[:n]].numpy()
    features = np.concatenate([x, y])
    labels = np.concatenate([np.zeros(n), np.ones(n)])
    order = rng.permutation(2 * n)
    classifier = (LogisticRegression(max_iter=1000) if model == "logistic"
                  else KNeighborsClassifier(min(neighbours, max(1, n // 2))))
    pipeline = make_pipeline(StandardScaler(), classifier)
    scores = cross_val_score(pipeline, features[order], labels[order], cv=min(folds, n))
    return float(scores.mean())


def mean_pairwise_distance(samples: object) -> float:
    """The mean Euclidean distance between two different rows of ``samples`` ``(N, D)``."""
    x = torch.from_numpy(_as_2d_numpy(samples, "samples"))
    n = len(x)
    if n < 2:
        raise ValueError(f"need at least 2 samples, got {n}")
    return float(torch.cdist(x, x).sum() / (n * (n - 1)))


def vendi_score(samples: object, bandwidth: float | None = None) -> float:
    r"""The Vendi score (Friedman & Dieng 2023): :math:`\exp(-\sum_i \lambda_i \log \lambda_i)`
    over the eigenvalues of :math:`K/n`, :math:`K` a Gaussian-kernel similarity matrix — the
    effective number of distinct samples (1 for identical samples, ``n`` for far-apart ones).

    Arguments:
        samples: ``(N, D)``.
        bandwidth: the kernel's σ; default: the median distance between the samples.
    """
    x = torch.from_numpy(_as_2d_numpy(samples, "samples"))
    d = torch.cdist(x, x)
    if bandwidth is None:
        bandwidth = median_bandwidth(d)
    k = torch.exp(-d.pow(2) / (2 * bandwidth**2))
    lam = torch.linalg.eigvalsh(k / len(x)).clamp_min(0.0)
    lam = lam[lam > 1e-12]
    return float(torch.exp(-(lam * lam.log()).sum()))


def r_squared(predicted: object, truth: object) -> float:
    r"""How much of the variance of ``truth`` ``predicted`` explains, over all coordinates:
    :math:`1 - \sum \|\hat c - c\|^2 / \sum \|c - \bar c\|^2` (1: exact; 0: no better than
    the mean of ``truth``; negative: worse). A label-free agreement, e.g. of a condition with
    its cycle :math:`\tau_{BA}(\tau_{AB}(c))` or with :math:`\Phi(\Lambda(\hat z))`.

    >>> r_squared(torch.tensor([[1.0], [2.0]]), torch.tensor([[1.0], [3.0]]))
    0.5
    """
    p, t = _two_sets(predicted, truth)
    if len(p) != len(t):
        raise ValueError(f"predicted and truth must pair up, got {len(p)} and {len(t)} rows")
    total = (t - t.mean(0)).pow(2).sum()
    if total == 0:
        raise ValueError("truth has no variance: R² is undefined")
    return float(1 - (p - t).pow(2).sum() / total)


def _centred_gram(x: Tensor) -> Tensor:
    d = torch.cdist(x, x)
    sigma = median_bandwidth(d)
    k = torch.exp(-d.pow(2) / (2 * sigma**2))
    n = len(x)
    h = torch.eye(n, dtype=x.dtype) - 1.0 / n
    return h @ k @ h


def hsic(a: object, b: object, *, permutations: int = 200, seed: int = 0,
         max_rows: int = 1000) -> tuple[float, float]:
    """The Hilbert–Schmidt independence criterion between paired samples, with a permutation
    p-value (Gaussian kernels, median bandwidths).

    Arguments:
        a, b: paired samples ``(N, Da)`` and ``(N, Db)``.
        permutations: permutations of ``b``'s rows for the null distribution.
        seed: seed of the subsample and the permutations.
        max_rows: at most this many pairs (a random subset): the cost is quadratic.

    Returns:
        ``(statistic, p_value)``: a small p-value says ``a`` and ``b`` are dependent.
    """
    x = torch.from_numpy(_as_2d_numpy(a, "a"))
    y = torch.from_numpy(_as_2d_numpy(b, "b"))
    if len(x) != len(y):
        raise ValueError(f"a and b must pair up, got {len(x)} and {len(y)} rows")
    gen = torch.Generator().manual_seed(seed)
    if len(x) > max_rows:
        keep = torch.randperm(len(x), generator=gen)[:max_rows]
        x, y = x[keep], y[keep]
    n = len(x)
    kx, ky = _centred_gram(x), _centred_gram(y)
    stat = float((kx * ky).sum() / n**2)
    null = [float((kx * ky[p][:, p]).sum() / n**2)
            for p in (torch.randperm(n, generator=gen) for _ in range(permutations))]
    p_value = (1 + sum(s >= stat for s in null)) / (1 + permutations)
    return stat, p_value


def rank_histogram(truth: Tensor, samples: Tensor, n_samples: int) -> Tensor:
    """Where each held-out target falls among samples drawn for its condition, per dimension.

    Arguments:
        truth: the true codes ``(B, D)``.
        samples: ``(B * n_samples, D)``, the samples of row ``i`` in rows ``i * n_samples …``
            (the layout of ``Net2Net.translate_latent``).
        n_samples: samples per condition.

    Returns:
        The frequency of each rank ``0 … n_samples`` (``(n_samples + 1,)``, sums to 1): flat
        (``1 / (n_samples + 1)`` each) for a calibrated translator, U-shaped when its samples
        are too narrow, peaked in the middle when too wide.
    """
    if samples.shape[0] != truth.shape[0] * n_samples or samples.shape[1:] != truth.shape[1:]:
        raise ValueError(f"samples must be (B * n_samples, D) = ({truth.shape[0] * n_samples}, "
                         f"{truth.shape[1]}), got {tuple(samples.shape)}")
    grouped = samples.view(truth.shape[0], n_samples, -1)
    ranks = (grouped < truth[:, None]).sum(1).flatten()
    return torch.bincount(ranks, minlength=n_samples + 1).double() / ranks.numel()


@dataclass
class ResidualReport:
    """What :func:`residual_report` measured.

    Attributes:
        ks: per-dimension Kolmogorov–Smirnov statistic of v against N(0, 1) ``(D,)``.
        ks_critical: the statistic a true N(0, 1) exceeds with probability 0.05 (n rows).
        mean, std: per-dimension mean and standard deviation of v.
        hsic: HSIC between v and the condition; ``hsic_p``: its permutation p-value.
        quantiles: ``(theoretical, observed)`` quantiles of all of v's entries (a QQ plot).
    """

    ks: Tensor
    ks_critical: float
    mean: Tensor
    std: Tensor
    hsic: float
    hsic_p: float
    quantiles: tuple[Tensor, Tensor]

    @property
    def gaussian_fraction(self) -> float:
        """The share of dimensions whose KS statistic stays below the 5 % critical value."""
        return float((self.ks <= self.ks_critical).double().mean())


def residual_report(v: Tensor, condition: Tensor, *, permutations: int = 200,
                    seed: int = 0) -> ResidualReport:
    """Check the residual the method assumes: ``v ~ N(0, I)`` and independent of ``z_Φ``.

    Arguments:
        v: residuals of held-out pairs ``(N, D)`` (``Net2Net.residual_latent``).
        condition: their conditions ``(N, ...)`` (flattened).
        permutations: for the HSIC p-value.
        seed: of the HSIC subsample and permutations.

    Returns:
        A :class:`ResidualReport`.
    """
    from scipy import stats

    v = v.detach().double().cpu()
    if v.ndim != 2 or len(v) < 8:
        raise ValueError(f"v must be (N, D) with N >= 8, got {tuple(v.shape)}")
    cond = condition.detach().double().cpu().reshape(len(condition), -1)
    if len(cond) != len(v):
        raise ValueError(f"v and condition must pair up, got {len(v)} and {len(cond)} rows")
    ks = torch.tensor([stats.kstest(v[:, j].numpy(), "norm").statistic
                       for j in range(v.shape[1])])
    n = len(v)
    critical = 1.358 / math.sqrt(n)  # the asymptotic 5 % point of the KS distribution
    stat, p = hsic(v, cond, permutations=permutations, seed=seed)
    probs = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    theoretical = torch.distributions.Normal(0.0, 1.0).icdf(probs)
    observed = torch.quantile(v.flatten(), probs)
    return ResidualReport(ks=ks, ks_critical=critical, mean=v.mean(0), std=v.std(0),
                          hsic=stat, hsic_p=p, quantiles=(theoretical, observed))
