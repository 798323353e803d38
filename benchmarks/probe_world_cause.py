"""Why do the shapes autoencoder's reconstructions lose the shape on photo backgrounds?

Measures, with the first world's ``shapes-ae-32`` and ``shapes-attributes-v1`` (no training), on
held-out ``split="test"`` images (seed 1000): the joint accuracy (shape, colour, size and
position all read right) of originals and of reconstructions, per domain and shape size, when
the photo backgrounds are left sharp and when the *same* crops are blurred (Gaussian, σ in
pixels) or replaced by their 4×4 average. If the photo domain's loss is the background's
detail taking the latent's capacity, blurring the background alone must bring the photo row
close to the plain one.

    python benchmarks/probe_world_cause.py [--n 2000]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from n2nlib import zoo
from n2nlib.data import render_shapes_full, sample_factors


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@torch.no_grad()
def joint(reader, images, factors) -> torch.Tensor:
    pred = reader.predict(images)
    ok = torch.ones(len(images), dtype=torch.bool)
    for j, name in enumerate(("shape", "color", "size", "position")):
        ok &= pred[name] == factors[:, j]
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    ae, reader = zoo.load("shapes-ae-32"), zoo.load("shapes-attributes-v1")
    factors = sample_factors(args.n, 1000, split="test", background="mixed")
    render = render_shapes_full(factors, 32, 1000, "test")
    photo = factors[:, 4] == 1
    small = factors[:, 2] == 0
    alpha = render.coverage[:, None]
    fg = render.colors[:, :, None, None]
    bg = (render.images - fg * alpha) / (1 - alpha).clamp_min(1e-3)  # background, unmixed
    bg = torch.where(alpha < 0.999, bg, torch.zeros_like(bg)).clamp(0, 1)
    variants = {"sharp photos (today)": render.images}
    for sigma in (1.0, 2.0):
        b = torch.where(photo[:, None, None, None], gaussian_blur(bg, sigma), bg)
        variants[f"photos blurred σ={sigma:g} px"] = b * (1 - alpha) + fg * alpha
    coarse = F.interpolate(F.adaptive_avg_pool2d(bg, 4), size=32, mode="bicubic",
                           align_corners=False).clamp(0, 1)
    b = torch.where(photo[:, None, None, None], coarse, bg)
    variants["photos as 4×4 averages"] = b * (1 - alpha) + fg * alpha
    print(f"n = {args.n} held-out images; joint = shape, colour, size and position all right\n")
    print(f"{'background':<26}{'orig plain':>11}{'orig photo':>11}{'rec plain':>10}"
          f"{'rec photo':>10}{'rec photo small':>16}{'rec photo large':>16}")
    for name, images in variants.items():
        rec = torch.cat([ae.decode(ae.encode(images[i:i + 250])) for i in range(0, len(images),
                                                                                    250)])
        jo, jr = joint(reader, images, factors), joint(reader, rec, factors)
        f = lambda m, mask: f"{float(m[mask].float().mean()):.3f}"  # noqa: E731
        print(f"{name:<26}{f(jo, ~photo):>11}{f(jo, photo):>11}{f(jr, ~photo):>10}"
              f"{f(jr, photo):>10}{f(jr, photo & small):>16}{f(jr, photo & ~small):>16}")


if __name__ == "__main__":
    main()
