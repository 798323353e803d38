"""How every zoo expert was trained: one generic loop and one recipe per expert.

:func:`train_expert` is the single entry point (``python -m n2nlib.zoo train NAME``): it makes
the recipe's training data, runs :func:`fit_expert` (the one supervised / autoencoder training
loop, separate from :func:`n2nlib.train.fit`, which trains cINNs only), saves the weights in
float16 with their sha256 in a registry, reloads them and measures them on held-out data
(:func:`evaluate_expert`), and writes the model card. With ``fast=True`` every recipe runs end to
end in seconds on tiny data, into a temporary folder, never over the shipped weights.

>>> sorted(RECIPES)[:3]
['digits-ae', 'digits-classifier', 'shapes-ae']
>>> augment_shift({"image": torch.ones(1, 1, 4, 4)}, torch.Generator(), 1)["image"].shape
torch.Size([1, 1, 4, 4])
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib import settings
from n2nlib.experts._nets import n_parameters
from n2nlib.experts.autoencoder import (
    Autoencoder,
    PatchDiscriminator,
    adaptive_gan_weight,
    discriminator_loss,
    generator_loss,
    vae_loss,
)
from n2nlib.experts.classifiers import AttributeClassifier, DigitsClassifier, Segmenter
from n2nlib.train import TrainingDiverged, lr_factor

__all__ = [
    "Objective",
    "AutoencoderObjective",
    "FeatureDistance",
    "CrossEntropyObjective",
    "ExpertHistory",
    "fit_expert",
    "Recipe",
    "RECIPES",
    "train_expert",
    "evaluate_expert",
    "lowres",
    "augment_flip_shapes",
    "jitter_backgrounds",
    "augment_shift",
    "machine_description",
]

Batch = dict[str, Tensor]


# -- objectives --------------------------------------------------------------------------------


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
            :class:`~n2nlib.experts.classifiers.Segmenter`); it should be frozen.
        layers: the taps to compare.

    >>> from n2nlib.experts.classifiers import Segmenter
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

    def __call__(self, model: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict]:
        images = batch["image"]
        recon, mean, logvar = model(images, sample=True)
        extra = None
        if self._distance is not None:
            extra = self.perceptual_weight * self._distance(images, recon)
        parts = vae_loss(images, recon, mean, logvar, model.log_gamma, self.kl_weight,
                         self.pixel, extra)
        loss = parts["loss"]
        logs = {"rec": float(parts["rec"]), "kl": float(parts["kl"].detach()),
                "gamma": float(model.log_gamma.detach().exp())}
        if extra is not None:
            logs["perc"] = float(extra.detach().mean())
        self._fake = None
        if self.discriminator is not None and step >= self.gan_start:
            self.discriminator.requires_grad_(False)
            g_loss = generator_loss(self.discriminator(recon))
            self.discriminator.requires_grad_(True)
            weight = adaptive_gan_weight(parts["nll"], g_loss, model.last_layer)
            loss = loss + self.gan_weight * weight * g_loss
            logs["g"] = float(g_loss.detach())
            logs["lambda"] = float(weight)
            self._fake = recon.detach()
        return loss / images[0].numel(), logs

    def discriminator_loss(self, batch: Batch, step: int) -> Tensor | None:
        """Eq. (15) for the discriminator, on the last reconstructions (None before the GAN)."""
        if self.discriminator is None or self._fake is None:
            return None
        return discriminator_loss(self.discriminator(batch["image"]),
                                  self.discriminator(self._fake))


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


# -- the loop ------------------------------------------------------------------------------------


@dataclass
class ExpertHistory:
    """What :func:`fit_expert` measured: per-step ``loss``, the last ``logs``, wall-clock
    ``seconds`` and ``cpu_seconds`` (the process's CPU time: on a machine shared with other
    jobs it is the steadier measure of the work done)."""

    loss: list[float] = field(default_factory=list)
    logs: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def fit_expert(
    model: nn.Module,
    objective: Callable[[nn.Module, Batch, int], tuple[Tensor, dict]],
    data: Batch,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    warmup: int = 100,
    schedule: str = "cosine",
    clip_grad: float | None = 5.0,
    augment: Callable[[Batch, torch.Generator], Batch] | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training expert",
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 250,
) -> ExpertHistory:
    """Train an expert (autoencoder, classifier, segmenter): the one loop of every zoo recipe.

    Minibatches are drawn without replacement within each epoch from a seeded generator, moved
    to the model's device, optionally augmented, and passed to ``objective``. AdamW with
    linear warm-up and a cosine (or step/constant, see :func:`n2nlib.train.lr_factor`) decay;
    an objective's ``discriminator`` gets its own Adam (β₁ = 0.5) and steps after the model.

    Arguments:
        model: the network to train (all parameters that require grad are trained).
        objective: ``objective(model, batch, step) -> (loss, logs)``.
        data: the training set as tensors of one length, e.g. ``{"image": ..., "label": ...}``.
        steps: optimisation steps.
        batch_size: examples per step.
        lr: peak learning rate.
        weight_decay: decoupled weight decay.
        warmup: linear warm-up steps.
        schedule: ``"cosine"``, ``"step"`` or ``"constant"``.
        clip_grad: clip the global gradient norm (``None``: no clipping).
        augment: ``augment(batch, generator) -> batch``, applied per step.
        seed: seed of the minibatch order, the augmentation and the latent samples.
        progress: show a tqdm bar with the loss and the objective's logs.
        desc: the bar's label.
        checkpoint_dir: write a resumable checkpoint (model, optimizer, discriminator, random
            states, loss history) every ``checkpoint_every`` steps and at the end, with
            :func:`n2nlib.checkpoint.save_training_state`; if the folder already holds one,
            training resumes from it (a killed run loses at most ``checkpoint_every`` steps).
        checkpoint_every: steps between checkpoints.

    Returns:
        An :class:`ExpertHistory`; the model is left in eval mode.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
        ValueError: bad ``steps``/``batch_size``, or tensors of different lengths in ``data``.

    >>> net = nn.Linear(2, 2)
    >>> data = {"image": torch.randn(64, 2), "label": torch.randint(0, 2, (64,))}
    >>> h = fit_expert(net, CrossEntropyObjective(), data, steps=3, batch_size=16,
    ...                progress=False)
    >>> len(h.loss)
    3
    """
    from n2nlib.settings import progress_bar as tqdm

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(data, dict) or not data:
        raise TypeError("data must be a non-empty dict of tensors, e.g. {'image': images}")
    lengths = {k: len(v) for k, v in data.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"the tensors in data must share one non-zero length, got {lengths}")
    lr_factor(0, steps, warmup, schedule)  # validates the schedule name
    n = next(iter(lengths.values()))
    device = next(model.parameters()).device
    if hasattr(objective, "setup"):
        objective.setup(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    disc = getattr(objective, "discriminator", None)
    disc_opt = None
    if disc is not None:
        disc.train()
        disc_opt = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.9))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    history = ExpertHistory()
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    order, cursor = torch.randperm(n, generator=generator), 0
    first, prior_seconds, prior_cpu = 0, 0.0, 0.0
    if checkpoint_dir is not None:
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive int, got {checkpoint_every!r}")
        resumed = _resume_expert(checkpoint_dir, model, opt, disc, disc_opt, generator)
        if resumed is not None:
            first = resumed["step"]
            history.loss = list(resumed["state"]["loss"])
            order = torch.tensor(resumed["state"]["order"], dtype=torch.long)
            cursor = int(resumed["state"]["cursor"])
            prior_seconds = float(resumed["state"].get("seconds", 0.0))
            prior_cpu = float(resumed["state"].get("cpu_seconds", 0.0))
            if first > steps:
                raise ValueError(f"{checkpoint_dir} holds a checkpoint after {first} steps, "
                                 f"more than the {steps} asked for")
    bar = tqdm(range(first, steps), desc=desc, disable=not progress, leave=True,
               initial=first, total=steps)
    for step in bar:
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + batch_size]
        cursor += batch_size
        batch = {k: v[idx].to(device) for k, v in data.items()}
        if augment is not None:
            batch = augment(batch, generator)
        factor = lr_factor(step, steps, warmup, schedule)
        for group in opt.param_groups:
            group["lr"] = lr * factor
        loss, logs = objective(model, batch, step)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {float(loss)} at step {step} of {desc!r} (lr "
                f"{lr * factor:.3g}); lower the learning rate or the batch size's variance"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_grad)
        opt.step()
        if disc_opt is not None:
            d_loss = objective.discriminator_loss(batch, step)  # type: ignore[attr-defined]
            if d_loss is not None:
                for group in disc_opt.param_groups:
                    group["lr"] = lr * factor
                disc_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                disc_opt.step()
                logs["d"] = float(d_loss.detach())
        history.loss.append(float(loss.detach()))
        history.logs = logs
        if progress and (step % 10 == 0 or step + 1 == steps):
            bar.set_postfix({"loss": f"{history.loss[-1]:.4f}",
                             **{k: f"{v:.3g}" for k, v in list(logs.items())[:5]}})
        if checkpoint_dir is not None and ((step + 1) % checkpoint_every == 0
                                           or step + 1 == steps):
            _save_expert_state(checkpoint_dir, step + 1, model, opt, disc, disc_opt, generator,
                               {"loss": history.loss, "order": order.tolist(),
                                "cursor": cursor,
                                "seconds": prior_seconds + time.perf_counter() - start,
                                "cpu_seconds": prior_cpu + time.process_time() - cpu_start})
    history.seconds = prior_seconds + time.perf_counter() - start
    history.cpu_seconds = prior_cpu + time.process_time() - cpu_start
    model.eval()
    return history


def _save_expert_state(directory: str | os.PathLike, step: int, model: nn.Module,
                       opt: torch.optim.Optimizer, disc: nn.Module | None,
                       disc_opt: torch.optim.Optimizer | None, generator: torch.Generator,
                       state: dict[str, Any]) -> None:
    """The discriminator first, then the model (whose ``latest`` pointer decides a resume)."""
    from n2nlib.checkpoint import save_training_state

    directory = Path(directory)
    if disc is not None and disc_opt is not None:
        save_training_state(directory / "discriminator", step=step, model=disc,
                            optimizer=disc_opt, state={})
    state = {**state, "generator": generator.get_state().tolist()}
    save_training_state(directory, step=step, model=model, optimizer=opt, state=state)


def _resume_expert(directory: str | os.PathLike, model: nn.Module, opt: torch.optim.Optimizer,
                   disc: nn.Module | None, disc_opt: torch.optim.Optimizer | None,
                   generator: torch.Generator) -> dict[str, Any] | None:
    from n2nlib.checkpoint import load_training_state

    directory = Path(directory)
    resumed = load_training_state(directory, model=model, optimizer=opt)
    if resumed is None:
        return None
    generator.set_state(torch.tensor(resumed["state"]["generator"], dtype=torch.uint8))
    if disc is not None and disc_opt is not None:
        load_training_state(directory / "discriminator", model=disc, optimizer=disc_opt,
                            restore_rng=False)
    return resumed


# -- data and augmentation ---------------------------------------------------------------------


def lowres(images: Tensor, size: int) -> Tensor:
    """Downsample images to ``size × size`` with an antialiased bilinear filter.

    This is how the low-resolution inputs of the superresolution experiment (and of
    ``textures-ae-8``) are made from 32×32 crops.

    >>> lowres(torch.rand(2, 3, 32, 32), 8).shape
    torch.Size([2, 3, 8, 8])
    """
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False).clamp(0.0, 1.0)


def augment_flip_shapes(batch: Batch, generator: torch.Generator) -> Batch:
    """Mirror half of a shapes batch left–right: images, masks, the ``position`` factor and,
    for the generator, the horizontal centre in ``known`` (column 0 of
    :func:`n2nlib.experts.generator.known_noise`).

    All five shapes are mirror-symmetric, so a flipped image is a valid image whose position
    column is mirrored (``top left`` ↔ ``top right``). The known centre is ``x`` mapped
    through the data's CDF and the inverse normal CDF; positions are symmetric in
    distribution, so the mirrored centre ``size − x`` maps to minus that value.
    """
    n = len(batch["image"])
    flip = (torch.rand(n, generator=generator) < 0.5).to(batch["image"].device)
    out = dict(batch)
    out["image"] = torch.where(flip[:, None, None, None], batch["image"].flip(-1),
                               batch["image"])
    if "mask" in batch:
        out["mask"] = torch.where(flip[:, None, None], batch["mask"].flip(-1), batch["mask"])
    if "factors" in batch:
        factors = batch["factors"].clone()
        pos = factors[:, 3]
        mirrored = pos - pos % 3 + (2 - pos % 3)
        factors[:, 3] = torch.where(flip, mirrored, pos)
        out["factors"] = factors
    if "known" in batch:
        known = batch["known"].clone()
        known[:, 0] = torch.where(flip, -known[:, 0], known[:, 0])
        out["known"] = known
    return out


def augment_degrade(batch: Batch, generator: torch.Generator, max_noise: float = 0.04,
                    p_noise: float = 0.5, p_blur: float = 0.25) -> Batch:
    """Mild image degradations, so that a classifier reads generated images as it reads real ones.

    Per image: with probability ``p_noise`` Gaussian pixel noise of a standard deviation drawn
    from ``U(0, max_noise)``; with probability ``p_blur`` a 3×3 box blur of the whole image.
    Without it ``shapes-attributes-v1`` called every autoencoder reconstruction "photo": the faint
    decoder texture (RMSE ≈ 0.02) on a plain background was the only cue it had seen for photos.

    >>> batch = {"image": torch.rand(4, 3, 8, 8)}
    >>> augment_degrade(batch, torch.Generator().manual_seed(0))["image"].shape
    torch.Size([4, 3, 8, 8])
    """
    images = batch["image"]
    n = len(images)
    dev = images.device
    sigma = max_noise * torch.rand(n, generator=generator)
    sigma = torch.where(torch.rand(n, generator=generator) < p_noise, sigma, torch.zeros(n))
    noise = torch.randn(images.shape, generator=generator)
    out = images + sigma.to(dev)[:, None, None, None] * noise.to(dev)
    blur = (torch.rand(n, generator=generator) < p_blur).to(dev)
    if blur.any():
        blurred = F.avg_pool2d(F.pad(out, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        out = torch.where(blur[:, None, None, None], blurred, out)
    return {**batch, "image": out.clamp(0.0, 1.0)}


def _attributes_augment(batch: Batch, generator: torch.Generator) -> Batch:
    return augment_degrade(augment_flip_shapes(batch, generator), generator)


def augment_shift(batch: Batch, generator: torch.Generator, max_shift: int = 1) -> Batch:
    """Shift each image by up to ``max_shift`` pixels in x and y, filling with zeros (black)."""
    images = batch["image"]
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator).tolist()
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator).tolist()
    out = dict(batch)
    out["image"] = torch.stack(
        [padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)]
    )
    return out


def jitter_backgrounds(crops: Tensor, generator: torch.Generator) -> Tensor:
    """Random photometric changes of background crops (for the classifiers' training data).

    Per crop: a random channel permutation, saturation ×0.3…2, contrast ×0.6…1.3,
    brightness ×0.25…1.15, and with probability 0.5 a 3×3, 5×5 or 7×7 box blur. Held-out
    photographs differ from the ten training ones (dark tinted bokeh, sky), and these changes
    teach a classifier that a "photo" background is any such texture, not one of ten
    photographs.

    >>> jitter_backgrounds(torch.rand(4, 3, 8, 8), torch.Generator().manual_seed(0)).shape
    torch.Size([4, 3, 8, 8])
    """
    n = len(crops)

    def uniform(lo: float, hi: float) -> Tensor:
        return (lo + (hi - lo) * torch.rand(n, generator=generator))[:, None, None, None]

    perm = torch.argsort(torch.rand(n, 3, generator=generator), dim=1)
    x = torch.gather(crops, 1, perm[:, :, None, None].expand_as(crops))
    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * uniform(0.3, 2.0)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * uniform(0.6, 1.3)
    x = x * uniform(0.25, 1.15)
    kernel = torch.randint(0, 6, (n,), generator=generator)  # 0-2: none, 3: 3x3, 4: 5x5, 5: 7x7
    for code, k in ((3, 3), (4, 5), (5, 7)):
        sel = kernel == code
        if sel.any():
            x[sel] = F.avg_pool2d(F.pad(x[sel], (k // 2,) * 4, mode="replicate"), k, stride=1)
    return x.clamp(0.0, 1.0)


def _shapes_data(n: int, seed: int, split: str = "train", augment_photos: float = 0.0,
                 world: str = "v1") -> Batch:
    """Shapes with both backgrounds; a share ``augment_photos`` of the photo backgrounds is
    replaced by a fresh crop of the split's photographs, changed by :func:`jitter_backgrounds`
    (composited with the renderer's own coverage and colour, so labels and masks still hold;
    in a world of low-detail photos the jittered crop is made low-detail too)."""
    from n2nlib.data import random_crops, render_shapes_full, sample_factors
    from n2nlib.data.shapes import WORLDS, low_detail

    factors = sample_factors(n, seed, split=split, background="mixed")
    render = render_shapes_full(factors, 32, seed, split, world=world)
    cells = WORLDS[world].photo_cells
    images = render.images
    if augment_photos > 0:
        gen = torch.Generator().manual_seed(seed + 7)
        chosen = (factors[:, 4] == 1) & (torch.rand(n, generator=gen) < augment_photos)
        idx = chosen.nonzero()[:, 0]
        crops, _ = random_crops(len(idx), 32, split, seed + 7)
        alpha = render.coverage[idx, None]
        colors = render.colors[idx, :, None, None]
        crops = jitter_backgrounds(crops, gen)
        if cells is not None:
            crops = low_detail(crops, cells)
        images[idx] = (crops * (1 - alpha) + colors * alpha).clamp(0, 1)
    return {"image": images, "mask": render.masks, "factors": factors}


def _crops(n: int, seed: int, split: str = "train") -> Tensor:
    from n2nlib.data import random_crops

    return random_crops(n, 32, split, seed)[0]


def _digits(split: str) -> Batch:
    from n2nlib.data import load_digits

    d = load_digits(split)
    return {"image": d.images, "label": d.labels}


# -- held-out evaluation -------------------------------------------------------------------------

EVAL_SEED = 1000


def _reconstructions(model: Any, images: Tensor, batch_size: int = 256) -> Tensor:
    from n2nlib.experts.base import reconstruct

    return reconstruct(model, images, batch_size=batch_size)


def _eval_shapes_ae_v1(model: Any, n: int) -> dict[str, float]:
    """PSNR, and whether reconstructions are *recognisably* the input: the accuracy with which
    the zoo's ``shapes-attributes-v1`` classifier reads the input's factors back from them."""
    from n2nlib import zoo
    from n2nlib.metrics import accuracy_per_factor, psnr

    data = _shapes_data(n, EVAL_SEED, "test")
    recon = _reconstructions(model, data["image"])
    photo = data["factors"][:, 4] == 1
    out = {"psnr_db": psnr(data["image"], recon)}
    if photo.any() and (~photo).any():
        out["psnr_db/plain"] = psnr(data["image"][~photo], recon[~photo])
        out["psnr_db/photo"] = psnr(data["image"][photo], recon[photo])
    classifier = zoo.load("shapes-attributes-v1", device="cpu")
    acc = accuracy_per_factor(classifier.predict(recon), data["factors"])
    out.update({f"recon_accuracy/{k}": v for k, v in acc.items()})
    return out


def _eval_textures(size: int) -> Callable[[Any, int], dict[str, float]]:
    def evaluate(model: Any, n: int) -> dict[str, float]:
        from n2nlib.metrics import psnr

        images = _crops(n, EVAL_SEED, "test")
        if size != 32:
            images = lowres(images, size)
        return {"psnr_db": psnr(images, _reconstructions(model, images))}

    return evaluate


def _eval_digits_ae(model: Any, n: int) -> dict[str, float]:
    from n2nlib.metrics import psnr

    images = _digits("test")["image"][:n]
    return {"psnr_db": psnr(images, _reconstructions(model, images))}


def _joint_by_domain(predicted: dict[str, Tensor], factors: Tensor, prefix: str
                     ) -> dict[str, float]:
    """Shape, colour, size and position read right together, overall and per domain, and the
    background (domain) read right per domain."""
    content = torch.ones(len(factors), dtype=torch.bool)
    for j, name in enumerate(("shape", "color", "size", "position")):
        content &= predicted[name].cpu() == factors[:, j]
    domain = predicted["background"].cpu() == factors[:, 4]
    out = {f"{prefix}joint": float(content.float().mean())}
    for value, name in enumerate(("plain", "photo")):
        rows = factors[:, 4] == value
        if rows.any():
            out[f"{prefix}joint/{name}"] = float(content[rows].float().mean())
            out[f"{prefix}background/{name}"] = float(domain[rows].float().mean())
    return out


def _eval_attributes(model: Any, n: int, world: str = "v1") -> dict[str, float]:
    from n2nlib.metrics import accuracy_per_factor

    data = _shapes_data(n, EVAL_SEED, "test", world=world)
    predicted = model.predict(data["image"])
    acc = accuracy_per_factor(predicted, data["factors"], names=list(model.factors))
    out = {f"accuracy/{k}": v for k, v in acc.items()}
    if world != "v1":
        out.update(_joint_by_domain(predicted, data["factors"], ""))
    return out


def _eval_shapes_ae(model: Any, n: int) -> dict[str, float]:
    """The drawable world's autoencoder: what its reconstructions keep, per domain, read by
    the zoo's ``shapes-attributes`` and ``shapes-segmenter`` (when present), PSNR, and the
    Fréchet distance of reconstructions to originals in EfficientNet-Lite0 features."""
    from n2nlib import zoo
    from n2nlib.metrics import efficientnet_frechet_distance, miou, psnr

    data = _shapes_data(n, EVAL_SEED, "test", world="v2")
    recon = _reconstructions(model, data["image"])
    photo = data["factors"][:, 4] == 1
    bicubic = F.interpolate(lowres(data["image"], 8), size=32, mode="bicubic",
                            align_corners=False).clamp(0, 1)
    out = {"psnr_db": psnr(data["image"], recon),
           "psnr_db/plain": psnr(data["image"][~photo], recon[~photo]),
           "psnr_db/photo": psnr(data["image"][photo], recon[photo]),
           "psnr_db/bicubic_from_8": psnr(data["image"], bicubic)}
    reader = zoo.load("shapes-attributes", device="cpu")
    out.update(_joint_by_domain(reader.predict(recon), data["factors"], "recon_"))
    if "shapes-segmenter" in zoo.available():
        segmenter = zoo.load("shapes-segmenter", device="cpu")
        pred = segmenter.predict_masks(recon)
        out["recon_miou/plain"] = miou(pred[~photo], data["mask"][~photo], 6)
        out["recon_miou/photo"] = miou(pred[photo], data["mask"][photo], 6)
    out["frechet_efficientnet"] = efficientnet_frechet_distance(data["image"], recon)
    out["frechet_efficientnet/bicubic_from_8"] = efficientnet_frechet_distance(data["image"],
                                                                              bicubic)
    return out


def _eval_shapes_lowres(model: Any, n: int) -> dict[str, float]:
    from n2nlib.metrics import psnr

    images = lowres(_shapes_data(n, EVAL_SEED, "test", world="v2")["image"], 8)
    return {"psnr_db": psnr(images, _reconstructions(model, images))}


def _eval_segmenter(model: Any, n: int, world: str = "v1") -> dict[str, float]:
    from n2nlib.metrics import iou_per_class, miou

    data = _shapes_data(n, EVAL_SEED, "test", world=world)
    pred = model.predict_masks(data["image"])
    out = {"miou": miou(pred, data["mask"], model.n_classes)}
    photo = data["factors"][:, 4] == 1
    if photo.any() and (~photo).any():
        out["miou/plain"] = miou(pred[~photo], data["mask"][~photo], model.n_classes)
        out["miou/photo"] = miou(pred[photo], data["mask"][photo], model.n_classes)
    ious = iou_per_class(pred, data["mask"], model.n_classes)
    out.update({f"iou/{c}": float(v) for c, v in zip(model.classes, ious) if v == v})
    return out


def _eval_digits_classifier(model: Any, n: int) -> dict[str, float]:
    from n2nlib.metrics import accuracy

    data = _digits("test")
    return {"accuracy": accuracy(model.predict(data["image"][:n]), data["label"][:n])}


# -- recipes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How one zoo expert is trained and measured.

    Attributes:
        name: the zoo name.
        kind: ``"autoencoder"``, ``"attributes"``, ``"segmenter"`` or ``"classifier"``.
        summary: one sentence for the card.
        model: the class to build.
        config: its architecture arguments (stored in the registry).
        make_data: ``(n, seed) -> batch dict`` of training tensors (``n`` ignored by fixed sets).
        n_train: training-set size (``n_train_fast`` in ``--fast`` mode).
        steps: optimisation steps (``steps_fast`` in ``--fast`` mode).
        batch_size: examples per step.
        lr: peak learning rate.
        weight_decay: AdamW weight decay.
        objective: a factory of the objective.
        augment: per-step augmentation.
        evaluate: ``(model, n) -> quality`` on held-out data.
        eval_n: held-out examples for the card (``eval_n_fast`` in ``--fast`` mode).
        data: the training data in words.
        held_out: the held-out data in words.
        architecture: the architecture in words.
        notes: what differs from the paper and why.
    """

    name: str
    kind: str
    summary: str
    model: type[nn.Module]
    config: dict[str, Any]
    make_data: Callable[[int, int], Batch]
    n_train: int
    steps: int
    batch_size: int
    lr: float
    objective: Callable[[], Any]
    evaluate: Callable[[Any, int], dict[str, float]]
    eval_n: int
    data: str
    held_out: str
    architecture: str
    augment: Callable[[Batch, torch.Generator], Batch] | None = None
    weight_decay: float = 0.0
    warmup: int = 100
    n_train_fast: int = 64
    steps_fast: int = 3
    eval_n_fast: int = 32
    notes: tuple[str, ...] = ()


_AE_NOTES = (
    "Reconstruction loss: Eq. (14) with a learnable scalar output variance γ on an L1 pixel "
    "distance; the paper's VGG-16 perceptual loss is not used (its weights need the internet).",
    "KL to N(0, I) with weight 0.1 against the pixel NLL summed over pixels (the paper's "
    "Eq. 14 has weight 1): the posterior keeps a usable variance for the stochastic training "
    "of the cINN while reconstructions stay sharper; log γ starts at −3 (γ ≈ 0.05) and is "
    "learned.",
)
_NO_GAN = (
    "No PatchGAN: it is implemented (`AutoencoderObjective(gan_weight=...)`, adaptive weight "
    "of Eq. 17) but left out of the shipped weights: on two shared CPU cores its cost (a second "
    "network, two extra backward passes for Eq. 17) buys fewer reconstruction steps, and at "
    "32×32 pixels the L1 + γ loss already gives recognisable reconstructions."
)


def _ae_images(make: Callable[[int, int], Tensor]) -> Callable[[int, int], Batch]:
    return lambda n, seed: {"image": make(n, seed)}


def _ae_flip(batch: Batch, generator: torch.Generator) -> Batch:
    return augment_flip_shapes({"image": batch["image"]}, generator)


RECIPES: dict[str, Recipe] = {}


def _add(recipe: Recipe) -> None:
    RECIPES[recipe.name] = recipe


_add(Recipe(
    name="shapes-ae-32",
    kind="autoencoder",
    summary="The paper's autoencoder g (supplement Sec. F) for 32×32 shapes images with plain "
            "and photo backgrounds: the target expert of the shapes notebooks.",
    model=Autoencoder,
    config={"size": 32, "channels": 3, "dim": 128, "width": 32, "max_width": 128,
            "n_pseudo_classes": 100, "embed_dim": 64, "attention": True},
    make_data=_ae_images(lambda n, seed: _shapes_data(n, seed)["image"]),
    n_train=60000,
    steps=13000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    augment=_ae_flip,
    evaluate=_eval_shapes_ae_v1,
    eval_n=2000,
    data="60,000 images `render_shapes(sample_factors(n, seed=0, background='mixed'))`: "
         "all factors uniform, half plain and half photo backgrounds (train photographs); "
         "random left-right flips",
    held_out="2,000 test-split shapes (seed 1000), both backgrounds, held-out photographs",
    architecture="VAE, latent 128. Encoder: 3×3 stem (32 ch), 3 downsampling ResNet basic blocks "
                 "(64, 128, 128 ch) to 4×4, flatten, FC → (μ, log σ²). Decoder (BigGAN-style): "
                 "z → 3×(FC 256, LReLU) → FC 100 + softmax → embedding h (64); FC(z) → 4×4×128; "
                 "3 residual up-blocks (128, 64, 32 ch) with batch norm conditioned on [z, h]; "
                 "non-local block at 16×16; BN, ReLU, conv, tanh",
    notes=_AE_NOTES + (
        "Trained on a GPU (`--device cuda`, about 5 minutes); on the 2-core CPU the same "
        "13,000 steps take about 0.4 s each (≈ 1.5 h). Latent 128 and 13,000 steps instead of "
        "latent 64 and 2,000: in a sweep of the recipe (benchmarks/RESULTS.md, zoo section) the "
        "attribute classifier read the shape of 2,000-step reconstructions 0.24 of the time, of "
        "4,000-step ones 0.38, of latent-128 ones 0.57 (5,000 steps) and 0.72 (13,000 steps).",
        "No PatchGAN in the shipped weights: it is implemented (`AutoencoderObjective("
        "gan_weight=...)`, the adaptive weight of Eq. 17) and was measured in that sweep "
        "(4,000 steps, switched on after 1,333): shape read 0.37 vs 0.38 without, PSNR 21.2 vs "
        "25.9 dB — at 32×32 pixels it costs fidelity and buys no outline.",
    ),
))

_HELD_OUT_V2 = ("2,000 test-split shapes of the same world (seed 1000), both backgrounds, "
                "held-out photographs")
_WORLD_V2 = ("the drawable world (`world='v2'`): shapes of radius 0.15–0.17 (small) or "
              "0.22–0.25 (large) of the side, photo backgrounds reduced to their 4×4 cell "
              "averages (`low_detail`)")

_add(Recipe(
    name="shapes-ae",
    kind="autoencoder",
    summary="The paper's autoencoder g (supplement F: VAE with a learned output variance γ, "
            "perceptual loss, PatchGAN with the adaptive λ of Eq. 17) for 32×32 shapes of the "
            "drawable world, both domains: the target expert of the shapes notebooks.",
    model=Autoencoder,
    config={"size": 32, "channels": 3, "dim": 128, "width": 32, "max_width": 128,
            "n_pseudo_classes": 100, "embed_dim": 64, "attention": True},
    make_data=_ae_images(lambda n, seed: _shapes_data(n, seed, world="v2")["image"]),
    n_train=40000,
    steps=5000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(
        kl_weight=0.1, perceptual="efficientnet-lite0", perceptual_layers=(0, 2, 4),
        perceptual_weight=0.25, gan_weight=0.1, gan_start=2500),
    augment=_ae_flip,
    evaluate=_eval_shapes_ae,
    eval_n=2000,
    data="40,000 images `render_shapes(sample_factors(n, seed=0, background='mixed'), "
         "world='v2')`: " + _WORLD_V2 + "; all factors uniform, half plain and half photo "
         "backgrounds (train photographs); random left-right flips",
    held_out=_HELD_OUT_V2,
    architecture="VAE, latent 128. Encoder: 3×3 stem (32 ch), 3 downsampling ResNet basic blocks "
                 "(64, 128, 128 ch) to 4×4, flatten, FC → (μ, log σ²). Decoder (BigGAN-style): "
                 "z → 3×(FC 256, LReLU) → FC 100 + softmax → embedding h (64); FC(z) → 4×4×128; "
                 "3 residual up-blocks (128, 64, 32 ch) with batch norm conditioned on [z, h]; "
                 "non-local block at 16×16; BN, ReLU, conv, tanh. PatchGAN discriminator "
                 "(32, 64 ch, 4×4 convolutions) during training only",
    notes=(
        "Loss: Eq. (14) with a learnable scalar output variance γ; the per-pixel distance of "
        "Eq. (18) is L1 plus 0.25 × a perceptual distance in ImageNet EfficientNet-Lite0 "
        "features (blocks 0, 2 and 4, unit-normalised channels; the paper uses VGG-16), KL "
        "weight 0.1; from step 2,500 of 5,000 a PatchGAN term weighted by 0.1 × the adaptive λ of "
        "Eq. (17).",
        "The world was changed rather than the network: on the first world (small shapes on "
        "sharp photographs) `shapes-ae-32`'s reconstructions kept the factors jointly in 0.96 "
        "of plain but 0.56 of photo images, and blurring only the photo backgrounds of the "
        "same held-out images raised that to 0.72 with no retraining "
        "(`benchmarks/probe_world_cause.py`): the photo's detail took the latent's capacity, "
        "and small shapes were the rest of the loss.",
    ),
))

_add(Recipe(
    name="shapes-ae-8",
    kind="autoencoder",
    summary="Autoencoder of the drawable world's shapes at 8×8 (downsampled ×4 with `lowres`): "
            "the low-resolution side of the superresolution experiment (target: shapes-ae).",
    model=Autoencoder,
    config={"size": 8, "channels": 3, "dim": 32, "width": 64, "max_width": 128,
            "n_pseudo_classes": 100, "embed_dim": 64, "attention": False},
    make_data=_ae_images(lambda n, seed: lowres(_shapes_data(n, seed, world="v2")["image"], 8)),
    n_train=40000,
    steps=4000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    augment=_ae_flip,
    evaluate=_eval_shapes_lowres,
    eval_n=2000,
    data="the 40,000 training images of shapes-ae, downsampled to 8×8 by "
         "`n2nlib.zoo.training.lowres` (antialiased bilinear); random left-right flips",
    held_out="the 2,000 held-out images of shapes-ae, downsampled to 8×8",
    architecture="VAE, latent 32. Encoder: 3×3 stem (64 ch), 1 downsampling ResNet block "
                 "(128 ch) to 4×4, flatten, FC → (μ, log σ²). Decoder: z → 3×(FC 256, LReLU) → "
                 "FC 100 + softmax → embedding h (64); FC(z) → 4×4×128; 1 residual up-block "
                 "(64 ch) with conditional BN; BN, ReLU, conv, tanh (no attention at 8×8)",
    notes=_AE_NOTES + (
        "No perceptual loss and no PatchGAN at 8×8: EfficientNet-Lite0's first block already "
        "halves the resolution, and an 8-pixel image has no texture for a discriminator to "
        "judge; L1 with γ reconstructs it closely.",),
))

_add(Recipe(
    name="textures-ae-32",
    kind="autoencoder",
    summary="Autoencoder of 32×32 crops of real photographs: the high-resolution side of a "
            "superresolution pair of photographs (source: textures-ae-8; notebook 03 uses the "
            "shapes pair).",
    model=Autoencoder,
    config={"size": 32, "channels": 3, "dim": 64, "width": 32, "max_width": 128,
            "n_pseudo_classes": 100, "embed_dim": 64, "attention": True},
    make_data=_ae_images(_crops),
    n_train=30000,
    steps=1500,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    evaluate=_eval_textures(32),
    eval_n=2000,
    data="30,000 crops `random_crops(n, 32, 'train', seed=0)` of the 10 training photographs "
         "(zoom 1–4, random flips)",
    held_out="2,000 crops of the 5 held-out photographs (coffee, rocket, flower, coins, gravel)",
    architecture="as shapes-ae-32 (VAE, latent 64, ResNet encoder, BigGAN-style decoder)",
    notes=_AE_NOTES + (_NO_GAN,),
))

_add(Recipe(
    name="textures-ae-8",
    kind="autoencoder",
    summary="Autoencoder of the same photo crops at 8×8 (downsampled ×4 with `lowres`): the "
            "low-resolution side of a superresolution pair of photographs (target: "
            "textures-ae-32).",
    model=Autoencoder,
    config={"size": 8, "channels": 3, "dim": 32, "width": 64, "max_width": 128,
            "n_pseudo_classes": 100, "embed_dim": 64, "attention": False},
    make_data=_ae_images(lambda n, seed: lowres(_crops(n, seed), 8)),
    n_train=30000,
    steps=4000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    evaluate=_eval_textures(8),
    eval_n=2000,
    data="the 30,000 training crops of textures-ae-32, downsampled to 8×8 by "
         "`n2nlib.zoo.training.lowres` (antialiased bilinear)",
    held_out="the 2,000 held-out crops of textures-ae-32, downsampled to 8×8",
    architecture="VAE, latent 32. Encoder: 3×3 stem (64 ch), 1 downsampling ResNet block "
                 "(128 ch) to 4×4, flatten, FC → (μ, log σ²). Decoder: z → 3×(FC 256, LReLU) → "
                 "FC 100 + softmax → embedding h (64); FC(z) → 4×4×128; 1 residual up-block "
                 "(64 ch) with conditional BN; BN, ReLU, conv, tanh (no attention at 8×8)",
    notes=_AE_NOTES + (_NO_GAN,),
))

_add(Recipe(
    name="digits-ae",
    kind="autoencoder",
    summary="Autoencoder of scikit-learn's 8×8 handwritten digits: the target expert of the "
            "diagnosis / MLP-ablation notebook.",
    model=Autoencoder,
    config={"size": 8, "channels": 1, "dim": 16, "width": 32, "max_width": 64,
            "n_pseudo_classes": 32, "embed_dim": 32, "attention": False},
    make_data=lambda n, seed: {"image": _digits("train")["image"]},
    n_train=1438,
    steps=4000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    augment=lambda batch, gen: augment_shift(batch, gen, 1),
    evaluate=_eval_digits_ae,
    eval_n=359,
    data="the 1,438 training digits of `load_digits('train')` (8×8, grey), shifted by up to "
         "1 pixel at random",
    held_out="the 359 held-out digits of `load_digits('test')`",
    architecture="VAE, latent 16. Encoder: 3×3 stem (32 ch), 1 downsampling ResNet block "
                 "(64 ch), flatten, FC → (μ, log σ²). Decoder: z → 3×(FC 256, LReLU) → FC 32 + "
                 "softmax → embedding h (32); FC(z) → 4×4×64; 1 residual up-block (32 ch) with "
                 "conditional BN; BN, ReLU, conv, tanh",
    notes=_AE_NOTES + (_NO_GAN,),
))

_add(Recipe(
    name="shapes-attributes-v1",
    kind="attributes",
    summary="Reads all five factors (shape, colour, size, position, background) of a 32×32 "
            "shapes image; used by the metrics to check what translations produce.",
    model=AttributeClassifier,
    config={"size": 32, "channels": 3, "width": 32, "hidden": 256},
    make_data=lambda n, seed: {
        k: v for k, v in _shapes_data(n, seed, augment_photos=0.7).items() if k != "mask"},
    n_train=30000,
    steps=3000,
    batch_size=64,
    lr=2e-3,
    weight_decay=1e-4,
    objective=lambda: CrossEntropyObjective(target="factors"),
    augment=_attributes_augment,
    evaluate=_eval_attributes,
    eval_n=2000,
    data="30,000 shapes images with both backgrounds, labels = factors; 70% of the photo "
         "backgrounds replaced by fresh training-photo crops with random colour, contrast, "
         "brightness and blur (`jitter_backgrounds`); random left-right flips with mirrored "
         "position labels; mild pixel noise and blur on half the images (`augment_degrade`), "
         "so that reconstructions of plain backgrounds are not read as photos",
    held_out="2,000 test-split shapes (seed 1000), both backgrounds, held-out photographs",
    architecture="CNN: 3×3 stem (32 ch), 3 downsampling ResNet basic blocks (64, 128, 128 ch) "
                 "to 4×4, flatten, FC 256 + ReLU (the `encode` representation), one linear "
                 "head per factor",
))

_add(Recipe(
    name="shapes-segmenter-v1",
    kind="segmenter",
    summary="Labels every pixel of a 32×32 shapes image (background or one of the five shapes); "
            "its layer taps are the source experts of the diagnosis notebook.",
    model=Segmenter,
    config={"size": 32, "channels": 3, "width": 16},
    make_data=lambda n, seed: _shapes_data(n, seed, augment_photos=0.5),
    n_train=20000,
    steps=1500,
    batch_size=64,
    lr=2e-3,
    weight_decay=1e-4,
    objective=lambda: CrossEntropyObjective(target="mask"),
    augment=augment_flip_shapes,
    evaluate=_eval_segmenter,
    eval_n=2000,
    data="20,000 shapes images with both backgrounds, masks from the renderer (coverage ≥ "
         "0.5); half of the photo backgrounds jittered as for shapes-attributes-v1; random "
         "left-right flips",
    held_out="2,000 test-split shapes (seed 1000), both backgrounds, held-out photographs",
    architecture="U-Net: enc1 (2×conv, 16 ch, 32×32), enc2/enc3/bottleneck (downsampling "
                 "ResNet blocks, 32/64/64 ch at 16/8/4), dec3/dec2/dec1 (upsample, concatenate "
                 "the skip, 2×conv), 1×1 conv to 6 classes; taps enc1 … logits",
))

_add(dataclasses.replace(
    RECIPES["shapes-attributes-v1"],
    name="shapes-attributes",
    summary="Reads all five factors (shape, colour, size, position, background) of a 32×32 "
            "shapes image of the drawable world; the metrics' reader of what translations "
            "produce.",
    make_data=lambda n, seed: {
        k: v for k, v in _shapes_data(n, seed, augment_photos=0.7, world="v2").items()
        if k != "mask"},
    evaluate=functools.partial(_eval_attributes, world="v2"),
    data="30,000 shapes images of " + _WORLD_V2 + ", both backgrounds, labels = factors; "
         "70% of the photo backgrounds replaced by fresh training-photo crops with random "
         "colour, contrast, brightness and blur (`jitter_backgrounds`), then made low-detail; "
         "random left-right flips with mirrored position labels; mild pixel noise and blur on "
         "half the images (`augment_degrade`)",
    held_out=_HELD_OUT_V2,
))

_add(dataclasses.replace(
    RECIPES["shapes-segmenter-v1"],
    name="shapes-segmenter",
    summary="Labels every pixel of a 32×32 shapes image of the drawable world (background or "
            "one of the five shapes); measures label-map synthesis and its taps are source "
            "experts.",
    make_data=lambda n, seed: _shapes_data(n, seed, augment_photos=0.5, world="v2"),
    evaluate=functools.partial(_eval_segmenter, world="v2"),
    data="20,000 shapes images of " + _WORLD_V2 + ", both backgrounds, masks from the "
         "renderer (coverage ≥ 0.5); half of the photo backgrounds jittered as for "
         "shapes-attributes; random left-right flips",
    held_out=_HELD_OUT_V2,
))

_add(Recipe(
    name="digits-classifier",
    kind="classifier",
    summary="Classifies the 8×8 scikit-learn digits; its layer taps (conv1 … logits) are the "
            "source experts of the diagnosis / MLP-ablation notebook.",
    model=DigitsClassifier,
    config={"n_classes": 10, "size": 8, "channels": 1, "width": 32, "hidden": 128,
            "dropout": 0.2},
    make_data=lambda n, seed: _digits("train"),
    n_train=1438,
    steps=3000,
    batch_size=64,
    lr=2e-3,
    weight_decay=1e-4,
    objective=lambda: CrossEntropyObjective(target="label"),
    augment=lambda batch, gen: augment_shift(batch, gen, 1),
    evaluate=_eval_digits_classifier,
    eval_n=359,
    data="the 1,438 training digits of `load_digits('train')`, shifted by up to 1 pixel",
    held_out="the 359 held-out digits of `load_digits('test')`",
    architecture="CNN: conv1 (3×3, 32 ch, 8×8), conv2 (3×3 stride 2, 64 ch, 4×4), conv3 "
                 "(3×3, 64 ch), fc (128, ReLU), dropout 0.2, logits (10); BN after each conv",
))


# -- training entry point ---------------------------------------------------------------------


def machine_description() -> str:
    """CPU model, torch threads and torch version of this machine, in words."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {torch.get_num_threads()} torch threads ({os.cpu_count()} logical CPUs), "
            f"torch {torch.__version__}")


def _load_average() -> float | None:
    """The 1-minute load average (how busy the shared machine was), if the OS tells."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _save_weights(model: nn.Module, path: Path, name: str, class_spec: str) -> None:
    from safetensors.torch import save_file

    state = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
        for k, v in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"name": name, "class": class_spec, "config": json.dumps(model.config),
                "format": "n2nlib-zoo-1", "storage": "float16"}
    save_file(state, str(path), metadata=metadata)


def evaluate_expert(name: str, model: Any, n: int | None = None) -> dict[str, float]:
    """Measure ``model`` on the held-out data of recipe ``name``.

    Arguments:
        name: a recipe name (:data:`RECIPES`).
        model: a trained model of that recipe.
        n: held-out examples (default: the recipe's ``eval_n``).

    Returns:
        ``{metric: value}``, higher is better for each.
    """
    recipe = _recipe(name)
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    out = recipe.evaluate(model, n or recipe.eval_n)
    if isinstance(model, nn.Module):
        model.train(was_training)
    return {k: round(float(v), 5) for k, v in out.items()}


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        # the text-to-image experts' recipes live in n2nlib.text2image (they need its models)
        from n2nlib import text2image

        text2image._register_recipes()
    if name not in RECIPES:
        raise ValueError(f"no recipe for {name!r}; recipes: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


@dataclass
class TrainResult:
    """What :func:`train_expert` did: where it wrote, and the card it wrote."""

    name: str
    root: Path
    weights: Path
    card: dict[str, Any]


def train_expert(
    name: str,
    fast: bool = False,
    *,
    out: str | os.PathLike | None = None,
    threads: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
) -> TrainResult:
    """Train the zoo expert ``name`` by its recipe, save it and write its card.

    Arguments:
        name: a recipe name (:data:`RECIPES`).
        fast: tiny data and a few steps, to check the pipeline end to end in seconds.
        out: the zoo folder to write ``weights/NAME.safetensors``, ``registry.json`` and
            ``CARDS.md`` into. Default: the shipped zoo (``n2nlib/zoo``) for a full run, a new
            temporary folder for ``fast`` (fast runs never touch the shipped weights).
        threads: ``torch.set_num_threads`` for the run (default: leave as it is).
        seed: seed of the data and the training.
        device: where to train (default :func:`n2nlib.settings.device`).
        progress: show progress bars.
        checkpoint_dir: keep resumable checkpoints here (see :func:`fit_expert`); a second
            call with the same folder continues where the first stopped.

    Returns:
        A :class:`TrainResult`.
    """
    from n2nlib import zoo

    recipe = _recipe(name)
    root = Path(out) if out is not None else (
        Path(tempfile.mkdtemp(prefix="n2n-zoo-")) if fast else zoo.PACKAGE_ROOT)
    if fast and root.resolve() == zoo.PACKAGE_ROOT.resolve():
        raise ValueError("--fast never writes into the shipped zoo; choose another --out folder")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = settings.device(device)
    settings.seed_everything(seed)

    load_start = _load_average()
    start = time.perf_counter()
    data = recipe.make_data(recipe.n_train_fast if fast else recipe.n_train, seed)
    if fast:
        data = {k: v[: recipe.n_train_fast] for k, v in data.items()}
    data_seconds = time.perf_counter() - start
    model = recipe.model(**recipe.config).to(device=dev, dtype=torch.float32)
    data = {k: v.float() if v.is_floating_point() else v for k, v in data.items()}
    steps = recipe.steps_fast if fast else recipe.steps
    history = fit_expert(
        model, recipe.objective(), data, steps=steps, batch_size=recipe.batch_size,
        lr=recipe.lr, weight_decay=recipe.weight_decay,
        warmup=min(recipe.warmup, steps // 10), augment=recipe.augment, seed=seed,
        progress=progress, desc=f"training {name}", checkpoint_dir=checkpoint_dir,
    )

    class_spec = f"{recipe.model.__module__}:{recipe.model.__name__}"
    rel = f"weights/{name}.safetensors"
    weights = root / rel
    _save_weights(model, weights, name, class_spec)
    entries = zoo.registry(root) if (root / zoo.REGISTRY_FILE).exists() else {}
    command = f"python -m n2nlib.zoo train {name}" + (" --fast" if fast else "") + (
        f" --threads {threads}" if threads is not None else "") + (
        f" --seed {seed}" if seed != 0 else "") + (
        f" --device {dev.type}" if dev.type != "cpu" else "")
    card: dict[str, Any] = {
        "kind": recipe.kind,
        "summary": recipe.summary,
        "architecture": recipe.architecture,
        "dim": int(model.dim),
        "parameters": n_parameters(model),
        "data": recipe.data if not fast else f"(--fast: {len(next(iter(data.values())))} "
                                             f"examples) {recipe.data}",
        "held_out": recipe.held_out,
        "quality": {},
        "command": command,
        "train_seconds": round(history.seconds, 1),
        "train_cpu_seconds": round(history.cpu_seconds, 1),
        "data_seconds": round(data_seconds, 1),
        "steps": steps,
        "batch_size": recipe.batch_size,
        "machine": machine_description() + (
            f", device {torch.cuda.get_device_name(dev)}" if dev.type == "cuda"
            else f", device {dev.type}"),
        "notes": list(recipe.notes),
        "seed": seed,
        "final_loss": round(history.loss[-1], 5),
        "final_logs": {k: round(v, 5) for k, v in history.logs.items()},
        "trained": time.strftime("%Y-%m-%d"),
        "load_average": [load_start, _load_average()],
    }
    entries[name] = {
        "class": class_spec,
        "config": model.config,
        "file": rel,
        "sha256": zoo.sha256_file(weights),
        "bytes": weights.stat().st_size,
        "storage": "float16",
        "card": card,
    }
    zoo.write_registry(entries, root)
    # measure the weights as shipped (float16 storage, loaded back to float32)
    shipped = zoo.load(name, device=dev, root=root)
    eval_n = recipe.eval_n_fast if fast else recipe.eval_n
    card["quality"] = evaluate_expert(name, shipped, n=eval_n)
    card["eval_n"] = eval_n
    entries[name]["card"] = card
    zoo.write_registry(entries, root)
    return TrainResult(name=name, root=root, weights=weights, card=card)


TRAINING_ORDER: list[str] = [
    # readers first: the autoencoders' cards are measured with them
    "digits-classifier", "digits-ae",
    "shapes-attributes-v1", "shapes-segmenter-v1", "shapes-ae-32",
    "shapes-attributes", "shapes-segmenter", "shapes-ae", "shapes-ae-8",
    "textures-ae-32", "textures-ae-8",
    "shapes-generator", "shapes-generator-dequant", "sbert-to-shapes",
]
"""Every zoo entry in the order ``python -m n2nlib.zoo train all`` trains them."""


def recipe_names() -> list[str]:
    """The names :func:`train_expert` knows, sorted."""
    return sorted(RECIPES)


def replace(recipe: Recipe, **changes: Any) -> Recipe:
    """A copy of ``recipe`` with some fields changed (for experiments)."""
    return dataclasses.replace(recipe, **changes)
