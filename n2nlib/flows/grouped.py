r"""A cINN that factorises over groups of dimensions: one :class:`ConditionalINN` per group.

.. math::
    p(x \mid c) = \prod_{g} p(x_g \mid c), \qquad
    v = \big[\tau_1^{-1}(x_1 \mid c), \dots, \tau_G^{-1}(x_G \mid c)\big], \qquad
    \log\Big|\det \frac{\partial v}{\partial x}\Big| = \sum_g \log\Big|\det
    \frac{\partial v_g}{\partial x_g}\Big|

The Jacobian is block-diagonal, so the flow stays exactly invertible with a tractable log-det,
and Eq. (4) becomes a sum of one NLL per group. Use it when the target representation is made
of parts that are (close to) independent given the condition and that differ greatly in how
much the condition determines them. The text-to-image experiment is the example: in
:math:`z_\Theta = [\tilde z, \hat h]` the class embedding :math:`\hat h` is almost a function
of the sentence, the noise :math:`\tilde z` depends on it only weakly (size, position). In one
shared cINN the steep likelihood gains of :math:`\hat h` dominate the gradients of the shared
weights and :math:`\tilde z` stays at its prior; with separate weights per group each part
learns its own conditional (notebook 06 measures the difference).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._checks import check_tensor
from n2nlib.flows.cinn import ConditionalINN, DensityMixin
from n2nlib.flows.stacked import StackedGroups

__all__ = ["GroupedCINN", "cinn_from_config"]

class GroupedCINN(DensityMixin, nn.Module):
    r"""Independent conditional INNs over consecutive groups of dimensions, one condition.

    Same interface and directions as :class:`ConditionalINN` (``forward`` is
    :math:`\tau^{-1}`: data to residual; ``inverse`` is :math:`\tau`; ``nll``, ``log_prob``,
    ``sample``, ``get_config``, ``save``/``load``), so it can stand wherever a cINN does, e.g.
    as the ``cinn`` of a :class:`~n2nlib.Net2Net`.

    Arguments:
        groups: the sizes of the groups, in the order of the dimensions of ``x``; they add up
            to ``dim``. Group ``g`` gets its own :class:`ConditionalINN` (its own embedder too).
        cond_dim: the condition's size, as for :class:`ConditionalINN`.
        **cinn_kwargs: passed to every group's :class:`ConditionalINN` (``n_blocks``,
            ``hidden_dim``, ``embed_dim``, ``clamp``, …); ``seed`` is offset by 1000 per group
            so that the groups' permutations differ.

    Raises:
        ValueError: empty groups, or a group size that is not a positive int.

    >>> cinn = GroupedCINN([2, 3], cond_dim=4, n_blocks=2, hidden_dim=16)
    >>> x, c = torch.randn(6, 5), torch.randn(6, 4)
    >>> v, logdet = cinn(x, c)
    >>> x2, _ = cinn.inverse(v, c)
    >>> cinn.dim, bool(torch.allclose(x, x2, atol=1e-5)), cinn.sample(c).shape
    (5, True, torch.Size([6, 5]))
    """

    def __init__(self, groups: Sequence[int], cond_dim: int | Sequence[int] | None = 0,
                 **cinn_kwargs: Any) -> None:
        super().__init__()
        groups = list(groups) if not isinstance(groups, (str, bytes)) else groups
        if not isinstance(groups, list) or not groups or any(
                not isinstance(g, int) or isinstance(g, bool) or g < 1 for g in groups):
            raise ValueError(f"groups must be a non-empty list of positive ints, got {groups!r}")
        if "dim" in cinn_kwargs:
            raise TypeError("GroupedCINN takes the group sizes, not dim (dim = sum(groups))")
        seed = int(cinn_kwargs.pop("seed", 0))
        self.groups = groups
        self.dim = sum(groups)
        self.parts = nn.ModuleList(
            ConditionalINN(g, cond_dim, seed=seed + 1000 * i, **cinn_kwargs)
            for i, g in enumerate(groups)
        )
        self._config: dict[str, Any] = {
            "groups": list(groups), "cond_dim": self.parts[0]._config["cond_dim"],
            **cinn_kwargs, "seed": seed,
        }
        self._stacked: tuple[int, StackedGroups | None] | None = None
        self._tensors: list[Tensor] | None = None  # what the stacked copy was made from
        self.register_load_state_dict_post_hook(GroupedCINN._forget_stacked)

    # -- configuration -----------------------------------------------------------------------

    @property
    def conditional(self) -> bool:
        """Whether the flow takes a condition."""
        return self.parts[0].conditional

    @property
    def cond_shape(self) -> tuple[int, ...]:
        """The condition's shape without the batch (``()`` for an unconditional flow)."""
        return self.parts[0].cond_shape

    @property
    def cond_dim(self) -> int | tuple[int, ...]:
        """The condition's size (as :attr:`ConditionalINN.cond_dim`)."""
        return self.parts[0].cond_dim

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this architecture (JSON-serialisable).

        Raises:
            ValueError: the groups use a custom embedder or subnet module.
        """
        for part in self.parts:
            part.get_config()  # raises for custom modules
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GroupedCINN:
        """Build a new (untrained) model from :meth:`get_config`'s output."""
        return cls(**config)

    def adapt_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Rewrite coupling weights saved in the other layout into this model's (in place;
        see :meth:`ConditionalINN.adapt_state_dict`)."""
        from n2nlib.flows.coupling import match_coupling_layout

        return match_coupling_layout(self, state)  # type: ignore[return-value]

    def save(self, directory: str | os.PathLike) -> os.PathLike:
        """Save to ``directory`` (``config.json`` + ``model.safetensors``); see :meth:`load`."""
        from n2nlib.checkpoint import save_model

        return save_model(self, directory, self.get_config(), kind="n2nlib.GroupedCINN")

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | torch.device | None = None
             ) -> GroupedCINN:
        """Rebuild a model saved by :meth:`save` (nothing is unpickled)."""
        from n2nlib.checkpoint import load_config, load_weights, saved_dtype

        model = cls.from_config(load_config(directory, kind="n2nlib.GroupedCINN"))
        model.to(dtype=saved_dtype(directory))
        load_weights(model, directory)
        return model.to(device) if device is not None else model

    # -- the flow ----------------------------------------------------------------------------

    def _split(self, x: Tensor, name: str) -> tuple[Tensor, ...]:
        p = next(self.parameters())
        check_tensor(x, name, shape=(None, self.dim), dtype=p.dtype, device=p.device)
        return x.split(self.groups, dim=1)

    def _fast(self, x: Tensor, c: Tensor | None, name: str) -> StackedGroups | None:
        """The batched copy of the groups (:mod:`n2nlib.flows.stacked`) when gradients are
        off and it covers this model, else ``None``. It is rebuilt whenever a parameter or
        buffer was changed in place (their version counters only grow, so their sum is the
        key)."""
        if torch.is_grad_enabled():
            return None
        if self._tensors is None:
            self._tensors = [*self.parameters(), *self.buffers()]
        try:
            key = sum(t._version for t in self._tensors)
        except RuntimeError:  # inference tensors have no version counter
            return None
        if self._stacked is None or self._stacked[0] != key:
            self._stacked = (key, StackedGroups.build(self))
        fast = self._stacked[1]
        if fast is not None:
            self._split(x, name)
            self.parts[0].check_condition(c, x.shape[0])
        return fast

    def _forget_stacked(self, *_: Any) -> None:
        """Drop the stacked copy: after ``load_state_dict`` (which may swap parameter objects,
        ``assign=True``) and ``.to()``/``.double()``/... it is rebuilt on the next call.
        Replace a parameter object of a part by hand, and call this yourself."""
        self._stacked, self._tensors = None, None

    def parameters_changed(self) -> None:
        """Say that the parameters were changed in place by something that does not bump
        their version counters — PyTorch's fused Adam/AdamW (``fused=True``) is one — so that
        the batched copy is rebuilt on the next call without gradients. :func:`n2nlib.train.fit`
        calls it after every optimizer step; a hand-written loop with a fused optimizer must
        too."""
        self._stacked = None

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> GroupedCINN:
        self._forget_stacked()
        return super()._apply(fn, *args, **kwargs)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""τ⁻¹ of every group: ``(v, logdet)``, ``logdet`` the sum of the groups' log-dets.

        Without gradients (``torch.no_grad``, sampling, evaluation) all groups run at once
        through :class:`~n2nlib.flows.stacked.StackedGroups`: the same function, fewer and
        larger matrix products."""
        fast = self._fast(x, c, "x")
        if fast is not None:
            return fast.forward(x, c)
        out, logdet = [], x.new_zeros(x.shape[0])
        for part, xg in zip(self.parts, self._split(x, "x"), strict=True):
            v, ld = part(xg, c)
            out.append(v)
            logdet = logdet + ld
        return torch.cat(out, dim=1), logdet

    def inverse(self, v: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""τ of every group: ``(x, logdet_inv)`` with ``logdet_inv`` :math:`= \log|\det
        \partial x/\partial v|`; batched without gradients, as :meth:`forward`."""
        fast = self._fast(v, c, "v")
        if fast is not None:
            return fast.inverse(v, c)
        out, logdet = [], v.new_zeros(v.shape[0])
        for part, vg in zip(self.parts, self._split(v, "v"), strict=True):
            x, ld = part.inverse(vg, c)
            out.append(x)
            logdet = logdet + ld
        return torch.cat(out, dim=1), logdet

    def _inverse_only(self, v: Tensor, c: Tensor | None) -> Tensor:
        fast = self._fast(v, c, "v")
        if fast is not None:
            return fast.inverse(v, c, logdet=False)[0]
        return super()._inverse_only(v, c)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


def cinn_from_config(config: dict[str, Any]) -> ConditionalINN | GroupedCINN:
    """Rebuild a cINN from its ``get_config()``: a :class:`GroupedCINN` if the config names
    ``groups``, else a :class:`ConditionalINN`.

    >>> cinn_from_config(GroupedCINN([1, 2], 3, n_blocks=1).get_config()).groups
    [1, 2]
    """
    if "groups" in config:
        return GroupedCINN.from_config(config)
    return ConditionalINN.from_config(config)
