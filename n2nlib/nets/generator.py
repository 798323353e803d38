r"""A small class-conditional generator with BigGAN's interface, trained here on the shapes data.

The paper's BERT-to-BigGAN experiment (Sec. 4.1) translates into the latent space of BigGAN,
:math:`z_\Theta' = [\tilde z, Wc]` (supplement Eq. 23): a noise vector :math:`\tilde z` and the
class embedding :math:`h = Wc` of a one-hot class :math:`c`. BigGAN's weights come from the
internet; :class:`ShapesGenerator` is an offline stand-in of the same family, trained by this
project on :mod:`n2nlib.data.shapes`:

* **classes** are the 40 pairs ``shape × color`` (``"red star"``, ...), class index
  ``shape * 8 + color`` (:func:`class_index`);
* **W** is a bias-free linear map from one-hot classes to ``h`` (``embeddings``, BigGAN's
  ``embeddings`` layer); :attr:`ShapesGenerator.class_embedding_matrix` is W itself;
* **decoder** (BigGAN's generator, scaled to 32×32): ``[z̃, h]`` → FC → 4×4 map → residual
  up-blocks with class-conditional batch norm (gain and bias linear in ``[z̃, h]``), a non-local
  block at 16×16, BN, ReLU, conv, tanh; by default *layered* like the renderer: such a trunk
  draws the shape's mask, composited over a background that the photo flag of
  :math:`\tilde z` switches between a second trunk (photo) and a plain layer (see
  ``composite`` and ``plain_layer``);
* **noise** :math:`\tilde z` controls everything the class does not fix: size, position,
  background (plain or photo) and the small jitter of colour. Its first
  :data:`N_KNOWN` dimensions are the renderer's own parameters of an image — the shape's
  centre ``x, y``, its radius, the colour jitter and the background type
  (:data:`KNOWN_NOISE`) — each *Gaussianised* (:func:`known_noise`: mapped through its
  empirical CDF and the inverse normal CDF), so that they are exactly :math:`\mathcal N(0, 1)`
  over the training set; the remaining dimensions (background appearance) are inferred by an
  encoder.

How it is trained (``python -m n2nlib.zoo train shapes-generator``): as a *conditional
VAE*, which is reliable on a CPU where a GAN is not. An encoder (a small ResNet, used only for
training) infers :math:`q(\tilde z_{bg} \mid y)` for the free dimensions, the decoder
reconstructs the image from :math:`[\tilde z_{known}, \tilde z_{bg}, Wc]` with the true class,
and the KL term to :math:`\mathcal N(0, I)` makes :math:`\tilde z_{bg} \sim \mathcal N(0, I)`
decode to valid backgrounds (:class:`GeneratorObjective`). Because the known dimensions are
standard normal by construction, prior samples put shapes where, and as large as, the data
does. At sampling time, exactly as with BigGAN, :math:`\tilde z` is drawn from a (truncated)
normal and the class is chosen.

>>> g = ShapesGenerator(z_dim=9, embed_dim=6, width=4, max_width=8, encoder_width=4)
>>> z = g.sample_noise(3, truncation=0.5, generator=torch.Generator().manual_seed(0))
>>> images = g.generate(z, torch.tensor([0, 5, 39]))
>>> images.shape, g.dim, tuple(g.class_embedding_matrix.shape)
(torch.Size([3, 3, 32, 32]), 15, (6, 40))
>>> class_names()[class_index("star", "red")]
'red star'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2nlib.experts.base import check_latent
from n2nlib.experts.biggan import truncated_noise
from n2nlib.nets.autoencoder import Encoder, vae_loss
from n2nlib.nets.blocks import check_images, model_device_dtype
from n2nlib.nets.trunk import SelfAttention, UpBlock, run_up_trunk

__all__ = [
    "ShapesGenerator",
    "KNOWN_NOISE",
    "N_KNOWN",
    "known_noise",
    "GeneratorObjective",
    "class_names",
    "class_index",
    "class_factors",
    "N_CLASSES",
]


def _shape_color_values() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from n2nlib.data.factors import FACTORS

    return FACTORS["shape"], FACTORS["color"]


def class_names() -> list[str]:
    """The 40 class names ``"<color> <shape>"`` in class-index order (shape-major).

    >>> class_names()[:3]
    ['red circle', 'green circle', 'blue circle']
    """
    shapes, colors = _shape_color_values()
    return [f"{c} {s}" for s in shapes for c in colors]


N_CLASSES = 40
"""Number of generator classes: 5 shapes × 8 colours."""

KNOWN_NOISE: tuple[str, ...] = ("x", "y", "radius", "red", "green", "blue", "photo")
"""The renderer's parameters that make up the first noise dimensions (Gaussianised)."""
N_KNOWN = len(KNOWN_NOISE)


def known_noise(
    centers: Tensor, radii: Tensor, colors: Tensor, factors: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The Gaussianised renderer parameters of a set of images: ``(N, 7)``, each column
    exactly standard normal over the set.

    Each parameter is replaced by its rank (ties broken at random), mapped to ``(0, 1)`` and
    through the inverse normal CDF: the shape's centre ``x`` and ``y`` and its radius (from
    :func:`~n2nlib.data.render.render_shapes_full`), the colour jitter (the rendered RGB minus
    the colour's base RGB), and the background (every plain image below every photo one, in
    random order inside each group).

    Arguments:
        centers: ``(N, 2)`` shape centres in pixels.
        radii: ``(N,)`` shape radii.
        colors: ``(N, 3)`` rendered shape colours.
        factors: ``(N, 5)`` factor labels.
        generator: for the random tie-breaking of the background.

    >>> from n2nlib.data import render_shapes_full, sample_factors
    >>> f = sample_factors(500, 0, background="mixed")
    >>> r = render_shapes_full(f)
    >>> z = known_noise(r.centers, r.radii, r.colors, f)
    >>> photo = f[:, 4] == 1
    >>> z.shape, bool(z.mean(0).abs().max() < 0.05), bool(z[~photo, 6].max() < z[photo, 6].min())
    (torch.Size([500, 7]), True, True)
    """
    from n2nlib.data.factors import COLOR_RGB, FACTORS

    n = len(radii)
    if n < 2:
        raise ValueError("known_noise needs at least two images (it ranks them)")
    base = torch.tensor([COLOR_RGB[c] for c in FACTORS["color"]], dtype=torch.float32)
    jitter = colors.float() - base[factors[:, 1].long()]
    photo = (factors[:, 4] == FACTORS["background"].index("photo")).float()
    columns = [centers[:, 0].float(), centers[:, 1].float(), radii.float(), jitter[:, 0],
               jitter[:, 1], jitter[:, 2], photo]
    normal = torch.distributions.Normal(0.0, 1.0)
    out = []
    for col in columns:
        col = col + 1e-3 * torch.rand(n, generator=generator)  # break ties at random
        ranks = torch.empty(n)
        ranks[col.argsort()] = torch.arange(n, dtype=torch.float32)
        out.append(normal.icdf((ranks + 0.5) / n))
    return torch.stack(out, dim=1)


def class_index(shape: Any, color: Any) -> Any:
    """The class index ``shape * 8 + color`` of shape and colour labels (names or indices).

    Arguments:
        shape: a shape name or index, or a tensor of indices.
        color: a colour name or index, or a tensor of indices (broadcast with ``shape``).

    Returns:
        An int for scalar inputs, else a LongTensor.

    >>> class_index("heart", "cyan"), class_index(torch.tensor([0, 1]), torch.tensor([2, 2]))
    (39, tensor([ 2, 10]))
    """
    shapes, colors = _shape_color_values()
    if isinstance(shape, str):
        if shape not in shapes:
            raise ValueError(f"shape must be one of {list(shapes)}, got {shape!r}")
        shape = shapes.index(shape)
    if isinstance(color, str):
        if color not in colors:
            raise ValueError(f"color must be one of {list(colors)}, got {color!r}")
        color = colors.index(color)
    if isinstance(shape, Tensor) or isinstance(color, Tensor):
        return torch.as_tensor(shape).long() * len(colors) + torch.as_tensor(color).long()
    return int(shape) * len(colors) + int(color)


def class_factors(labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(shape, color)`` label tensors of class indices (the inverse of :func:`class_index`).

    >>> class_factors(torch.tensor([39, 2]))
    (tensor([4, 0]), tensor([7, 2]))
    """
    _, colors = _shape_color_values()
    labels = torch.as_tensor(labels).long()
    return labels // len(colors), labels % len(colors)


class _Decoder(nn.Module):
    """BigGAN's generator trunk: FC(cond) → 4×4 map → residual up-blocks with batch norm
    conditioned on ``cond`` → (non-local block at 16×16) → BN, ReLU, conv to ``out`` channels."""

    def __init__(self, widths: list[int], cond_dim: int, out: int, attention: bool) -> None:
        super().__init__()
        levels = len(widths) - 1
        self.c0 = widths[0]
        self.gen_z = nn.Linear(cond_dim, widths[0] * 16)
        self.blocks = nn.ModuleList(
            UpBlock(widths[i], widths[i + 1], cond_dim) for i in range(levels)
        )
        size = 4 * 2**levels
        self.attention_after = -1
        if attention and size >= 16:
            self.attention_after = levels - 1 - int(math.log2(size // 16))
            self.attention = SelfAttention(widths[self.attention_after + 1])
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], out, 3, padding=1)

    def forward(self, cond: Tensor) -> Tensor:
        return run_up_trunk(self, self.gen_z(cond).view(cond.shape[0], self.c0, 4, 4), cond)


class ShapesGenerator(nn.Module):
    r"""A BigGAN-style class-conditional generator of 32×32 shapes images (see the module doc).

    As a target :class:`~n2nlib.experts.Expert` its representation is BigGAN's
    :math:`z_\Theta' = [\tilde z, Wc]` (Eq. 23), ``dim = z_dim + embed_dim``:

    * ``encode(y)`` takes the generator's *inputs* ``y = [z̃, c]``, ``(B, z_dim + n_classes)``
      (``c`` one-hot, or any weights over classes), or a pair ``(z̃, labels)``, and returns
      ``[z̃, Wc]``;
    * ``decode(z)`` maps ``[z̃, h]`` to images in [0, 1] — any ``h``, not only columns of W,
      which is what the dequantised :math:`\hat h` of Eq. 24 needs.

    Arguments:
        size: image side (32; a power of two ≥ 8).
        z_dim: size of the noise :math:`\tilde z`.
        embed_dim: size of the class embedding :math:`h`.
        width: decoder channels at full resolution (doubled per halving up to ``max_width``).
        max_width: channel cap (the 4×4 map has this many channels).
        encoder_width: stem channels of the training encoder.
        attention: a non-local block after the up-block that reaches 16×16.
        composite: a *layered* generator, the image model of the shapes renderer: a shape layer
            (a BigGAN trunk on ``[z̃_known, h]`` to a mask α, and one foreground colour, a
            linear map of the same) composited as ``α·fg + (1 − α)·bg`` over a background
            layer (a narrower trunk on the photo flag and the free noise dimensions). ``False``:
            one BigGAN trunk on ``[z̃, h]`` ending in ``conv → tanh``.
        known_dims: how many leading noise dimensions are given (the Gaussianised renderer
            parameters of :func:`known_noise`) rather than inferred by the encoder.
        plain_noise: standard deviation of a fixed per-pixel noise pattern added to the
            background where the photo flag (the last known dimension) says "plain": the
            renderer adds such noise (σ = 0.012) to plain backgrounds, a pixel loss cannot
            learn it (it is unpredictable), and without it a smooth dark background does not
            look like the data's (the attribute classifier calls it a photo).
        plain_layer: where the photo flag says "plain" (``≤ 0``), the background is a *plain
            layer* instead of the background trunk: the renderer's model of a plain
            background — a grey level in ``[0.03, 0.22]``, a tint in ``±0.04`` per channel and
            a linear gradient of at most ``±0.1`` per axis, each bounded and linear (before
            its squashing) in the free noise dimensions, plus *blotches*: a ``3×4×4`` map
            ``0.03 · R z̃_free`` with a fixed random ``R`` (unit variance per cell under the
            prior), upsampled bicubically. The switch is by construction, so the flag alone
            decides plain vs photo: with one trunk for both the encoder told them apart in the
            free dimensions, the trunk ignored the flag, and prior noise decoded to photo-like
            backgrounds almost always. The bounds keep prior draws valid (plain images occupy
            a small part of the free dimensions' posterior, and an unbounded map extrapolates
            from there to bright colourful blotches). The blotches are fixed for the same
            reason as ``plain_noise``: the renderer draws them at random (σ = 0.03), so a
            decoder trained by reconstruction learns their mean, a flat background, which the
            attribute classifier reads as a photo more often than not; from ``R`` every prior
            draw has blotches of the renderer's size. Needs ``composite`` and
            ``known_dims = N_KNOWN``.
        classes: class names (default :func:`class_names`, the 40 shape × colour pairs).
    """

    def __init__(
        self,
        size: int = 32,
        z_dim: int = 16,
        embed_dim: int = 32,
        width: int = 32,
        max_width: int = 128,
        encoder_width: int = 16,
        attention: bool = True,
        composite: bool = True,
        known_dims: int = N_KNOWN,
        plain_noise: float = 0.012,
        plain_layer: bool = True,
        classes: list[str] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(size, int) or size < 8 or size & (size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {size!r}")
        levels = int(math.log2(size // 4))
        for name, value in (("z_dim", z_dim), ("embed_dim", embed_dim), ("width", width),
                            ("max_width", max_width), ("encoder_width", encoder_width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.classes = list(class_names() if classes is None else classes)
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must be at least two distinct names")
        self.size, self.channels = size, 3
        self.z_dim, self.embed_dim, self.num_classes = z_dim, embed_dim, len(self.classes)
        self.dim = z_dim + embed_dim
        self.config: dict[str, Any] = {
            "size": size, "z_dim": z_dim, "embed_dim": embed_dim, "width": width,
            "max_width": max_width, "encoder_width": encoder_width,
            "attention": bool(attention), "composite": bool(composite),
            "known_dims": known_dims, "plain_noise": float(plain_noise),
            "plain_layer": bool(plain_layer), "classes": self.classes,
        }
        widths = [min(width * 2**i, max_width) for i in range(levels + 1)][::-1]  # 4×4 first
        self.embeddings = nn.Linear(self.num_classes, embed_dim, bias=False)  # W
        nn.init.normal_(self.embeddings.weight, std=1.0)
        self.composite = bool(composite)
        if not 0 <= known_dims < z_dim:
            raise ValueError(f"known_dims must be in [0, z_dim), got {known_dims}")
        # the background layer sees the free dimensions and the last known one (the photo flag)
        self._bg_start = max(known_dims - 1, 0)
        if composite:
            shape_cond = (known_dims or z_dim) + embed_dim
            self.shape_layer = _Decoder(widths, shape_cond, 1, attention)
            self.foreground = nn.Linear(shape_cond, 3)
            bg_widths = [max(w // 2, 4) for w in widths]
            self.background_layer = _Decoder(bg_widths, z_dim - self._bg_start, 3, False)
            pattern = torch.randn(3, size, size, generator=torch.Generator().manual_seed(0))
            self.register_buffer("pixel_noise", pattern * float(plain_noise))
        else:
            self.decoder = _Decoder(widths, z_dim + embed_dim, 3, attention)
        self.plain_layer = bool(plain_layer) and composite and known_dims == N_KNOWN
        if self.plain_layer:
            free = z_dim - known_dims
            self.plain_background = nn.Linear(free, 1 + 3 + 2)  # level, tint, gradient
            blotches = torch.randn(3 * 4 * 4, free, generator=torch.Generator().manual_seed(1))
            self.register_buffer("plain_blotches", blotches / math.sqrt(free))
            # the blotches' full-size maps per free dimension, derived (not saved): refreshed
            # when a state dict brings other plain_blotches
            self.register_buffer("blotch_maps", self._blotch_maps(), persistent=False)
            self.register_load_state_dict_post_hook(ShapesGenerator._refresh_blotch_maps)
        self.known_dims = known_dims
        self.encoder = Encoder(size, 3, z_dim - known_dims, encoder_width, max_width)
        self.log_gamma = nn.Parameter(torch.zeros(()))

    # -- BigGAN's interface --------------------------------------------------------------------

    @property
    def class_embedding_matrix(self) -> Tensor:
        """W, ``(embed_dim, num_classes)``: column ``k`` is the embedding of class ``k``."""
        return self.embeddings.weight

    def one_hot(self, labels: Any) -> Tensor:
        """One-hot class vectors ``(B, num_classes)`` from indices or class names."""
        device, dtype = model_device_dtype(self)
        if isinstance(labels, list | tuple) and labels and all(isinstance(x, str) for x in labels):
            unknown = [x for x in labels if x not in self.classes]
            if unknown:
                raise ValueError(f"unknown class names {unknown}; classes are {self.classes}")
            labels = [self.classes.index(x) for x in labels]
        labels = torch.as_tensor(labels)
        if labels.is_floating_point() or labels.ndim != 1:
            raise TypeError(f"class labels must be integer indices (B,), got {labels.dtype} "
                            f"{tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"class labels must be in [0, {self.num_classes - 1}], got "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        return torch.nn.functional.one_hot(labels.long(), self.num_classes).to(device, dtype)

    def embed(self, labels: Any) -> Tensor:
        """``h = W c`` for class indices (or names) ``(B,)``: ``(B, embed_dim)``."""
        return self.embeddings(self.one_hot(labels))

    def sample_noise(
        self, n: int, truncation: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n`` noise vectors :math:`\\tilde z` (see :func:`truncated_noise`), on the model's
        device."""
        device, dtype = model_device_dtype(self)
        return truncated_noise(n, self.z_dim, truncation, generator).to(device, dtype)

    def latent(self, noise: Tensor, labels: Any) -> Tensor:
        """Eq. (23): ``[z̃, W c]``, ``(B, dim)``."""
        device, dtype = model_device_dtype(self)
        noise = check_latent(torch.as_tensor(noise), self.z_dim, "the noise z̃")
        h = self.embed(labels)
        if h.shape[0] != noise.shape[0]:
            raise ValueError(f"noise and labels must have one batch size, got {noise.shape[0]} "
                             f"and {h.shape[0]}")
        return torch.cat([noise.to(device, dtype), h], dim=1)

    def encode(self, inputs: Any) -> Tensor:
        """``[z̃, W c]`` from the generator's inputs: ``(B, z_dim + num_classes)`` rows
        ``[z̃, c]``, or a pair ``(z̃, labels)``."""
        if isinstance(inputs, tuple | list) and len(inputs) == 2:
            return self.latent(*inputs)
        device, dtype = model_device_dtype(self)
        y = check_latent(torch.as_tensor(inputs), self.z_dim + self.num_classes,
                         "the generator inputs [z̃, c]").to(device, dtype)
        return torch.cat([y[:, : self.z_dim], self.embeddings(y[:, self.z_dim :])], dim=1)

    def layers(self, z: Tensor) -> dict[str, Tensor]:
        """The decoder's output before compositing: ``{"image"}``, and for ``composite=True``
        also ``"alpha_logits"`` ``(B, 1, S, S)``, ``"foreground"`` ``(B, 3)`` and
        ``"background"`` ``(B, 3, S, S)``."""
        check_latent(z, self.dim, "the latent [z̃, h] given to decode")
        device, dtype = model_device_dtype(self)
        z = z.to(device, dtype)
        if not self.composite:
            return {"image": (torch.tanh(self.decoder(z)) + 1.0) / 2.0}
        noise, h = z[:, : self.z_dim], z[:, self.z_dim :]
        shape_cond = torch.cat([noise[:, : self.known_dims or self.z_dim], h], dim=1)
        alpha_logits = self.shape_layer(shape_cond)
        alpha = torch.sigmoid(alpha_logits)
        foreground = torch.sigmoid(self.foreground(shape_cond))
        background = self._background(noise)
        if self.known_dims == N_KNOWN:
            plain = (noise[:, N_KNOWN - 1] <= 0).to(background.dtype)[:, None, None, None]
            if self.plain_layer:
                flat = self._plain(noise[:, self.known_dims :])
                background = plain * flat + (1.0 - plain) * background
            # the pattern (and bicubic overshoot) can leave [0, 1]: clamp like the renderer
            background = (background + plain * self.pixel_noise).clamp(0.0, 1.0)
        image = alpha * foreground[:, :, None, None] + (1.0 - alpha) * background
        return {"image": image, "alpha_logits": alpha_logits, "foreground": foreground,
                "background": background}

    def _background(self, noise: Tensor) -> Tensor:
        """The background trunk's layer in [0, 1]. In eval mode with a plain layer, only the
        photo rows run the trunk (the others get zeros, which the plain layer replaces
        exactly); in training its batch norm needs every row."""
        free = noise[:, self._bg_start :]
        photo = noise[:, N_KNOWN - 1] > 0 if self.known_dims == N_KNOWN else None
        if self.training or not self.plain_layer or photo is None or bool(photo.all()):
            return (torch.tanh(self.background_layer(free)) + 1.0) / 2.0
        out = noise.new_zeros(noise.shape[0], 3, self.size, self.size)
        if bool(photo.any()):
            out[photo] = (torch.tanh(self.background_layer(free[photo])) + 1.0) / 2.0
        return out

    def _plain(self, free: Tensor) -> Tensor:
        """The plain layer (see ``plain_layer``): ``(B, 3, S, S)`` from the free noise."""
        p = self.plain_background(free)
        level = 0.03 + 0.19 * torch.sigmoid(p[:, :1])
        tint = 0.04 * torch.tanh(p[:, 1:4])
        slope = 0.1 * torch.tanh(p[:, 4:6])
        t = (torch.arange(self.size, device=free.device, dtype=free.dtype) + 0.5) / self.size
        t = t - 0.5
        gradient = (slope[:, 0, None, None] * t[None, None, :]
                    + slope[:, 1, None, None] * t[None, :, None])
        blotches = (free @ self.blotch_maps).view(-1, 3, self.size, self.size)
        return (level + tint)[:, :, None, None] + gradient[:, None] + blotches

    @torch.no_grad()
    def _blotch_maps(self) -> Tensor:
        """``(free, 3·S·S)``: each free dimension's ``3×4×4`` blotch pattern ``0.03 · R``,
        upsampled bicubically. Upsampling is linear, so ``z̃_free @ maps`` is the upsampled
        ``0.03 · R z̃_free`` (one small product instead of an interpolation per call)."""
        coarse = 0.03 * self.plain_blotches.T.reshape(-1, 3, 4, 4)
        return F.interpolate(coarse, size=self.size, mode="bicubic",
                             align_corners=False).flatten(1)

    @staticmethod
    def _refresh_blotch_maps(module: ShapesGenerator, _: Any) -> None:
        module.blotch_maps = module._blotch_maps()

    def decode(self, z: Tensor) -> Tensor:
        """Images ``(B, 3, size, size)`` in [0, 1] from ``[z̃, h]`` ``(B, dim)``."""
        return self.layers(z)["image"]

    def generate(self, noise: Tensor, labels: Any) -> Tensor:
        """Images of classes ``labels`` from noise ``noise``: ``decode([z̃, W c])``."""
        return self.decode(self.latent(noise, labels))

    # -- the training encoder (conditional VAE) ------------------------------------------------

    def _images(self, images: object) -> Tensor:
        device, dtype = model_device_dtype(self)
        return check_images(images, 3, self.size, device=device, dtype=dtype)

    def noise_distribution(self, images: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`q(\tilde z_{bg} \mid y)`: ``(mean, logvar)`` of the noise dimensions the
        encoder infers (the last ``z_dim - known_dims``)."""
        return self.encoder(self._images(images))

    def forward(
        self, images: Tensor, labels: Any, known: Tensor | None = None, sample: bool = True,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """Encode the free noise, sample it (or take the mean), decode with the true class and
        the known noise.

        Arguments:
            images: ``(B, 3, S, S)`` in [0, 1].
            labels: class indices ``(B,)``.
            known: the known noise ``(B, known_dims)`` (:func:`known_noise`).
            sample: sample the free noise (else its posterior mean).
            generator: for the sample.

        Returns:
            ``(reconstruction, mean, logvar, layers)`` (``layers`` as :meth:`layers`).
        """
        mean, logvar = self.noise_distribution(images)
        noise = mean
        if sample:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device,
                              dtype=mean.dtype)
            noise = mean + torch.exp(0.5 * logvar) * eps
        if self.known_dims:
            if known is None or known.shape != (noise.shape[0], self.known_dims):
                raise ValueError(f"known must be (B, {self.known_dims}): the Gaussianised "
                                 f"renderer parameters of known_noise()")
            noise = torch.cat([known.to(noise), noise], dim=1)
        out = self.layers(torch.cat([noise, self.embed(labels)], dim=1))
        return out["image"], mean, logvar, out

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, embed_dim={self.embed_dim}, classes={self.num_classes}, "
                f"size={self.size}")


@dataclass
class GeneratorObjective:
    """The conditional-VAE loss of :class:`ShapesGenerator`, for the zoo's expert loop.

    ``[Σ_pixels |y − ŷ|/γ + log γ + kl_weight · KL(q(z̃|y) ‖ N(0, I))] / n_pixels`` (Eq. 14 of
    the autoencoder, with the true class given to the decoder), plus ``mask_weight`` times a
    binary cross-entropy between the shape layer's α and the renderer's shape mask.
    ``kl_weight = 1`` is the ELBO: the weight that makes prior samples look like the data.
    Batches hold ``"image"``, ``"factors"`` (the class is read from the shape and colour
    columns), ``"known"`` (the known noise, :func:`known_noise`) and ``"mask"``.

    Arguments:
        kl_weight: weight of the KL term.
        pixel: ``"l1"`` or ``"l2"``.
        mask_weight: weight of the mask term (0: off) — the shapes data knows where the shape
            is, so the shape layer learns its outline directly.
    """

    kl_weight: float = 1.0
    pixel: str = "l1"
    mask_weight: float = 0.0

    def __call__(self, model: nn.Module, batch: dict[str, Tensor], step: int
                 ) -> tuple[Tensor, dict[str, float]]:
        images = batch["image"]
        labels = class_index(batch["factors"][:, 0], batch["factors"][:, 1])
        recon, mean, logvar, layers = model(images, labels, batch.get("known"))
        parts = vae_loss(images, recon, mean, logvar, model.log_gamma, self.kl_weight,
                         self.pixel)
        logs = {"rec": float(parts["rec"]), "kl": float(parts["kl"].detach()),
                "gamma": float(model.log_gamma.detach().exp())}
        loss = parts["loss"] / images[0].numel()
        if self.mask_weight > 0 and "alpha_logits" in layers and "mask" in batch:
            target = (batch["mask"] > 0).to(recon.dtype)[:, None]
            bce = F.binary_cross_entropy_with_logits(layers["alpha_logits"], target)
            loss = loss + self.mask_weight * bce
            logs["mask"] = float(bce.detach())
        return loss, logs
