"""What makes a background "plain" to the attribute classifier, and does the generator's photo
flag decide it (issue 8)?

    .venv/bin/python benchmarks/probe_plain_background.py

Two measurements, both read by the zoo's ``shapes-attributes`` background head:

1. Real shapes on plain backgrounds rendered by the renderer's recipe
   (``data.shapes._plain_backgrounds``: level, tint, gradient, 4×4 blotches, pixel noise) with
   one part left out at a time. A decoder trained by reconstruction cannot draw the random parts
   (blotches, pixel noise); this shows which of them the classifier needs to say "plain".
2. ``shapes-generator`` from random noise with its known photo dimension set to fixed values:
   the fraction read as photo for each.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from n2nlib import zoo
from n2nlib.data.shapes import FACTORS, render_shapes_full, sample_factors
from n2nlib.experts.generator import KNOWN_NOISE


def plain_backgrounds(n: int, size: int, seed: int, *, gradient: bool = True,
                      blotches: bool = True, noise: bool = True) -> torch.Tensor:
    """The renderer's plain backgrounds (same distributions), parts switchable."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    level = torch.from_numpy(rng.uniform(0.03, 0.22, size=(n, 1))).float()
    tint = torch.from_numpy(rng.uniform(-0.04, 0.04, size=(n, 3))).float()
    out = (level + tint)[:, :, None, None].expand(n, 3, size, size).clone()
    if gradient:
        amp = torch.from_numpy(rng.uniform(0.0, 0.10, size=n)).float()
        theta = torch.from_numpy(rng.uniform(0.0, 2 * math.pi, size=n)).float()
        t = (torch.arange(size) + 0.5) / size - 0.5
        ramp = (torch.cos(theta)[:, None, None] * t[None, None, :]
                + torch.sin(theta)[:, None, None] * t[None, :, None])
        out += (amp[:, None, None] * ramp)[:, None]
    if blotches:
        blot = torch.randn(n, 3, 4, 4, generator=gen) * 0.03
        out += F.interpolate(blot, size=(size, size), mode="bicubic", align_corners=False)
    if noise:
        out += torch.randn(n, 3, size, size, generator=gen) * 0.012
    return out.clamp(0.0, 1.0)


@torch.no_grad()
def main(n: int = 1000) -> None:
    torch.set_num_threads(1)
    clf = zoo.load("shapes-attributes", device="cpu").eval()
    photo = FACTORS["background"].index("photo")
    factors = sample_factors(n, 5, split="test", background="plain")
    render = render_shapes_full(factors, 32, 5, "test")
    mask = (render.masks[:, None] > 0).float()
    print(f"1. {n} held-out shapes on the renderer's plain backgrounds, read as photo:")
    variants = {"full recipe": {}, "no gradient": {"gradient": False},
                "no blotches": {"blotches": False}, "no pixel noise": {"noise": False},
                "level + tint + noise only": {"gradient": False, "blotches": False},
                "level + tint only (flat)": {"gradient": False, "blotches": False,
                                             "noise": False}}
    for name, parts in variants.items():
        images = mask * render.images + (1 - mask) * plain_backgrounds(n, 32, 7, **parts)
        read = clf.predict_factors(images)[:, 4]
        print(f"   {name:28} {float((read == photo).float().mean()):.3f}")
    g = zoo.load("shapes-generator", device="cpu").eval()
    noise = g.sample_noise(n, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % g.num_classes
    flag = KNOWN_NOISE.index("photo")
    print(f"2. shapes-generator, {n} random noises (classes in turn), photo dimension fixed; "
          "read as photo:")
    for value in (-2.0, -1.0, -0.3, 0.3, 1.0, 2.0):
        noise[:, flag] = value
        read = clf.predict_factors(g.generate(noise, labels))[:, 4]
        print(f"   z̃_photo = {value:+.1f}: {float((read == photo).float().mean()):.3f}")


if __name__ == "__main__":
    main()
