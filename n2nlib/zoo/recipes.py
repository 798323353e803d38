"""One recipe per zoo expert: its architecture, data, objective, steps and held-out measure,
and the words of its card. :func:`n2nlib.zoo.retrain.train_expert` trains any of them.

>>> sorted(RECIPES)[:3]
['digits-ae', 'digits-classifier', 'shapes-ae']
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib.metrics import downsample
from n2nlib.nets.autoencoder import (
    Autoencoder,
)
from n2nlib.nets.classifiers import AttributeClassifier, DigitsClassifier, Segmenter
from n2nlib.zoo.data import (
    Batch,
    augment_attributes,
    augment_flip_shapes,
    augment_flip_swap,
    augment_shift,
    digits_split,
    photo_crops,
    shapes_data,
    swap_shapes_data,
)
from n2nlib.zoo.evaluation import (
    eval_attributes,
    eval_digits_ae,
    eval_digits_classifier,
    eval_segmenter,
    eval_shapes_ae,
    eval_shapes_ae_swap,
    eval_shapes_ae_v1,
    eval_shapes_lowres,
    eval_textures,
)
from n2nlib.zoo.objectives import (
    AutoencoderObjective,
    CrossEntropyObjective,
    SwapAutoencoderObjective,
)


@dataclass(frozen=True)
class Recipe:
    """How one zoo expert is trained and measured.

    Attributes:
        name: the zoo name.
        kind: ``"autoencoder"``, ``"attributes"``, ``"segmenter"``, ``"classifier"``,
            ``"generator"`` or ``"dequantizer"``.
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
        requires: zoo models the recipe uses (e.g. the generator whose embeddings a VAE
            learns); :func:`~n2nlib.zoo.retrain.train_expert` loads them and passes them, as a
            dict by name, as the last argument of ``make_data``, ``objective`` and
            ``evaluate``.
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
    requires: tuple[str, ...] = ()


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
    make_data=_ae_images(lambda n, seed: shapes_data(n, seed)["image"]),
    n_train=60000,
    steps=13000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    augment=_ae_flip,
    evaluate=eval_shapes_ae_v1,
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

_DRAWABLE_AE_LOSS = {"kl_weight": 0.1, "perceptual": "efficientnet-lite0",
                     "perceptual_layers": (0, 2, 4), "perceptual_weight": 0.25}
"""The loss settings the drawable world's 32×32 autoencoders share (Eq. 14 + perceptual)."""

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
    make_data=_ae_images(lambda n, seed: shapes_data(n, seed, world="v2")["image"]),
    n_train=40000,
    steps=5000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(**_DRAWABLE_AE_LOSS, gan_weight=0.1, gan_start=2500),
    augment=_ae_flip,
    evaluate=eval_shapes_ae,
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
    name="shapes-ae-swap",
    kind="autoencoder",
    summary="shapes-ae's network trained so that its code has two parts: the first 64 "
            "dimensions hold the appearance (the shape's colour, the background), the last 64 "
            "the geometry (shape, size, place); a code made of one image's geometry and "
            "another's appearance draws that scene.",
    model=Autoencoder,
    config={**RECIPES["shapes-ae"].config, "appearance_dim": 64},
    make_data=lambda n, seed: swap_shapes_data(n, seed),
    n_train=40000,
    steps=3000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: SwapAutoencoderObjective(**_DRAWABLE_AE_LOSS),
    augment=augment_flip_swap,
    evaluate=eval_shapes_ae_swap,
    eval_n=2000,
    data="the 40,000 training images of shapes-ae, each with its background, coverage and "
         "colour from the renderer (`zoo.data.swap_shapes_data`); random left-right flips",
    held_out=_HELD_OUT_V2,
    architecture="as shapes-ae (VAE, latent 128: ResNet encoder to 4×4, flatten, FC; "
                 "BigGAN-style decoder with conditional BN and a non-local block); no PatchGAN",
    notes=(
        "Loss: shapes-ae's (Eq. 14, L1 + 0.25 × EfficientNet-Lite0 distance, γ, KL weight "
        "0.1) plus the same NLL for a swapped code: image i's geometry part with image "
        "i − 1's appearance part must draw b_{i−1} · (1 − α_i) + c_{i−1} · α_i, the scene the "
        "renderer composes from i's shape coverage α_i and i − 1's background and colour "
        "(`SwapAutoencoderObjective`).",
        "Why: in shapes-ae's code a shape's colour is stored where the shape is (notebook "
        "08: an exemplar's colour kept in 0.95 when the new map leaves the shape in place, "
        "0.65 when it moves it) and the residual of every translator keeps the "
        "plain/photo class (notebooks 04, 05, 08). A code whose parts are the scene's "
        "geometry and its appearance gives a translator both at fixed coordinates.",
    ),
))

_add(Recipe(
    name="shapes-ae-8",
    kind="autoencoder",
    summary="Autoencoder of the drawable world's shapes at 8×8 (downsampled ×4, antialiased "
            "bilinear): "
            "the low-resolution side of the superresolution experiment (target: shapes-ae).",
    model=Autoencoder,
    config={"size": 8, "channels": 3, "dim": 32, "width": 64, "max_width": 128,
            "n_pseudo_classes": 100, "embed_dim": 64, "attention": False},
    make_data=_ae_images(lambda n, seed: downsample(shapes_data(n, seed, world="v2")["image"], 8)),
    n_train=40000,
    steps=4000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    augment=_ae_flip,
    evaluate=eval_shapes_lowres,
    eval_n=2000,
    data="the 40,000 training images of shapes-ae, downsampled to 8×8 by "
         "`n2nlib.metrics.downsample` (antialiased bilinear); random left-right flips",
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
    make_data=_ae_images(photo_crops),
    n_train=30000,
    steps=1500,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    evaluate=eval_textures(32),
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
    summary="Autoencoder of the same photo crops at 8×8 (downsampled ×4, antialiased "
            "bilinear): the "
            "low-resolution side of a superresolution pair of photographs (target: "
            "textures-ae-32).",
    model=Autoencoder,
    config={"size": 8, "channels": 3, "dim": 32, "width": 64, "max_width": 128,
            "n_pseudo_classes": 100, "embed_dim": 64, "attention": False},
    make_data=_ae_images(lambda n, seed: downsample(photo_crops(n, seed), 8)),
    n_train=30000,
    steps=4000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    evaluate=eval_textures(8),
    eval_n=2000,
    data="the 30,000 training crops of textures-ae-32, downsampled to 8×8 by "
         "`n2nlib.metrics.downsample` (antialiased bilinear)",
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
    make_data=lambda n, seed: {"image": digits_split("train")["image"]},
    n_train=1438,
    steps=4000,
    batch_size=64,
    lr=1e-3,
    objective=lambda: AutoencoderObjective(kl_weight=0.1),
    augment=lambda batch, gen: augment_shift(batch, gen, 1),
    evaluate=eval_digits_ae,
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
        k: v for k, v in shapes_data(n, seed, augment_photos=0.7).items() if k != "mask"},
    n_train=30000,
    steps=3000,
    batch_size=64,
    lr=2e-3,
    weight_decay=1e-4,
    objective=lambda: CrossEntropyObjective(target="factors"),
    augment=augment_attributes,
    evaluate=eval_attributes,
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
    make_data=lambda n, seed: shapes_data(n, seed, augment_photos=0.5),
    n_train=20000,
    steps=1500,
    batch_size=64,
    lr=2e-3,
    weight_decay=1e-4,
    objective=lambda: CrossEntropyObjective(target="mask"),
    augment=augment_flip_shapes,
    evaluate=eval_segmenter,
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
        k: v for k, v in shapes_data(n, seed, augment_photos=0.7, world="v2").items()
        if k != "mask"},
    evaluate=functools.partial(eval_attributes, world="v2"),
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
    make_data=lambda n, seed: shapes_data(n, seed, augment_photos=0.5, world="v2"),
    evaluate=functools.partial(eval_segmenter, world="v2"),
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
    make_data=lambda n, seed: digits_split("train"),
    n_train=1438,
    steps=3000,
    batch_size=64,
    lr=2e-3,
    weight_decay=1e-4,
    objective=lambda: CrossEntropyObjective(target="label"),
    augment=lambda batch, gen: augment_shift(batch, gen, 1),
    evaluate=eval_digits_classifier,
    eval_n=359,
    data="the 1,438 training digits of `load_digits('train')`, shifted by up to 1 pixel",
    held_out="the 359 held-out digits of `load_digits('test')`",
    architecture="CNN: conv1 (3×3, 32 ch, 8×8), conv2 (3×3 stride 2, 64 ch, 4×4), conv3 "
                 "(3×3, 64 ch), fc (128, ReLU), dropout 0.2, logits (10); BN after each conv",
))




def replace(recipe: Recipe, **changes: Any) -> Recipe:
    """A copy of ``recipe`` with some fields changed (for experiments)."""
    return dataclasses.replace(recipe, **changes)
