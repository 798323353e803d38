"""Settings of notebook 05's disentangler (supplement C: shape from y, appearance from x).

    .venv/bin/python benchmarks/sweep_disentangler.py             # every setting (~25 min)
    .venv/bin/python benchmarks/sweep_disentangler.py shift,3000,0.5 zoom,1500,none,8x256

Each setting ``deformation,steps,min_std[,BLOCKSxUNITS]`` trains τ on
:math:`(\\Theta(d(y)), \\Theta(y))` with notebook 05's data (6,000 training images × 2
deformations, ``shapes-ae-32``, cINN 4 × 128 unless the setting names another size) and
measures, on its 1,000 held-out pairs, the share of transfers ``y*`` whose factor comes from the
right source (``disentangle.evaluate``, read by ``shapes-attributes-v1``). Deformations: ``paper``
is ``disentangle.default_deformation()`` (flip, crop 0.6–1.0, TPS); ``shift`` replaces the crop
by a random cyclic shift (``padding_mode="wrap"``, window 1.0), which leaves no trace of the
position; ``zoom`` is that shift with a random zoom (window 0.6–1.6 of the side, tiled where it
reaches past the image), which also changes the size. ``min_std`` "none": the target codes are
drawn from the encoder's posterior as it is. The first columns are linear probes
(``metrics.linear_probe_accuracy``) of y's factors from the condition Θ(d(y)) of the held-out
images: what the condition tells. One thread.
"""

from __future__ import annotations

import sys

import torch

from n2nlib import metrics, settings, zoo
from n2nlib.course import disentangle
from n2nlib.course.deform import RandomDeformation
from n2nlib.course.semantic import reconstruct
from n2nlib.data import FACTOR_NAMES, render_shapes, sample_factors
from n2nlib.encoding import encode_latents

SETTINGS = ["paper,600,none", "paper,3000,none", "shift,3000,none", "shift,3000,0.25",
            "shift,3000,0.5", "shift,3000,1.0", "shift,6000,1.0", "zoom,600,none",
            "zoom,3000,none", "zoom,3000,0.5", "zoom,1500,none,8x256", "zoom,1500,0.5,8x256"]
ORDER = disentangle.SHAPE_FACTORS + disentangle.APPEARANCE_FACTORS


def deformation(name: str) -> RandomDeformation:
    if name == "paper":
        return disentangle.default_deformation()
    if name == "shift":
        return RandomDeformation(flip_p=0.5, tps_points=4, tps_strength=0.25,
                                 crop_scale=(1.0, 1.0), padding_mode="wrap")
    if name == "zoom":
        return RandomDeformation(flip_p=0.5, tps_points=4, tps_strength=0.25,
                                 crop_scale=(0.6, 1.6), padding_mode="wrap")
    raise ValueError(f"unknown deformation {name!r}: 'paper', 'shift' or 'zoom'")


def main() -> None:
    torch.set_num_threads(1)
    chosen = [a.split(",") for a in sys.argv[1:]] or [s.split(",") for s in SETTINGS]
    ae = zoo.load(disentangle.TARGET, device="cpu")
    classifier = zoo.load(disentangle.CLASSIFIER, device="cpu")
    factors = sample_factors(6000, 0, split="train", background="mixed")
    images, _ = render_shapes(factors, 32, 0, "train")
    pairs = disentangle.held_out_pairs(1000, seed=1)
    recon = (reconstruct(ae, pairs.ys), reconstruct(ae, pairs.xs))
    print("| d | steps | σ floor | blocks × units | probe Θ(d(y)): colour / size / position | "
          "train s | "
          + " | ".join(f"{f} ← {'y' if f in disentangle.SHAPE_FACTORS else 'x'}" for f in ORDER)
          + " | mean |")
    print("|---" * (len(ORDER) + 7) + "|")
    probes: dict[str, list[float]] = {}  # per deformation: what its condition tells
    for setting in chosen:
        name, steps, floor, size = (setting + ["4x128"])[:4]
        blocks, hidden = (int(k) for k in size.split("x"))
        d = deformation(name)
        if name not in probes:
            z = encode_latents(ae, d(pairs.ys, seed=7).clamp(0, 1), progress=False)
            probes[name] = [
                metrics.linear_probe_accuracy(z, pairs.y_factors[:, FACTOR_NAMES.index(f)])
                for f in ("color", "size", "position")]
        settings.seed_everything(0)
        trained = disentangle.fit_disentangler(
            ae, images, steps=int(steps), deformation=d, copies=2, seed=0,
            cinn_kwargs={"n_blocks": blocks, "hidden_dim": hidden}, device="cpu", progress=False,
            min_std=None if floor == "none" else float(floor))
        s = disentangle.evaluate(trained.n2n, classifier, pairs, reconstructions=recon)
        wanted = [s.wanted(f) for f in ORDER]
        print(f"| {name} | {steps} | {floor} | {blocks} × {hidden} | "
              + " / ".join(f"{p:.2f}" for p in probes[name])
              + f" | {trained.seconds:.0f} | " + " | ".join(f"{w:.3f}" for w in wanted)
              + f" | {sum(wanted) / len(wanted):.3f} |", flush=True)


if __name__ == "__main__":
    main()
