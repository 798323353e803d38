"""Issue 20, notebook 08: what the residual v keeps, and why flips and exemplar colour miss.

    python benchmarks/trials_issue20/semantic_residual_probe.py [STEPS_ATTR] [STEPS_MAP]

The notebook's attribute translator (8 × 128, σ floor 1.0) and argmax-map translator
(8 × 128, σ floor 0.15) on 10,000 images, scored on 1,000 held-out ones: linear probes of
each factor of y from v = τ⁻¹(Θ(y) | condition) and from Θ(y); attribute flips with v kept
(T = 1) and with v = 0 (what the new attribute vector alone draws); the exemplar's colour kept
under its own map and under a permuted one, split by what the new map shares with its own,
and the colours' confusion matrix.
"""
# ruff: noqa: E501
import sys
import time

import _semantic_setup
import torch

from n2nlib import settings
from n2nlib.course import semantic
from n2nlib.data import FACTOR_NAMES
from n2nlib.nets.edges import AttributeVectors, LabelMaps

torch.set_num_threads(1)
settings.seed_everything(0)
STEPS_ATTR = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
STEPS_MAP = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
N_TEST = 1000
FIT = {"batch_size": 128, "lr": 1e-3, "weight_decay": 1e-4, "progress": False}
start = time.time()
world = _semantic_setup.load(N_TEST)
ae, seg, clf, train, test = world.ae, world.seg, world.clf, world.train, world.test
targets, test_targets = world.targets, world.test_targets


def probes(features: torch.Tensor, tag: str) -> None:
    row = semantic.factor_probes(features, test.factors)
    print(f"linear probe from {tag}:", {k: round(x, 3) for k, x in row.items()}, flush=True)


probes(test_targets[0], "Θ(y)")
attr = semantic.fit_translator(AttributeVectors(), ae, targets, train.factors, steps=STEPS_ATTR,
                               cinn_kwargs={"n_blocks": 8, "hidden_dim": 128}, min_std=1.0,
                               eval_targets=test_targets, eval_inputs=test.factors, **FIT)
print("attributes: held-out NLL", [round(x, 1) for x in attr.history.eval_nll], flush=True)
with torch.no_grad():
    v = attr.n2n.residual(test.images, test.factors).cpu()
probes(v, "v (attributes)")
print(f"|v|²/D {float(v.pow(2).mean()):.3f}")
changed, which = semantic.change_one_factor(test.factors, seed=8, which=torch.arange(N_TEST) % 5)
for temperature in (1.0, 0.0):
    with torch.no_grad():
        z = attr.n2n.translate_latent(attr.n2n.encode_source(changed), v=v * temperature)
        out = attr.n2n.decode(z).cpu()
    s = semantic.modification_scores(clf, out, test.factors, changed, which, judged=list(FACTOR_NAMES))
    print(f"T = {temperature}: flipped {s.flipped:.3f}, kept {s.kept:.3f}",
          {k: round(x, 2) for k, x in s.flipped_by_factor.items()}, flush=True)
maps = semantic.fit_translator(LabelMaps(semantic.N_CLASSES, pool=8), ae, targets, train.labels, steps=STEPS_MAP,
                               cinn_kwargs={"n_blocks": 8, "hidden_dim": 128}, min_std=0.15,
                               eval_targets=test_targets, eval_inputs=test.labels, **FIT)
print("label maps: held-out NLL", [round(x, 1) for x in maps.history.eval_nll], flush=True)
with torch.no_grad():
    probes(maps.n2n.residual(test.images, test.labels).cpu(), "v (label maps)")
perm = torch.randperm(N_TEST, generator=torch.Generator().manual_seed(7))
moved = semantic.exemplar_transfer(maps.n2n, test.images, test.labels, test.labels[perm], progress=False)
own = semantic.exemplar_transfer(maps.n2n, test.images, test.labels, test.labels, progress=False)
colour = test.factors[:, FACTOR_NAMES.index("color")]
read, read_own = clf.predict(moved)["color"], clf.predict(own)["color"]
print(f"colour kept: own map {float((read_own == colour).double().mean()):.3f}, new map {float((read == colour).double().mean()):.3f}")
for name in ("shape", "size", "position"):
    k = FACTOR_NAMES.index(name)
    same = test.factors[:, k] == test.factors[perm, k]
    print(f"  same {name}: {float((read[same] == colour[same]).double().mean()):.3f} ({int(same.sum())}), "
          f"another: {float((read[~same] == colour[~same]).double().mean()):.3f}")
confusion = torch.zeros(8, 8, dtype=torch.long)
for a, b in zip(colour, read):
    confusion[a, b] += 1
print("colour confusion (rows: the exemplar's, columns: read)\n", confusion)
print("total", round(time.time() - start))
