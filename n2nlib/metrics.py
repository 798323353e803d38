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
