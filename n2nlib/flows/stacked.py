r"""The groups of a :class:`~n2nlib.flows.GroupedCINN` evaluated side by side, one batched
matrix product per layer for all of them.

A grouped cINN runs ``G`` small flows one after the other: with ``n_blocks`` blocks, four
subnetworks per coupling and ``n_hidden + 1`` layers each, that is hundreds of small matrix
products per call, and each costs its launch overhead rather than its arithmetic. Here the
groups' parameters are stacked along a leading axis of size ``G`` (``2G`` for the s and t
networks) and every layer becomes one ``torch.baddbmm``.

The groups differ in size, so every per-group quantity is zero-padded to the largest one:

* the state of group :math:`g` is kept as its two coupling halves, :math:`z_a` padded to
  :math:`A = \max_g \lfloor d_g/2 \rfloor` and :math:`z_b` to :math:`B = \max_g \lceil d_g/2
  \rceil`; the embedded condition to :math:`E = \max_g e_g`; hidden layers to
  :math:`H = \max_g h_g`;
* padded weight rows and columns and padded biases are zero, so a padded hidden unit is
  :math:`\mathrm{LReLU}(0) = 0`, a padded log-scale is :math:`s = 0` (scale 1, log-det 0) and
  a padded shift is 0: padded state entries stay exactly 0 through every layer and add
  nothing to the log-determinant;
* a group of one dimension (no second coupling update) gets all-zero weights for that
  update, which is the identity;
* the fixed permutations, composed with the split of the next coupling, become one gather
  along the padded axis per block (a padded slot reads itself: zero);
* the soft clamp's inner scale is folded into the s networks' last layer
  (:math:`c \tanh(s/c)` costs one product less), and sampling skips the log-determinant
  (``inverse(..., logdet=False)``).

So :class:`StackedGroups` computes the same function as the grouped cINN, up to floating-point
rounding (the order of sums, the folded scale). It is a frozen copy of the parameters (no
gradients) made for inference: :meth:`GroupedCINN.forward <n2nlib.flows.GroupedCINN.forward>`
and ``inverse`` use it when gradients are off, and rebuild it when a parameter changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib.flows.coupling import AffineCoupling, clamp_parts
from n2nlib.flows.embedders import IdentityEmbedder, MLPEmbedder
from n2nlib.flows.subnets import PairedMLP

if TYPE_CHECKING:
    from n2nlib.flows.grouped import GroupedCINN

__all__ = ["StackedGroups"]

Layers = list[tuple[Tensor, Tensor]]  # (weight (out, in), bias (out,)) per layer


def _linears(net: nn.Module) -> Layers:
    return [(m.weight, m.bias) for m in net.modules() if isinstance(m, nn.Linear)]


def _coupling_nets(coupling: AffineCoupling, which: int) -> tuple[Layers, Layers] | None:
    """The (s, t) networks of update ``which`` as lists of ``(W, b)``; ``None`` if absent."""
    if coupling.fused:
        pair = coupling.st1 if which == 1 else coupling.st2
        if pair is None:
            return None
        return tuple(  # type: ignore[return-value]
            [(w[k].t(), b[k, 0]) for w, b in zip(pair.weights, pair.biases, strict=True)]
            for k in range(2))
    if which == 2 and not coupling.has_second:
        return None
    s, t = (coupling.s1, coupling.t1) if which == 1 else (coupling.s2, coupling.t2)
    return _linears(s), _linears(t)


def _stack(nets: list[Layers | None], segments: list[list[int]], pads: list[int],
           hidden: int, out: int, like: Tensor) -> list[tuple[Tensor, Tensor]] | None:
    """Stack networks of equal depth into ``[(W (n, in, out), b (n, 1, out)), ...]``.

    The input of net ``k`` is the concatenation of segments of sizes ``segments[k]``; in the
    stacked input segment ``j`` starts at ``sum(pads[:j])``. A ``None`` net is all zeros;
    ``None`` when every net is (no group has that update: all groups of one dimension).
    """
    if all(n is None for n in nets):
        return None
    depth = len(next(n for n in nets if n is not None))
    sizes = [sum(pads)] + [hidden] * (depth - 1) + [out]
    stacked = [(like.new_zeros(len(nets), sizes[i], sizes[i + 1]),
                like.new_zeros(len(nets), 1, sizes[i + 1])) for i in range(depth)]
    starts = [sum(pads[:j]) for j in range(len(pads))]
    for k, net in enumerate(nets):
        if net is None:
            continue
        for i, (w, b) in enumerate(net):
            W, B = stacked[i]
            if i == 0:
                col = 0
                for start, size in zip(starts, segments[k], strict=True):
                    W[k, start:start + size, : w.shape[0]] = w[:, col:col + size].t()
                    col += size
            else:
                W[k, : w.shape[1], : w.shape[0]] = w.t()
            B[k, 0, : b.shape[0]] = b
    return stacked


def _prescale(net: list[tuple[Tensor, Tensor]] | None, pre: float
              ) -> list[tuple[Tensor, Tensor]] | None:
    """Multiply the s networks' outputs (even indices of the stack) by ``pre``, in place."""
    if net is not None and pre != 1.0:
        weight, bias = net[-1]
        weight[0::2] *= pre
        bias[0::2] *= pre
    return net


class StackedGroups:
    r"""A frozen, batched copy of a :class:`~n2nlib.flows.GroupedCINN` (see the module doc).

    Build it with :meth:`build`, which returns ``None`` for what it does not cover: a
    convolutional or custom embedder, custom subnetworks, an invertible LeakyReLU, or an
    ActNorm (in a block, or standardising the condition) that has not seen data yet (its
    first forward pass sets it).

    ``forward(x, c)`` and ``inverse(v, c)`` return what the grouped cINN's do; they check
    nothing (the grouped cINN checks its inputs before it calls them).

    >>> from n2nlib.flows import GroupedCINN
    >>> cinn = GroupedCINN([1, 3, 4], cond_dim=5, n_blocks=2, hidden_dim=8).double()
    >>> x, c = torch.randn(6, 8, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    >>> with torch.no_grad():
    ...     _ = cinn.parts[0](x[:, :1], c), cinn.parts[1](x[:, 1:4], c), cinn.parts[2](x[:, 4:], c)
    ...     fast = StackedGroups.build(cinn)
    ...     (v, ld), (v2, ld2) = fast.forward(x, c), cinn.forward(x, c)
    >>> bool(torch.allclose(v, v2)), bool(torch.allclose(ld, ld2))
    (True, True)
    """

    def __init__(self) -> None:  # use build()
        self.groups: list[int] = []

    @classmethod
    @torch.no_grad()
    def build(cls, cinn: GroupedCINN) -> StackedGroups | None:
        """Stack the parameters of ``cinn``'s groups, or ``None`` if it cannot be stacked."""
        parts = list(cinn.parts)
        first = parts[0].blocks[0].coupling
        for part in parts:
            if getattr(part, "_custom_subnets", False) or not (
                    part.embedder is None or isinstance(part.embedder,
                                                        MLPEmbedder | IdentityEmbedder)):
                return None
            if part.n_blocks != parts[0].n_blocks:
                return None
            for block in part.blocks:
                c = block.coupling
                if (block.activation is not None or not block.norm.is_initialized
                        or (c.clamp, c.clamp_activation) != (first.clamp,
                                                             first.clamp_activation)):
                    return None
        slopes = {m.negative_slope if isinstance(m, nn.LeakyReLU) else m.slope
                  for part in parts for m in part.modules()
                  if isinstance(m, nn.LeakyReLU | PairedMLP)}
        if len(slopes) > 1:
            return None
        self = cls()
        like = next(cinn.parameters())
        self.groups = list(cinn.groups)
        self.slope = slopes.pop() if slopes else 0.01
        # soft_clamp(s) = post * f(pre * s): pre is folded into the s networks' last layer
        self.post, self.bound, pre = clamp_parts(first.clamp, first.clamp_activation)
        G = len(self.groups)
        a = [d // 2 for d in self.groups]
        b = [d - h for d, h in zip(self.groups, a, strict=True)]
        self.A, self.B = max(a), max(b)
        P = self.A + self.B
        offsets = [sum(self.groups[:g]) for g in range(G)]
        n = sum(self.groups)

        # the condition's embedding H_g(c), stacked: (G, rows, E)
        embedders = [part.embedder for part in parts]
        self.embed: list[tuple[Tensor, Tensor]] | None = None
        self.cond_norm: tuple[Tensor, Tensor] | None = None  # (loc, scale), (G, 1, cond)
        self.identity = isinstance(embedders[0], IdentityEmbedder)
        widths = [0 if e is None else int(e.out_features) for e in embedders]
        self.E = max(widths)
        if isinstance(embedders[0], MLPEmbedder):
            if not all(isinstance(e, MLPEmbedder) for e in embedders):
                return None
            norms = [e.norm for e in embedders]
            if any(n is not None for n in norms):
                if not all(n is not None and n.is_initialized for n in norms):
                    return None
                self.cond_norm = (torch.stack([n.loc for n in norms]).unsqueeze(1),
                                  torch.stack([n.log_scale.exp() for n in norms]).unsqueeze(1))
            nets = [_linears(e) for e in embedders]
            cond = embedders[0].in_shape[0]
            hidden = max(w.shape[0] for net in nets for w, _ in net[:-1])
            self.embed = _stack(nets, [[cond]] * G, [cond], hidden, self.E, like)
        elif not all(type(e) is type(embedders[0]) for e in embedders):
            return None

        # per block: ActNorm as (G, 1, P) tensors, the two updates' stacked s/t networks
        hidden = max(w.shape[0] for part in parts for block in part.blocks
                     for w, _ in _coupling_nets(block.coupling, 1)[0][:-1])
        self.blocks = []
        self.norm_logdet = like.new_zeros(())  # the ActNorms' log-det, the same for every row
        for k in range(parts[0].n_blocks):
            loc, log_scale = like.new_zeros(G, 1, P), like.new_zeros(G, 1, P)
            nets1: list[Layers | None] = []
            nets2: list[Layers | None] = []
            for g, part in enumerate(parts):
                block = part.blocks[k]
                for lo, hi, dst in ((0, a[g], 0), (a[g], self.groups[g], self.A)):
                    loc[g, 0, dst:dst + hi - lo] = block.norm.loc[lo:hi]
                    log_scale[g, 0, dst:dst + hi - lo] = block.norm.log_scale[lo:hi]
                for which, into in ((1, nets1), (2, nets2)):
                    pair = _coupling_nets(block.coupling, which)
                    into.extend([None, None] if pair is None else list(pair))
            seg1 = [[a[g], widths[g]] for g in range(G) for _ in range(2)]
            seg2 = [[b[g], widths[g]] for g in range(G) for _ in range(2)]
            scale = log_scale.exp()
            self.blocks.append({
                "loc": loc, "scale": scale, "shift": -loc * scale, "inv_scale": (-log_scale).exp(),
                "net1": _prescale(_stack(nets1, seg1, [self.A, self.E], hidden, self.B, like),
                                  pre),
                "net2": _prescale(_stack(nets2, seg2, [self.B, self.E], hidden, self.A, like),
                                  pre),
            })
            self.norm_logdet = self.norm_logdet + log_scale.sum()

        # gathers: padded slot pos(g, i) of coordinate i of group g; the zero column is last
        def pos(g: int, i: int) -> int:
            return g * P + (i if i < a[g] else self.A + i - a[g])

        def index(size: int, pad: int, pairs: list[tuple[int, int]]) -> Tensor:
            idx = torch.full((size,), pad, dtype=torch.long)
            for dst, src in pairs:
                idx[dst] = src
            return idx.to(like.device)

        def within(perm: list[list[int]]) -> Tensor:
            """A block's permutation as a gather along the padded axis, ``(G, 1, P)``: slot
            ``pos(g, i)`` reads ``pos(g, perm[g][i])``; a padded slot reads itself (zero)."""
            idx = torch.arange(P).repeat(G, 1)
            for g, i in coords:
                idx[g, pos(g, i) - g * P] = pos(g, perm[g][i]) - g * P
            return idx.unsqueeze(1).to(like.device)

        perms = [[part.blocks[k].permutation.perm.tolist() for part in parts]
                 for k in range(parts[0].n_blocks)]
        invs = [[part.blocks[k].permutation.inv_perm.tolist() for part in parts]
                for k in range(parts[0].n_blocks)]
        coords = [(g, i) for g in range(G) for i in range(self.groups[g])]
        last = len(perms) - 1
        self.enter = index(G * P, n, [(pos(g, i), offsets[g] + i) for g, i in coords])
        self.exit = index(n, G * P, [(offsets[g] + i, pos(g, perms[last][g][i]))
                                      for g, i in coords])
        self.step = [within(perms[k]) for k in range(last)]
        self.enter_inv = index(G * P, n, [(pos(g, j), offsets[g] + invs[last][g][j])
                                          for g, j in coords])
        self.exit_inv = index(n, G * P, [(offsets[g] + i, pos(g, i)) for g, i in coords])
        self.step_inv = [within(invs[k]) for k in range(last)]
        return self

    # -- pieces -------------------------------------------------------------------------------

    def _gather(self, flat: Tensor, idx: Tensor) -> Tensor:
        """``flat`` (rows, m) with a zero column appended, indexed by ``idx``."""
        return F.pad(flat, (0, 1)).index_select(1, idx)

    def _to_state(self, flat: Tensor) -> Tensor:
        return flat.view(flat.shape[0], len(self.groups), -1).transpose(0, 1)

    def _exit(self, state: Tensor, idx: Tensor) -> Tensor:
        """The state (G, rows, P) back to (rows, n): ``idx`` names no padded slot."""
        return state.transpose(0, 1).reshape(state.shape[1], -1).index_select(1, idx)

    def _permute(self, state: Tensor, idx: Tensor) -> Tensor:
        """A block's permutation inside every group: ``idx`` (G, 1, P) from :meth:`build`."""
        return torch.gather(state, 2, idx.expand(-1, state.shape[1], -1))

    def _h(self, c: Tensor | None) -> Tensor | None:
        if c is None:
            return None
        G = len(self.groups)
        if self.identity:
            return c.unsqueeze(0).expand(G, *c.shape)
        h = c.unsqueeze(0).expand(G, *c.shape)
        if self.cond_norm is not None:
            h = (h - self.cond_norm[0]) * self.cond_norm[1]
        for i, (w, b) in enumerate(self.embed):  # type: ignore[union-attr]
            h = torch.baddbmm(b, h, w)
            if i < len(self.embed) - 1:  # type: ignore[arg-type]
                h = F.leaky_relu(h, self.slope)
        return h

    def _scale_shift(self, net: list[tuple[Tensor, Tensor]], part: Tensor,
                     h: Tensor | None, sign: float) -> tuple[Tensor, Tensor]:
        """``(sign · s, t)`` of the stacked networks ``net`` on ``[part, h]``, ``s`` clamped."""
        inp = part if h is None else torch.cat([part, h], dim=2)
        G, rows, width = inp.shape
        a = inp.unsqueeze(1).expand(G, 2, rows, width).reshape(2 * G, rows, width)
        for i, (w, b) in enumerate(net):
            a = torch.baddbmm(b, a, w)
            if i < len(net) - 1:
                a = F.leaky_relu(a, self.slope)
        st = a.view(G, 2, rows, -1)
        return self.bound(st[:, 0]) * (sign * self.post), st[:, 1]

    # -- the flow -----------------------------------------------------------------------------

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""τ⁻¹ of every group: ``(v, logdet)``, as :meth:`GroupedCINN.forward`."""
        h = self._h(c)
        state = self._to_state(self._gather(x, self.enter))
        s_b = s_a = None  # the log-scales of the two updates, summed over the blocks
        for k, block in enumerate(self.blocks):
            state = torch.addcmul(block["shift"], state, block["scale"])
            x_a, x_b = state[..., : self.A], state[..., self.A:]
            s1, t1 = self._scale_shift(block["net1"], x_a, h, 1.0)
            y_b = torch.addcmul(t1, x_b, s1.exp())
            s_b = s1 if s_b is None else s_b + s1
            y_a = x_a
            if block["net2"] is not None:
                s2, t2 = self._scale_shift(block["net2"], y_b, h, 1.0)
                y_a = torch.addcmul(t2, x_a, s2.exp())
                s_a = s2 if s_a is None else s_a + s2
            state = torch.cat([y_a, y_b], dim=2)
            if k < len(self.step):
                state = self._permute(state, self.step[k])
        return self._exit(state, self.exit), self._logdet(s_a, s_b, 1.0)

    def inverse(self, v: Tensor, c: Tensor | None = None, logdet: bool = True
                ) -> tuple[Tensor, Tensor | None]:
        r"""τ of every group: ``(x, logdet_inv)``, as :meth:`GroupedCINN.inverse`; with
        ``logdet=False`` the log-det is not computed (``None``), as for sampling."""
        h = self._h(c)
        state = self._to_state(self._gather(v, self.enter_inv))
        s_b = s_a = None  # minus the log-scales, summed over the blocks
        for k in reversed(range(len(self.blocks))):
            block = self.blocks[k]
            y_a, y_b = state[..., : self.A], state[..., self.A:]
            x_a = y_a
            if block["net2"] is not None:
                s2, t2 = self._scale_shift(block["net2"], y_b, h, -1.0)
                x_a = (y_a - t2) * s2.exp()
                if logdet:
                    s_a = s2 if s_a is None else s_a + s2
            s1, t1 = self._scale_shift(block["net1"], x_a, h, -1.0)
            x_b = (y_b - t1) * s1.exp()
            if logdet:
                s_b = s1 if s_b is None else s_b + s1
            state = torch.addcmul(block["loc"], torch.cat([x_a, x_b], dim=2),
                                  block["inv_scale"])
            if k > 0:
                state = self._permute(state, self.step_inv[k - 1])
        x = self._exit(state, self.exit_inv)
        return x, (self._logdet(s_a, s_b, -1.0) if logdet else None)

    def _logdet(self, s_a: Tensor | None, s_b: Tensor, sign: float) -> Tensor:
        """The log-det per row: the summed (signed) log-scales of the two updates, plus
        ``sign`` times the ActNorms' log-det."""
        logdet = s_b.sum(dim=(0, 2)) + sign * self.norm_logdet
        return logdet if s_a is None else logdet + s_a.sum(dim=(0, 2))
