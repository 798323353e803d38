"""Issue 20 trial: one unpaired-transfer translator (label → shapes-ae) and its measures.

    python benchmarks/trials_issue20/unpaired_trial.py STEPS MIN_STD N_BLOCKS HIDDEN N_PER_DOMAIN

``CINN_GROUPS=64,64`` in the environment makes τ a ``GroupedCINN`` over those parts of the code
(e.g. shapes-ae-swap's appearance and geometry halves, with ``TARGET``/``TARGET_ZOO``, see
``_target.py``).
"""
# ruff: noqa: E402, E501
import os
import sys
import time

import torch
from _target import target_autoencoder

from n2nlib import ConditionalINN, GroupedCINN, Net2Net, metrics, zoo
from n2nlib.course import semantic, unpaired
from n2nlib.experts import Labelator

torch.set_num_threads(1)
torch.manual_seed(0)
STEPS = int(sys.argv[1])
MIN_STD = float(sys.argv[2])
NB = int(sys.argv[3])
H = int(sys.argv[4])
N = int(sys.argv[5])
t = time.time()
train = unpaired.make_domains(N, "train", seed=0)
test = unpaired.make_domains(400, "test", seed=1)
ae = target_autoencoder(unpaired.TARGET)
clf = zoo.load("shapes-attributes")
lab = Labelator(list(unpaired.DOMAINS))
if os.environ.get("CINN_GROUPS"):
    groups = [int(g) for g in os.environ["CINN_GROUPS"].split(",")]
    cinn = GroupedCINN(groups, lab.dim, n_blocks=NB, hidden_dim=H)
    print("grouped cINN", groups, flush=True)
else:
    cinn = ConditionalINN(dim=ae.dim, cond_dim=lab.dim, n_blocks=NB, hidden_dim=H)
n2n = Net2Net(lab, ae, cinn)
pairs = semantic.latent_pairs(
    semantic.encode_targets(ae, train.images, progress=False),
    n2n.encode_source(train.labels),
    min_std=MIN_STD,
)
ev = semantic.latent_pairs(
    semantic.encode_targets(ae, test.images, progress=False),
    n2n.encode_source(test.labels),
    min_std=MIN_STD,
)
h = n2n.fit(pairs, steps=STEPS, batch_size=128, lr=1e-3, warmup=100, eval_data=ev, progress=False)
print(
    "fit",
    round(h.seconds),
    "eval",
    [round(x, 1) for x in h.eval_nll],
    "train",
    round(h.loss[-1], 1),
    flush=True,
)
v = n2n.residual(test.images, test.labels, batch_size=256).cpu()
print("probe domain on v", metrics.linear_probe_accuracy(v, test.labels))
for s, tg in ((0, 1), (1, 0)):
    im, f = test.domain(s)
    out = unpaired.translate(n2n, im, s, tg)
    r = unpaired.evaluate_transfer(clf, out, f, target=tg)
    print(
        unpaired.DOMAINS[s],
        "->",
        unpaired.DOMAINS[tg],
        {k: round(x, 3) for k, x in r.items()},
        flush=True,
    )
print("total", round(time.time() - t))
