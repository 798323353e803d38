"""Notebook 05's deformation d(y) against the closest torchvision.transforms.v2 pipeline.

Why ``n2nlib.course.deform`` keeps its own sampling grid although torchvision is a dependency:
a v2 transform draws *one* set of parameters per call, so a batch either gets the same
deformation for every image (useless as d(y): the condition would still say where things are,
relative to each other across the batch, and every image moves alike) or is deformed one image at
a time in a Python loop. ``RandomDeformation`` draws one deformation per image and resamples the
whole batch with one ``grid_sample``; torchvision has no thin-plate spline (its
``ElasticTransform`` is the nearest thing: a smoothed random displacement field) and no periodic
("wrap") padding.

    python benchmarks/bench_deform_torchvision.py [--n 4096] [--threads 2]

Prints images/s of (a) RandomDeformation on the batch, (b) a v2 pipeline of flip,
RandomResizedCrop and ElasticTransform applied image by image, (c) the same pipeline called once
on the batch, and how many distinct deformations each produced.
"""

from __future__ import annotations

import argparse
import time

import torch
from torchvision.transforms import v2

from n2nlib.course.deform import RandomDeformation


def _timed(fn, repeats: int = 3) -> tuple[float, torch.Tensor]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _distinct(images: torch.Tensor, deformed: torch.Tensor) -> int:
    """How many different displacements the batch saw (rows of identical input give one)."""
    return len({tuple(row.flatten()[:64].round(decimals=4).tolist()) for row in deformed})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # one image repeated: any difference between outputs comes from the deformation alone
    images = torch.rand(1, 3, 32, 32).expand(args.n, -1, -1, -1).contiguous()

    ours = RandomDeformation(flip_p=0.5, tps_strength=0.25, crop_scale=(0.7, 1.4),
                             padding_mode="wrap")
    tv = v2.Compose([v2.RandomHorizontalFlip(0.5),
                     v2.RandomResizedCrop(32, scale=(0.5, 1.0), antialias=True),
                     v2.ElasticTransform(alpha=8.0, sigma=3.0)])

    t_ours, out_ours = _timed(lambda: ours(images, seed=0))
    t_loop, out_loop = _timed(lambda: torch.stack([tv(img) for img in images]), repeats=1)
    t_once, out_once = _timed(lambda: tv(images))
    rows = [("RandomDeformation, one grid_sample per batch", t_ours, out_ours),
            ("v2 flip + RandomResizedCrop + ElasticTransform, image by image", t_loop, out_loop),
            ("the same v2 pipeline called once on the batch", t_once, out_once)]
    print(f"{args.n} images 3x32x32, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}")
    for name, seconds, out in rows:
        print(f"{name:68s} {args.n / seconds:10.0f} images/s  "
              f"{_distinct(images, out):5d} distinct deformations")
    print(f"ratio RandomDeformation / v2 image by image: {t_loop / t_ours:.1f}x")


if __name__ == "__main__":
    main()
