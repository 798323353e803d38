r"""The ablation of supplement E: a deterministic MLP in place of the cINN.

The paper replaces τ by a multilayer perceptron that regresses :math:`z_\Theta` from
:math:`z_\Phi`: (i) the embedding module H of Table S3b (conv for spatial conditions, the MLP of
Table S3a for vectors) and (ii) the fully connected network of neural scene rendering (NeRF,
Mildenhall et al. 2020): 8 layers of 256 units with ReLU, the input concatenated again after the
fourth. Trained with an L2 loss, it predicts the conditional *mean* of :math:`z_\Theta` — fine
when :math:`z_\Phi` determines :math:`z_\Theta` (early layers of f), a blurred average when it
does not (deep layers): the failure the cINN does not have.

* :class:`EmbeddingMLP` — the network (in :mod:`n2nlib.translators.mlp`; a translator like the
  cINN, see :mod:`n2nlib.translators`). Its :meth:`~EmbeddingMLP.nll` is the L2 loss written as
  the negative log-likelihood of :math:`\mathcal{N}(z_\Theta; \mathrm{MLP}(z_\Phi), I)`
  (:math:`\tfrac12\|z_\Theta - \hat z\|^2 + \tfrac D2 \log 2\pi`), so that the project's one
  training loop :func:`n2nlib.train.fit` trains it unchanged, and its held-out NLL is in the same
  units as a cINN's. (:class:`n2nlib.course.toy.MLPRegressor` is the same idea for 2D toy data,
  without an embedder.)
* :class:`MLPTranslator` — a :class:`~n2nlib.Net2Net` whose translator is an
  :class:`EmbeddingMLP` (``Net2Net(source, target, EmbeddingMLP(...))`` is the same thing), so
  a notebook can swap one for the other. Every "sample" of an input is the same output: there
  is no residual to draw, and ``residual``/``transfer`` say so.

>>> from n2nlib.experts import as_expert
>>> source = as_expert(lambda x: x[:, :2], dim=2)
>>> target = as_expert(lambda y: y, dim=3, decode=lambda z: z)
>>> mlp = MLPTranslator(source, target, hidden=16, n_layers=2, device="cpu")
>>> x = torch.randn(64, 3)
>>> history = mlp.fit((x, x), steps=5, batch_size=16, progress=False)
>>> mlp.translate(x[:4], n_samples=2).shape
torch.Size([8, 3])
"""

from __future__ import annotations

from typing import Any

import torch

from n2nlib.experts.base import is_expert, latent_shape
from n2nlib.net2net import Net2Net
from n2nlib.translators.mlp import EmbeddingMLP

__all__ = ["EmbeddingMLP", "MLPTranslator"]


class MLPTranslator(Net2Net):
    r"""A frozen source expert, an :class:`EmbeddingMLP` and a frozen target expert: the
    supplement-E baseline, a :class:`~n2nlib.Net2Net` in every way but the translator.

    Arguments:
        source: the source expert Φ (spatial codes get a conv embedder).
        target: the target expert Θ/Λ (``decode`` needed to translate to outputs).
        mlp: the regressor; default: an :class:`EmbeddingMLP` with the experts' sizes and
            ``**mlp_kwargs``.
        device: where the MLP lives (default :func:`n2nlib.settings.device`).
        **mlp_kwargs: arguments of the default :class:`EmbeddingMLP` (``hidden``,
            ``n_layers``, ``skip``, ``embed_dim``).

    Raises:
        TypeError: an expert lacks ``encode``/``dim``.
        ValueError: the MLP's sizes disagree with the experts'.
    """

    def __init__(
        self,
        source: Any,
        target: Any,
        mlp: EmbeddingMLP | None = None,
        *,
        device: str | torch.device | None = None,
        **mlp_kwargs: Any,
    ) -> None:
        for role, expert in (("source", source), ("target", target)):
            if not is_expert(expert):
                raise TypeError(f"the {role} expert must have encode(inputs) -> (B, D) and an "
                                f"int dim, got {type(expert).__name__}")
        src, tgt = latent_shape(source), latent_shape(target)
        if mlp is None:
            mlp = EmbeddingMLP(tgt[0], src[0] if len(src) == 1 else src, **mlp_kwargs)
        elif mlp_kwargs:
            raise TypeError(f"MLP arguments {sorted(mlp_kwargs)} are only used when no mlp is "
                            f"given")
        if mlp.dim != tgt[0] or mlp.cond_shape != src:
            raise ValueError(f"the MLP maps {mlp.cond_shape} -> {mlp.dim} but the experts need "
                             f"{src} -> {tgt[0]}")
        super().__init__(source, target, mlp, device=device)

    @property
    def mlp(self) -> EmbeddingMLP:
        """The regressor (the translator, also ``self.cinn``)."""
        return self.cinn

    def fit(self, data: Any, **kwargs: Any) -> Any:
        """:meth:`n2nlib.Net2Net.fit`, with the bar labelled "training MLP"."""
        kwargs.setdefault("desc", "training MLP")
        return super().fit(data, **kwargs)
