"""Issue 20 trial: inpainting with shapes-attributes as the source expert.

    python benchmarks/trials_issue20/inpainting_trial.py STEPS MIN_STD N_TRAIN
"""
# ruff: noqa: E402, E501
import sys
import time

import torch

from n2nlib import zoo
from n2nlib.course import inpainting, semantic

torch.set_num_threads(1)
STEPS = int(sys.argv[1])
MIN_STD = float(sys.argv[2])
N = int(sys.argv[3])
t = time.time()
ae = zoo.load("shapes-ae")
clf = zoo.load("shapes-attributes")
print("clf dim", clf.dim)
tr = semantic.make_data(N, "train", seed=0)
te = semantic.make_data(300, "test", seed=1)
h_tr = inpainting.random_holes(N, seed=0)
h_te = inpainting.random_holes(300, seed=1)
x_tr = inpainting.cut_holes(tr.images, h_tr)
x_te = inpainting.cut_holes(te.images, h_te)
targets = semantic.encode_targets(ae, tr.images, progress=False)
T = semantic.fit_translator(
    clf,
    ae,
    targets,
    x_tr,
    steps=STEPS,
    cinn_kwargs={"n_blocks": 4, "hidden_dim": 256},
    min_std=MIN_STD,
    progress=False,
)
print("fit", round(T.train_seconds), "loss", round(T.history.loss[-1], 1), flush=True)
S = 4
samples = semantic.translate(T.n2n, x_te, n_samples=S, seed=0, progress=False)
base = semantic.reconstruct(ae, x_te)
r = inpainting.evaluate(clf, samples, base, te.images, h_te, te.factors, S)
print(r)
print("total", round(time.time() - t))
