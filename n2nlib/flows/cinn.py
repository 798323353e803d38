"""The conditional invertible neural network τ of the paper (supplement G.1, Table S3)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._checks import check_tensor
from n2nlib.flows.activations import InvertibleLeakyReLU
from n2nlib.flows.actnorm import ActNorm
from n2nlib.flows.base import InvertibleModule
from n2nlib.flows.coupling import AffineCoupling
from n2nlib.flows.embedders import ConvEmbedder, IdentityEmbedder, MLPEmbedder
from n2nlib.flows.permutation import FixedPermutation
from n2nlib.flows.subnets import SubnetConstructor

__all__ = ["CouplingBlock", "ConditionalINN"]

_LOG_2PI = math.log(2.0 * math.pi)


class CouplingBlock(InvertibleModule):
    """One block of the cINN (Fig. S7): ActNorm → alternating affine coupling →
    (optional invertible LeakyReLU) → fixed permutation.

    Arguments:
        dim: number of features.
        cond_features: size of the embedded condition ``h`` (0 for none).
        hidden, n_hidden, clamp, clamp_activation, subnet_constructor: see
            :class:`~n2nlib.flows.coupling.AffineCoupling`.
        leaky_relu: slope of an invertible LeakyReLU after the coupling, or ``None``.
        seed: seed of the permutation.
        fused: fused s/t subnetworks (see :class:`~n2nlib.flows.coupling.AffineCoupling`).
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
        leaky_relu: float | None = None,
        seed: int = 0,
        fused: bool = False,
    ) -> None:
        super().__init__(dim)
        self.norm = ActNorm(dim)
        self.coupling = AffineCoupling(
            dim, cond_features, hidden, n_hidden, clamp, clamp_activation, subnet_constructor,
            fused=fused,
        )
        self.activation = InvertibleLeakyReLU(dim, leaky_relu) if leaky_relu else None
        self.permutation = FixedPermutation(dim, seed=seed)

    def _layers(self) -> list[nn.Module]:
        layers: list[nn.Module] = [self.norm, self.coupling]
        if self.activation is not None:
            layers.append(self.activation)
        layers.append(self.permutation)
        return layers

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self._layers():
            x, ld = layer(x, h)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logdet = y.new_zeros(y.shape[0])
        for layer in reversed(self._layers()):
            y, ld = layer.inverse(y, h)
            logdet = logdet + ld
        return y, logdet


class DensityMixin:
    r"""Eq. (4) and sampling for a conditional flow that has ``dim``, ``conditional``,
    ``forward(x, c) -> (v, logdet)`` and ``inverse(v, c) -> (x, logdet_inv)``: shared by
    :class:`ConditionalINN` and :class:`~n2nlib.flows.GroupedCINN`."""

    dim: int
    conditional: bool

    def nll(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        r"""Per-sample negative log-likelihood in nats, the objective of Eq. (4):
        :math:`\tfrac12\|v\|^2 + \tfrac{D}{2}\log 2\pi - \log|\det \partial v/\partial x|`."""
        v, logdet = self(x, c)
        return 0.5 * v.pow(2).sum(dim=1) + 0.5 * self.dim * _LOG_2PI - logdet

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Per-sample log-density :math:`\\log p(x \\mid c)` in nats (``-nll``)."""
        return -self.nll(x, c)

    def bits_per_dim(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Per-sample NLL in bits per dimension: ``nll / (dim · ln 2)``."""
        return self.nll(x, c) / (self.dim * math.log(2.0))

    @torch.no_grad()
    def sample(
        self,
        c: Tensor | None = None,
        temperature: float = 1.0,
        *,
        n: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""Draw :math:`x = \tau(T\epsilon \mid c)` with :math:`\epsilon \sim \mathcal{N}(0, I)`.

        Arguments:
            c: conditions, one sample is drawn per row (``None`` for an unconditional flow).
            temperature: :math:`T \ge 0`, the standard deviation of the residual; below 1
                it trades diversity for typicality, 0 gives the mode of :math:`v`.
            n: number of samples, only for an unconditional flow.
            generator: a :class:`torch.Generator` for reproducible draws.

        Returns:
            ``(B, dim)`` samples.
        """
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        p = next(self.parameters())
        if self.conditional:
            if c is None:
                raise ValueError("sample() of a conditional INN needs the condition c")
            if n is not None and n != c.shape[0]:
                raise ValueError(f"n={n} disagrees with the {c.shape[0]} rows of c")
            batch = int(c.shape[0])
        else:
            if n is None or n < 1:
                raise ValueError(f"an unconditional INN needs n >= 1 samples, got n={n!r}")
            batch = n
        eps = torch.randn(batch, self.dim, generator=generator, dtype=p.dtype,
                          device="cpu" if generator is not None else p.device).to(p.device)
        return self._inverse_only(eps * temperature, c)

    def _inverse_only(self, v: Tensor, c: Tensor | None) -> Tensor:
        r""":math:`\tau(v \mid c)` without its log-det, what sampling needs (a flow that can
        skip the log-det's work overrides this)."""
        return self.inverse(v, c)[0]


class ConditionalINN(DensityMixin, nn.Module):
    r"""The conditional INN τ: ``n_blocks`` coupling blocks conditioned through an embedder H.

    Directions follow the paper: ``forward`` is :math:`\tau^{-1}`, from the target expert's
    representation :math:`x = z_\Theta` to the residual :math:`v`; ``inverse`` is :math:`\tau`.

    * ``v, logdet = cinn(x, c)``, ``logdet`` :math:`= \log|\det \partial v/\partial x|`, ``(B,)``
    * ``x, logdet_inv = cinn.inverse(v, c)`` with ``logdet_inv = -logdet`` at the same point
    * ``cinn.nll(x, c)``: the per-sample objective of Eq. (4) in nats,
      :math:`-\log \mathcal{N}(v; 0, I) - \log|\det \partial v/\partial x|`
      (Gaussian constant included, so it is a true negative log-likelihood)
    * ``cinn.sample(c, temperature)``: :math:`x = \tau(T\epsilon \mid c)`, one per row of ``c``

    The condition ``c`` is embedded once per call, ``h = H(c)``, and ``h`` is fed to every
    coupling. H is chosen from ``cond_dim``: an int gives a Table S3a MLP (``embedder="mlp"``,
    or ``"identity"`` for ``h = c``), a shape ``(C, H, W)`` gives the convolutional embedder of
    Table S3b. ``cond_dim=0`` (or ``None``) makes an unconditional flow.

    Arguments:
        dim: size of :math:`z_\Theta` (``D``).
        cond_dim: size of :math:`z_\Phi` — an int for vectors, ``(C, H, W)`` for spatial
            conditions, or 0 for none.
        n_blocks: number of blocks (20 in the paper).
        hidden_dim: width of the coupling subnetworks (default ``8 * dim``, Table S3a).
        n_hidden: hidden layers of the coupling subnetworks (3, Table S3a).
        embed_dim: size of ``h`` (default ``dim``, Table S3b); ignored for ``"identity"``.
        embedder: ``"mlp"``, ``"identity"``, ``"conv"`` or a module with an ``out_features``
            attribute mapping ``(B, *cond_shape)`` to ``(B, out_features)``.
        clamp, clamp_activation: soft clamp of the coupling log-scales.
        leaky_relu: add an invertible LeakyReLU of this slope in every block (off by default).
        subnet_constructor: custom coupling subnetworks ``(in, out) -> nn.Module``.
        seed: seed of the fixed permutations (block ``i`` uses ``seed + i``).
        cond_norm: standardise a vector condition per dimension before the MLP embedder (an
            ActNorm initialised from the first batch; see
            :class:`~n2nlib.flows.embedders.MLPEmbedder`). Off by default (the paper's MLP
            embedder has none); on, a condition on a small scale is used from the first
            steps (notebook 06: 500 steps instead of 2,500).
        fused_subnets: compute each coupling's s and t networks as one
            :class:`~n2nlib.flows.subnets.PairedMLP` (one batched matmul per layer; 1.13–1.40×
            the steps/s of separate networks, ``benchmarks/RESULTS.md``). The default
            (``None``) fuses them unless a ``subnet_constructor`` is given. The same model
            family either way: weights saved in the other layout load into this one and
            compute the same function (:func:`~n2nlib.flows.coupling.match_coupling_layout`),
            so checkpoints saved before fusing was the default keep loading.

    References:
        Rombach, Esser & Ommer, *Network-to-Network Translation with Conditional Invertible
        Neural Networks*, NeurIPS 2020, Eq. (4) and supplement G.1.

    >>> cinn = ConditionalINN(dim=8, cond_dim=4, n_blocks=2, hidden_dim=32)
    >>> x, c = torch.randn(5, 8), torch.randn(5, 4)
    >>> v, logdet = cinn(x, c)
    >>> x2, logdet_inv = cinn.inverse(v, c)
    >>> bool(torch.allclose(x, x2, atol=1e-5)), cinn.nll(x, c).shape
    (True, torch.Size([5]))
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int | Sequence[int] | None = 0,
        n_blocks: int = 20,
        hidden_dim: int | None = None,
        n_hidden: int = 3,
        embed_dim: int | None = None,
        embedder: str | nn.Module = "mlp",
        clamp: float = 2.0,
        clamp_activation: str = "tanh",
        leaky_relu: float | None = None,
        subnet_constructor: SubnetConstructor | None = None,
        seed: int = 0,
        fused_subnets: bool | None = None,
        cond_norm: bool = False,
    ) -> None:
        super().__init__()
        if fused_subnets is None:
            fused_subnets = subnet_constructor is None
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if not isinstance(n_blocks, int) or n_blocks < 1:
            raise ValueError(f"n_blocks must be a positive int, got {n_blocks!r}")
        self.dim = dim
        self.n_blocks = n_blocks
        self.hidden_dim = hidden_dim or 8 * dim
        self.cond_shape = _cond_shape(cond_dim)
        self.embedder = _make_embedder(
            self.cond_shape, embedder, embed_dim or dim, self.hidden_dim, n_hidden, cond_norm
        )
        cond_features = 0 if self.embedder is None else int(self.embedder.out_features)
        self.blocks = nn.ModuleList(
            CouplingBlock(
                dim,
                cond_features,
                hidden=self.hidden_dim,
                n_hidden=n_hidden,
                clamp=clamp,
                clamp_activation=clamp_activation,
                subnet_constructor=subnet_constructor,
                leaky_relu=leaky_relu,
                seed=seed + i,
                fused=fused_subnets,
            )
            for i in range(n_blocks)
        )
        self._config: dict[str, Any] = {
            "dim": dim,
            "cond_dim": list(self.cond_shape) if len(self.cond_shape) > 1 else (
                self.cond_shape[0] if self.cond_shape else 0
            ),
            "n_blocks": n_blocks,
            "hidden_dim": self.hidden_dim,
            "n_hidden": n_hidden,
            "embed_dim": embed_dim or dim,
            "embedder": embedder if isinstance(embedder, str) else None,
            "clamp": clamp,
            "clamp_activation": clamp_activation,
            "leaky_relu": leaky_relu,
            "seed": seed,
            "fused_subnets": bool(fused_subnets),
            "cond_norm": bool(cond_norm),
        }
        self._custom_subnets = subnet_constructor is not None

    # -- configuration -----------------------------------------------------------------------

    @property
    def conditional(self) -> bool:
        """Whether the flow takes a condition."""
        return self.embedder is not None

    @property
    def cond_dim(self) -> int | tuple[int, ...]:
        """The condition's size: an int for vectors, ``(C, H, W)`` for spatial, 0 for none."""
        if not self.cond_shape:
            return 0
        return self.cond_shape[0] if len(self.cond_shape) == 1 else self.cond_shape

    def get_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this architecture (JSON-serialisable).

        Raises:
            ValueError: if the model uses a custom embedder or subnet module, which cannot be
                described by a config.
        """
        if self._config["embedder"] is None:
            raise ValueError("a ConditionalINN with a custom embedder module has no config")
        if getattr(self, "_custom_subnets", False):
            raise ValueError(
                "a ConditionalINN built with a custom subnet_constructor has no config: a "
                "config cannot name code. Save its weights with torch.save(model.state_dict()) "
                "and rebuild it with the same subnet_constructor"
            )
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ConditionalINN:
        """Build a new (untrained) model from :meth:`get_config`'s output (a config saved
        before ``fused_subnets`` existed builds the default, fused layout; its weights load
        into it, see :meth:`adapt_state_dict`)."""
        return cls(**config)

    def adapt_state_dict(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Rewrite the coupling weights of ``state`` into this model's layout (fused or
        separate s/t networks), in place; :func:`n2nlib.checkpoint.load_weights` calls it.

        Returns:
            ``state``.
        """
        from n2nlib.flows.coupling import match_coupling_layout

        return match_coupling_layout(self, state)  # type: ignore[return-value]

    def with_fused_subnets(self, fused: bool = True) -> ConditionalINN:
        """A copy of this model in the fused (or the separate) layout, computing the same
        function: the converter for models built in the other layout.

        Raises:
            ValueError: the model has no config (a custom embedder or subnet module).

        >>> old = ConditionalINN(4, 2, n_blocks=2, hidden_dim=8, fused_subnets=False)
        >>> new = old.with_fused_subnets()
        >>> x, c = torch.randn(3, 4), torch.randn(3, 2)
        >>> bool(torch.allclose(old(x, c)[0], new(x, c)[0])), new.get_config()["fused_subnets"]
        (True, True)
        """
        ref = self._param()
        copy = type(self).from_config({**self.get_config(), "fused_subnets": fused})
        copy.to(device=ref.device, dtype=ref.dtype)
        copy.load_state_dict(self.state_dict())
        return copy

    def save(self, directory: str | os.PathLike) -> os.PathLike:
        """Save to ``directory``: ``config.json`` (:meth:`get_config`) and ``model.safetensors``,
        each written atomically. Rebuild with :meth:`load`.

        Returns:
            The folder.

        Raises:
            ValueError: the model has a custom embedder (no config to rebuild it from).
        """
        from n2nlib.checkpoint import save_model

        return save_model(self, directory, self.get_config(), kind="n2nlib.ConditionalINN")

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | torch.device | None = None
             ) -> ConditionalINN:
        """Rebuild a model saved by :meth:`save` (safetensors + JSON; nothing is unpickled).

        Arguments:
            directory: the folder written by :meth:`save`.
            device: where to put the model (default: CPU); the dtype is the saved one.

        Raises:
            n2nlib.checkpoint.CheckpointError: missing, damaged or mismatching files.
        """
        from n2nlib.checkpoint import load_config, load_weights, saved_dtype

        model = cls.from_config(load_config(directory, kind="n2nlib.ConditionalINN"))
        model.to(dtype=saved_dtype(directory))
        load_weights(model, directory)
        return model.to(device) if device is not None else model

    # -- condition handling -----------------------------------------------------------------

    def _param(self) -> Tensor:
        return next(self.parameters())

    def embed(self, c: Tensor | None, batch: int | None = None) -> Tensor | None:
        """Check the condition ``c`` and return its embedding ``h = H(c)`` (``None`` if
        unconditional). ``batch`` is the batch size ``c`` must have, if known."""
        c = self.check_condition(c, batch)
        return None if c is None else self.embedder(c)

    def check_condition(self, c: Tensor | None, batch: int | None = None) -> Tensor | None:
        """Check that ``c`` fits this flow (``ValueError``/``TypeError``) and return it."""
        if self.embedder is None:
            if c is not None:
                raise ValueError(
                    "this ConditionalINN is unconditional (cond_dim=0) but a condition was given"
                )
            return None
        if c is None:
            raise ValueError(
                f"this ConditionalINN needs a condition c of shape (B, "
                f"{', '.join(map(str, self.cond_shape))})"
            )
        p = self._param()
        check_tensor(c, "condition c", shape=(None, *self.cond_shape), dtype=p.dtype,
                     device=p.device)
        if batch is not None and c.shape[0] != batch:
            raise ValueError(
                f"x and condition c must have the same batch size, got {batch} and {c.shape[0]}"
            )
        return c

    def _check_x(self, x: Tensor, name: str) -> Tensor:
        p = self._param()
        return check_tensor(x, name, shape=(None, self.dim), dtype=p.dtype, device=p.device)

    # -- the flow ----------------------------------------------------------------------------

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""τ⁻¹: map ``x`` (``(B, dim)``) to the residual ``v`` given the condition ``c``.

        Returns:
            ``(v, logdet)`` with ``logdet`` :math:`= \log|\det \partial v / \partial x|`, ``(B,)``.
        """
        self._check_x(x, "x")
        h = self.embed(c, x.shape[0])
        logdet = x.new_zeros(x.shape[0])
        for block in self.blocks:
            x, ld = block(x, h)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, v: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""τ: map the residual ``v`` back to ``x`` given the condition ``c``.

        Returns:
            ``(x, logdet_inv)`` with ``logdet_inv`` :math:`= \log|\det \partial x/\partial v|`.
        """
        self._check_x(v, "v")
        h = self.embed(c, v.shape[0])
        logdet = v.new_zeros(v.shape[0])
        for block in reversed(self.blocks):
            v, ld = block.inverse(v, h)
            logdet = logdet + ld
        return v, logdet

    def extra_repr(self) -> str:
        return f"dim={self.dim}, cond_dim={self.cond_dim}, n_blocks={self.n_blocks}"


def _cond_shape(cond_dim: int | Sequence[int] | None) -> tuple[int, ...]:
    if cond_dim is None or (isinstance(cond_dim, int) and cond_dim == 0):
        return ()
    if isinstance(cond_dim, int) and not isinstance(cond_dim, bool):
        if cond_dim < 0:
            raise ValueError(f"cond_dim must be >= 0, got {cond_dim}")
        return (cond_dim,)
    shape = tuple(int(s) for s in cond_dim)  # type: ignore[union-attr]
    if len(shape) == 1 and shape[0] > 0:
        return shape
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"cond_dim must be an int (vector condition) or (C, H, W) (spatial condition), "
            f"got {cond_dim!r}"
        )
    return shape


def _make_embedder(
    cond_shape: tuple[int, ...],
    embedder: str | nn.Module,
    embed_dim: int,
    hidden: int,
    n_hidden: int,
    norm: bool = False,
) -> nn.Module | None:
    if not cond_shape:
        return None
    if norm and (isinstance(embedder, nn.Module) or embedder != "mlp" or len(cond_shape) != 1):
        raise ValueError("cond_norm=True standardises a vector condition before the 'mlp' "
                         f"embedder; it does not apply to embedder {embedder!r} with a "
                         f"condition of shape {cond_shape}")
    if isinstance(embedder, nn.Module):
        if not isinstance(getattr(embedder, "out_features", None), int):
            raise TypeError("a custom embedder must have an int attribute out_features")
        return embedder
    spatial = len(cond_shape) == 3
    if embedder == "conv" or (spatial and embedder == "mlp"):
        if not spatial:
            raise ValueError(f"embedder 'conv' needs a (C, H, W) condition, got {cond_shape}")
        return ConvEmbedder(cond_shape, embed_dim)
    if spatial:
        raise ValueError(f"embedder {embedder!r} cannot take a spatial condition {cond_shape}")
    if embedder == "mlp":
        return MLPEmbedder(cond_shape[0], embed_dim, hidden=hidden, n_hidden=n_hidden, norm=norm)
    if embedder == "identity":
        return IdentityEmbedder(cond_shape[0])
    raise ValueError(
        f"embedder must be 'mlp', 'conv', 'identity' or an nn.Module, got {embedder!r}"
    )
