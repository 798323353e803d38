r"""Translators: models of :math:`p(z_\Theta \mid z_\Phi)` that :class:`~n2nlib.Net2Net` takes.

A **translator** is any ``nn.Module`` with

* ``dim`` (the size of :math:`z_\Theta`) and ``cond_shape`` (the shape of one :math:`z_\Phi`);
* ``nll(x, c) -> (B,)``: the per-pair negative log-likelihood in nats, which the one training
  loop :func:`n2nlib.train.fit` minimises;
* ``sample(c, temperature=1.0, generator=None) -> (B, dim)``: one translation per row of ``c``.

A translator whose every sample of an input is the same output says ``deterministic = True``.
An **invertible** translator also has ``forward(x, c) -> (v, logdet)`` and ``inverse(v, c) ->
(x, logdet)``: the residual :math:`v = \tau^{-1}(z_\Theta \mid z_\Phi)`, which
:meth:`~n2nlib.Net2Net.residual` and :meth:`~n2nlib.Net2Net.transfer` need. The cINN
(:class:`~n2nlib.flows.ConditionalINN`), :class:`~n2nlib.flows.GroupedCINN` and the
:class:`ConditionalGaussian` (the cINN with zero blocks) are invertible; the MLP of supplement E
(:class:`EmbeddingMLP`) and the closed-form :class:`RidgeTranslator` and
:class:`ProcrustesTranslator` are not. A translator with ``fit_closed_form(x, c)`` is solved on
the cached codes by :meth:`~n2nlib.Net2Net.fit` instead of trained by gradient steps (so is
:class:`KNNTranslator`, which keeps the pairs). A translator trained by a surrogate objective
has ``training_loss(x, c) -> (B,)``, which :func:`n2nlib.train.fit` minimises instead of
``nll`` (:class:`FlowMatchingTranslator`: conditional flow matching, sampled by an ODE).

A saved :class:`~n2nlib.Net2Net` names its translator's class; only the classes of
:data:`TRANSLATORS` can be named, so a config file can never make the library import anything
else.

>>> from n2nlib import ConditionalINN
>>> is_translator(ConditionalINN(2, 3)), is_invertible(ConditionalINN(2, 3))
(True, True)
>>> is_translator(EmbeddingMLP(2, 3, hidden=8, n_layers=2)), is_invertible(EmbeddingMLP(2, 3))
(True, False)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from n2nlib.flows import ConditionalINN, GroupedCINN
from n2nlib.translators.closed_form import (
    ConditionalGaussian,
    ProcrustesTranslator,
    RidgeTranslator,
)
from n2nlib.translators.flow_matching import FlowMatchingTranslator
from n2nlib.translators.knn import KNNTranslator
from n2nlib.translators.mlp import EmbeddingMLP

__all__ = [
    "TRANSLATORS",
    "ConditionalGaussian",
    "EmbeddingMLP",
    "FlowMatchingTranslator",
    "KNNTranslator",
    "ProcrustesTranslator",
    "RidgeTranslator",
    "Translator",
    "is_invertible",
    "is_translator",
    "translator_from_config",
    "translator_name",
]


@runtime_checkable
class Translator(Protocol):
    """What Net2Net needs of τ (see the module docstring)."""

    dim: int
    cond_shape: tuple[int, ...]

    def nll(self, x: Tensor, c: Tensor) -> Tensor: ...

    def sample(self, c: Tensor, temperature: float = 1.0, *, generator: Any = None
               ) -> Tensor: ...


TRANSLATORS: dict[str, type[nn.Module]] = {
    "ConditionalINN": ConditionalINN,
    "GroupedCINN": GroupedCINN,
    "EmbeddingMLP": EmbeddingMLP,
    "ConditionalGaussian": ConditionalGaussian,
    "RidgeTranslator": RidgeTranslator,
    "ProcrustesTranslator": ProcrustesTranslator,
    "KNNTranslator": KNNTranslator,
    "FlowMatchingTranslator": FlowMatchingTranslator,
}
"""The translator classes a saved config may name (an allow-list: configs are data)."""


def is_translator(obj: object) -> bool:
    """Whether ``obj`` is an ``nn.Module`` with ``dim``, ``cond_shape``, ``nll`` and ``sample``."""
    return (isinstance(obj, nn.Module) and isinstance(getattr(obj, "dim", None), int)
            and hasattr(obj, "cond_shape") and callable(getattr(obj, "nll", None))
            and callable(getattr(obj, "sample", None)))


def is_invertible(obj: object) -> bool:
    """Whether ``obj`` is a translator with ``inverse(v, c)``, i.e. a residual exists."""
    return is_translator(obj) and callable(getattr(obj, "inverse", None))


def translator_name(translator: nn.Module) -> str:
    """The :data:`TRANSLATORS` key of ``translator``'s class.

    Raises:
        ValueError: a class outside the table (it cannot be saved by name; save its
            ``state_dict`` and rebuild it in code).
    """
    for name, cls in TRANSLATORS.items():
        if type(translator) is cls:
            return name
    raise ValueError(f"a {type(translator).__name__} cannot be saved by name: only "
                     f"{sorted(TRANSLATORS)} can; save its state_dict and rebuild it in code")


def translator_from_config(config: dict[str, Any], name: str | None = None) -> nn.Module:
    """Build an untrained translator from its ``get_config()``.

    Arguments:
        config: the translator's config.
        name: a :data:`TRANSLATORS` key; ``None`` (configs saved before translators were
            named) means a GroupedCINN if the config has ``groups``, else a ConditionalINN.

    Raises:
        ValueError: ``name`` is not in :data:`TRANSLATORS`.
    """
    if name is None:
        name = "GroupedCINN" if "groups" in config else "ConditionalINN"
    if name not in TRANSLATORS:
        raise ValueError(f"the config names the translator {name!r}, which is not one of "
                         f"{sorted(TRANSLATORS)}; a config can only name those")
    return TRANSLATORS[name].from_config(config)
