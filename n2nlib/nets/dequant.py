r"""Dequantisation of a generator's class embedding (supplement G.2, Eqs. 23–24, Table S4).

A class-conditional generator (BigGAN, or the offline :class:`~n2nlib.nets.generator.
ShapesGenerator`) takes :math:`z_\Theta' = [\tilde z, Wc]` (Eq. 23). The class part
:math:`h = Wc` takes only K distinct values, one per class: a density model of
:math:`z_\Theta'` — the cINN τ — would collapse onto those K points. The paper passes h through a
small fully connected VAE and uses its *stochastic reconstruction* :math:`\hat h` instead
(Eq. 24):

.. math::  z_\Theta = [\tilde z, \hat h], \qquad \hat h \sim p(h \mid e),\; e \sim q(e \mid h)

so that :math:`z_\Theta` is continuous, while :math:`\hat h` still decodes to the same class.

* :class:`DequantizationVAE` — Table S4 scaled down (width ``hidden`` instead of 4096): an
  encoder trunk of ``n_layers`` × (FC, LeakyReLU 0.01) and (FC, LeakyReLU) to ``latent_dim``,
  one head each for μ and log σ² (``n_layers`` × (FC, LReLU), FC), a decoder of
  ``n_layers + 1`` × (FC, LReLU) and FC. Inputs are standardised per dimension with the
  statistics of the K class embeddings (:meth:`~DequantizationVAE.set_normalization`). The
  decoder is a Gaussian :math:`p(h \mid e) = \mathcal N(\mathrm{Dec}(e), \sigma^2 I)` with a
  learned σ floored at ``min_std`` (in standardised units): its sample is what keeps
  :math:`\hat h` full-dimensional when most latent dimensions go unused (K points need few).
* :class:`DequantizationObjective` — its ELBO, for the zoo's expert loop.
* :class:`DequantizedGenerator` — generator + VAE as the target expert of the text-to-image
  Net2Net: ``encode([z̃, c]) = [z̃, ĥ]`` (a fresh ĥ per call), ``decode([z̃, h])`` = images.

>>> vae = DequantizationVAE(dim=6, hidden=16, n_layers=1)
>>> h = torch.randn(4, 6)
>>> _ = vae.set_normalization(h)
>>> h_hat = vae.dequantize(h, generator=torch.Generator().manual_seed(0))
>>> h_hat.shape, bool((h_hat != h).all())
(torch.Size([4, 6]), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib.experts.base import check_latent
from n2nlib.nets.autoencoder import kl_to_standard_normal
from n2nlib.nets.blocks import model_device_dtype

__all__ = ["DequantizationVAE", "DequantizationObjective", "DequantizedGenerator"]

_SLOPE = 0.01  # Table S4: LeakyReLU slope


def _mlp(d_in: int, hidden: int, n_layers: int, d_out: int, last_act: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(n_layers):
        layers += [nn.Linear(d, hidden), nn.LeakyReLU(_SLOPE)]
        d = hidden
    layers.append(nn.Linear(d, d_out))
    if last_act:
        layers.append(nn.LeakyReLU(_SLOPE))
    return nn.Sequential(*layers)


class DequantizationVAE(nn.Module):
    r"""The small fully connected VAE of Table S4, on class embeddings :math:`h = Wc`.

    As an expert: ``encode(h)`` is the posterior mean of :math:`e`, ``encode_distribution(h)``
    its Gaussian, ``decode(e)`` the mean reconstruction; :meth:`dequantize` is the stochastic
    reconstruction :math:`\hat h` of Eq. (24).

    Arguments:
        dim: size of :math:`h` (the generator's ``embed_dim``; 128 for BigGAN).
        latent_dim: size of :math:`e` (default ``dim``, as in Table S4).
        hidden: width of the hidden layers (4096 in the paper).
        n_layers: hidden layers per part (3 in the paper).
        min_std: floor of the decoder's standard deviation, in standardised units of h.
    """

    def __init__(
        self,
        dim: int = 32,
        latent_dim: int | None = None,
        hidden: int = 256,
        n_layers: int = 3,
        min_std: float = 0.1,
    ) -> None:
        super().__init__()
        latent_dim = dim if latent_dim is None else latent_dim
        for name, value in (("dim", dim), ("latent_dim", latent_dim), ("hidden", hidden),
                            ("n_layers", n_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not (isinstance(min_std, int | float) and min_std > 0):
            raise ValueError(f"min_std must be > 0, got {min_std!r}")
        self.input_dim, self.dim, self.min_std = dim, latent_dim, float(min_std)
        self.config: dict[str, Any] = {"dim": dim, "latent_dim": latent_dim, "hidden": hidden,
                                       "n_layers": n_layers, "min_std": float(min_std)}
        self.trunk = _mlp(dim, hidden, n_layers, latent_dim, last_act=True)
        self.mu = _mlp(latent_dim, hidden, n_layers, latent_dim, last_act=False)
        self.logvar = _mlp(latent_dim, hidden, n_layers, latent_dim, last_act=False)
        self.decoder = _mlp(latent_dim, hidden, n_layers + 1, dim, last_act=False)
        self.log_std = nn.Parameter(torch.zeros(()))
        self.register_buffer("shift", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    @torch.no_grad()
    def set_normalization(self, embeddings: Tensor) -> DequantizationVAE:
        """Standardise inputs with the per-dimension mean and std of the class embeddings.

        Arguments:
            embeddings: the K class embeddings, ``(K, dim)`` (the columns of W, transposed).

        Returns:
            ``self``.
        """
        h = check_latent(torch.as_tensor(embeddings), self.input_dim, "the class embeddings")
        self.shift.copy_(h.mean(0))
        self.scale.copy_(h.std(0).clamp_min(1e-6) if h.shape[0] > 1 else torch.ones_like(h[0]))
        return self

    @property
    def output_std(self) -> float:
        """The decoder's standard deviation σ (standardised units), floor included."""
        return float(self._log_std().detach().exp())

    def _log_std(self) -> Tensor:
        return self.log_std.clamp_min(math.log(self.min_std))

    def _h(self, h: Tensor) -> Tensor:
        device, dtype = model_device_dtype(self)
        h = check_latent(torch.as_tensor(h), self.input_dim, "the class embedding h")
        return (h.to(device, dtype) - self.shift) / self.scale

    def encode_distribution(self, h: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`q(e \mid h)`: ``(mean, logvar)``, each ``(B, latent_dim)``."""
        t = self.trunk(self._h(h))
        return self.mu(t), self.logvar(t).clamp(-30.0, 20.0)

    def encode(self, h: Tensor) -> Tensor:
        """The posterior mean of :math:`e`."""
        return self.encode_distribution(h)[0]

    def decode(self, e: Tensor) -> Tensor:
        """The mean reconstruction :math:`\\mathrm{Dec}(e)` in the units of h."""
        check_latent(e, self.dim, "the latent e given to decode")
        device, dtype = model_device_dtype(self)
        return self.decoder(e.to(device, dtype)) * self.scale + self.shift

    def dequantize(self, h: Tensor, generator: torch.Generator | None = None) -> Tensor:
        r"""The stochastic reconstruction :math:`\hat h` of Eq. (24): ``e ~ q(e|h)``, then
        :math:`\hat h \sim \mathcal N(\mathrm{Dec}(e), \sigma^2 I)` (in the units of h)."""
        mean, logvar = self.encode_distribution(h)
        e = mean + torch.exp(0.5 * logvar) * self._randn(mean, generator)
        out = self.decoder(e)
        out = out + self._log_std().exp() * self._randn(out, generator)
        return out * self.scale + self.shift

    @staticmethod
    def _randn(like: Tensor, generator: torch.Generator | None) -> Tensor:
        if generator is None:
            return torch.randn_like(like)
        return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)

    def forward(self, h: Tensor) -> dict[str, Tensor]:
        """The ELBO's parts per sample: ``{"nll", "kl"}`` (nats, ``(B,)``) on standardised h."""
        x = self._h(h)
        t = self.trunk(x)
        mean, logvar = self.mu(t), self.logvar(t).clamp(-30.0, 20.0)
        e = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        log_std = self._log_std()
        nll = (0.5 * ((x - self.decoder(e)) / log_std.exp()).pow(2) + log_std
               + 0.5 * math.log(2 * math.pi)).sum(1)
        return {"nll": nll, "kl": kl_to_standard_normal(mean, logvar)}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


@dataclass
class DequantizationObjective:
    """``(nll + kl_weight · KL) / dim`` of :class:`DequantizationVAE`, for the zoo's expert
    loop; batches hold class embeddings under ``"h"``.

    Arguments:
        kl_weight: 1 is the ELBO.
        embeddings: the K class embeddings ``(K, dim)``; :meth:`setup` (called by the loop
            before training) standardises the VAE's inputs with their statistics.
        kl_warmup: raise the KL weight linearly from 0 over this many steps (so that the
            encoder is used before the KL term can switch it off).
    """

    kl_weight: float = 1.0
    embeddings: Tensor | None = None
    kl_warmup: int = 0

    def setup(self, model: nn.Module) -> None:
        """Standardise the VAE's inputs with ``embeddings`` (the K class embeddings), if given."""
        if self.embeddings is not None:
            model.set_normalization(self.embeddings.to(next(model.parameters()).device))

    def __call__(self, model: nn.Module, batch: dict[str, Tensor], step: int
                 ) -> tuple[Tensor, dict[str, float]]:
        parts = model(batch["h"])
        nll, kl = parts["nll"].mean(), parts["kl"].mean()
        logs = {"nll": float(nll.detach()), "kl": float(kl.detach()), "std": model.output_std}
        weight = self.kl_weight * min(1.0, (step + 1) / self.kl_warmup) if self.kl_warmup else (
            self.kl_weight)
        return (nll + weight * kl) / model.input_dim, logs


class DequantizedGenerator(nn.Module):
    r"""A class-conditional generator whose class embedding is dequantised: Eq. (24).

    The target expert of the text-to-image Net2Net: its representation is
    :math:`z_\Theta = [\tilde z, \hat h]`, ``dim = z_dim + embed_dim``.

    * ``encode(y)``: ``y`` are the generator's inputs ``[z̃, c]`` ``(B, z_dim + num_classes)``
      (``c`` one-hot) or a pair ``(z̃, labels)``; returns ``[z̃, ĥ]`` with a fresh stochastic
      reconstruction ĥ of ``h = W c`` (so encoding the same ``y`` twice differs in ĥ);
    * ``decode(z)``: the generator's images for ``[z̃, h]``.

    Arguments:
        generator: a :class:`~n2nlib.nets.generator.ShapesGenerator` or
            :class:`~n2nlib.experts.biggan.BigGAN` (``encode``, ``decode``, ``z_dim``,
            ``embed_dim``).
        vae: a trained :class:`DequantizationVAE` of the generator's class embeddings.

    >>> from n2nlib.nets.generator import ShapesGenerator
    >>> g = ShapesGenerator(z_dim=10, embed_dim=6, width=4, max_width=8, encoder_width=4)
    >>> target = DequantizedGenerator(g, DequantizationVAE(6, hidden=8, n_layers=1))
    >>> z = target.encode((g.sample_noise(2), torch.tensor([3, 7])))
    >>> z.shape, target.decode(z).shape
    (torch.Size([2, 16]), torch.Size([2, 3, 32, 32]))
    """

    def __init__(self, generator: nn.Module, vae: DequantizationVAE) -> None:
        super().__init__()
        if vae.input_dim != generator.embed_dim:
            raise ValueError(f"the VAE takes h of size {vae.input_dim} but the generator's "
                             f"class embedding has {generator.embed_dim}")
        self.generator, self.vae = generator, vae
        self.z_dim, self.embed_dim = generator.z_dim, generator.embed_dim
        self.num_classes = generator.num_classes
        self.dim = self.z_dim + self.embed_dim
        self.name = f"dequantized({getattr(generator, 'name', type(generator).__name__)})"

    @torch.no_grad()
    def encode(self, inputs: Any, generator: torch.Generator | None = None) -> Tensor:
        """``[z̃, ĥ]`` (Eq. 24) from the generator's inputs."""
        z = self.generator.encode(inputs)
        h_hat = self.vae.dequantize(z[:, self.z_dim :], generator=generator)
        return torch.cat([z[:, : self.z_dim], h_hat.to(z)], dim=1)

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Images from ``[z̃, h]``."""
        return self.generator.decode(z)

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, embed_dim={self.embed_dim}"
