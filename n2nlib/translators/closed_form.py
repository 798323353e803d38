r"""Translators fitted in closed form: the rungs below the cINN.

Each is fitted on the latent pairs by :meth:`fit_closed_form` (what :meth:`n2nlib.Net2Net.fit`
calls instead of the gradient loop when a translator has it), and has an exact likelihood, so
that its held-out NLL is in the same units as the cINN's.

* :class:`ConditionalGaussian` — :math:`z_\Theta = A z_\Phi + b + L\varepsilon`,
  :math:`\varepsilon \sim \mathcal N(0, I)`, :math:`LL^\top` the full covariance of the
  residual. It is the cINN with zero coupling blocks: invertible, with the residual
  :math:`v = L^{-1}(z_\Theta - A z_\Phi - b)`, and

  .. math:: -\log p(z_\Theta \mid z_\Phi) = \tfrac12\|v\|^2 + \tfrac D2\log 2\pi + \log|\det L|.

* :class:`RidgeTranslator` — the ridge regression :math:`\hat z_\Theta = W z_\Phi + b` of
  standardised codes, deterministic (its samples are the prediction); its likelihood is that of
  an isotropic Gaussian around the prediction with the residual's variance.
* :class:`ProcrustesTranslator` — an orthogonal map between the standardised codes, both padded
  with zeros to one width (Schönemann's solution of :math:`\min_R \|Z_\Phi R - Z_\Theta\|_F`,
  :math:`R^\top R = I`): translation by a rotation, as in latent-space translation by
  relative or anchor-based alignment. Deterministic; isotropic likelihood as for ridge.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> c = torch.randn(2000, 3, generator=g)
>>> x = c @ torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) + 0.1 * torch.randn(2000, 2,
...                                                                               generator=g)
>>> tau = ConditionalGaussian(2, 3).fit_closed_form(x, c)
>>> torch.allclose(tau.weight, torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0]]), atol=0.02)
True
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._checks import check_positive_ints
from n2nlib.experts.base import check_latent

__all__ = ["ConditionalGaussian", "ProcrustesTranslator", "RidgeTranslator"]

_LOG_2PI = math.log(2.0 * math.pi)


def _check_sizes(dim: Any, cond_dim: Any) -> tuple[int, int]:
    check_positive_ints(dim=dim, cond_dim=cond_dim)
    return dim, cond_dim


class _ClosedForm(nn.Module):
    """Shared checks and config of the closed-form translators (vector conditions only)."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.dim, self.cond_dim = _check_sizes(dim, cond_dim)
        self.cond_shape = (cond_dim,)
        self.register_buffer("fitted", torch.tensor(False))

    def _pairs(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        check_latent(x, self.dim, "the target codes x")
        check_latent(c, self.cond_dim, "the condition c")
        if x.shape[0] != c.shape[0]:
            raise ValueError(f"x and c must pair up, got {x.shape[0]} and {c.shape[0]} rows")
        if x.shape[0] < 2:
            raise ValueError(f"fitting needs at least 2 pairs, got {x.shape[0]}")
        return x.double(), c.double()

    def _ready(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call "
                               f"fit_closed_form(x, c) (Net2Net.fit does)")

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this translator (JSON-serialisable)."""
        return {"dim": self.dim, "cond_dim": self.cond_dim}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _ClosedForm:
        """Build an unfitted translator from :meth:`get_config`'s output."""
        return cls(**config)


class ConditionalGaussian(_ClosedForm):
    """:math:`p(z_\\Theta \\mid z_\\Phi) = \\mathcal N(A z_\\Phi + b, LL^\\top)`: the cINN with
    zero blocks (see the module docstring).

    Arguments:
        dim: size of :math:`z_\\Theta`.
        cond_dim: size of :math:`z_\\Phi`.
        ridge: added to the diagonal of the conditions' covariance when solving for ``A``.
        min_var: added to the diagonal of the residual covariance (keeps ``L`` invertible).
    """

    def __init__(self, dim: int, cond_dim: int, *, ridge: float = 1e-6,
                 min_var: float = 1e-6) -> None:
        super().__init__(dim, cond_dim)
        self.ridge, self.min_var = float(ridge), float(min_var)
        self.weight = nn.Parameter(torch.zeros(dim, cond_dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.scale_tril = nn.Parameter(torch.eye(dim))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ridge": self.ridge, "min_var": self.min_var}

    @torch.no_grad()
    def fit_closed_form(self, x: Tensor, c: Tensor) -> ConditionalGaussian:
        """Maximum likelihood: least squares for ``A, b``, the residual covariance for ``LLᵀ``.

        Returns:
            ``self``.
        """
        x, c = self._pairs(x, c)
        cm, xm = c.mean(0), x.mean(0)
        cc, xc = c - cm, x - xm
        n = x.shape[0]
        cov_c = cc.T @ cc / n + self.ridge * torch.eye(self.cond_dim, dtype=x.dtype)
        weight = torch.linalg.solve(cov_c, cc.T @ xc / n).T
        resid = xc - cc @ weight.T
        cov = resid.T @ resid / n + self.min_var * torch.eye(self.dim, dtype=x.dtype)
        dtype = self.weight.dtype
        self.weight.copy_(weight.to(dtype))
        self.bias.copy_((xm - weight @ cm).to(dtype))
        self.scale_tril.copy_(torch.linalg.cholesky(cov).to(dtype))
        self.fitted.fill_(True)
        return self

    def _mean(self, c: Tensor) -> Tensor:
        return c @ self.weight.T + self.bias

    def _tril(self) -> Tensor:
        return torch.tril(self.scale_tril)

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """τ⁻¹: the residual ``v = L⁻¹(x − A c − b)`` and ``log|det ∂v/∂x| = −log|det L|``."""
        check_latent(x, self.dim, "x")
        tril = self._tril()
        v = torch.linalg.solve_triangular(tril, (x - self._mean(c)).T, upper=False).T
        logdet = -torch.log(torch.diagonal(tril).abs()).sum()
        return v, logdet.expand(x.shape[0])

    def inverse(self, v: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """τ: ``x = A c + b + L v`` and ``log|det ∂x/∂v| = log|det L|``."""
        check_latent(v, self.dim, "v")
        tril = self._tril()
        logdet = torch.log(torch.diagonal(tril).abs()).sum()
        return self._mean(c) + v @ tril.T, logdet.expand(v.shape[0])

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        """Exact per-pair NLL in nats, ``(B,)``."""
        v, logdet = self(x, c)
        return 0.5 * v.pow(2).sum(1) + 0.5 * self.dim * _LOG_2PI - logdet

    @torch.no_grad()
    def sample(self, c: Tensor, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:
        """``A c + b + T · L ε`` for each row of ``c``."""
        self._ready()
        eps = torch.randn(c.shape[0], self.dim, generator=generator, dtype=c.dtype,
                          device=c.device)
        return self.inverse(temperature * eps, c)[0]


class _Deterministic(_ClosedForm):
    """A map ``predict(c)`` with an isotropic Gaussian likelihood around it."""

    deterministic = True

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__(dim, cond_dim)
        self.register_buffer("log_var", torch.zeros(()))

    def predict(self, c: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, c: Tensor) -> Tensor:
        """The prediction for each row of ``c``."""
        self._ready()
        check_latent(c, self.cond_dim, "the condition c")
        return self.predict(c)

    def _set_noise(self, x: Tensor, c: Tensor) -> None:
        resid = x - self.predict(c.to(self.log_var.dtype)).double()
        self.log_var.fill_(float(torch.log(resid.pow(2).mean().clamp_min(1e-12))))

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        """NLL of ``N(prediction, σ² I)``, σ² the training residual's variance, ``(B,)``."""
        check_latent(x, self.dim, "x")
        err = (x - self(c)).pow(2).sum(1)
        return 0.5 * err / self.log_var.exp() + 0.5 * self.dim * (_LOG_2PI + self.log_var)

    @torch.no_grad()
    def sample(self, c: Tensor, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:
        """The prediction (``temperature`` and ``generator`` change nothing)."""
        del temperature, generator
        return self(c)


class RidgeTranslator(_Deterministic):
    """Ridge regression of standardised ``z_Θ`` on standardised ``z_Φ`` (see the module
    docstring).

    Arguments:
        dim, cond_dim: sizes of :math:`z_\\Theta` and :math:`z_\\Phi`.
        alpha: the ridge penalty, relative to the number of pairs.
    """

    def __init__(self, dim: int, cond_dim: int, *, alpha: float = 1e-3) -> None:
        super().__init__(dim, cond_dim)
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha!r}")
        self.alpha = float(alpha)
        for name, size in (("c_mean", cond_dim), ("c_std", cond_dim), ("x_mean", dim),
                           ("x_std", dim)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))
        self.register_buffer("weight", torch.zeros(dim, cond_dim))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}

    @torch.no_grad()
    def fit_closed_form(self, x: Tensor, c: Tensor) -> RidgeTranslator:
        """Solve ``(CᵀC + α n I) W = CᵀX`` on standardised codes. Returns ``self``."""
        x, c = self._pairs(x, c)
        cm, cs = c.mean(0), c.std(0).clamp_min(1e-8)
        xm, xs = x.mean(0), x.std(0).clamp_min(1e-8)
        cz, xz = (c - cm) / cs, (x - xm) / xs
        n = x.shape[0]
        gram = cz.T @ cz + self.alpha * n * torch.eye(self.cond_dim, dtype=x.dtype)
        weight = torch.linalg.solve(gram, cz.T @ xz).T
        dtype = self.weight.dtype
        for name, value in (("c_mean", cm), ("c_std", cs), ("x_mean", xm), ("x_std", xs),
                            ("weight", weight)):
            getattr(self, name).copy_(value.to(dtype))
        self.fitted.fill_(True)
        self._set_noise(x, c)
        return self

    def predict(self, c: Tensor) -> Tensor:
        return ((c - self.c_mean) / self.c_std) @ self.weight.T * self.x_std + self.x_mean


class ProcrustesTranslator(_Deterministic):
    """An orthogonal map between standardised, zero-padded codes (see the module docstring).

    Arguments:
        dim, cond_dim: sizes of :math:`z_\\Theta` and :math:`z_\\Phi`.
    """

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__(dim, cond_dim)
        width = max(dim, cond_dim)
        for name, size in (("c_mean", cond_dim), ("c_std", cond_dim), ("x_mean", dim),
                           ("x_std", dim)):
            self.register_buffer(name, torch.zeros(size) if "mean" in name else torch.ones(size))
        self.register_buffer("rotation", torch.eye(width))

    @torch.no_grad()
    def fit_closed_form(self, x: Tensor, c: Tensor) -> ProcrustesTranslator:
        """``R = U Vᵀ`` from the SVD ``U S Vᵀ`` of ``CᵀX`` (padded). Returns ``self``."""
        x, c = self._pairs(x, c)
        cm, cs = c.mean(0), c.std(0).clamp_min(1e-8)
        xm, xs = x.mean(0), x.std(0).clamp_min(1e-8)
        width = self.rotation.shape[0]
        cz = nn.functional.pad((c - cm) / cs, (0, width - self.cond_dim))
        xz = nn.functional.pad((x - xm) / xs, (0, width - self.dim))
        u, _, vh = torch.linalg.svd(cz.T @ xz)
        dtype = self.rotation.dtype
        for name, value in (("c_mean", cm), ("c_std", cs), ("x_mean", xm), ("x_std", xs),
                            ("rotation", u @ vh)):
            getattr(self, name).copy_(value.to(dtype))
        self.fitted.fill_(True)
        self._set_noise(x, c)
        return self

    def predict(self, c: Tensor) -> Tensor:
        width = self.rotation.shape[0]
        cz = nn.functional.pad((c - self.c_mean) / self.c_std, (0, width - self.cond_dim))
        return (cz @ self.rotation)[:, : self.dim] * self.x_std + self.x_mean
