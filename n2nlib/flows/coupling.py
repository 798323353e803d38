"""The conditional, alternating affine coupling layer of the paper (supplement Eqs. 20–22)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, MutableMapping

import torch
from torch import Tensor, nn

from n2nlib._checks import check_batch, check_tensor
from n2nlib.flows.base import InvertibleModule
from n2nlib.flows.subnets import PairedMLP, SubnetConstructor, default_subnet

__all__ = ["AffineCoupling", "soft_clamp", "match_coupling_layout"]

_CLAMPS = ("tanh", "atan", "none")


def soft_clamp(s: Tensor, clamp: float, kind: str = "tanh") -> Tensor:
    r"""Bound raw log-scales smoothly to :math:`(-c, c)`, the identity near zero.

    * ``"tanh"``: :math:`c \tanh(s / c)`
    * ``"atan"``: :math:`\tfrac{2c}{\pi} \arctan\big(\tfrac{\pi s}{2c}\big)` (FrEIA's arctan
      clamp, rescaled to slope 1 at zero; it approaches the bound more slowly than tanh)
    * ``"none"``: :math:`s` unchanged (unbounded; training can diverge)
    """
    post, bound, pre = clamp_parts(clamp, kind)
    return s if kind == "none" else post * bound(s * pre)


def clamp_parts(clamp: float, kind: str) -> tuple[float, Callable[[Tensor], Tensor], float]:
    """``(post, f, pre)`` with :func:`soft_clamp` ``(s) = post · f(pre · s)``, so that ``pre``
    can be folded into the layer that computes ``s`` (:mod:`n2nlib.flows.stacked` does).

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind == "tanh":
        return clamp, torch.tanh, 1.0 / clamp
    if kind == "atan":
        return 2.0 * clamp / math.pi, torch.atan, math.pi / (2.0 * clamp)
    if kind == "none":
        return 1.0, _unbounded, 1.0
    raise ValueError(f"clamp activation must be one of {_CLAMPS}, got {kind!r}")


def _unbounded(s: Tensor) -> Tensor:
    return s


_SEPARATE = re.compile(r"^([st])([12])\.net\.(\d+)\.(weight|bias)$")
_FUSED = re.compile(r"^st([12])\.(weights|biases)\.(\d+)$")


def _to_fused(state: MutableMapping[str, Tensor], prefix: str) -> None:
    found: dict[str, dict[tuple[str, int, str], Tensor]] = {"1": {}, "2": {}}
    for key in [k for k in state if k.startswith(prefix)]:
        m = _SEPARATE.match(key[len(prefix):])
        if m:
            net, which, index, kind = m.groups()
            found[which][(net, int(index), kind)] = state.pop(key)
    for which, parts in found.items():
        indices = sorted({index for _, index, _ in parts})
        for layer, index in enumerate(indices):
            w = [parts[(net, index, "weight")].t() for net in "st"]
            b = [parts[(net, index, "bias")] for net in "st"]
            state[f"{prefix}st{which}.weights.{layer}"] = torch.stack(w).contiguous()
            state[f"{prefix}st{which}.biases.{layer}"] = torch.stack(b).unsqueeze(1)


def _to_separate(state: MutableMapping[str, Tensor], prefix: str) -> None:
    for key in [k for k in state if k.startswith(prefix)]:
        m = _FUSED.match(key[len(prefix):])
        if m:
            which, kind, layer = m.groups()
            value = state.pop(key)
            for k, net in enumerate("st"):
                # the MLP's linear layers sit at 0, 2, 4, ... of its Sequential (LeakyReLUs
                # between them)
                name = f"{prefix}{net}{which}.net.{2 * int(layer)}."
                if kind == "weights":
                    state[name + "weight"] = value[k].t().contiguous()
                else:
                    state[name + "bias"] = value[k, 0].clone()


def match_coupling_layout(module: nn.Module, state: MutableMapping[str, Tensor]
                          ) -> MutableMapping[str, Tensor]:
    """Rewrite, in place, the coupling weights of ``state`` into the layout of ``module``'s
    :class:`AffineCoupling` layers: fused (``st1``, ``st2``) or separate (``s1``, ``t1``,
    ``s2``, ``t2``). This is the converter between the two layouts: a ``state_dict`` saved
    in either loads into a model built with either, and computes the same function.

    Arguments:
        module: the model the weights are for (any module that contains couplings).
        state: its ``state_dict`` in either layout (other entries are left as they are).

    Returns:
        ``state`` itself.

    >>> old = AffineCoupling(4, hidden=8, fused=False)
    >>> new = AffineCoupling(4, hidden=8, fused=True)
    >>> sorted(match_coupling_layout(new, old.state_dict())) == sorted(new.state_dict())
    True
    """
    for name, sub in module.named_modules():
        if isinstance(sub, AffineCoupling) and sub.subnets_are_default:
            prefix = f"{name}." if name else ""
            (_to_fused if sub.fused else _to_separate)(state, prefix)
    return state


class AffineCoupling(InvertibleModule):
    r"""Conditional affine coupling that updates *both* halves (alternating coupling).

    The input :math:`z \in \mathbb{R}^D` is split into :math:`z_a = z_{1:d}` and
    :math:`z_b = z_{d+1:D}` with :math:`d = \lfloor D/2 \rfloor` (so odd ``D`` works; for
    ``D = 1`` the first half is empty and the layer is an affine map of the single feature,
    conditioned on :math:`h` only). With :math:`h` the embedded condition:

    .. math::
        z_b' &= z_b \odot e^{s_1([z_a; h])} + t_1([z_a; h]) \\
        z_a' &= z_a \odot e^{s_2([z_b'; h])} + t_2([z_b'; h]) \\
        \log|\det J| &= \textstyle\sum s_1 + \sum s_2

    The paper writes :math:`s_\theta \odot z` (Eqs. 21–22); we parametrise the scale as
    :math:`e^{s}` with :math:`s` soft-clamped to :math:`(-c, c)`, so the scale is positive and
    bounded and the log-determinant is the plain sum of the clamped :math:`s`.
    The inverse undoes the second update with :math:`z_b'` (known) and then the first.

    Arguments:
        dim: ``D``, the number of features.
        cond_features: size of the embedded condition :math:`h` (0 for none).
        hidden: width of the default subnetworks (``8 * dim`` in the paper).
        n_hidden: hidden layers of the default subnetworks (3 in the paper).
        clamp: bound :math:`c` of the log-scales.
        clamp_activation: ``"tanh"``, ``"atan"`` or ``"none"``.
        subnet_constructor: ``(in_features, out_features) -> nn.Module`` building each of the
            four subnetworks :math:`s_1, t_1, s_2, t_2`; defaults to Table S3a MLPs whose last
            layer starts at zero (the layer starts as the identity).
        fused: evaluate :math:`s_i` and :math:`t_i` (which read the same input) as one
            :class:`~n2nlib.flows.subnets.PairedMLP`, one batched matmul per layer, instead
            of two separate MLPs. The same function family (parameters map one to one, see
            :meth:`PairedMLP.from_mlps`), a different ``state_dict`` layout
            (``st1``/``st2`` instead of ``s1``/``t1``/``s2``/``t2``). Only for the default
            subnetworks. ``load_state_dict`` takes weights saved in either layout
            (:func:`match_coupling_layout`).

    References:
        Dinh et al., *Density estimation using Real NVP*, 2017; Ardizzone et al.,
        *Guided Image Generation with Conditional Invertible Neural Networks*, 2019;
        Rombach et al., 2020, supplement G.1.

    >>> layer = AffineCoupling(5, cond_features=3, hidden=16)
    >>> y, logdet = layer(torch.randn(4, 5), torch.randn(4, 3))
    >>> y.shape, logdet.shape
    (torch.Size([4, 5]), torch.Size([4]))
    """

    def __init__(
        self,
        dim: int,
        cond_features: int = 0,
        hidden: int | None = None,
        n_hidden: int = 3,
        clamp: float = 2.0,
        clamp_activation: str = "tanh",
        subnet_constructor: SubnetConstructor | None = None,
        fused: bool = False,
    ) -> None:
        super().__init__(dim)
        if fused and subnet_constructor is not None:
            raise ValueError("fused=True builds its own subnetworks: it cannot be combined "
                             "with a subnet_constructor")
        if cond_features < 0:
            raise ValueError(f"cond_features must be >= 0, got {cond_features}")
        if clamp_activation not in _CLAMPS:
            raise ValueError(
                f"clamp_activation must be one of {_CLAMPS}, got {clamp_activation!r}"
            )
        if clamp_activation != "none" and not clamp > 0:
            raise ValueError(f"clamp must be positive, got {clamp!r}")
        self.cond_features = cond_features
        self.clamp = float(clamp)
        self.clamp_activation = clamp_activation
        self.split = dim // 2
        d_a, d_b = self.split, dim - self.split
        self.fused = bool(fused)
        self.subnets_are_default = True
        self.has_second = d_a > 0
        # first update: z_b from [z_a; h]; second update: z_a from [z_b'; h]
        if self.fused:
            width = hidden or 8 * dim
            self.st1 = PairedMLP(d_a + cond_features, d_b, width, n_hidden, zero_init=True)
            self.st2 = (PairedMLP(d_b + cond_features, d_a, width, n_hidden, zero_init=True)
                        if self.has_second else None)
            return
        self.subnets_are_default = subnet_constructor is None
        make = subnet_constructor or default_subnet(hidden or 8 * dim, n_hidden)
        self.s1 = make(d_a + cond_features, d_b)
        self.t1 = make(d_a + cond_features, d_b)
        self.s2 = make(d_b + cond_features, d_a) if self.has_second else None
        self.t2 = make(d_b + cond_features, d_a) if self.has_second else None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        if self.subnets_are_default:  # weights saved in the other layout load too
            (_to_fused if self.fused else _to_separate)(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _input(self, part: Tensor, h: Tensor | None) -> Tensor:
        return part if h is None else torch.cat([part, h], dim=1)

    def _scale_shift(self, which: int, part: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor]:
        """Clamped log-scale and shift of update ``which`` (1 or 2) from ``[part; h]``."""
        inp = self._input(part, h)
        if self.fused:
            st = (self.st1 if which == 1 else self.st2)(inp)
            s_raw, t = st[0], st[1]
        else:
            s_net, t_net = (self.s1, self.t1) if which == 1 else (self.s2, self.t2)
            s_raw, t = s_net(inp), t_net(inp)
        return soft_clamp(s_raw, self.clamp, self.clamp_activation), t

    def _check_h(self, h: Tensor | None, x: Tensor) -> Tensor | None:
        if self.cond_features == 0:
            return None
        if h is None:
            raise ValueError(
                f"this coupling is conditional: it needs h of shape (B, {self.cond_features})"
            )
        check_tensor(h, "embedded condition h", shape=(None, self.cond_features), finite=False)
        check_batch(x, h, "x", "embedded condition h")
        return h

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_x(x)
        h = self._check_h(h, x)
        x_a, x_b = x[:, : self.split], x[:, self.split :]
        s1, t1 = self._scale_shift(1, x_a, h)
        y_b = x_b * s1.exp() + t1
        logdet = s1.sum(dim=1)
        if not self.has_second:
            return y_b, logdet
        s2, t2 = self._scale_shift(2, y_b, h)
        y_a = x_a * s2.exp() + t2
        return torch.cat([y_a, y_b], dim=1), logdet + s2.sum(dim=1)

    def inverse(self, y: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_x(y, "y")
        h = self._check_h(h, y)
        y_a, y_b = y[:, : self.split], y[:, self.split :]
        logdet = y.new_zeros(y.shape[0])
        if self.has_second:
            s2, t2 = self._scale_shift(2, y_b, h)
            x_a = (y_a - t2) * (-s2).exp()
            logdet = logdet - s2.sum(dim=1)
        else:
            x_a = y_a
        s1, t1 = self._scale_shift(1, x_a, h)
        x_b = (y_b - t1) * (-s1).exp()
        return torch.cat([x_a, x_b], dim=1), logdet - s1.sum(dim=1)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, cond_features={self.cond_features}, "
            f"clamp={self.clamp}, clamp_activation={self.clamp_activation!r}"
            + (", fused=True" if self.fused else "")
        )
