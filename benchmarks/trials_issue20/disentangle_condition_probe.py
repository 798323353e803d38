"""Issue 20: linear probes of the factors of y from Θ(d(y)) for several deformations d.

    python benchmarks/trials_issue20/disentangle_condition_probe.py
"""
# ruff: noqa: E402, E501
import torch

from n2nlib import metrics, zoo
from n2nlib.course.deform import RandomDeformation
from n2nlib.data import FACTOR_NAMES, render_shapes, sample_factors
from n2nlib.encoding import encode_latents

torch.set_num_threads(1)
ae = zoo.load("shapes-ae")
f = sample_factors(3000, 0, split="train", background="mixed")
im, _ = render_shapes(f, 32, 0, "train", world="v2")
for cs, pm, sp in (
    ((0.6, 1.0), "border", 4),
    ((0.5, 1.6), "wrap", 4),
    ((0.5, 1.6), "wrap", 8),
    ((0.7, 1.4), "wrap", 4),
):
    dd = RandomDeformation(
        flip_p=0.5,
        tps_points=4,
        tps_strength=0.25,
        crop_scale=cs,
        padding_mode=pm,
        shuffle_patches=sp,
    )
    z = encode_latents(ae, dd(im, seed=2).clamp(0, 1), progress=False)
    print(
        cs,
        pm,
        sp,
        {
            n: round(metrics.linear_probe_accuracy(z, f[:, i]), 3)
            for i, n in enumerate(FACTOR_NAMES)
        },
        flush=True,
    )
