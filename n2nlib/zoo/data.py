"""Training data of the zoo's recipes, and the augmentations applied at each step.

>>> augment_shift({"image": torch.ones(1, 1, 4, 4)}, torch.Generator(), 1)["image"].shape
torch.Size([1, 1, 4, 4])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

Batch = dict[str, Tensor]
"""A batch of training tensors by name (``"image"``, ``"factors"``, ``"mask"``, …): what a
recipe's data, augmentations and objectives exchange."""


def augment_flip_shapes(batch: Batch, generator: torch.Generator) -> Batch:
    """Mirror half of a shapes batch left–right: images, masks, the ``position`` factor and,
    for the generator, the horizontal centre in ``known`` (column 0 of
    :func:`n2nlib.nets.generator.known_noise`).

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


def composite(background: Tensor, coverage: Tensor, color: Tensor) -> Tensor:
    """The renderer's compositing: ``background · (1 − coverage) + color · coverage``.

    Arguments:
        background: ``(B, 3, S, S)`` backgrounds.
        coverage: ``(B, S, S)`` shape coverage in [0, 1].
        color: ``(B, 3)`` shape colours.

    Returns:
        ``(B, 3, S, S)`` images.

    >>> composite(torch.zeros(1, 3, 2, 2), torch.ones(1, 2, 2), torch.ones(1, 3)).mean().item()
    1.0
    """
    alpha = coverage[:, None]
    return background * (1 - alpha) + color[:, :, None, None] * alpha


def augment_flip_swap(batch: Batch, generator: torch.Generator) -> Batch:
    """:func:`augment_flip_shapes` for the swap data: the image, its background and its
    coverage are mirrored together (so the compositing still holds)."""
    n = len(batch["image"])
    flip = (torch.rand(n, generator=generator) < 0.5).to(batch["image"].device)
    out = dict(batch)
    for key in ("image", "background", "coverage"):
        x = batch[key]
        where = flip.view(-1, *([1] * (x.dim() - 1)))
        out[key] = torch.where(where, x.flip(-1), x)
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


def augment_attributes(batch: Batch, generator: torch.Generator) -> Batch:
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


def shapes_data(n: int, seed: int, split: str = "train", augment_photos: float = 0.0,
                 world: str = "v1") -> Batch:
    """Shapes with both backgrounds; a share ``augment_photos`` of the photo backgrounds is
    replaced by a fresh crop of the split's photographs, changed by :func:`jitter_backgrounds`
    (composited with the renderer's own coverage and colour, so labels and masks still hold;
    in a world of low-detail photos the jittered crop is made low-detail too)."""
    from n2nlib.data import random_crops, render_shapes_full, sample_factors
    from n2nlib.data.factors import WORLDS
    from n2nlib.data.render import low_detail

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


def swap_shapes_data(n: int, seed: int, split: str = "train", world: str = "v2") -> Batch:
    """The images of :func:`shapes_data` (same factors and draws) with what made them: the
    backgrounds without the shape, the coverage and the colour (for
    :class:`~n2nlib.zoo.objectives.SwapAutoencoderObjective`)."""
    from n2nlib.data import render_shapes_full, sample_factors

    factors = sample_factors(n, seed, split=split, background="mixed")
    render = render_shapes_full(factors, 32, seed, split, world=world, keep_backgrounds=True)
    return {"image": render.images, "background": render.backgrounds,
            "coverage": render.coverage, "color": render.colors, "factors": factors}


def photo_crops(n: int, seed: int, split: str = "train") -> Tensor:
    from n2nlib.data import random_crops

    return random_crops(n, 32, split, seed)[0]


def digits_split(split: str) -> Batch:
    from n2nlib.data import load_digits

    d = load_digits(split)
    return {"image": d.images, "label": d.labels}
