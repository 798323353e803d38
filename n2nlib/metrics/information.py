"""Information and likelihood: mutual information estimators, NLL gaps."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from n2nlib.metrics._common import _pair

__all__ = [
    "knn_mutual_information",
    "gaussian_mutual_information",
    "NLLGap",
    "nll_gap",
    "distinct_per_input",
]


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


def distinct_per_input(labels: Tensor, n_samples: int) -> Tensor:
    """The number of distinct values among each input's ``n_samples`` consecutive labels (how
    many different factor values, say, the samples of one input show).

    >>> distinct_per_input(torch.tensor([0, 0, 1, 2, 2, 2]), 3).tolist()
    [2, 1]
    """
    if labels.ndim != 1 or len(labels) % n_samples:
        raise ValueError(f"labels must be 1-d with a multiple of n_samples={n_samples} rows, "
                         f"got shape {tuple(labels.shape)}")
    rows = labels.view(-1, n_samples).sort(dim=1).values
    return 1 + (rows[:, 1:] != rows[:, :-1]).sum(dim=1)
