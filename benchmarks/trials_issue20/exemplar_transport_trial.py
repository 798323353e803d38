"""Issue 20, notebook 08: exemplar colour with a transport-regularised label-map translator.

    python benchmarks/trials_issue20/exemplar_transport_trial.py LAMBDAS [STEPS]

``LAMBDAS`` is a comma-separated list. Each λ trains the notebook's argmax-map translator
(8 blocks × 128, σ floor 0.15, 10,000 images) on the NLL plus ``λ · ½‖v − z‖²``, which keeps
the residual near the code, so that one v would mean the same appearance under every map.
Scored on 1,000 held-out exemplars moved to a permuted map (layout IoU, the exemplar's colour
and background kept, the new map's shape) and on fresh samples (segmenter mIoU); the linear
baseline ``z + (Φ(x') − Φ(x)) W`` first.
"""
# ruff: noqa: E501
import math
import sys
import time

import _semantic_setup
import torch

from n2nlib import ConditionalINN, Net2Net, settings
from n2nlib.course import semantic
from n2nlib.nets.edges import LabelMaps

torch.set_num_threads(1)
settings.seed_everything(0)
LAMBDAS = [float(x) for x in sys.argv[1].split(",")]
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
N_TEST = 1000
start = time.time()
world = _semantic_setup.load(N_TEST)
ae, seg, clf, train, test = world.ae, world.seg, world.clf, world.train, world.test
targets, test_targets = world.targets, world.test_targets
perm = torch.randperm(N_TEST, generator=torch.Generator().manual_seed(7))
source = LabelMaps(semantic.N_CLASSES, pool=8)


def report(tag: str, x: torch.Tensor, fresh: torch.Tensor | None = None) -> None:
    agree = semantic.factor_agreement
    row = {"layout": semantic.foreground_iou(seg, x, test.labels[perm]),
           "colour kept": agree(clf, x, test.factors, names=["color"])["color"],
           "background kept": agree(clf, x, test.factors, names=["background"])["background"],
           "shape = new map's": agree(clf, x, test.factors[perm], names=["shape"])["shape"]}
    if fresh is not None:
        row["fresh mIoU"] = semantic.segmentation_miou(seg, fresh, test.labels)
    print(tag, {k: round(v, 3) for k, v in row.items()}, round(time.time() - start), flush=True)


linear = semantic.fit_linear_code(source, targets, train.labels)
report(f"linear baseline (R² {linear.r2:.3f})",
       linear.transfer(ae, test_targets[0], test.labels, test.labels[perm]))


class TransportCINN(ConditionalINN):
    """The NLL of Eq. (4) plus λ · ½‖v − x‖² (``training_loss`` is what ``fit`` minimises)."""

    weight = 0.0

    def training_loss(self, x, c, generator=None):
        v, logdet = self(x, c)
        nll = 0.5 * v.pow(2).sum(1) - logdet + 0.5 * self.dim * math.log(2 * math.pi)
        return nll + self.weight * 0.5 * (v - x).pow(2).sum(1)


cond = source.encode(train.labels)
pairs = semantic.latent_pairs(targets, cond, min_std=0.15)
eval_pairs = semantic.latent_pairs(test_targets, source.encode(test.labels), min_std=0.15)
for lam in LAMBDAS:
    torch.manual_seed(0)
    cinn = TransportCINN(ae.dim, tuple(cond.shape[1:]), n_blocks=8, hidden_dim=128)
    cinn.weight = lam
    n2n = Net2Net(source, ae, cinn)
    history = n2n.fit(pairs, steps=STEPS, batch_size=128, lr=1e-3, warmup=100, eval_data=eval_pairs,
                      optimizer="adamw", weight_decay=1e-4, progress=False)
    print("λ", lam, "held-out objective", [round(v, 1) for v in history.eval_nll], flush=True)
    with torch.no_grad():
        v = n2n.residual(test.images, test.labels).cpu()
    print(f"  |v|²/D {float(v.pow(2).mean()):.3f}, |v − z|²/D {float((v - test_targets[0]).pow(2).mean()):.3f}")
    moved = semantic.exemplar_transfer(n2n, test.images, test.labels, test.labels[perm], progress=False)
    report(f"  λ {lam}", moved, semantic.translate(n2n, test.labels, seed=2))
print("total", round(time.time() - start))
