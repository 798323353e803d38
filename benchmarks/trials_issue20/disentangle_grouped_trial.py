"""Issue 20, notebook 05: one cINN per part of shapes-ae-swap's code (appearance, geometry).

    python benchmarks/trials_issue20/disentangle_grouped_trial.py [STEPS] [THREADS]

The notebook's transfer (appearance mosaic as d, 12,000 images, σ floor 0.3, 1,000 held-out
pairs), with τ a ``GroupedCINN([64, 64])`` over shapes-ae-swap's appearance and geometry parts
(each 4 blocks × 256) instead of one cINN over the whole code. Transfers: y's whole residual
(as the notebook), and y's geometry residual with the appearance residual set to 0 (the look
then comes from x's condition alone).
"""
# ruff: noqa: E402
import sys
import time

import torch
from _target import target_autoencoder

from n2nlib import GroupedCINN, Net2Net, settings, zoo
from n2nlib.cache import LatentPairs
from n2nlib.course import disentangle
from n2nlib.course.mosaic import AppearanceMosaic
from n2nlib.data import render_shapes, sample_factors
from n2nlib.encoding import encode_latents

settings.seed_everything(0)
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
start = time.time()
ae, reader = target_autoencoder("shapes-ae-swap"), zoo.load(disentangle.CLASSIFIER)
k = ae.appearance_dim
d = AppearanceMosaic(fg_tiles=16, background="in place")
factors = sample_factors(12000, 0, split="train", background="mixed")
images, _ = render_shapes(factors, 32, 0, "train", world=disentangle.WORLD)
eval_images, _ = render_shapes(sample_factors(500, 3, split="test", background="mixed"), 32, 3,
                               "test", world=disentangle.WORLD)


def pairs_of(ys: torch.Tensor, seed: int) -> LatentPairs:
    mean, logvar = encode_latents(ae, ys, distribution=True, progress=False)
    deformed, _ = disentangle.make_training_pairs(ys, d, seed=seed, copies=1)
    cond = encode_latents(ae, deformed, progress=False)
    return LatentPairs(mean, cond, target_logvar=logvar).with_min_std(0.3)


torch.manual_seed(0)
cinn = GroupedCINN([k, ae.dim - k], ae.dim, n_blocks=4, hidden_dim=256)
n2n = Net2Net(ae, ae, cinn)
history = n2n.fit(pairs_of(images, 0), steps=STEPS, batch_size=128, lr=1e-3, warmup=100,
                  eval_data=pairs_of(eval_images, 1), progress=False)
print(f"held-out NLL {history.eval_nll[0]:.1f} -> {history.eval_nll[-1]:.1f} "
      f"({time.time() - start:.0f} s)", flush=True)
pairs = disentangle.held_out_pairs(1000, seed=1)
recon = (disentangle.reconstruct(ae, pairs.ys), disentangle.reconstruct(ae, pairs.xs))
cond_y = d(pairs.ys, seed=5).clamp_(0.0, 1.0)
cond_x = d(pairs.xs.contiguous(), seed=6).clamp_(0.0, 1.0)
with torch.no_grad():
    v = n2n.residual(pairs.ys, cond_y)
    z_x = n2n.encode_source(cond_x)
geometry_only = torch.cat([torch.zeros_like(v[:, :k]), v[:, k:]], 1)
drawn = torch.cat([torch.randn(v[:, :k].shape, generator=torch.Generator().manual_seed(7)),
                   v[:, k:]], 1)
print("|v_a(y)|² by y's background (plain / photo; N(0, I): k):",
      [round(float(v[pairs.y_factors[:, 4] == b, :k].pow(2).sum(1).mean()), 1) for b in (0, 1)],
      k, flush=True)
for tag, keep in (("y's whole residual", v), ("y's geometry residual, appearance 0",
                                                geometry_only),
                  ("y's geometry residual, appearance residual drawn from N(0, I)", drawn)):
    with torch.no_grad():
        out = n2n.decode(n2n.translate_latent(z_x, v=keep)).cpu()
    scores = disentangle.evaluate(n2n, reader, pairs, transfers=out, reconstructions=recon)
    print(tag, {f: round(scores.wanted(f), 3) for f in scores.from_y}, flush=True)
    read = reader.predict(out)["background"]
    for value, name in enumerate(("plain", "photo")):
        sel = pairs.y_factors[:, 4] == value
        print(f"  y {name} ({int(sel.sum())} pairs): background from x "
              f"{float((read[sel] == pairs.x_factors[sel, 4]).float().mean()):.3f}", flush=True)
# where the look comes from: each half of the code either true (the autoencoder's) or τ's
with torch.no_grad():
    z_y, z_xt = n2n.encode_target(pairs.ys), n2n.encode_target(pairs.xs)
    z_tau = n2n.translate_latent(z_x, v=geometry_only)
cases = {"a(x) true, g(y) true (the autoencoder's swap)": torch.cat([z_xt[:, :k], z_y[:, k:]], 1),
         "a = τ(0 | x), g(y) true": torch.cat([z_tau[:, :k], z_y[:, k:]], 1),
         "a(x) true, g = τ(v_g(y) | x)": torch.cat([z_xt[:, :k], z_tau[:, k:]], 1),
         "a = τ(0 | x), g(x) true (x redrawn)": torch.cat([z_tau[:, :k], z_xt[:, k:]], 1)}
for tag, z in cases.items():
    with torch.no_grad():
        read = reader.predict(n2n.decode(z).clamp(0, 1).cpu())["background"]
    got = [float((read[sel] == pairs.x_factors[sel, 4]).float().mean())
           for sel in (pairs.y_factors[:, 4] == 0, pairs.y_factors[:, 4] == 1)]
    print(f"{tag}: background from x, y plain {got[0]:.3f} / y photo {got[1]:.3f}", flush=True)
# the plain x only: is τ's appearance for a plain condition a plain look?
plain = pairs.x_factors[:, 4] == 0
a_true, g_x = z_xt[plain, :k], z_xt[plain, k:]
gen = torch.Generator().manual_seed(0)
with torch.no_grad():
    sampled = n2n.translate_latent(z_x[plain], generator=gen)[:, :k]
noise = torch.randn(a_true.shape, generator=gen)
looks = {"a(x) true": a_true, "a(x) + N(0, 0.3²) (the floor's noise)": a_true + 0.3 * noise,
         "a = τ(0 | x)": z_tau[plain, :k], "a = τ(v ~ N(0, I) | x)": sampled,
         "a = mean of the plain a(x)": a_true.mean(0, keepdim=True).expand_as(a_true)}
for tag, a in looks.items():
    with torch.no_grad():
        read = reader.predict(n2n.decode(torch.cat([a, g_x], 1)).clamp(0, 1).cpu())
    read_plain = float((read["background"] == 0).float().mean())
    gap = float((a - a_true).pow(2).sum(1).mean())
    print(f"plain x redrawn, {tag}: read plain {read_plain:.3f}, |a - a(x)|² {gap:.2f}",
          flush=True)
print("spread of the plain a(x): total variance", round(float(a_true.var(0).sum()), 2),
      "; of the photo a(x):", round(float(z_xt[~plain, :k].var(0).sum()), 2))
print("total", round(time.time() - start))
