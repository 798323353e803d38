"""What makes a background "plain" to the attribute classifier, and does the generator's photo
flag decide it (issue 8)?

    .venv/bin/python benchmarks/probe_plain_background.py

Two measurements, both read by the zoo's ``shapes-attributes-v1`` background head:

1. Real shapes on plain backgrounds rendered by the renderer's recipe
   (``data.shapes._plain_backgrounds``: level, tint, gradient, 4×4 blotches, pixel noise) with
   one part left out at a time (its switches). A decoder trained by reconstruction cannot draw
   the random parts (blotches, pixel noise); this shows which of them the classifier needs to
   say "plain".
2. ``shapes-generator`` from random noise with its known photo dimension set to fixed values:
   the fraction read as photo for each.
"""

from __future__ import annotations

import numpy as np
import torch

from n2nlib import zoo
from n2nlib.data.factors import FACTORS, sample_factors
from n2nlib.data.render import _plain_backgrounds, render_shapes_full
from n2nlib.nets.generator import KNOWN_NOISE


@torch.no_grad()
def main(n: int = 1000) -> None:
    torch.set_num_threads(1)
    clf = zoo.load("shapes-attributes-v1", device="cpu").eval()
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
        backgrounds = _plain_backgrounds(n, 32, np.random.default_rng(7),
                                         torch.Generator().manual_seed(7), **parts)
        images = mask * render.images + (1 - mask) * backgrounds
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
