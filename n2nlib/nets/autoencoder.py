"""The paper's autoencoder g = Λ∘Θ (supplement Sec. F, Table S2), scaled down to small images.

**Encoder Θ** (ResNet-style): a 3×3 stem, then one group of ResNet basic blocks per halving of
the resolution down to 4×4 (the paper uses ResNet-101 bottlenecks at 128×128; basic blocks are
enough at 8–32 pixels), then a fully connected layer to the mean ``μ`` and log-variance
``log σ²`` of a diagonal Gaussian ``q(z | y)``. The paper average-pools before that layer; at
4×4 we flatten instead, which keeps *where* things are at a negligible cost.

**Decoder Λ** (BigGAN-style): as in Table S2b, ``z`` goes through 3×(FC, LeakyReLU) and an
FC + softmax layer to "pseudo-class" probabilities, which replace BigGAN's one-hot class vector
and are embedded (a bias-free linear map) into ``h``. ``FC(z)`` gives a 4×4 feature map that
residual up-blocks double to the output size (:mod:`n2nlib.nets.trunk`); each block
normalises with batch norm *conditioned* on ``[z, h]`` (its gain and bias are linear in them,
BigGAN's conditional BN). A non-local (self-attention) block follows the 16×16 block, as
Table S2b has one before the last block; the output is ``Conv → tanh``, mapped to [0, 1].

**Training** (Eq. 14): ``(1/γ)·|y − Λ(z)| + log γ`` per pixel with a learnable scalar output
variance ``γ`` (:attr:`Autoencoder.log_gamma`; the pixel distance is L1 or L2 — the paper's
VGG perceptual loss needs weights from the internet), plus ``kl_weight · KL(q(z|y) ‖ N(0, I))``,
and optionally a PatchGAN (:class:`PatchDiscriminator`) weighted adaptively by Eq. 17
(:func:`adaptive_gan_weight`). :mod:`n2nlib.zoo` trains and ships such models.

>>> ae = Autoencoder(size=16, dim=8, width=8, max_width=16)
>>> images = torch.rand(2, 3, 16, 16)
>>> mean, logvar = ae.encode_distribution(images)
>>> mean.shape, ae.decode(mean).shape
(torch.Size([2, 8]), torch.Size([2, 3, 16, 16]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib.experts.base import check_latent
from n2nlib.nets.blocks import CHANNELS_LAST, ResBlock, check_images, model_device_dtype
from n2nlib.nets.trunk import ConditionalBatchNorm2d, SelfAttention, UpBlock, run_up_trunk

__all__ = [
    "Autoencoder",
    "Encoder",
    "Decoder",
    "ConditionalBatchNorm2d",
    "UpBlock",
    "SelfAttention",
    "PatchDiscriminator",
    "kl_to_standard_normal",
    "reconstruction_nll",
    "vae_loss",
    "adaptive_gan_weight",
    "discriminator_loss",
    "generator_loss",
]

_LOGVAR_RANGE = (-30.0, 20.0)


def _levels(size: int) -> int:
    """Number of halvings from ``size`` to 4 (``size`` must be 4·2^k with k ≥ 1)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an int power of two >= 8, got {size!r}")
    levels = int(round(math.log2(size / 4)))
    if 4 * 2**levels != size:
        raise ValueError(f"size must be a power of two >= 8 (8, 16, 32, 64, ...), got {size}")
    return levels


def _widths(levels: int, width: int, max_width: int) -> list[int]:
    """Channels at resolution ``4·2^k`` for ``k = levels … 0`` (fine to coarse)."""
    return [min(width * 2**i, max_width) for i in range(levels + 1)]


class Encoder(nn.Module):
    """Θ: images ``(B, C, S, S)`` → ``(mean, logvar)``, each ``(B, dim)``.

    Arguments:
        size: image side (a power of two ≥ 8).
        channels: image channels.
        dim: latent size.
        width: channels of the stem; doubled at each halving up to ``max_width``.
        max_width: channel cap.
        blocks: residual blocks per resolution.
    """

    def __init__(
        self, size: int, channels: int, dim: int, width: int, max_width: int, blocks: int = 1
    ) -> None:
        super().__init__()
        levels = _levels(size)
        widths = _widths(levels, width, max_width)
        self.stem = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        c = width
        for i in range(levels):
            c_out = widths[i + 1]
            stages.append(ResBlock(c, c_out, down=True))
            stages += [ResBlock(c_out, c_out) for _ in range(blocks - 1)]
            c = c_out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(c * 16, 2 * dim)
        self.dim = dim

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        images = images.contiguous(memory_format=CHANNELS_LAST)  # 1.6× faster, as the decoder
        h = self.stages(self.stem(images)).flatten(1)
        mean, logvar = self.head(h).chunk(2, dim=1)
        return mean, logvar.clamp(*_LOGVAR_RANGE)


class Decoder(nn.Module):
    """Λ: latents ``(B, dim)`` → images ``(B, C, S, S)`` in [0, 1] (BigGAN-style, Table S2b).

    Arguments:
        size: image side (a power of two ≥ 8).
        channels: image channels.
        dim: latent size.
        width: channels at full resolution; doubled per halving up to ``max_width``.
        max_width: channel cap (the 4×4 map has this many channels, or fewer for small images).
        n_pseudo_classes: size of the softmax that replaces BigGAN's one-hot class.
        embed_dim: size of the class embedding ``h``.
        attention: put a non-local block after the up-block that reaches 16×16 (if any).
    """

    def __init__(
        self,
        size: int,
        channels: int,
        dim: int,
        width: int,
        max_width: int,
        n_pseudo_classes: int = 100,
        embed_dim: int = 64,
        attention: bool = True,
    ) -> None:
        super().__init__()
        levels = _levels(size)
        widths = _widths(levels, width, max_width)[::-1]  # coarse (4×4) to fine
        hidden = 256
        layers: list[nn.Module] = []
        d = dim
        for _ in range(3):
            layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
            d = hidden
        layers.append(nn.Linear(hidden, n_pseudo_classes))
        self.classes = nn.Sequential(*layers)
        self.embed = nn.Linear(n_pseudo_classes, embed_dim, bias=False)
        cond_dim = dim + embed_dim
        self.fc = nn.Linear(dim, widths[0] * 16)
        self.blocks = nn.ModuleList(
            UpBlock(widths[i], widths[i + 1], cond_dim) for i in range(levels)
        )
        self.attention_after = -1
        if attention and size >= 16:
            self.attention_after = levels - 1 - int(round(math.log2(size / 16)))
            self.attention = SelfAttention(widths[self.attention_after + 1])
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], channels, 3, padding=1)
        self.c0 = widths[0]

    def pseudo_classes(self, z: Tensor) -> Tensor:
        """The softmax "class" probabilities ``(B, n_pseudo_classes)`` of Table S2b."""
        return torch.softmax(self.classes(z), dim=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.embed(self.pseudo_classes(z))
        cond = torch.cat([z, h], dim=1)
        x = run_up_trunk(self, self.fc(z).view(z.shape[0], self.c0, 4, 4), cond)
        return (torch.tanh(x) + 1.0) / 2.0


class Autoencoder(nn.Module):
    """A variational autoencoder ``g = Λ∘Θ`` for square images: the target expert of the paper.

    As an :class:`~n2nlib.experts.Expert`: ``encode(images)`` is the posterior mean
    (deterministic), ``encode_distribution(images)`` the Gaussian ``(mean, logvar)`` for the
    stochastic use of the training loop, ``decode(z)`` returns images in [0, 1], ``dim`` is the
    latent size. Inputs are checked and moved to the model's device and dtype.

    Arguments:
        size: image side, a power of two ≥ 8.
        channels: 1 (grey) or 3 (RGB).
        dim: latent size ``D``.
        width: encoder stem / decoder output channels (doubled per halving).
        max_width: channel cap.
        blocks: encoder residual blocks per resolution.
        n_pseudo_classes: softmax size in the decoder (BigGAN's 1000 classes; default 100).
        embed_dim: size of the embedded pseudo-class vector ``h``.
        attention: use the decoder's non-local block (for ``size ≥ 16``).
        init_log_gamma: the initial ``log γ``. Adam moves a scalar by about the learning rate
            per step, so ``γ`` should start near the pixel error of a good reconstruction
            (``e^-3 ≈ 0.05``); starting at ``γ = 1`` it would still be far too large after a
            short training, which weighs the KL term up and blurs the reconstructions.
        appearance_dim: ``0`` for one undivided code; ``k`` names the first ``k`` latent
            dimensions the *appearance* part and the rest the *geometry* part
            (:meth:`combine`). The network is the same; the names hold only for a model trained
            to swap them (:class:`~n2nlib.zoo.objectives.SwapAutoencoderObjective`).

    Attributes:
        log_gamma: the learnable log output variance ``log γ`` of Eq. (14), a scalar.

    >>> ae = Autoencoder(size=8, channels=1, dim=4, width=8)
    >>> z = ae.encode(torch.rand(3, 1, 8, 8))
    >>> z.shape, ae.dim, ae.decode(z).shape
    (torch.Size([3, 4]), 4, torch.Size([3, 1, 8, 8]))
    """

    def __init__(
        self,
        size: int = 32,
        channels: int = 3,
        dim: int = 64,
        width: int = 32,
        max_width: int = 128,
        blocks: int = 1,
        n_pseudo_classes: int = 100,
        embed_dim: int = 64,
        attention: bool = True,
        init_log_gamma: float = -3.0,
        appearance_dim: int = 0,
    ) -> None:
        super().__init__()
        _levels(size)
        if (not isinstance(appearance_dim, int) or isinstance(appearance_dim, bool)
                or not 0 <= appearance_dim < dim):
            raise ValueError(f"appearance_dim must be an int in [0, dim={dim}), "
                             f"got {appearance_dim!r}")
        for name, value in (("channels", channels), ("dim", dim), ("width", width),
                            ("max_width", max_width), ("blocks", blocks),
                            ("n_pseudo_classes", n_pseudo_classes), ("embed_dim", embed_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.size = size
        self.channels = channels
        self.dim = dim
        self.appearance_dim = appearance_dim
        self.config: dict[str, Any] = {
            "size": size, "channels": channels, "dim": dim, "width": width,
            "max_width": max_width, "blocks": blocks, "n_pseudo_classes": n_pseudo_classes,
            "embed_dim": embed_dim, "attention": bool(attention),
            "init_log_gamma": float(init_log_gamma),
        }
        if appearance_dim:
            self.config["appearance_dim"] = appearance_dim
        self.encoder = Encoder(size, channels, dim, width, max_width, blocks)
        self.decoder = Decoder(
            size, channels, dim, width, max_width, n_pseudo_classes, embed_dim, attention
        )
        self.log_gamma = nn.Parameter(torch.tensor(float(init_log_gamma)))

    @property
    def gamma(self) -> float:
        """The output variance ``γ = exp(log γ)`` of Eq. (14)."""
        return float(self.log_gamma.detach().exp())

    @property
    def last_layer(self) -> Tensor:
        """The weight of the decoder's last layer ``Λ_L`` (for the adaptive weight, Eq. 17)."""
        return self.decoder.out_conv.weight

    def _images(self, images: object) -> Tensor:
        device, dtype = model_device_dtype(self)
        return check_images(images, self.channels, self.size, device=device, dtype=dtype)

    def encode_distribution(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``Θ(y)``: the posterior ``q(z | y) = N(mean, diag(exp(logvar)))``.

        Arguments:
            images: ``(B, C, S, S)`` in [0, 1].

        Returns:
            ``(mean, logvar)``, each ``(B, dim)``.
        """
        return self.encoder(self._images(images))

    def encode(self, images: Tensor) -> Tensor:
        """The posterior mean ``Θ(y)_μ`` ``(B, dim)``: the deterministic representation."""
        return self.encode_distribution(images)[0]

    @staticmethod
    def sample_latent(
        mean: Tensor, logvar: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Reparameterised sample ``mean + exp(logvar / 2) · ε``, ``ε ~ N(0, I)``.

        >>> z = Autoencoder.sample_latent(torch.zeros(1000, 2), torch.zeros(1000, 2))
        >>> round(float(z.std()))
        1
        """
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + torch.exp(0.5 * logvar) * eps

    def decode(self, z: Tensor) -> Tensor:
        """``Λ(z)``: images ``(B, C, S, S)`` in [0, 1] from latents ``(B, dim)``."""
        check_latent(z, self.dim, "the latent z given to decode")
        device, dtype = model_device_dtype(self)
        return self.decoder(z.to(device=device, dtype=dtype))

    def combine(self, geometry_from: Tensor, appearance_from: Tensor) -> Tensor:
        """The code with the geometry part of one latent and the appearance part of another.

        Arguments:
            geometry_from: latents ``(B, dim)`` whose last ``dim − appearance_dim`` entries are
                kept.
            appearance_from: latents ``(B, dim)`` whose first ``appearance_dim`` entries are
                kept.

        Returns:
            ``(B, dim)`` latents; decode them to draw the one's shape in the other's look.

        Raises:
            ValueError: the model has no appearance part (``appearance_dim == 0``).

        >>> ae = Autoencoder(size=8, dim=4, width=8, appearance_dim=1)
        >>> ae.combine(torch.zeros(1, 4), torch.ones(1, 4)).tolist()
        [[1.0, 0.0, 0.0, 0.0]]
        """
        if not self.appearance_dim:
            raise ValueError("this autoencoder has one undivided code (appearance_dim=0)")
        check_latent(geometry_from, self.dim, "geometry_from")
        check_latent(appearance_from, self.dim, "appearance_from")
        k = self.appearance_dim
        return torch.cat([appearance_from[:, :k], geometry_from[:, k:]], dim=1)

    def reconstruct(self, images: Tensor) -> Tensor:
        """``Λ(Θ(y)_μ)``: decode the posterior mean."""
        return self.decode(self.encode(images))

    def forward(
        self, images: Tensor, sample: bool = True, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, sample (or take the mean) and decode.

        Returns:
            ``(reconstruction, mean, logvar)``.
        """
        mean, logvar = self.encode_distribution(images)
        z = self.sample_latent(mean, logvar, generator) if sample else mean
        return self.decoder(z), mean, logvar

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())


# -- losses (Eqs. 14-18) ---------------------------------------------------------------------


def kl_to_standard_normal(mean: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mean, diag(exp(logvar))) ‖ N(0, I))`` per sample, in nats ``(B,)``.

    >>> kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3))
    tensor([0., 0.])
    """
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reconstruction_nll(
    images: Tensor,
    recon: Tensor,
    log_gamma: Tensor,
    pixel: str = "l1",
    extra: Tensor | None = None,
) -> Tensor:
    """Eq. (18) per sample: ``Σ_pixels (d(y, ŷ) / γ + log γ)``, ``(B,)``.

    The distance ``d`` is per pixel ``|y − ŷ|`` or ``(y − ŷ)²``, plus ``extra`` — a per-image
    (e.g. perceptual) distance added to every pixel, as the perceptual term is in the paper's
    autoencoder code.

    Arguments:
        images: targets ``(B, ...)``.
        recon: reconstructions, same shape.
        log_gamma: the scalar ``log γ``.
        pixel: ``"l1"`` or ``"l2"`` (the paper uses a VGG perceptual distance, not available
            offline).
        extra: ``(B,)`` distances added to each pixel's distance, or ``None``.

    >>> reconstruction_nll(torch.ones(1, 4), torch.zeros(1, 4), torch.zeros(()))
    tensor([4.])
    """
    if pixel == "l1":
        dist = (images - recon).abs()
    elif pixel == "l2":
        dist = (images - recon).pow(2)
    else:
        raise ValueError(f"pixel must be 'l1' or 'l2', got {pixel!r}")
    dist = dist.flatten(1)
    if extra is not None:
        dist = dist + extra.reshape(-1, 1)
    return (dist / log_gamma.exp() + log_gamma).sum(dim=1)


def vae_loss(
    images: Tensor,
    recon: Tensor,
    mean: Tensor,
    logvar: Tensor,
    log_gamma: Tensor,
    kl_weight: float = 1.0,
    pixel: str = "l1",
    extra: Tensor | None = None,
) -> dict[str, Tensor]:
    """The autoencoder loss of Eq. (14), averaged over the batch.

    ``extra`` is a per-image distance ``(B,)`` added to every pixel's (see
    :func:`reconstruction_nll`).

    Returns:
        ``{"loss", "nll", "kl", "rec"}``: ``loss = nll + kl_weight · kl``; ``nll`` is Eq. (18)
        summed over pixels, ``kl`` in nats, ``rec`` the mean absolute pixel error (for logs).

    >>> out = vae_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 3),
    ...                torch.zeros(2, 3), torch.zeros(()))
    >>> float(out["loss"])
    0.0
    """
    nll = reconstruction_nll(images, recon, log_gamma, pixel, extra).mean()
    kl = kl_to_standard_normal(mean, logvar).mean()
    rec = (images - recon).abs().mean().detach()
    return {"loss": nll + kl_weight * kl, "nll": nll, "kl": kl, "rec": rec}


class PatchDiscriminator(nn.Module):
    """The PatchGAN discriminator of pix2pix [33]: a map of real/fake logits, one per patch.

    ``4×4`` stride-2 convolutions (LeakyReLU 0.2, batch norm after the first), then a stride-1
    layer and a 1-channel output.

    Arguments:
        channels: image channels.
        width: channels of the first layer (doubled per layer, up to ``8·width``).
        n_layers: number of stride-2 layers.

    >>> PatchDiscriminator(3, width=8, n_layers=2)(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 1, 6, 6])
    """

    def __init__(self, channels: int = 3, width: int = 32, n_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        c = width
        for i in range(1, n_layers + 1):
            c_out = width * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(c, c_out, 4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2),
            ]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images * 2.0 - 1.0)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``−[log D(y) + log(1 − D(ŷ))]`` of Eq. (15), averaged over patches (D maximises Eq. 15).

    >>> round(float(discriminator_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))), 4)
    1.3863
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    """The generator side of Eq. (15) in its non-saturating form, ``−log D(ŷ)``.

    >>> round(float(generator_loss(torch.zeros(1, 1, 2, 2))), 4)
    0.6931
    """
    return F.softplus(-fake_logits).mean()


def adaptive_gan_weight(
    rec_loss: Tensor,
    gan_loss: Tensor,
    last_layer: Tensor,
    delta: float = 1e-4,
    max_weight: float = 1e4,
) -> Tensor:
    """Eq. (17): ``λ = ‖∇_{Λ_L} L_rec‖ / (‖∇_{Λ_L} L_GAN‖ + δ)``, detached and clipped.

    Arguments:
        rec_loss: the reconstruction loss of Eq. (18) (a scalar with a graph).
        gan_loss: the generator's GAN loss (a scalar with a graph).
        last_layer: the weight of the decoder's last layer ``Λ_L``.
        delta: the small ``δ`` for numerical stability.
        max_weight: upper clip of ``λ``.

    Returns:
        The scalar ``λ`` (no gradient).

    >>> w = torch.ones(3, requires_grad=True)
    >>> float(adaptive_gan_weight((2 * w).sum(), w.sum(), w, delta=0.0))
    2.0
    """
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)[0]
    weight = g_rec.norm() / (g_gan.norm() + delta)
    return weight.clamp(0.0, max_weight).detach()
