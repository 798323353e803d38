"""Issue 20, notebook 05: the transfer with the appearance mosaic as d, scored as the notebook does.

    python benchmarks/trials_issue20/disentangle_mosaic_trial.py FG_TILES BACKGROUND [THREADS]
    python benchmarks/trials_issue20/disentangle_mosaic_trial.py 16 "in place" 2

BACKGROUND is "shuffled" or "in place" (see n2nlib.course.mosaic.AppearanceMosaic). Prints the
held-out NLL, the fraction of y* that takes each factor from the right source (1,000 held-out
pairs), and the background split by y's background.
"""
# ruff: noqa: E402
import sys
import time

import _disentangle_setup as setup
import torch
from _target import target_autoencoder

from n2nlib import settings, zoo
from n2nlib.course import disentangle
from n2nlib.course.mosaic import AppearanceMosaic

settings.seed_everything(0)
fg, background = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
start = time.time()
images, eval_images = setup.images()
ae, reader = target_autoencoder(disentangle.TARGET), zoo.load(disentangle.CLASSIFIER)
d = AppearanceMosaic(fg_tiles=fg, background=background)
trained = setup.fit(ae, images, eval_images, d)
history = trained.history
print(f"{d}: held-out NLL {history.eval_nll[0]:.1f} -> {history.eval_nll[-1]:.1f} "
      f"({time.time() - start:.0f} s)", flush=True)
pairs = disentangle.held_out_pairs(1000, seed=1)
recon = (disentangle.reconstruct(ae, pairs.ys), disentangle.reconstruct(ae, pairs.xs))
out = disentangle.transfer(trained.n2n, pairs.ys, pairs.xs, deformation=d, seed=5,
                           progress=False)
scores = disentangle.evaluate(trained.n2n, reader, pairs, transfers=out, reconstructions=recon)
print({f: round(scores.wanted(f), 3) for f in scores.from_y})
read = reader.predict(out)["background"]
for value, name in enumerate(("plain", "photo")):
    sel = pairs.y_factors[:, 4] == value
    print(f"y {name} ({int(sel.sum())} pairs): background from x "
          f"{float((read[sel] == pairs.x_factors[sel, 4]).float().mean()):.3f}")
