r"""A plain, straightforward implementation of the paper's cINN (supplement G.1, Table S3).

This is the *reference* the library's training step is compared with in
``benchmarks/bench_peers.py``: the architecture written the simplest way one would write it
from the paper, with no attention to speed — separate ``nn.Sequential`` networks for every
``s`` and ``t``, ``torch.cat``/``chunk`` for splitting and joining, ``tanh`` soft clamp, and
plain (``foreach``) Adam. It computes the same function family as
:class:`n2nlib.ConditionalINN` with the MLP embedder:

.. math::
    h &= H(c) \\
    z_b' &= z_b \odot e^{s_1([z_a; h])} + t_1([z_a; h]), \qquad
    z_a' = z_a \odot e^{s_2([z_b'; h])} + t_2([z_b'; h]) \\
    \log|\det J| &= \textstyle\sum s_1 + \sum s_2 \quad
    \text{(per block, after ActNorm, before a fixed permutation)}

It is a benchmark baseline only; it is not part of the library.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def table_s3a(in_features: int, out_features: int, hidden: int, n_hidden: int = 3) -> nn.Module:
    """FC→hidden, (n_hidden−1)×FC→hidden (LeakyReLU 0.01 after each), FC→out."""
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.01)]
        width = hidden
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class PlainBlock(nn.Module):
    """ActNorm → alternating affine coupling (four subnets) → fixed permutation."""

    def __init__(self, dim: int, cond: int, hidden: int, n_hidden: int, seed: int,
                 clamp: float = 2.0) -> None:
        super().__init__()
        self.half = dim // 2
        self.clamp = clamp
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        d_a, d_b = self.half, dim - self.half
        self.s1 = table_s3a(d_a + cond, d_b, hidden, n_hidden)
        self.t1 = table_s3a(d_a + cond, d_b, hidden, n_hidden)
        self.s2 = table_s3a(d_b + cond, d_a, hidden, n_hidden)
        self.t2 = table_s3a(d_b + cond, d_a, hidden, n_hidden)
        self.register_buffer("perm", torch.randperm(dim, generator=torch.Generator()
                                                    .manual_seed(seed)))

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        x = (x - self.loc) * torch.exp(self.log_scale)
        logdet = self.log_scale.sum().expand(x.shape[0])
        x_a, x_b = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        inp = torch.cat([x_a, h], dim=1)
        s1 = self.clamp * torch.tanh(self.s1(inp) / self.clamp)
        x_b = x_b * torch.exp(s1) + self.t1(inp)
        inp = torch.cat([x_b, h], dim=1)
        s2 = self.clamp * torch.tanh(self.s2(inp) / self.clamp)
        x_a = x_a * torch.exp(s2) + self.t2(inp)
        y = torch.cat([x_a, x_b], dim=1)[:, self.perm]
        return y, logdet + s1.sum(dim=1) + s2.sum(dim=1)


class PlainCINN(nn.Module):
    """``n_blocks`` plain blocks conditioned on ``h = H(c)``, H a Table S3a MLP."""

    def __init__(self, dim: int, cond_dim: int, n_blocks: int = 20, hidden: int | None = None,
                 n_hidden: int = 3) -> None:
        super().__init__()
        hidden = hidden or 8 * dim
        self.dim = dim
        self.embedder = table_s3a(cond_dim, dim, hidden, n_hidden)
        self.blocks = nn.ModuleList(PlainBlock(dim, dim, hidden, n_hidden, seed=i)
                                    for i in range(n_blocks))

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        h = self.embedder(c)
        logdet = torch.zeros(x.shape[0], device=x.device)
        for block in self.blocks:
            x, ld = block(x, h)
            logdet = logdet + ld
        return x, logdet

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        """Per-sample negative log-likelihood (Eq. 4, with the Gaussian constant)."""
        v, logdet = self(x, c)
        return 0.5 * v.pow(2).sum(dim=1) + 0.5 * self.dim * math.log(2 * math.pi) - logdet
