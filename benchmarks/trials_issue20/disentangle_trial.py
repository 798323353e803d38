"""Issue 20 trial: one disentangling translator with a given deformation, and its measures.

    python benchmarks/trials_issue20/disentangle_trial.py STEPS MIN_STD N_BLOCKS HIDDEN COPIES N VARIANT

VARIANT a: crop 0.6–1.0 + shuffled 4×4 tiles; b: zoom 0.7–1.4 (periodic) + shuffled tiles.
"""
# ruff: noqa: E402, E501
import sys
import time

import torch

from n2nlib import ConditionalINN, Net2Net, zoo
from n2nlib.cache import LatentPairs
from n2nlib.course import disentangle
from n2nlib.data import FACTOR_NAMES, render_shapes, sample_factors
from n2nlib.encoding import encode_latents

torch.set_num_threads(1)
STEPS = int(sys.argv[1])
MIN_STD = None if sys.argv[2] == "none" else float(sys.argv[2])
NB = int(sys.argv[3])
H = int(sys.argv[4])
COPIES = int(sys.argv[5])
N = int(sys.argv[6])
t = time.time()
ae = zoo.load("shapes-ae")
clf = zoo.load("shapes-attributes")
from n2nlib.course.deform import RandomDeformation

V = sys.argv[7]
d = {
    "a": RandomDeformation(
        flip_p=0.5,
        tps_points=4,
        tps_strength=0.25,
        crop_scale=(0.6, 1.0),
        padding_mode="border",
        shuffle_patches=4,
    ),
    "b": RandomDeformation(
        flip_p=0.5,
        tps_points=4,
        tps_strength=0.25,
        crop_scale=(0.7, 1.4),
        padding_mode="wrap",
        shuffle_patches=4,
    ),
}[V]


def enc(n, split, seed, copies):
    f = sample_factors(n, seed, split=split, background="mixed")
    im, _ = render_shapes(f, 32, seed, split, world="v2")
    m, lv = encode_latents(ae, im, distribution=True, progress=False)
    x, _ = disentangle.make_training_pairs(im, d, seed=seed, copies=copies)
    c = encode_latents(ae, x, progress=False)
    return LatentPairs(m.repeat(copies, 1), c, target_logvar=lv.repeat(copies, 1)).with_min_std(
        MIN_STD
    )


tr = enc(N, "train", 0, COPIES)
ev = enc(500, "test", 5, 1)
print("enc", time.time() - t, flush=True)
torch.manual_seed(0)
cinn = ConditionalINN(128, 128, n_blocks=NB, hidden_dim=H)
n2n = Net2Net(ae, ae, cinn)
h = n2n.fit(
    tr,
    steps=STEPS,
    batch_size=128,
    lr=1e-3,
    warmup=100,
    eval_data=ev,
    eval_every=max(STEPS // 10, 50),
    progress=False,
)
print(
    "fit",
    h.seconds,
    "eval",
    [round(x, 1) for x in h.eval_nll],
    "train",
    round(h.loss[-1], 1),
    flush=True,
)
pairs = disentangle.held_out_pairs(500, seed=1)
out = disentangle.transfer(n2n, pairs.ys, pairs.xs, deformation=d, seed=5)
p = clf.predict(out)
for i, nm in enumerate(FACTOR_NAMES):
    src = pairs.y_factors if nm in disentangle.SHAPE_FACTORS else pairs.x_factors
    print(nm, round(float((p[nm] == src[:, i]).float().mean()), 3))
z_x = n2n.encode_target(d(pairs.xs, seed=9).clamp(0, 1))
s = n2n.decode(n2n.translate_latent(z_x, generator=torch.Generator().manual_seed(3)))
ps = clf.predict(s)
print(
    "samples colour=x",
    float((ps["color"] == pairs.x_factors[:, 1]).float().mean()),
    "bg=x",
    float((ps["background"] == pairs.x_factors[:, 4]).float().mean()),
)
print("total", time.time() - t)
