"""Issue 20 trial: one superresolution translator on the drawable world and its measures.

    python benchmarks/trials_issue20/superres_trial.py N_TRAIN STEPS MIN_STD N_BLOCKS HIDDEN
    PIXELS=1 python ... (the 8×8 pixels as the source instead of shapes-ae-8)
    AE8_ROOT=DIR python ... (a shapes-ae-8 from another zoo folder)

Results in benchmarks/RESULTS.md, section "Notebooks 03, 04, 05 on the drawable world".
"""
# ruff: noqa: E402, E501
import sys
import time

import torch

from n2nlib import ConditionalINN, Net2Net, metrics, zoo
from n2nlib.course import superres
from n2nlib.data import render_shapes, sample_factors

torch.set_num_threads(1)
torch.manual_seed(0)
N_TRAIN = int(sys.argv[1])
STEPS = int(sys.argv[2])
MIN_STD = float(sys.argv[3])
NB = int(sys.argv[4])
H = int(sys.argv[5])
t = time.time()


def data(n, split, seed):
    f = sample_factors(n, seed, split=split, background="mixed")
    hi, _ = render_shapes(f, 32, seed, split, world="v2")
    return metrics.downsample(hi, 8), hi, f


lo_tr, hi_tr, f_tr = data(N_TRAIN, "train", 0)
lo_te, hi_te, f_te = data(300, "test", 1)
print("data", time.time() - t, flush=True)
import os

src = (
    zoo.load("shapes-ae-8", root=os.environ.get("AE8_ROOT"))
    if os.environ.get("AE8_ROOT")
    else zoo.load("shapes-ae-8")
)
tgt = zoo.load("shapes-ae")
clf = zoo.load("shapes-attributes")
with torch.no_grad():
    lv = tgt.encode_distribution(hi_te)[1]
if os.environ.get("PIXELS"):
    from n2nlib.experts import as_expert

    src = as_expert(lambda x: x.flatten(1), dim=192)
print("posterior sigma median", float(lv.mul(0.5).exp().median()))
pairs = superres.latent_pairs(src, tgt, lo_tr, hi_tr, min_std=MIN_STD, progress=False)
ev = superres.latent_pairs(src, tgt, lo_te, hi_te, min_std=MIN_STD, progress=False)
print("encoded", time.time() - t, "code std", float(ev.target.std(0).mean()), flush=True)
cinn = ConditionalINN(dim=tgt.dim, cond_dim=src.dim, n_blocks=NB, hidden_dim=H)
n2n = Net2Net(src, tgt, cinn)
h = n2n.fit(pairs, steps=STEPS, batch_size=128, lr=1e-3, warmup=100, eval_data=ev, desc="fit")
print("fit", h.seconds, "eval nll", [round(x, 1) for x in h.eval_nll], flush=True)
recon = superres.reconstruct(tgt, hi_te)
S = 8
samples = superres.sample(n2n, lo_te, S, 1.0, seed=0)
s = superres.evaluate(n2n, lo_te, hi_te, n_samples=S, samples=samples, reconstruction=recon)
print(
    f"LR samples {s.lr_consistency_db:.2f} bound {s.lr_bound_db:.2f} gap {s.lr_gap_db:.2f}; psnr {s.psnr_db:.2f} bicubic {s.psnr_bicubic_db:.2f}; img corr {s.diversity_image_correlation:.3f} pix corr {s.diversity_correlation:.3f}"
)
up = superres.bicubic(lo_te, 32)
print(
    "FD samples",
    metrics.efficientnet_frechet_distance(hi_te, samples[::S]),
    "bicubic",
    metrics.efficientnet_frechet_distance(hi_te, up),
    "recon",
    metrics.efficientnet_frechet_distance(hi_te, recon),
)
from n2nlib.data import FACTOR_NAMES

pred = clf.predict(samples)
rep = f_te.repeat_interleave(S, 0)
for i, n in enumerate(FACTOR_NAMES):
    print(n, "samples acc", float((pred[n] == rep[:, i]).float().mean()))
sh = pred["shape"].view(-1, S)
distinct = torch.tensor([len(set(r.tolist())) for r in sh]).float()
small = f_te[:, 2] == 0
print(
    "distinct shapes among 8: small",
    distinct[small].mean().item(),
    "large",
    distinct[~small].mean().item(),
)
for _T in (0.0,):
    s0 = superres.evaluate(n2n, lo_te, hi_te, n_samples=2, temperature=0.0, reconstruction=recon)
    print("T=0 LR", round(s0.lr_consistency_db, 2))
p = superres.ShapePairs(lo_te, hi_te, f_te, 1, "test")
recon_lo = superres.reconstruct(src, lo_te) if not os.environ.get("PIXELS") else lo_te
tol = float(
    (superres.reconstruct(zoo.load("shapes-ae-8"), lo_te) - lo_te)
    .pow(2)
    .flatten(1)
    .mean(1)
    .sqrt()
    .median()
)
alt = superres.shape_alternatives(p, tol)
std = metrics.pixel_std(samples, S).flatten(1).mean(1)
print(
    "corr spread vs alternatives",
    float(torch.corrcoef(torch.stack([std, alt.float()]))[0, 1]),
    "corr distinct vs alt",
    float(torch.corrcoef(torch.stack([distinct, alt.float()]))[0, 1]),
)
det = alt == 0
print(
    "shape acc on determined",
    float((pred["shape"].view(-1, S)[det] == f_te[det, 0:1]).float().mean()),
)
print("total", time.time() - t)
