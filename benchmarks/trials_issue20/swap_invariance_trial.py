"""Issue 20: fine-tune shapes-ae-swap so that each part of its code ignores the other's factors.

    python benchmarks/trials_issue20/swap_invariance_trial.py OUT [STEPS] [WEIGHT] [THREADS]

Measured cause (``swap_check`` below, 1,000 held-out images): a linear probe reads the
plain/photo class from the *geometry* half of shapes-ae-swap's code in 0.90 of images — the
decoder ignores it once the halves are swapped, but a translator's residual keeps it (05's
background miss, 04's photo → plain miss). This fine-tunes the shipped weights with
``SwapAutoencoderObjective(invariance_weight=WEIGHT)`` (the swapped scene, encoded, must give
back i's geometry and j's appearance) and writes a zoo folder ``OUT`` holding the result, for
``TARGET=shapes-ae-swap TARGET_ZOO=OUT`` in the other trials. Prints the probe before and after.
"""
# ruff: noqa: E402
import sys
import time
from pathlib import Path

import torch

from n2nlib import metrics, zoo
from n2nlib.course import disentangle
from n2nlib.encoding import encode_latents
from n2nlib.zoo.data import augment_flip_swap, swap_shapes_data
from n2nlib.zoo.objectives import SwapAutoencoderObjective
from n2nlib.zoo.recipes import _DRAWABLE_AE_LOSS, RECIPES
from n2nlib.zoo.retrain import _save_weights
from n2nlib.zoo.training import fit_expert

OUT = Path(sys.argv[1])
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 600
WEIGHT = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
NAME = "shapes-ae-swap"
reader = zoo.load(disentangle.CLASSIFIER)
pairs = disentangle.held_out_pairs(1000, seed=1)


def swap_check(ae) -> None:
    k = ae.appearance_dim
    zy = encode_latents(ae, pairs.ys, progress=False)
    zx = encode_latents(ae, pairs.xs, progress=False)
    zt = encode_latents(ae, pairs.truth(), progress=False)
    with torch.no_grad():
        out = ae.decode(torch.cat([zx[:, :k], zy[:, k:]], 1)).clamp(0, 1)
    read = reader.predict(out)
    got = {f: round(float((read[f] == (pairs.x_factors if f in ("color", "background")
                                       else pairs.y_factors)[:, j]).float().mean()), 3)
           for j, f in enumerate(("shape", "color", "size", "position", "background"))}
    print("swap read:", got, flush=True)
    for name, part in (("appearance", zy[:, :k]), ("geometry", zy[:, k:])):
        print(f"probe from {name}: background "
              f"{metrics.linear_probe_accuracy(part, pairs.y_factors[:, 4]):.3f} shape "
              f"{metrics.linear_probe_accuracy(part, pairs.y_factors[:, 0]):.3f} colour "
              f"{metrics.linear_probe_accuracy(part, pairs.y_factors[:, 1]):.3f}", flush=True)
    dg = (zt[:, k:] - zy[:, k:]).pow(2).sum(1).mean()
    da = (zt[:, :k] - zx[:, :k]).pow(2).sum(1).mean()
    spread = zy.var(0).sum()
    print(f"|g(truth) - g(y)|² {dg:.2f}, |a(truth) - a(x)|² {da:.2f}, total variance of the "
          f"code {spread:.2f}", flush=True)


start = time.time()
shipped = zoo.load(NAME)  # a frozen expert: eval mode, encode without gradients
ae = RECIPES[NAME].model(**RECIPES[NAME].config)  # a trainable copy of it
ae.load_state_dict(shipped.state_dict())
print("shipped:", flush=True)
swap_check(shipped)
data = swap_shapes_data(40000, 0)
objective = SwapAutoencoderObjective(**_DRAWABLE_AE_LOSS, invariance_weight=WEIGHT)
history = fit_expert(ae, objective, data, steps=STEPS, batch_size=64, lr=3e-4, warmup=50,
                     augment=augment_flip_swap, seed=1, progress=True,
                     checkpoint_dir=OUT / "checkpoint", checkpoint_every=100)
print(f"fine-tuned {STEPS} steps, invariance weight {WEIGHT}: {history.seconds:.0f} s; last "
      f"logs {history.logs}", flush=True)
ae.eval()
OUT.mkdir(parents=True, exist_ok=True)
_save_weights(ae, OUT / f"weights/{NAME}.safetensors", NAME, zoo.architecture_name(type(ae)))
entry = zoo.registry()[NAME]
entry["sha256"] = zoo.sha256_file(OUT / entry["file"])
entry["bytes"] = (OUT / entry["file"]).stat().st_size
zoo.write_registry({NAME: entry}, OUT)
tuned = zoo.load(NAME, root=OUT)
print("fine-tuned:", flush=True)
swap_check(tuned)
print("total", round(time.time() - start), flush=True)
