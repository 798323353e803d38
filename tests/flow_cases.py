"""Every invertible block of n2nlib.flows, built for a given size and kind of condition.

Tests parametrise over :data:`CASES` so that a new block is checked by adding one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from n2nlib.flows import (
    ActNorm,
    AffineCoupling,
    ConditionalINN,
    CouplingBlock,
    FixedPermutation,
    GroupedCINN,
    InvertibleLeakyReLU,
)
from n2nlib.testing import perturb_parameters

DIMS = (1, 2, 3, 5, 8)
H_FEATURES = 3  # size of an embedded condition fed to single blocks
SPATIAL = (2, 6, 5)  # an odd-sized spatial condition for the cINN


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[int, str], nn.Module]
    conds: tuple[str, ...]  # which kinds of condition the module takes
    is_cinn: bool = False


def _cinn(dim: int, cond: str) -> nn.Module:
    cond_dim = {"none": 0, "vector": 4, "spatial": SPATIAL}[cond]
    return ConditionalINN(dim, cond_dim, n_blocks=3, hidden_dim=16, embed_dim=5, leaky_relu=0.7)


def _grouped(dim: int, cond: str) -> nn.Module:
    cond_dim = {"none": 0, "vector": 4, "spatial": SPATIAL}[cond]
    groups = [dim] if dim == 1 else [1, dim - 1] if dim < 5 else [2, 1, dim - 3]
    return GroupedCINN(groups, cond_dim, n_blocks=2, hidden_dim=16, embed_dim=5,
                       leaky_relu=0.7)


def _h(cond: str) -> int:
    return H_FEATURES if cond == "vector" else 0


CASES = [
    Case("actnorm", lambda d, c: ActNorm(d), ("none",)),
    Case("permutation", lambda d, c: FixedPermutation(d, seed=3), ("none",)),
    Case("leaky_relu", lambda d, c: InvertibleLeakyReLU(d, alpha=0.3), ("none",)),
    Case(
        "coupling_tanh",
        lambda d, c: AffineCoupling(d, _h(c), hidden=12, clamp_activation="tanh"),
        ("none", "vector"),
    ),
    Case(
        "coupling_atan",
        lambda d, c: AffineCoupling(d, _h(c), hidden=12, clamp=1.5, clamp_activation="atan"),
        ("none", "vector"),
    ),
    Case(
        "coupling_fused",
        lambda d, c: AffineCoupling(d, _h(c), hidden=12, clamp=1.5, fused=True),
        ("none", "vector"),
    ),
    Case(
        "block_fused",
        lambda d, c: CouplingBlock(d, _h(c), hidden=12, leaky_relu=0.5, seed=2, fused=True),
        ("none", "vector"),
    ),
    Case(
        "block",
        lambda d, c: CouplingBlock(d, _h(c), hidden=12, leaky_relu=0.5, seed=1),
        ("none", "vector"),
    ),
    Case("cinn", _cinn, ("none", "vector", "spatial"), is_cinn=True),
    Case(
        "cinn_separate",
        lambda d, c: ConditionalINN(d, 4 if c == "vector" else 0, n_blocks=2, hidden_dim=16,
                                    fused_subnets=False),
        ("none", "vector"),
        is_cinn=True,
    ),
    Case("grouped_cinn", _grouped, ("none", "vector", "spatial"), is_cinn=True),
    Case(
        "cinn_cond_norm",
        lambda d, c: ConditionalINN(d, 4, n_blocks=2, hidden_dim=16, cond_norm=True),
        ("vector",),
        is_cinn=True,
    ),
]

PARAMS = [
    (case, dim, cond) for case in CASES for dim in DIMS for cond in case.conds
]
IDS = [f"{case.name}-d{dim}-{cond}" for case, dim, cond in PARAMS]


def condition(case: Case, cond: str, batch: int, dtype: torch.dtype) -> Tensor | None:
    if cond == "none":
        return None
    if not case.is_cinn:
        return torch.randn(batch, H_FEATURES, dtype=dtype)
    if cond == "vector":
        return torch.randn(batch, 4, dtype=dtype)
    return torch.randn(batch, *SPATIAL, dtype=dtype)


def call(model: nn.Module, x: Tensor, c: Tensor | None, inverse: bool = False):
    fn = model.inverse if inverse else model
    return fn(x) if c is None else fn(x, c)


def make(
    case: Case, dim: int, cond: str, dtype: torch.dtype = torch.float64, batch: int = 6
) -> tuple[nn.Module, Tensor, Tensor | None]:
    """Build the module, run its data-dependent initialisation on a non-standard batch, then
    move every parameter away from its initial value."""
    torch.manual_seed(1234 + dim)
    model = case.build(dim, cond).to(dtype)
    x = torch.randn(batch, dim, dtype=dtype) * 1.7 + 0.4
    c = condition(case, cond, batch, dtype)
    with torch.no_grad():
        call(model, x, c)  # ActNorm init (in blocks and in the conv embedder)
    perturb_parameters(model, scale=0.2, generator=torch.Generator().manual_seed(dim))
    x = torch.randn(batch, dim, dtype=dtype)  # fresh points, not the init batch
    return model, x, c
