r"""A translator without training: the nearest training pairs.

:class:`KNNTranslator` keeps the (standardised) training pairs. For a condition :math:`z_\Phi` it
finds the ``k`` training conditions nearest to it and

* **samples** one of their targets at random — at temperature :math:`T` the sample is
  :math:`\bar z + T (z_j - \bar z)`, with :math:`\bar z` the mean of the ``k`` targets, so
  :math:`T = 1` returns a training target and :math:`T = 0` the neighbours' mean (what a
  regressor would say);
* has a **likelihood**: a Gaussian kernel density on the ``k`` targets,
  :math:`p(z_\Theta \mid z_\Phi) = \frac1k \sum_j \mathcal N(z_\Theta; z_j, h^2 I)`, with the
  bandwidth :math:`h` chosen at fitting time by the held-out likelihood of a slice of the
  training pairs (each scored against neighbours that exclude itself).

It is the rung of the translator ladder that memorises: it can only say what it has seen, its
diversity is that of the neighbours, and it needs no gradient step. Fitted by
:meth:`fit_closed_form`, as :meth:`n2nlib.Net2Net.fit` does for every closed-form translator.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> c = torch.rand(500, 1, generator=g)
>>> x = torch.cat([c, -c], 1) + 0.01 * torch.randn(500, 2, generator=g)
>>> knn = KNNTranslator(2, 1, k=5).fit_closed_form(x, c)
>>> knn.sample(torch.tensor([[0.5]]), temperature=0.0).round(decimals=1)
tensor([[ 0.5000, -0.5000]])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._checks import check_positive_ints
from n2nlib.experts.base import check_latent

__all__ = ["KNNTranslator"]

_LOG_2PI = math.log(2.0 * math.pi)
_BANDWIDTHS = tuple(2.0 ** e for e in range(-6, 3))  # in units of the targets' spread


class KNNTranslator(nn.Module):
    """``k`` nearest training pairs as a translator (see the module docstring).

    Arguments:
        dim: size of :math:`z_\\Theta`.
        cond_dim: size of :math:`z_\\Phi`.
        k: neighbours per condition.
        n_train: rows of stored pairs (set by :meth:`fit_closed_form`; given only when
            rebuilding a saved translator from its config).
        chunk: conditions searched at once (memory: ``chunk × n_train`` distances).
    """

    def __init__(self, dim: int, cond_dim: int, *, k: int = 10, n_train: int = 0,
                 chunk: int = 1024) -> None:
        super().__init__()
        check_positive_ints(dim=dim, cond_dim=cond_dim, k=k)
        self.dim, self.cond_dim, self.k, self.chunk = dim, cond_dim, k, int(chunk)
        self.cond_shape = (cond_dim,)
        self.register_buffer("conditions", torch.zeros(n_train, cond_dim))
        self.register_buffer("targets", torch.zeros(n_train, dim))
        self.register_buffer("c_mean", torch.zeros(cond_dim))
        self.register_buffer("c_std", torch.ones(cond_dim))
        self.register_buffer("bandwidth", torch.tensor(1.0))
        self.register_buffer("fitted", torch.tensor(False))

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this translator (JSON-serialisable)."""
        return {"dim": self.dim, "cond_dim": self.cond_dim, "k": self.k,
                "n_train": int(self.targets.shape[0]), "chunk": self.chunk}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KNNTranslator:
        """An empty translator with the shape of a saved one (its ``state_dict`` fills it)."""
        return cls(**config)

    def _ready(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError("KNNTranslator is not fitted yet: call fit_closed_form(x, c) "
                               "(Net2Net.fit does)")

    def _neighbours(self, c: Tensor, exclude_self: bool = False) -> Tensor:
        """Indices ``(B, k)`` of the nearest stored conditions."""
        z = (c.to(self.conditions) - self.c_mean) / self.c_std
        k = min(self.k, self.conditions.shape[0] - int(exclude_self))
        out = []
        for i in range(0, z.shape[0], self.chunk):
            d = torch.cdist(z[i : i + self.chunk], self.conditions)
            if exclude_self:
                rows = torch.arange(i, i + d.shape[0], device=d.device)
                d[torch.arange(d.shape[0], device=d.device), rows] = float("inf")
            out.append(d.topk(k, dim=1, largest=False).indices)
        return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long, device=c.device)

    def _kde_nll(self, x: Tensor, idx: Tensor, h: Tensor | float) -> Tensor:
        near = self.targets[idx]  # (B, k, dim)
        sq = (x.to(near)[:, None] - near).pow(2).sum(-1)  # (B, k)
        h = torch.as_tensor(h, dtype=near.dtype, device=near.device)
        log_kernel = -0.5 * sq / h**2 - self.dim * (torch.log(h) + 0.5 * _LOG_2PI)
        return -(torch.logsumexp(log_kernel, dim=1) - math.log(idx.shape[1]))

    @torch.no_grad()
    def fit_closed_form(self, x: Tensor, c: Tensor, *, n_select: int = 2000) -> KNNTranslator:
        """Store the pairs and choose the bandwidth by leave-one-out likelihood on at most
        ``n_select`` of them.

        Returns:
            ``self``.
        """
        check_latent(x, self.dim, "the target codes x")
        check_latent(c, self.cond_dim, "the condition c")
        if x.shape[0] != c.shape[0]:
            raise ValueError(f"x and c must pair up, got {x.shape[0]} and {c.shape[0]} rows")
        if x.shape[0] <= self.k:
            raise ValueError(f"k={self.k} neighbours need more than {self.k} pairs, got "
                             f"{x.shape[0]}")
        dtype = self.targets.dtype
        x, c = x.to(dtype), c.to(dtype)
        self.c_mean = c.mean(0)
        self.c_std = c.std(0).clamp_min(1e-8)
        self.conditions = (c - self.c_mean) / self.c_std
        self.targets = x.clone()
        self.fitted.fill_(True)
        n = min(n_select, x.shape[0])
        idx = self._neighbours(c[:n], exclude_self=True)
        spread = float(x.std(0).mean().clamp_min(1e-8))
        scores = [float(self._kde_nll(x[:n], idx, b * spread).mean()) for b in _BANDWIDTHS]
        self.bandwidth.fill_(_BANDWIDTHS[int(torch.tensor(scores).argmin())] * spread)
        return self

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        """``-log p(x | c)`` of the kernel density on the ``k`` neighbours' targets, ``(B,)``."""
        self._ready()
        check_latent(x, self.dim, "x")
        check_latent(c, self.cond_dim, "c")
        return self._kde_nll(x, self._neighbours(c), self.bandwidth).to(x.dtype)

    @torch.no_grad()
    def sample(self, c: Tensor, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:
        """One neighbour's target per row of ``c``, pulled towards the neighbours' mean by
        ``temperature`` (1: the target itself; 0: the mean)."""
        self._ready()
        check_latent(c, self.cond_dim, "c")
        idx = self._neighbours(c)
        near = self.targets[idx]  # (B, k, dim)
        pick = torch.randint(0, idx.shape[1], (idx.shape[0],), generator=generator)
        chosen = near[torch.arange(idx.shape[0]), pick.to(idx.device)]
        if float(temperature) == 1.0:
            return chosen.to(c.dtype)  # exactly a stored target
        mean = near.mean(1)
        return (mean + float(temperature) * (chosen - mean)).to(c.dtype)
