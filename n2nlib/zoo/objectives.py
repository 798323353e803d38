"""What the zoo's expert-training loop minimises: the :class:`Objective` protocol and the
objectives of the zoo's autoencoders (Eq. 14–17: pixel NLL with a learned scale, KL, a
perceptual distance and an adaptive PatchGAN weight) and classifiers (cross-entropy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib.nets.autoencoder import (
    PatchDiscriminator,
    adaptive_gan_weight,
    discriminator_loss,
    generator_loss,
    reconstruction_nll,
    vae_loss,
)
from n2nlib.zoo.data import Batch, composite


class Objective(Protocol):
    """What :func:`fit_expert` minimises: ``objective(model, batch, step) -> (loss, logs)``.

    An objective may also have a ``discriminator`` (an ``nn.Module``, trained by a second
    optimizer) and ``discriminator_loss(batch, step) -> Tensor | None``, called after each
    model step.
    """

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict]: ...


class FeatureDistance(nn.Module):
    """A perceptual distance from a frozen tapped network (LPIPS-style, without learned weights).

    Features at each layer are unit-normalised over channels at every position; the distance
    is the squared difference summed over channels, averaged over positions and over layers.
    The paper uses VGG-16 features (weights from the internet); offline, the network can be
    one of this project's own experts trained on the same data, e.g. the zoo's
    ``shapes-segmenter-v1``.

    Arguments:
        network: a model with ``features_at(images, layers)`` (see
            :class:`~n2nlib.nets.classifiers.Segmenter`); it should be frozen.
        layers: the taps to compare.

    >>> from n2nlib.nets.classifiers import Segmenter
    >>> d = FeatureDistance(Segmenter(width=4), ["enc1", "enc2"])
    >>> x = torch.rand(2, 3, 32, 32)
    >>> d(x, x).tolist()
    [0.0, 0.0]
    """

    def __init__(self, network: nn.Module, layers: list[str] | tuple[str, ...]) -> None:
        super().__init__()
        self.network = network
        self.layers = list(layers)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        from n2nlib.experts.efficientnet import unit_feature_distance

        return unit_feature_distance(self.network.features_at(a, self.layers),
                                     self.network.features_at(b, self.layers), self.layers)


@dataclass
class AutoencoderObjective:
    """Eq. (14) (+ optionally Eqs. 15–17): ``[nll + kl_weight·KL + λ·L_GAN] / n_pixels``.

    Arguments:
        kl_weight: weight of ``KL(q(z|y) ‖ N(0, I))`` (nats) against the summed pixel NLL.
        pixel: ``"l1"`` or ``"l2"`` distance in Eq. (18).
        perceptual: ``"efficientnet-lite0"`` (ImageNet features nobody here trained,
            :class:`~n2nlib.experts.efficientnet.PerceptualDistance`), a zoo name (e.g.
            ``"shapes-segmenter-v1"``) whose features give a :class:`FeatureDistance`, or
            ``None``; the distance is added to the pixel distance.
        perceptual_layers: the taps of that network to compare (block indices for
            EfficientNet-Lite0).
        perceptual_weight: the factor of the perceptual distance.
        perceptual_scale: EfficientNet-Lite0 only: upsampling of the images before it.
        gan_weight: 0 for no discriminator; else the factor on the adaptive weight ``λ``.
        gan_start: the step at which the GAN loss switches on (the discriminator trains from
            the start of it).
        disc_width: channels of the PatchGAN's first layer.
    """

    kl_weight: float = 1e-2
    pixel: str = "l1"
    perceptual: str | None = None
    perceptual_layers: tuple[str, ...] = ("enc1", "enc2", "enc3", "bottleneck")
    perceptual_weight: float = 0.05
    perceptual_scale: float = 1.0
    gan_weight: float = 0.0
    gan_start: int = 0
    disc_width: int = 32
    discriminator: nn.Module | None = None
    _fake: Tensor | None = field(default=None, repr=False)
    _distance: nn.Module | None = field(default=None, repr=False)

    def setup(self, model: nn.Module) -> None:
        """Create the PatchGAN (if ``gan_weight > 0``) and load the perceptual network."""
        p = next(model.parameters())
        if self.gan_weight > 0 and self.discriminator is None:
            self.discriminator = PatchDiscriminator(model.channels, self.disc_width).to(
                device=p.device, dtype=p.dtype)
        if self.perceptual == "efficientnet-lite0" and self._distance is None:
            from n2nlib.experts.efficientnet import PerceptualDistance

            self._distance = PerceptualDistance(self.perceptual_layers,
                                                scale=self.perceptual_scale).to(p.device)
        elif self.perceptual is not None and self._distance is None:
            from n2nlib import zoo

            network = zoo.load(self.perceptual, device=p.device)
            self._distance = FeatureDistance(network, self.perceptual_layers)

    def _perceptual(self, images: Tensor, recon: Tensor) -> Tensor | None:
        """The weighted perceptual distance per image ``(B,)``, or ``None`` without one."""
        if self._distance is None:
            return None
        return self.perceptual_weight * self._distance(images, recon)

    def _finish(self, model: nn.Module, loss: Tensor, nll: Tensor, recon: Tensor, step: int,
                logs: dict, images: Tensor) -> tuple[Tensor, dict]:
        """Add the adaptive PatchGAN term (Eq. 17) once it is on; normalise per pixel."""
        self._fake = None
        if self.discriminator is not None and step >= self.gan_start:
            self.discriminator.requires_grad_(False)
            g_loss = generator_loss(self.discriminator(recon))
            self.discriminator.requires_grad_(True)
            weight = adaptive_gan_weight(nll, g_loss, model.last_layer)
            loss = loss + self.gan_weight * weight * g_loss
            logs["g"] = float(g_loss.detach())
            logs["lambda"] = float(weight)
            self._fake = recon.detach()
        return loss / images[0].numel(), logs

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict]:
        images = batch["image"]
        recon, mean, logvar = model(images, sample=True)
        extra = self._perceptual(images, recon)
        parts = vae_loss(images, recon, mean, logvar, model.log_gamma, self.kl_weight,
                         self.pixel, extra)
        logs = {"rec": float(parts["rec"]), "kl": float(parts["kl"].detach()),
                "gamma": float(model.log_gamma.detach().exp())}
        if extra is not None:
            logs["perc"] = float(extra.detach().mean())
        return self._finish(model, parts["loss"], parts["nll"], recon, step, logs, images)

    def discriminator_loss(self, batch: Batch, step: int) -> Tensor | None:
        """Eq. (15) for the discriminator, on the last reconstructions (None before the GAN)."""
        if self.discriminator is None or self._fake is None:
            return None
        return discriminator_loss(self.discriminator(batch["image"]),
                                  self.discriminator(self._fake))


@dataclass
class SwapAutoencoderObjective(AutoencoderObjective):
    """Eq. (14) plus a *swap* term that divides the code into appearance and geometry.

    Each image ``i`` of the batch is paired with its neighbour ``j = i − 1`` (cyclically).
    The code made of ``i``'s geometry part and ``j``'s appearance part
    (:meth:`~n2nlib.nets.autoencoder.Autoencoder.combine`, both sampled from ``q(z | y)``)
    must decode to the scene the renderer would draw with ``i``'s shape and ``j``'s colour and
    background, ``b_j · (1 − α_i) + c_j · α_i``; its NLL (Eq. 18, same ``γ``, same perceptual
    distance) is added with weight ``swap_weight``. The batch needs ``"background"``,
    ``"coverage"`` and ``"color"`` (:func:`~n2nlib.zoo.data.swap_shapes_data`); the PatchGAN,
    when on, judges the plain reconstructions only.

    With ``invariance_weight > 0`` the swapped scene is also *encoded*: its geometry part must
    equal ``i``'s and its appearance part ``j``'s (squared distance of the posterior means,
    summed over the code, times ``invariance_weight``). Without it the geometry part may keep
    what the decoder ignores once the parts are swapped, e.g. whether ``i`` was drawn on a
    photograph (a linear probe reads it there in 0.90 of held-out images), and a translator's
    residual then carries it.

    Arguments:
        swap_weight: the factor of the swap NLL.
        invariance_weight: the factor of the invariance term (0: off; the other arguments:
            see :class:`AutoencoderObjective`).
    """

    swap_weight: float = 1.0
    invariance_weight: float = 0.0

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict]:
        if not getattr(model, "appearance_dim", 0):
            raise ValueError("the swap objective needs an autoencoder with appearance_dim > 0")
        missing = {"background", "coverage", "color"} - set(batch)
        if missing:
            raise ValueError(f"the swap objective needs {sorted(missing)} in the batch "
                             "(see n2nlib.zoo.data.swap_shapes_data)")
        images = batch["image"]
        mean, logvar = model.encode_distribution(images)
        z = model.sample_latent(mean, logvar)
        partner = torch.roll(torch.arange(len(images), device=images.device), 1)
        target = composite(batch["background"][partner], batch["coverage"],
                           batch["color"][partner])
        recon, swapped = model.decoder(torch.cat([z, model.combine(z, z[partner])])).chunk(2)
        extra = self._perceptual(images, recon)
        parts = vae_loss(images, recon, mean, logvar, model.log_gamma, self.kl_weight,
                         self.pixel, extra)
        swap_nll = reconstruction_nll(target, swapped, model.log_gamma, self.pixel,
                                      self._perceptual(target, swapped)).mean()
        loss = parts["loss"] + self.swap_weight * swap_nll
        logs = {"rec": float(parts["rec"]), "swap": float((target - swapped).detach().abs().mean()),
                "kl": float(parts["kl"].detach()),
                "gamma": float(model.log_gamma.detach().exp())}
        if self.invariance_weight:
            wanted = model.combine(mean, mean[partner])
            inv = (model.encode_distribution(target)[0] - wanted).pow(2).sum(1).mean()
            loss = loss + self.invariance_weight * inv
            logs["inv"] = float(inv.detach())
        return self._finish(model, loss, parts["nll"], recon, step, logs, images)


@dataclass
class CrossEntropyObjective:
    """Cross-entropy of a classifier (tensor logits) or a multi-head classifier (dict logits).

    For dict outputs, ``batch[target]`` is ``(B, n_heads)`` with columns in the order of the
    dict; the loss is the sum over heads. Per-pixel logits ``(B, C, H, W)`` with targets
    ``(B, H, W)`` work as they are.

    Arguments:
        target: the key of the labels in the batch.
        label_smoothing: passed to ``F.cross_entropy``.
    """

    target: str = "label"
    label_smoothing: float = 0.0

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict]:
        out = model(batch["image"])
        labels = batch[self.target]
        if isinstance(out, dict):
            losses, logs = [], {}
            for j, (name, logits) in enumerate(out.items()):
                losses.append(F.cross_entropy(logits, labels[:, j],
                                              label_smoothing=self.label_smoothing))
                logs[name] = float((logits.argmax(1) == labels[:, j]).float().mean())
            return torch.stack(losses).sum(), logs
        loss = F.cross_entropy(out, labels, label_smoothing=self.label_smoothing)
        return loss, {"acc": float((out.argmax(1) == labels).float().mean())}
