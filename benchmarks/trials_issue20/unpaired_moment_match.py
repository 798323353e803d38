"""Issue 20, notebook 04: how far do closed-form moment matches of the domains' codes go?

    python benchmarks/trials_issue20/unpaired_moment_match.py

Each domain's codes Θ(y) (6,000 training images per domain) give a mean, per-dimension
standard deviations and a covariance; a held-out image's code is moved from its domain to the
other by (i) the mean shift, (ii) a per-dimension affine map, (iii) whitening with the source
covariance and colouring with the target's, (iv) the Gaussian optimal-transport (Monge) map;
decoded and read by the attribute classifier as ``unpaired.evaluate_transfer`` does.
"""
# ruff: noqa: E501
import time

import torch

from n2nlib import zoo
from n2nlib.course import unpaired

torch.set_num_threads(2)
start = time.time()
train = unpaired.make_domains(6000, "train", seed=0)
test = unpaired.make_domains(400, "test", seed=1)
ae = zoo.load("shapes-ae")
clf = zoo.load("shapes-attributes")


@torch.no_grad()
def encode(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([ae.encode(b) for b in x.split(256)])


def sqrtm(c: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    w, v = torch.linalg.eigh(c)
    return v @ torch.diag(w.clamp_min(1e-8) ** (-0.5 if inverse else 0.5)) @ v.T


z = encode(train.images).double()
labels = torch.as_tensor(train.labels)
stats = []
for d in (0, 1):
    zd = z[labels == d]
    stats.append((zd.mean(0), zd.std(0), torch.cov(zd.T) + 1e-5 * torch.eye(z.shape[1], dtype=z.dtype)))
for s, t in ((0, 1), (1, 0)):
    images, factors = test.domain(s)
    zs = encode(images).double()
    (ms, ss, cs), (mt, st, ct) = stats[s], stats[t]
    root = sqrtm(cs)
    monge = sqrtm(cs, True) @ sqrtm(root @ ct @ root) @ sqrtm(cs, True)
    moved = {
        "mean shift": zs - ms + mt,
        "per-dimension affine": (zs - ms) / ss * st + mt,
        "whiten, colour": (zs - ms) @ sqrtm(cs, True) @ sqrtm(ct) + mt,
        "Gaussian OT": (zs - ms) @ monge + mt,
    }
    for name, codes in moved.items():
        with torch.no_grad():
            out = torch.cat([ae.decode(b.float()) for b in codes.split(256)])
        r = unpaired.evaluate_transfer(clf, out, factors, target=t)
        print(f"{unpaired.DOMAINS[s]} -> {unpaired.DOMAINS[t]}  {name:22}",
              {k: round(v, 3) for k, v in r.items()}, flush=True)
print("total", round(time.time() - start))
