"""Issue 20, notebook 05: is the residual's class-dependent length the σ floor's doing?

    python benchmarks/trials_issue20/disentangle_floor_trial.py [STEPS] [THREADS] [N_TRAIN]

τ is trained (as in the notebook: shapes-ae, appearance mosaic, σ floor 0.3) on codes drawn
from N(μ, max(σ, 0.3)²), but a transfer reads the residual of the posterior *mean* μ. Where a
class's codes are narrow (plain backgrounds), the mean sits in the middle of its noise ball and
its residual is short (notebook 05: |v|² 76 plain, 111 photo, 128 expected). This trial reads
the residual the way τ was trained, v = τ⁻¹(μ + max(σ, 0.3) ε | Θ(d(y))), and measures the
transfer (1,000 held-out pairs) against the notebook's. ``N_TRAIN`` (default 12,000, the
notebook's) sets the number of training images.
"""
# ruff: noqa: E402
import math
import sys
import time

import _disentangle_setup as setup
import torch

from n2nlib import settings, zoo
from n2nlib.course import disentangle
from n2nlib.course.mosaic import AppearanceMosaic
from n2nlib.encoding import encode_latents

settings.seed_everything(0)
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
N_TRAIN = int(sys.argv[3]) if len(sys.argv) > 3 else 12000
FLOOR = 0.3
start = time.time()
ae, reader = zoo.load(disentangle.TARGET), zoo.load(disentangle.CLASSIFIER)
d = AppearanceMosaic(fg_tiles=16, background="in place")
images, eval_images = setup.images(N_TRAIN)
trained = setup.fit(ae, images, eval_images, d, steps=STEPS, min_std=FLOOR)
n2n = trained.n2n
print(f"{N_TRAIN} training images: held-out NLL {trained.history.eval_nll[0]:.1f} -> "
      f"{trained.history.eval_nll[-1]:.1f}, training NLL {trained.history.loss[-1]:.1f} "
      f"({time.time() - start:.0f} s)", flush=True)
pairs = disentangle.held_out_pairs(1000, seed=1)
recon = (disentangle.reconstruct(ae, pairs.ys), disentangle.reconstruct(ae, pairs.xs))
cond_y = d(pairs.ys, seed=5).clamp_(0.0, 1.0)
cond_x = d(pairs.xs.contiguous(), seed=6).clamp_(0.0, 1.0)
mean, logvar = encode_latents(ae, pairs.ys, distribution=True, progress=False)
std = logvar.clamp_min(2 * math.log(FLOOR)).mul(0.5).exp()
bg = pairs.y_factors[:, 4]
noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(3))
with torch.no_grad():
    c_y, c_x = n2n.encode_source(cond_y), n2n.encode_source(cond_x)
    for tag, z in (("posterior mean (the notebook)", mean),
                   ("a draw with the floor, as in training",
                    mean + std * noise)):
        v = n2n.residual_latent(z, c_y)
        sq = v.pow(2).sum(1)
        out = n2n.decode(n2n.translate_latent(c_x, v=v)).cpu()
        scores = disentangle.evaluate(n2n, reader, pairs, transfers=out, reconstructions=recon)
        read = reader.predict(out)["background"]
        split = [float((read[bg == b] == pairs.x_factors[bg == b, 4]).float().mean())
                 for b in (0, 1)]
        print(f"{tag}: |v|² plain {float(sq[bg == 0].mean()):.1f} / photo "
              f"{float(sq[bg == 1].mean()):.1f}; "
              f"{ {f: round(scores.wanted(f), 3) for f in scores.from_y} }; background from x "
              f"with y plain / photo {split[0]:.3f} / {split[1]:.3f}", flush=True)
print("total", round(time.time() - start))
