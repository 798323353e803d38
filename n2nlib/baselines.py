r"""The ablation of supplement E: a deterministic MLP in place of the cINN.

The paper replaces τ by a multilayer perceptron that regresses :math:`z_\Theta` from
:math:`z_\Phi`: (i) the embedding module H of Table S3b (conv for spatial conditions, the MLP of
Table S3a for vectors) and (ii) the fully connected network of neural scene rendering (NeRF,
Mildenhall et al. 2020): 8 layers of 256 units with ReLU, the input concatenated again after the
fourth. Trained with an L2 loss, it predicts the conditional *mean* of :math:`z_\Theta` — fine
when :math:`z_\Phi` determines :math:`z_\Theta` (early layers of f), a blurred average when it
does not (deep layers): the failure the cINN does not have.

* :class:`EmbeddingMLP` — the network. Its :meth:`~EmbeddingMLP.nll` is the L2 loss written as
  the negative log-likelihood of :math:`\mathcal{N}(z_\Theta; \mathrm{MLP}(z_\Phi), I)`
  (:math:`\tfrac12\|z_\Theta - \hat z\|^2 + \tfrac D2 \log 2\pi`), so that the project's one
  training loop :func:`n2nlib.train.fit` trains it unchanged, and its held-out NLL is in the same
  units as a cINN's. (:class:`n2nlib.toy.MLPRegressor` is the same idea for 2D toy data,
  without an embedder.)
* :class:`MLPTranslator` — source expert + MLP + target expert, with ``fit`` / ``translate`` /
  ``translate_latent`` called like :class:`~n2nlib.Net2Net`'s, so a notebook can swap one for
  the other. Every "sample" of an input is the same output: there is no residual to draw.

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

import math
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib import settings
from n2nlib.cache import LatentPairs, encode_pairs, iter_batches
from n2nlib.experts.base import as_expert, check_latent, is_expert, is_target_expert, latent_shape
from n2nlib.flows.embedders import ConvEmbedder, MLPEmbedder
from n2nlib.train import History, fit

__all__ = ["EmbeddingMLP", "MLPTranslator"]

_LOG_2PI = math.log(2.0 * math.pi)


class EmbeddingMLP(nn.Module):
    r"""Embedding H + a NeRF-style fully connected network: :math:`z_\Phi \mapsto \hat z_\Theta`.

    Arguments:
        dim: size of :math:`z_\Theta`.
        cond_dim: size of :math:`z_\Phi` — an int, or ``(C, H, W)`` for spatial conditions
            (then H is :class:`~n2nlib.flows.embedders.ConvEmbedder`, Table S3b).
        hidden: width of the fully connected layers (256 in NeRF).
        n_layers: number of hidden fully connected layers (8 in NeRF).
        skip: concatenate the embedded input again after this many layers; ``"auto"``:
            ``n_layers // 2`` (4 of 8, as NeRF); ``None``: no skip connection.
        embed_dim: size of the embedding ``h`` (default ``dim``, as the cINN's).
        embed_hidden: width of a vector embedder's layers (default ``hidden``).

    >>> net = EmbeddingMLP(dim=4, cond_dim=(3, 8, 8), hidden=16, n_layers=3, skip=1)
    >>> c = torch.randn(5, 3, 8, 8)
    >>> net(c).shape, net.nll(torch.zeros(5, 4), c).shape
    (torch.Size([5, 4]), torch.Size([5]))
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int | Sequence[int],
        *,
        hidden: int = 256,
        n_layers: int = 8,
        skip: int | str | None = "auto",
        embed_dim: int | None = None,
        embed_hidden: int | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        shape = (cond_dim,) if isinstance(cond_dim, int) else tuple(int(s) for s in cond_dim)
        if len(shape) not in (1, 3) or min(shape) < 1:
            raise ValueError(f"cond_dim must be a positive int or (C, H, W), got {cond_dim!r}")
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be a positive int, got {n_layers!r}")
        if skip == "auto":
            skip = n_layers // 2 or None
        if skip is not None and not (isinstance(skip, int) and 0 < skip < n_layers):
            raise ValueError(f"skip must be None or in 1 … {n_layers - 1}, got {skip!r}")
        self.dim, self.cond_shape, self.skip = dim, shape, skip
        embed_dim = embed_dim or dim
        if len(shape) == 3:
            self.embedder: nn.Module = ConvEmbedder(shape, embed_dim)
        else:
            self.embedder = MLPEmbedder(shape[0], embed_dim, hidden=embed_hidden or hidden)
        self.layers = nn.ModuleList()
        width_in = embed_dim
        for i in range(n_layers):
            if skip is not None and i == skip:
                width_in += embed_dim
            self.layers.append(nn.Linear(width_in, hidden))
            width_in = hidden
        self.out = nn.Linear(hidden, dim)

    def forward(self, c: Tensor) -> Tensor:
        r"""The prediction :math:`\hat z_\Theta`, ``(B, dim)``."""
        check_latent(c, self.cond_shape if len(self.cond_shape) == 3 else self.cond_shape[0],
                     "the condition c")
        h = self.embedder(c)
        x = h
        for i, layer in enumerate(self.layers):
            if self.skip is not None and i == self.skip:
                x = torch.cat([x, h], dim=1)
            x = torch.relu(layer(x))
        return self.out(x)

    def nll(self, x: Tensor, c: Tensor) -> Tensor:
        r"""Per-sample L2 loss as a Gaussian NLL in nats:
        :math:`\tfrac12\|x - \mathrm{MLP}(c)\|^2 + \tfrac D2\log 2\pi`, ``(B,)``.

        Its minimiser is the conditional mean :math:`E[z_\Theta \mid z_\Phi]`.
        """
        check_latent(x, self.dim, "x")
        return 0.5 * (x - self(c)).pow(2).sum(dim=1) + 0.5 * self.dim * _LOG_2PI


class MLPTranslator(nn.Module):
    r"""A frozen source expert, an :class:`EmbeddingMLP` and a frozen target expert: the
    supplement-E baseline, called like :class:`~n2nlib.Net2Net`.

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
        super().__init__()
        for role, expert in (("source", source), ("target", target)):
            if not is_expert(expert):
                raise TypeError(f"the {role} expert must have encode(inputs) -> (B, D) and an "
                                f"int dim, got {type(expert).__name__}")
        self.source, self.target = as_expert(source), as_expert(target)
        src, tgt = latent_shape(self.source), latent_shape(self.target)
        if mlp is None:
            mlp = EmbeddingMLP(tgt[0], src[0] if len(src) == 1 else src, **mlp_kwargs)
        elif mlp_kwargs:
            raise TypeError(f"MLP arguments {sorted(mlp_kwargs)} are only used when no mlp is "
                            f"given")
        if mlp.dim != tgt[0] or mlp.cond_shape != src:
            raise ValueError(f"the MLP maps {mlp.cond_shape} -> {mlp.dim} but the experts need "
                             f"{src} -> {tgt[0]}")
        self.mlp = mlp.to(settings.device(device))
        self.history: History | None = None

    @property
    def device(self) -> torch.device:
        """The device of the MLP."""
        return next(self.mlp.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the MLP."""
        return next(self.mlp.parameters()).dtype

    @torch.no_grad()
    def encode_source(self, x: Any, batch_size: int | None = None) -> Tensor:
        r""":math:`z_\Phi = \Phi(x)` on the MLP's device and dtype."""
        batches = [x] if batch_size is None else iter_batches(x, batch_size)
        return torch.cat([self.source.encode(b) for b in batches]).to(self.device, self.dtype)

    @torch.no_grad()
    def decode(self, z: Tensor) -> Any:
        r""":math:`\Lambda(z)` with the target expert's ``decode``."""
        if not is_target_expert(self.target):
            raise TypeError("the target expert has no decode(z); use decode=False")
        return self.target.decode(z)

    def encode_data(self, data: Any, *, batch_size: int = 256, stochastic: bool | None = None,
                    progress: bool = True) -> LatentPairs:
        r"""Encode ``(xs, ys)`` once into :math:`(\Theta(y), \Phi(x))` pairs (a
        :class:`~n2nlib.cache.LatentPairs` passes through, e.g. one a Net2Net encoded)."""
        if isinstance(data, LatentPairs):
            return data
        return encode_pairs(self.source, self.target, data, batch_size=batch_size,
                            dtype=self.dtype, stochastic=stochastic, progress=progress)

    def fit(
        self,
        data: Any,
        *,
        steps: int,
        batch_size: int = 64,
        eval_data: Any = None,
        encode_batch_size: int = 256,
        stochastic: bool | None = None,
        progress: bool = True,
        cache_dir: str | os.PathLike | None = None,
        **fit_kwargs: Any,
    ) -> History:
        """Train the MLP with :func:`n2nlib.train.fit` (the L2 loss, as :meth:`EmbeddingMLP.nll`);
        the experts stay fixed. Arguments as :meth:`n2nlib.Net2Net.fit` (``cache_dir`` is
        accepted for symmetry and ignored: codes are kept in memory).

        Returns:
            The :class:`~n2nlib.train.History` (also ``self.history``).
        """
        del cache_dir
        pairs = self.encode_data(data, batch_size=encode_batch_size, stochastic=stochastic,
                                 progress=progress)
        eval_pairs = None if eval_data is None else self.encode_data(
            eval_data, batch_size=encode_batch_size, stochastic=stochastic, progress=progress)
        fit_kwargs.setdefault("desc", "training MLP")
        self.history = fit(self.mlp, pairs, steps=steps, batch_size=batch_size,
                           eval_data=eval_pairs, progress=progress, **fit_kwargs)
        return self.history

    @torch.no_grad()
    def translate_latent(self, z_source: Tensor, n_samples: int = 1, temperature: float = 1.0,
                         *, generator: torch.Generator | None = None) -> Tensor:
        r""":math:`\hat z_\Theta = \mathrm{MLP}(z_\Phi)`, each row repeated ``n_samples`` times
        (``repeat_interleave`` order, as Net2Net's). ``temperature`` and ``generator`` are
        accepted so that calls written for a Net2Net work; a deterministic MLP ignores them."""
        del temperature, generator
        if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
        self.mlp.eval()
        z = self.mlp(z_source.to(self.device, self.dtype))
        return z.repeat_interleave(n_samples, dim=0)

    @torch.no_grad()
    def translate(self, x: Any, n_samples: int = 4, temperature: float = 1.0, *,
                  decode: bool = True, generator: torch.Generator | None = None,
                  batch_size: int | None = None) -> Any:
        r""":math:`y = \Lambda(\mathrm{MLP}(\Phi(x)))`, ``n_samples`` identical copies per input,
        in Net2Net's output layout."""
        z = self.translate_latent(self.encode_source(x, batch_size), n_samples, temperature,
                                  generator=generator)
        return self.decode(z) if decode else z

    def extra_repr(self) -> str:
        return f"source shape={latent_shape(self.source)}, target dim={self.target.dim}"
