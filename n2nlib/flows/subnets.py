"""Fully connected subnetworks: the s and t networks of a coupling, and the vector embedder."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from torch import Tensor, nn

__all__ = ["MLP", "SubnetConstructor", "default_subnet"]

#: A callable ``(in_features, out_features) -> nn.Module`` building one subnetwork.
SubnetConstructor = Callable[[int, int], nn.Module]


class MLP(nn.Module):
    """The fully connected network of the paper's Table S3a.

    ``in -> (FC, LeakyReLU) -> hidden``, then ``n_hidden - 1`` times
    ``(FC, LeakyReLU) -> hidden``, then ``FC -> out``. With the paper's ``n_hidden=3`` and
    ``hidden = 8 * dim`` this is "FC→8·d, 2×FC→8·d, FC→d" with LeakyReLU slope 0.01.

    The last layer is linear: the log-scale and shift of a coupling must take both signs.
    With ``zero_init=True`` it starts at zero, so that a coupling starts as the identity,
    which makes deep flows stable at the start of training.

    Arguments:
        in_features: input size.
        out_features: output size.
        hidden: width of the hidden layers.
        n_hidden: number of hidden layers (at least 1).
        slope: negative slope of the LeakyReLU.
        zero_init: initialise the last layer to zero.

    >>> net = MLP(4, 2, hidden=16)
    >>> net(torch.randn(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int,
        n_hidden: int = 3,
        slope: float = 0.01,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        if n_hidden < 1:
            raise ValueError(f"n_hidden must be at least 1, got {n_hidden}")
        if hidden < 1 or in_features < 0 or out_features < 1:
            raise ValueError(
                f"MLP sizes must be positive, got in={in_features}, hidden={hidden}, "
                f"out={out_features}"
            )
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(n_hidden):
            with warnings.catch_warnings():
                # an unconditional coupling of a 1-d input has an empty first half: its
                # subnetwork sees 0 features and reduces to a learned constant (the bias)
                warnings.filterwarnings("ignore", "Initializing zero-element tensors")
                layers += [nn.Linear(width, hidden), nn.LeakyReLU(slope)]
            width = hidden
        last = nn.Linear(width, out_features)
        if zero_init:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        layers.append(last)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def default_subnet(hidden: int, n_hidden: int = 3) -> SubnetConstructor:
    """A :data:`SubnetConstructor` for Table S3a MLPs of the given width, zero-initialised.

    >>> make = default_subnet(hidden=32)
    >>> make(5, 3)(torch.randn(2, 5)).shape
    torch.Size([2, 3])
    """

    def construct(in_features: int, out_features: int) -> nn.Module:
        return MLP(in_features, out_features, hidden=hidden, n_hidden=n_hidden, zero_init=True)

    return construct
