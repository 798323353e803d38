r"""Small distributions whose densities are known exactly, for checks you can measure.

The notebooks 01 and 02 compare what a trained flow achieves with the truth, so the truth has
to be computable. Each distribution here has a sampler and an exact log-density:

* :class:`TwoMoons` — the classic two half-circles with Gaussian noise (unconditional). Its
  density is a 1D integral over the arc, evaluated by Gauss–Legendre quadrature to ~1e-9.
* :class:`RingModes` — a *conditional* task with real ambiguity: the condition is a radius
  :math:`r`, and the target is a point on the circle of that radius, near one of several
  modes (with unequal weights) whose angles turn as :math:`r` grows. The radius says where
  the ring is, not which mode: ``log_prob(x, c)`` is a Gaussian mixture in closed form.
* :class:`LinearGaussian` — :math:`z_\Phi \sim \mathcal N(0, I)`,
  :math:`z_\Theta \mid z_\Phi \sim \mathcal N(A z_\Phi + b, \Sigma)`, where the conditional
  entropy :math:`H[z_\Theta \mid z_\Phi]` of Eq. (4) is analytic.
* :class:`MLPRegressor` — the deterministic baseline of the paper's supplement E: one output
  per condition, trained with the squared error, so it can only learn the conditional mean.
* :class:`LinearTranslator` — an affine conditional flow
  :math:`\tau(v \mid c) = W v + M c + m`, with the module interface of
  :class:`~n2nlib.flows.ConditionalINN`; paired with :class:`LinearGaussian`, the residual
  distribution :math:`p(v \mid z_\Phi)`, the KL of supplement Eq. (8) and the mutual
  information :math:`I(v, z_\Phi)` are all closed-form (see :meth:`LinearTranslator.residual`).

>>> import torch
>>> moons = TwoMoons(noise=0.1)
>>> x = moons.sample(5, generator=torch.Generator().manual_seed(0))
>>> moons.log_prob(x).shape
torch.Size([5])
>>> rings = RingModes()
>>> x, c = rings.sample(4, generator=torch.Generator().manual_seed(0))
>>> x.shape, c.shape, rings.log_prob(x, c).shape
(torch.Size([4, 2]), torch.Size([4, 1]), torch.Size([4]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from n2nlib._checks import check_batch, check_tensor
from n2nlib.flows.subnets import MLP

__all__ = [
    "TwoMoons",
    "RingModes",
    "LinearGaussian",
    "LinearTranslator",
    "MLPRegressor",
    "ResidualGaussian",
    "gaussian_log_prob",
    "gaussian_kl_to_standard",
    "standard_normal_log_prob",
    "grid",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _randn(shape: Sequence[int], generator: torch.Generator | None, dtype: torch.dtype) -> Tensor:
    return torch.randn(*shape, generator=generator, dtype=dtype)


def _rand(shape: Sequence[int], generator: torch.Generator | None, dtype: torch.dtype) -> Tensor:
    return torch.rand(*shape, generator=generator, dtype=dtype)


def _check_points(x: object, name: str = "x", dim: int = 2) -> Tensor:
    return check_tensor(x, name, shape=(None, dim))


def standard_normal_log_prob(v: Tensor) -> Tensor:
    r"""Row-wise :math:`\log \mathcal N(v; 0, I)` of ``v`` ``(B, D)``: the :math:`\log q(v)` of
    the paper.

    >>> round(float(standard_normal_log_prob(torch.zeros(1, 2))[0]), 4)  # -log(2 pi)
    -1.8379
    """
    return -0.5 * v.pow(2).sum(dim=1) - 0.5 * v.shape[1] * _LOG_2PI


def gaussian_log_prob(x: Tensor, mean: Tensor, cov: Tensor) -> Tensor:
    r"""Row-wise :math:`\log \mathcal N(x; \mu, \Sigma)`.

    Arguments:
        x: points ``(B, D)``.
        mean: ``(D,)`` or one mean per row ``(B, D)``.
        cov: a covariance ``(D, D)`` (symmetric positive definite).

    Returns:
        ``(B,)`` log-densities in nats.

    >>> x = torch.tensor([[1.0, 0.0]])
    >>> round(float(gaussian_log_prob(x, torch.zeros(2), torch.eye(2))[0]), 4)
    -2.3379
    """
    chol = torch.linalg.cholesky(cov)
    sol = torch.linalg.solve_triangular(chol, (x - mean).T, upper=False)  # (D, B)
    half_logdet = torch.log(torch.diagonal(chol)).sum()
    return -0.5 * sol.pow(2).sum(dim=0) - half_logdet - 0.5 * x.shape[1] * _LOG_2PI


def gaussian_kl_to_standard(mean: Tensor, cov: Tensor) -> Tensor:
    r""":math:`\mathrm{KL}(\mathcal N(\mu, S) \,\|\, \mathcal N(0, I))
    = \tfrac12\,[\operatorname{tr} S + \mu^\top\mu - D - \log\det S]`.

    Arguments:
        mean: ``(D,)`` or ``(B, D)``: one KL per row.
        cov: ``(D, D)``, shared by all rows.

    Returns:
        A scalar tensor, or ``(B,)`` for a batch of means.

    >>> float(gaussian_kl_to_standard(torch.zeros(3), torch.eye(3)))
    0.0
    """
    dim = cov.shape[0]
    const = torch.trace(cov) - dim - torch.linalg.slogdet(cov).logabsdet
    return 0.5 * (const + mean.pow(2).sum(dim=-1))


def grid(extent: Sequence[float], n: int = 200) -> tuple[Tensor, Tensor, float]:
    """A regular ``n × n`` grid of points over ``extent = (xmin, xmax, ymin, ymax)``.

    Cell centres are used, so a sum of ``density × cell_area`` is the midpoint rule.

    Returns:
        ``(points, shape_xy, cell_area)``: the points ``(n*n, 2)`` in row-major order (``y``
        varies slowest, as :func:`matplotlib.pyplot.imshow` expects with ``origin="lower"``),
        a tensor ``(n, n)`` of the same indices for reshaping, and the area of one cell.

    >>> points, _, area = grid((0, 1, 0, 1), n=4)
    >>> points.shape, area
    (torch.Size([16, 2]), 0.0625)
    """
    x0, x1, y0, y1 = (float(e) for e in extent)
    if not (x1 > x0 and y1 > y0) or n < 2:
        raise ValueError(f"extent must be (xmin, xmax, ymin, ymax) with max > min and n >= 2, "
                         f"got {tuple(extent)} and n={n}")
    dx, dy = (x1 - x0) / n, (y1 - y0) / n
    xs = x0 + dx * (torch.arange(n, dtype=torch.get_default_dtype()) + 0.5)
    ys = y0 + dy * (torch.arange(n, dtype=torch.get_default_dtype()) + 0.5)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    return points, torch.arange(n * n).view(n, n), dx * dy


# -- two moons -------------------------------------------------------------------------------


class TwoMoons:
    r"""Two interleaved half-circles with isotropic Gaussian noise, as in scikit-learn's
    ``make_moons``, with the exact density.

    A point is drawn by choosing a moon (probability ½ each), an angle
    :math:`t \sim U[0, \pi]` and noise :math:`\sigma\epsilon`:

    .. math::
        a_0(t) = (\cos t, \sin t), \qquad a_1(t) = (1 - \cos t,\ \tfrac12 - \sin t), \qquad
        p(x) = \tfrac12 \sum_{m} \tfrac1\pi \int_0^\pi \mathcal N(x; a_m(t), \sigma^2 I)\,dt.

    The integral is computed with ``n_quad`` Gauss–Legendre nodes in log-space; 256 nodes
    are exact to ~1e-9 for ``noise >= 0.05``.

    Arguments:
        noise: :math:`\sigma`, the standard deviation of the noise.
        n_quad: quadrature nodes for :meth:`log_prob`.

    >>> moons = TwoMoons(0.1)
    >>> moons.extent
    (-1.5, 2.5, -1.0, 1.5)
    """

    def __init__(self, noise: float = 0.1, n_quad: int = 256) -> None:
        if not noise > 0:
            raise ValueError(f"noise must be > 0, got {noise!r}")
        self.noise = float(noise)
        nodes, weights = np.polynomial.legendre.leggauss(int(n_quad))
        # map [-1, 1] -> [0, pi]; the uniform density 1/pi cancels the Jacobian pi/2 to 1/2
        self._t = torch.from_numpy((nodes + 1.0) * math.pi / 2.0)
        self._log_w = torch.from_numpy(np.log(weights / 2.0))

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """A box that holds nearly all the mass (for plots and grid integrals)."""
        return (-1.5, 2.5, -1.0, 1.5)

    @staticmethod
    def arc(t: Tensor, moon: Tensor) -> Tensor:
        """Noise-free points on moon ``moon`` (0 or 1) at angle ``t``, ``(B, 2)``."""
        upper = torch.stack([torch.cos(t), torch.sin(t)], dim=-1)
        lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=-1)
        return torch.where(moon.unsqueeze(-1).bool(), lower, upper)

    def sample(
        self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """Draw ``n`` points ``(n, 2)``."""
        dtype = dtype or torch.get_default_dtype()
        moon = (_rand((n,), generator, dtype) < 0.5).long()
        t = _rand((n,), generator, dtype) * math.pi
        return self.arc(t, moon) + self.noise * _randn((n, 2), generator, dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density (nats) of points ``x`` ``(B, 2)``, ``(B,)``."""
        _check_points(x)
        t = self._t.to(x)
        log_w = self._log_w.to(x)
        terms = []
        for moon in (0, 1):
            centres = self.arc(t, torch.full_like(t, moon))  # (Q, 2)
            sq = (x.unsqueeze(1) - centres.unsqueeze(0)).pow(2).sum(-1)  # (B, Q)
            log_n = -0.5 * sq / self.noise**2 - _LOG_2PI - 2.0 * math.log(self.noise)
            terms.append(torch.logsumexp(log_n + log_w, dim=1))
        return torch.logsumexp(torch.stack(terms, dim=1), dim=1) - math.log(2.0)


# -- ring modes (conditional) ----------------------------------------------------------------


class RingModes:
    r"""A conditional 2D task where the condition fixes a ring and leaves the mode open.

    The condition is a radius :math:`r \sim U[r_{\min}, r_{\max}]`, given as ``c = r`` of
    shape ``(B, 1)``. Given :math:`r`, the target is a Gaussian mixture of ``n_modes`` modes
    on the circle of radius :math:`r`, at angles that turn with :math:`r`:

    .. math::
        \theta_j(r) = \phi_0 + \frac{2\pi j}{K} + \omega\,(r - r_{\min}), \qquad
        p(x \mid r) = \sum_{j=1}^{K} w_j\, \mathcal N\big(x;\ r\,(\cos\theta_j, \sin\theta_j),
        \ \sigma^2 I\big).

    The radius tells where the ring is, but not which of the :math:`K` modes a point belongs
    to: a model that predicts one output per condition (a regressor) can at best return the
    conditional mean :math:`\sum_j w_j \mu_j(r)`, which lies *inside* the ring, between the
    modes, where there is almost no data. A conditional flow can represent all modes.

    Arguments:
        n_modes: :math:`K`.
        weights: mixture weights (default ``(0.5, 0.3, 0.2)`` for three modes, uniform
            otherwise); unequal weights make the conditional mean differ from the centre.
        sigma: :math:`\sigma`, the spread of each mode.
        radius: :math:`(r_{\min}, r_{\max})`.
        twist: :math:`\omega`, radians the modes turn per unit of radius.
        phase: :math:`\phi_0`.

    >>> task = RingModes()
    >>> task.centers(torch.tensor([[1.0]])).shape
    torch.Size([1, 3, 2])
    """

    def __init__(
        self,
        n_modes: int = 3,
        weights: Sequence[float] | None = None,
        sigma: float = 0.2,
        radius: tuple[float, float] = (1.0, 2.5),
        twist: float = 1.0,
        phase: float = math.pi / 2,
    ) -> None:
        if not isinstance(n_modes, int) or n_modes < 1:
            raise ValueError(f"n_modes must be a positive int, got {n_modes!r}")
        if weights is None:
            weights = (0.5, 0.3, 0.2) if n_modes == 3 else [1.0 / n_modes] * n_modes
        w = torch.as_tensor(list(weights), dtype=torch.float64)
        if w.shape != (n_modes,) or bool((w <= 0).any()):
            raise ValueError(f"weights must be {n_modes} positive numbers, got {list(weights)}")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        r0, r1 = (float(r) for r in radius)
        if not 0 < r0 < r1:
            raise ValueError(f"radius must be (r_min, r_max) with 0 < r_min < r_max, got {radius}")
        self.n_modes = n_modes
        self.weights = w / w.sum()
        self.sigma = float(sigma)
        self.radius = (r0, r1)
        self.twist = float(twist)
        self.phase = float(phase)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """A square box that holds nearly all the mass."""
        edge = self.radius[1] + 4 * self.sigma
        return (-edge, edge, -edge, edge)

    def _check_c(self, c: object) -> Tensor:
        return check_tensor(c, "condition c (radius)", shape=(None, 1))

    def angles(self, c: Tensor) -> Tensor:
        r"""The mode angles :math:`\theta_j(r)`, ``(B, K)``."""
        self._check_c(c)
        j = torch.arange(self.n_modes, dtype=c.dtype, device=c.device)
        return self.phase + 2 * math.pi * j / self.n_modes + self.twist * (c - self.radius[0])

    def centers(self, c: Tensor) -> Tensor:
        r"""The mode centres :math:`\mu_j(r) = r(\cos\theta_j, \sin\theta_j)`, ``(B, K, 2)``."""
        theta = self.angles(c)
        return c.unsqueeze(-1) * torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1)

    def mean(self, c: Tensor) -> Tensor:
        r"""The conditional mean :math:`E[x \mid r] = \sum_j w_j \mu_j(r)`, ``(B, 2)``: what
        a mean-squared-error regressor converges to."""
        return (self.weights.to(c).view(1, -1, 1) * self.centers(c)).sum(dim=1)

    def sample_conditions(
        self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """Draw ``n`` radii ``(n, 1)`` uniformly from ``radius``."""
        dtype = dtype or torch.get_default_dtype()
        r0, r1 = self.radius
        return r0 + (r1 - r0) * _rand((n, 1), generator, dtype)

    def sample_given(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draw one target ``x`` per row of ``c``, ``(B, 2)``."""
        centres = self.centers(c)
        mode = torch.multinomial(self.weights.to(torch.float64), c.shape[0], replacement=True,
                                 generator=generator)
        picked = centres[torch.arange(c.shape[0]), mode.to(c.device)]
        return picked + self.sigma * _randn((c.shape[0], 2), generator, c.dtype).to(c.device)

    def sample(
        self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draw ``n`` training pairs ``(x, c)``: targets ``(n, 2)`` and radii ``(n, 1)``."""
        c = self.sample_conditions(n, generator, dtype)
        return self.sample_given(c, generator), c

    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        r"""Exact :math:`\log p(x \mid r)` in nats, ``(B,)``."""
        _check_points(x)
        check_batch(x, c, "x", "condition c")
        sq = (x.unsqueeze(1) - self.centers(c)).pow(2).sum(-1)  # (B, K)
        log_n = -0.5 * sq / self.sigma**2 - _LOG_2PI - 2.0 * math.log(self.sigma)
        return torch.logsumexp(log_n + torch.log(self.weights.to(x)), dim=1)

    def assign_modes(self, x: Tensor, c: Tensor) -> Tensor:
        """Index of the nearest mode centre of each point under its condition, ``(B,)``."""
        _check_points(x)
        check_batch(x, c, "x", "condition c")
        return (x.unsqueeze(1) - self.centers(c)).pow(2).sum(-1).argmin(dim=1)


# -- linear-Gaussian translation: everything in closed form ----------------------------------


class LinearGaussian:
    r"""A translation problem where every quantity of Eq. (4) is analytic.

    .. math::
        z_\Phi \sim \mathcal N(0, I_k), \qquad
        z_\Theta \mid z_\Phi \sim \mathcal N(A z_\Phi + b,\ \Sigma), \qquad
        H[z_\Theta \mid z_\Phi] = \tfrac12 \log\det(2\pi e\, \Sigma).

    Arguments:
        A: ``(D, k)``.
        b: ``(D,)``.
        cov: :math:`\Sigma`, ``(D, D)`` symmetric positive definite.

    >>> task = LinearGaussian(torch.eye(2), torch.zeros(2), torch.eye(2))
    >>> round(task.conditional_entropy(), 4)  # = log(2 pi e) for D = 2, Sigma = I
    2.8379
    """

    def __init__(self, A: Tensor, b: Tensor, cov: Tensor) -> None:
        A, b, cov = (torch.as_tensor(t, dtype=torch.get_default_dtype()) for t in (A, b, cov))
        if A.ndim != 2 or b.shape != (A.shape[0],) or cov.shape != (A.shape[0], A.shape[0]):
            raise ValueError(
                f"need A (D, k), b (D,), cov (D, D); got {tuple(A.shape)}, {tuple(b.shape)}, "
                f"{tuple(cov.shape)}"
            )
        self.A, self.b, self.cov = A, b, cov
        self.chol = torch.linalg.cholesky(cov)  # raises if cov is not positive definite
        self.dim, self.cond_dim = A.shape

    @classmethod
    def random(cls, dim: int = 2, cond_dim: int = 2, seed: int = 0) -> LinearGaussian:
        """A random instance: ``A`` with unit-scale entries, a correlated ``Σ``."""
        g = torch.Generator().manual_seed(seed)
        dtype = torch.get_default_dtype()
        A = torch.randn(dim, cond_dim, generator=g, dtype=dtype)
        b = 0.5 * torch.randn(dim, generator=g, dtype=dtype)
        L = torch.tril(0.4 * torch.randn(dim, dim, generator=g, dtype=dtype), -1)
        L = L + torch.diag(0.3 + 0.4 * torch.rand(dim, generator=g, dtype=dtype))
        return cls(A, b, L @ L.T)

    def conditional_mean(self, c: Tensor) -> Tensor:
        """:math:`A z_\\Phi + b`, ``(B, D)``."""
        check_tensor(c, "condition c", shape=(None, self.cond_dim))
        return c @ self.A.T.to(c) + self.b.to(c)

    def sample_given(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One :math:`z_\\Theta` per row of ``c``."""
        eps = _randn((c.shape[0], self.dim), generator, c.dtype).to(c.device)
        return self.conditional_mean(c) + eps @ self.chol.T.to(c)

    def sample(
        self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draw ``n`` pairs ``(z_Θ, z_Φ)``: ``(n, D)`` and ``(n, k)``."""
        c = _randn((n, self.cond_dim), generator, dtype or torch.get_default_dtype())
        return self.sample_given(c, generator), c

    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        r"""Exact :math:`\log p(z_\Theta \mid z_\Phi)`, ``(B,)``."""
        check_tensor(x, "x", shape=(None, self.dim))
        check_batch(x, c, "x", "condition c")
        return gaussian_log_prob(x, self.conditional_mean(c), self.cov.to(x))

    def conditional_entropy(self) -> float:
        r""":math:`H[z_\Theta \mid z_\Phi] = \tfrac12\log\det(2\pi e\Sigma)` in nats."""
        logdet = float(torch.linalg.slogdet(self.cov).logabsdet)
        return 0.5 * (self.dim * (1.0 + _LOG_2PI) + logdet)


class ResidualGaussian:
    r"""The closed-form law of the residual :math:`v = \tau^{-1}(z_\Theta \mid z_\Phi)` when
    both the data (:class:`LinearGaussian`) and :math:`\tau` (:class:`LinearTranslator`) are
    affine: :math:`v \mid z_\Phi \sim \mathcal N(B z_\Phi + \beta, S)` with
    :math:`B = W^{-1}(A - M)`, :math:`\beta = W^{-1}(b - m)`, :math:`S = W^{-1}\Sigma W^{-\top}`.

    Attributes:
        B, beta, S: as above.
    """

    def __init__(self, B: Tensor, beta: Tensor, S: Tensor) -> None:
        self.B, self.beta, self.S = B, beta, S

    def mean(self, c: Tensor) -> Tensor:
        """:math:`E[v \\mid z_\\Phi]`, ``(B, D)``."""
        return c @ self.B.T.to(c) + self.beta.to(c)

    def log_prob(self, v: Tensor, c: Tensor) -> Tensor:
        """:math:`\\log p(v \\mid z_\\Phi)`, ``(B,)``."""
        return gaussian_log_prob(v, self.mean(c), self.S.to(v))

    def sample_given(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One residual per row of ``c``, drawn directly from :math:`p(v \\mid z_\\Phi)`."""
        chol = torch.linalg.cholesky(self.S).to(c)
        eps = _randn((c.shape[0], self.S.shape[0]), generator, c.dtype).to(c.device)
        return self.mean(c) + eps @ chol.T

    def kl(self, c: Tensor) -> Tensor:
        r""":math:`\mathrm{KL}(p(v \mid z_\Phi) \,\|\, q(v))` for each row of ``c`` (Eq. 8)."""
        return gaussian_kl_to_standard(self.mean(c), self.S.to(c))

    def expected_kl(self) -> float:
        r""":math:`E_{z_\Phi}\,\mathrm{KL}(p(v \mid z_\Phi) \| q(v))` for
        :math:`z_\Phi \sim \mathcal N(0, I)`: the value of Eq. (4) minus
        :math:`H[z_\Theta \mid z_\Phi]`."""
        dim = self.S.shape[0]
        spread = float(self.B.pow(2).sum() + self.beta.pow(2).sum())
        return 0.5 * (float(torch.trace(self.S)) + spread - dim
                      - float(torch.linalg.slogdet(self.S).logabsdet))

    def mutual_information(self) -> float:
        r""":math:`I(v, z_\Phi) = \tfrac12 \log\det(BB^\top + S) - \tfrac12 \log\det S`."""
        total = self.B @ self.B.T + self.S
        return 0.5 * float(torch.linalg.slogdet(total).logabsdet
                           - torch.linalg.slogdet(self.S).logabsdet)


class LinearTranslator(nn.Module):
    r"""An affine conditional flow :math:`\tau(v \mid c) = W v + M c + m`.

    It has the interface of :class:`~n2nlib.flows.ConditionalINN` (``forward`` is
    :math:`\tau^{-1}`, ``inverse`` is :math:`\tau`, both return ``(tensor, logdet)``; ``nll``,
    ``sample``), so it can be trained with :func:`n2nlib.train.fit` and checked with
    :mod:`n2nlib.testing`. Its Jacobian is :math:`W^{-1}` everywhere, so
    :math:`\log|\det J_{\tau^{-1}}| = -\log|\det W|`.

    Arguments:
        dim: ``D``.
        cond_dim: ``k``.
        W, M, m: initial values (default: identity, zeros, zeros).

    >>> tau = LinearTranslator(2, 1)
    >>> v, logdet = tau(torch.ones(3, 2), torch.zeros(3, 1))
    >>> v[0].tolist(), float(logdet.detach().abs().max())
    ([1.0, 1.0], 0.0)
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        W: Tensor | None = None,
        M: Tensor | None = None,
        m: Tensor | None = None,
    ) -> None:
        super().__init__()
        dtype = torch.get_default_dtype()
        self.dim, self.cond_dim = dim, cond_dim
        self.W = nn.Parameter(torch.eye(dim, dtype=dtype) if W is None else W.clone().to(dtype))
        self.M = nn.Parameter(torch.zeros(dim, cond_dim, dtype=dtype) if M is None
                              else M.clone().to(dtype))
        self.m = nn.Parameter(torch.zeros(dim, dtype=dtype) if m is None else m.clone().to(dtype))

    def _logdet_w(self, batch: int) -> Tensor:
        return torch.linalg.slogdet(self.W).logabsdet.expand(batch)

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`v = \tau^{-1}(x \mid c) = W^{-1}(x - Mc - m)`, with
        ``logdet`` :math:`= -\log|\det W|`."""
        check_tensor(x, "x", shape=(None, self.dim))
        check_tensor(c, "condition c", shape=(None, self.cond_dim))
        rhs = (x - c @ self.M.T - self.m).T
        v = torch.linalg.solve(self.W, rhs).T
        return v, -self._logdet_w(x.shape[0])

    def inverse(self, v: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`x = \tau(v \mid c) = W v + M c + m`; ``logdet`` :math:`= \log|\det W|`."""
        check_tensor(v, "v", shape=(None, self.dim))
        check_tensor(c, "condition c", shape=(None, self.cond_dim))
        return v @ self.W.T + c @ self.M.T + self.m, self._logdet_w(v.shape[0])

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        """Per-sample objective of Eq. (4) in nats: ``-log q(v) - logdet``."""
        v, logdet = self(x, c)
        return -standard_normal_log_prob(v) - logdet

    @torch.no_grad()
    def sample(self, c: Tensor, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:
        """:math:`\\tau(T\\epsilon \\mid c)`, one sample per row of ``c``."""
        eps = _randn((c.shape[0], self.dim), generator, c.dtype).to(c.device)
        return self.inverse(temperature * eps, c)[0]

    @torch.no_grad()
    def residual(self, task: LinearGaussian) -> ResidualGaussian:
        r"""The exact law of :math:`v = \tau^{-1}(z_\Theta \mid z_\Phi)` for data from ``task``.

        >>> task = LinearGaussian(torch.eye(2), torch.zeros(2), torch.eye(2))
        >>> ideal = LinearTranslator(2, 2, M=torch.eye(2))  # tau = the true conditional
        >>> ideal.residual(task).expected_kl(), ideal.residual(task).mutual_information()
        (0.0, 0.0)
        """
        if (task.dim, task.cond_dim) != (self.dim, self.cond_dim):
            raise ValueError(
                f"task has (D, k) = {(task.dim, task.cond_dim)}, translator "
                f"{(self.dim, self.cond_dim)}"
            )
        W_inv = torch.linalg.inv(self.W.detach())
        A, b, cov = (t.to(W_inv) for t in (task.A, task.b, task.cov))
        return ResidualGaussian(
            W_inv @ (A - self.M.detach()), W_inv @ (b - self.m.detach()), W_inv @ cov @ W_inv.T
        )


# -- the deterministic baseline --------------------------------------------------------------


class MLPRegressor(nn.Module):
    r"""The deterministic translator of the paper's ablation (supplement E): :math:`\hat x = f(c)`.

    An MLP (Table S3a layout) maps the condition to *one* output. Its ``nll`` is that of a
    unit-variance Gaussian around the prediction,
    :math:`\tfrac12\|x - f(c)\|^2 + \tfrac D2 \log 2\pi`, so training it with
    :func:`n2nlib.train.fit` minimises the mean squared error, whose minimiser is the
    conditional mean :math:`E[x \mid c]`. When :math:`x \mid c` has several modes, that mean
    lies between them: this is the collapse of the paper's MLP ablation (supplement E, Fig. S4).

    Arguments:
        dim: size of the output ``x``.
        cond_dim: size of the condition ``c``.
        hidden: width of the hidden layers.
        n_hidden: number of hidden layers.

    >>> reg = MLPRegressor(2, 1, hidden=16)
    >>> c = torch.zeros(3, 1)
    >>> reg(c).shape, reg.nll(torch.zeros(3, 2), c).shape
    (torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(self, dim: int, cond_dim: int, hidden: int = 64, n_hidden: int = 3) -> None:
        super().__init__()
        self.dim, self.cond_dim = dim, cond_dim
        self.net = MLP(cond_dim, dim, hidden=hidden, n_hidden=n_hidden)

    def forward(self, c: Tensor) -> Tensor:
        """The prediction :math:`f(c)`, ``(B, dim)``."""
        check_tensor(c, "condition c", shape=(None, self.cond_dim))
        return self.net(c)

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        """Per-sample unit-variance Gaussian NLL (squared error / 2 plus a constant)."""
        check_tensor(x, "x", shape=(None, self.dim))
        check_batch(x, c, "x", "condition c")
        return 0.5 * (x - self(c)).pow(2).sum(dim=1) + 0.5 * self.dim * _LOG_2PI

    @torch.no_grad()
    def sample(self, c: Tensor, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:
        """The same prediction :math:`f(c)` whatever the temperature: a regressor has no
        residual to draw."""
        return self(c)
