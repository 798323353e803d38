"""Fully connected subnetworks: the s and t networks of a coupling, and the vector embedder."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLP", "PairedMLP", "SubnetConstructor", "default_subnet"]

#: A callable ``(in_features, out_features) -> nn.Module`` building one subnetwork.
SubnetConstructor = Callable[[int, int], nn.Module]


def _check_sizes(name: str, in_features: int, out_features: int, hidden: int, n_hidden: int,
                 n_nets: int | None = None) -> None:
    """The size checks shared by :class:`MLP` and :class:`PairedMLP` (``ValueError``)."""
    if n_hidden < 1:
        raise ValueError(f"n_hidden must be at least 1, got {n_hidden}")
    if hidden < 1 or in_features < 0 or out_features < 1 or (n_nets is not None and n_nets < 1):
        nets = "" if n_nets is None else f", n_nets={n_nets}"
        raise ValueError(
            f"{name} sizes must be positive, got in={in_features}, hidden={hidden}, "
            f"out={out_features}{nets}"
        )


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
        _check_sizes("MLP", in_features, out_features, hidden, n_hidden)
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


class PairedMLP(nn.Module):
    r"""``n_nets`` Table S3a MLPs of the same shape applied to the *same* input, one batched
    matrix product per layer (the s and t networks of a coupling, fused).

    With the weights of net :math:`k` stacked as :math:`W^{(l)}_k` (``(in, out)``, i.e. the
    transpose of ``nn.Linear.weight``) and biases :math:`b^{(l)}_k`:

    .. math::
        a^{(0)}_k = x, \qquad
        a^{(l)}_k = \mathrm{LReLU}_{0.01}\big(a^{(l-1)}_k W^{(l)}_k + b^{(l)}_k\big), \qquad
        y_k = a^{(L-1)}_k W^{(L)}_k + b^{(L)}_k

    which is exactly :class:`MLP` ``k`` evaluated on ``x``, for every ``k`` at once
    (``torch.baddbmm`` over the stack). :meth:`from_mlps` and :meth:`to_mlps` map the
    parameters from and to separate :class:`MLP` modules, so both are the same function
    family; the initialisation has the same distribution as ``nn.Linear``'s
    (:math:`\mathcal{U}(\pm 1/\sqrt{\text{fan\_in}})`).

    Arguments:
        in_features, out_features, hidden, n_hidden, slope, zero_init: as in :class:`MLP`.
        n_nets: how many networks are stacked (2 for s and t).

    Returns (forward):
        ``(n_nets, B, out_features)``: the output of each network.

    >>> pair = PairedMLP(4, 2, hidden=16)
    >>> pair(torch.randn(3, 4)).shape
    torch.Size([2, 3, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int,
        n_hidden: int = 3,
        n_nets: int = 2,
        slope: float = 0.01,
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        _check_sizes("PairedMLP", in_features, out_features, hidden, n_hidden, n_nets)
        self.in_features, self.out_features = in_features, out_features
        self.hidden, self.n_hidden, self.n_nets, self.slope = hidden, n_hidden, n_nets, slope
        sizes = [in_features] + [hidden] * n_hidden + [out_features]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.weights.append(nn.Parameter(
                torch.empty(n_nets, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(
                torch.empty(n_nets, 1, fan_out).uniform_(-bound, bound)))
        if zero_init:
            nn.init.zeros_(self.weights[-1])
            nn.init.zeros_(self.biases[-1])

    def forward(self, x: Tensor) -> Tensor:
        a = x.unsqueeze(0).expand(self.n_nets, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            a = torch.baddbmm(b, a, w)
            if i < last:
                a = F.leaky_relu(a, self.slope)
        return a

    @classmethod
    def from_mlps(cls, *mlps: MLP) -> PairedMLP:
        """Stack the parameters of separate, equally shaped :class:`MLP` s (copies).

        Raises:
            ValueError: the MLPs differ in shape or slope.
        """
        linears = [[m for m in mlp.net if isinstance(m, nn.Linear)] for mlp in mlps]
        slopes = {m.negative_slope for mlp in mlps for m in mlp.net
                  if isinstance(m, nn.LeakyReLU)}
        shapes = {tuple(tuple(lin.weight.shape) for lin in layers) for layers in linears}
        if not mlps or len(shapes) != 1 or len(slopes) != 1:
            raise ValueError("from_mlps needs MLPs of one shape and one LeakyReLU slope")
        first = linears[0]
        pair = cls(first[0].in_features, first[-1].out_features, first[0].out_features,
                   n_hidden=len(first) - 1, n_nets=len(mlps), slope=slopes.pop())
        ref = first[0].weight
        pair.to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for i in range(len(first)):
                pair.weights[i].copy_(torch.stack([layers[i].weight.t() for layers in linears]))
                pair.biases[i].copy_(torch.stack([layers[i].bias for layers in linears])
                                     .unsqueeze(1))
        return pair

    def to_mlps(self) -> list[MLP]:
        """Separate :class:`MLP` s computing the same functions (copies of the parameters)."""
        ref = self.weights[0]
        mlps = []
        for k in range(self.n_nets):
            mlp = MLP(self.in_features, self.out_features, self.hidden, self.n_hidden,
                      slope=self.slope).to(device=ref.device, dtype=ref.dtype)
            linears = [m for m in mlp.net if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for lin, w, b in zip(linears, self.weights, self.biases, strict=True):
                    lin.weight.copy_(w[k].t())
                    lin.bias.copy_(b[k, 0])
            mlps.append(mlp)
        return mlps

    def extra_repr(self) -> str:
        return (f"n_nets={self.n_nets}, in={self.in_features}, hidden={self.hidden}x"
                f"{self.n_hidden}, out={self.out_features}")
