r"""The MLP translator of supplement E: a deterministic regressor in place of the cINN.

An embedding H (conv for spatial conditions, the MLP of Table S3a for vectors) and the fully
connected network of NeRF (8 layers of 256 units, ReLU, the input concatenated again after the
fourth). Its :meth:`~EmbeddingMLP.nll` is the L2 loss as the NLL of
:math:`\mathcal{N}(z_\Theta; \mathrm{MLP}(z_\Phi), I)`, so the one training loop trains it and
its held-out NLL is in a cINN's units; :meth:`~EmbeddingMLP.sample` returns the prediction
itself (there is no residual to draw), and it has no ``inverse``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib.experts.base import check_latent
from n2nlib.flows.embedders import ConvEmbedder, MLPEmbedder

__all__ = ["EmbeddingMLP"]

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
        cond_norm: standardise a vector condition first, as the cINN's ``cond_norm``.

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
        cond_norm: bool = False,
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
        self._config = {"dim": dim, "cond_dim": list(shape) if len(shape) == 3 else shape[0],
                        "hidden": hidden, "n_layers": n_layers, "skip": skip,
                        "embed_dim": embed_dim, "embed_hidden": embed_hidden or hidden,
                        "cond_norm": bool(cond_norm)}
        if cond_norm and len(shape) == 3:
            raise ValueError("cond_norm standardises a vector condition; a spatial one is "
                             "normalised inside its convolutional embedder")
        if len(shape) == 3:
            self.embedder: nn.Module = ConvEmbedder(shape, embed_dim)
        else:
            self.embedder = MLPEmbedder(shape[0], embed_dim, hidden=embed_hidden or hidden,
                                        norm=cond_norm)
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

    deterministic = True
    """Every sample of an input is the same output (Net2Net computes it once and repeats it)."""

    def sample(self, c: Tensor, temperature: float = 1.0, *,
               generator: torch.Generator | None = None) -> Tensor:
        """The prediction for every row of ``c``: a regressor has nothing to draw, so
        ``temperature`` and ``generator`` change nothing (they are accepted so that it is
        called like a cINN)."""
        del temperature, generator
        return self(c)

    @property
    def cond_dim(self) -> int | tuple[int, ...]:
        """The condition's size: an int for vectors, ``(C, H, W)`` for spatial."""
        return self.cond_shape[0] if len(self.cond_shape) == 1 else self.cond_shape

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this architecture (JSON-serialisable)."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EmbeddingMLP:
        """Build an untrained network from :meth:`get_config`'s output."""
        return cls(**config)
