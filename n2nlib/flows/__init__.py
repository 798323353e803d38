"""Invertible building blocks and the conditional INN of the paper.

Every block follows the contract of :class:`InvertibleModule`: ``forward(x, h)`` and
``inverse(y, h)`` both return ``(tensor, logdet)``.
"""

from n2nlib.flows.activations import InvertibleLeakyReLU
from n2nlib.flows.actnorm import ActNorm
from n2nlib.flows.base import InvertibleModule
from n2nlib.flows.cinn import ConditionalINN, CouplingBlock
from n2nlib.flows.coupling import AffineCoupling, soft_clamp
from n2nlib.flows.embedders import ConvEmbedder, IdentityEmbedder, MLPEmbedder
from n2nlib.flows.grouped import GroupedCINN, cinn_from_config
from n2nlib.flows.permutation import FixedPermutation
from n2nlib.flows.subnets import MLP, PairedMLP, default_subnet

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "ConditionalINN",
    "ConvEmbedder",
    "CouplingBlock",
    "FixedPermutation",
    "GroupedCINN",
    "IdentityEmbedder",
    "InvertibleLeakyReLU",
    "InvertibleModule",
    "MLP",
    "MLPEmbedder",
    "PairedMLP",
    "cinn_from_config",
    "default_subnet",
    "soft_clamp",
]
