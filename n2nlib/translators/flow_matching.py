r"""Conditional flow matching: a translator learned as a velocity field, sampled by an ODE.

:class:`FlowMatchingTranslator` learns a velocity :math:`u_\theta(x_t, t, z_\Phi)` along the
straight paths :math:`x_t = (1 - t)\,\varepsilon + t\,z_\Theta` from noise
:math:`\varepsilon \sim \mathcal N(0, I)` (:math:`t = 0`) to data (:math:`t = 1`), by regressing
the paths' velocity :math:`z_\Theta - \varepsilon` (Lipman et al. 2023, rectified flow):

.. math:: \mathcal L = \mathbb E_{t, \varepsilon}\,\big\|u_\theta(x_t, t, z_\Phi)
          - (z_\Theta - \varepsilon)\big\|^2.

That regression is its :meth:`~FlowMatchingTranslator.training_loss`, which the one training
loop :func:`n2nlib.train.fit` minimises (and reports on held-out pairs) instead of an NLL.
**Sampling** integrates :math:`\dot x = u_\theta` from :math:`t = 0` to 1 (midpoint rule,
``ode_steps`` steps); temperature scales the starting noise. The **likelihood** follows the same
ODE backwards with the instantaneous change of variables,
:math:`\log p_1(x_1) = \log p_0(x_0) - \int_0^1 \nabla\!\cdot u_\theta\,dt`, the divergence taken
exactly (one backward pass per dimension): affordable for the small codes of the course, costly
for wide ones. Like the cINN it is stochastic and, integrated backwards, maps a target to a
residual :math:`x_0`; unlike the cINN that map is only as invertible as the ODE solver is exact.

>>> import torch
>>> fm = FlowMatchingTranslator(2, 3, hidden=16, n_layers=2, ode_steps=4)
>>> fm.training_loss(torch.randn(5, 2), torch.randn(5, 3)).shape
torch.Size([5])
>>> fm.sample(torch.randn(5, 3)).shape
torch.Size([5, 2])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._checks import check_positive_ints
from n2nlib.experts.base import check_latent

__all__ = ["FlowMatchingTranslator"]

_LOG_2PI = math.log(2.0 * math.pi)


class FlowMatchingTranslator(nn.Module):
    """A conditional velocity field and its ODE (see the module docstring).

    Arguments:
        dim: size of :math:`z_\\Theta`.
        cond_dim: size of :math:`z_\\Phi`.
        hidden: width of the velocity network.
        n_layers: its hidden layers.
        ode_steps: midpoint steps from noise to data when sampling (and back for ``nll``).
        time_features: sinusoidal features of ``t``.
    """

    def __init__(self, dim: int, cond_dim: int, *, hidden: int = 256, n_layers: int = 3,
                 ode_steps: int = 32, time_features: int = 16) -> None:
        super().__init__()
        check_positive_ints(dim=dim, cond_dim=cond_dim, hidden=hidden, n_layers=n_layers,
                            ode_steps=ode_steps, time_features=time_features)
        if time_features % 2:
            raise ValueError(f"time_features must be even, got {time_features}")
        self.dim, self.cond_dim = dim, cond_dim
        self.cond_shape = (cond_dim,)
        self.hidden, self.n_layers = hidden, n_layers
        self.ode_steps, self.time_features = ode_steps, time_features
        self.register_buffer("frequencies", torch.exp(torch.linspace(0.0, math.log(100.0),
                                                                     time_features // 2)))
        layers: list[nn.Module] = []
        width = dim + cond_dim + time_features
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, dim)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this translator (JSON-serialisable)."""
        return {"dim": self.dim, "cond_dim": self.cond_dim, "hidden": self.hidden,
                "n_layers": self.n_layers, "ode_steps": self.ode_steps,
                "time_features": self.time_features}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FlowMatchingTranslator:
        return cls(**config)

    def velocity(self, x: Tensor, t: Tensor, c: Tensor) -> Tensor:
        """:math:`u_\\theta(x, t, c)`, ``(B, dim)``; ``t`` is ``(B,)`` or a scalar in [0, 1]."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        angles = t[:, None] * self.frequencies.to(x.dtype)[None] * math.pi
        features = torch.cat([x, torch.sin(angles), torch.cos(angles), c.to(x.dtype)], dim=1)
        return self.net(features)

    def _check(self, c: Tensor, x: Tensor | None = None) -> None:
        check_latent(c, self.cond_dim, "the condition c")
        if x is not None:
            check_latent(x, self.dim, "the target codes x")
            if x.shape[0] != c.shape[0]:
                raise ValueError(f"x and c must pair up, got {x.shape[0]} and {c.shape[0]} rows")

    def training_loss(self, x: Tensor, c: Tensor, *,
                      generator: torch.Generator | None = None) -> Tensor:
        """The flow-matching regression per pair, ``(B,)`` (summed over dimensions)."""
        self._check(c, x)
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        t = torch.rand(x.shape[0], generator=generator, dtype=x.dtype).to(x.device)
        xt = (1 - t)[:, None] * eps + t[:, None] * x
        return (self.velocity(xt, t, c) - (x - eps)).pow(2).sum(dim=1)

    @torch.no_grad()
    def sample(self, c: Tensor, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:
        """Integrate from ``temperature × N(0, I)`` at ``t = 0`` to ``t = 1``: ``(B, dim)``."""
        self._check(c)
        p = next(self.parameters())
        x = torch.randn(c.shape[0], self.dim, generator=generator, dtype=p.dtype).to(p.device)
        return self._integrate(x * float(temperature), c.to(p), 0.0, 1.0).to(c.dtype)

    def _integrate(self, x: Tensor, c: Tensor, t0: float, t1: float) -> Tensor:
        h = (t1 - t0) / self.ode_steps
        for i in range(self.ode_steps):
            t = t0 + i * h
            mid = x + 0.5 * h * self.velocity(x, torch.tensor(t), c)
            x = x + h * self.velocity(mid, torch.tensor(t + 0.5 * h), c)
        return x

    def residual(self, x: Tensor, c: Tensor) -> Tensor:
        """The ODE integrated backwards from the target ``x`` (t = 1) to ``t = 0``."""
        self._check(c, x)
        with torch.no_grad():
            return self._integrate(x, c, 1.0, 0.0)

    def _divergence(self, x: Tensor, t: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            u = self.velocity(x, t, c)
            div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
            for j in range(self.dim):
                div = div + torch.autograd.grad(u[:, j].sum(), x, retain_graph=True)[0][:, j]
        return u.detach(), div.detach()

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        """``-log p(x | c)`` in nats, ``(B,)``, by the instantaneous change of variables along
        the ODE (midpoint rule, exact divergence: ``dim`` backward passes per evaluation)."""
        self._check(c, x)
        h = -1.0 / self.ode_steps
        logdet = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for i in range(self.ode_steps):
            t = 1.0 + i * h
            with torch.no_grad():
                u = self.velocity(x, torch.tensor(t), c)
            mid = x + 0.5 * h * u
            u_mid, div_mid = self._divergence(mid, torch.tensor(t + 0.5 * h), c)
            x = x + h * u_mid
            logdet = logdet + h * div_mid  # accumulates -∫ div dt from 1 to 0
        log_p0 = -0.5 * x.pow(2).sum(1) - 0.5 * self.dim * _LOG_2PI
        # log p1(x1) = log p0(x0) - ∫_0^1 div dt, and logdet = ∫_1^0 div dt = -∫_0^1 div dt
        return -(log_p0 + logdet)
