"""Issue 20, notebook 04: per-domain Gaussian whitening in front of the cINN.

    python benchmarks/trials_issue20/unpaired_whitening_trial.py STEPS MIN_STD N_BLOCKS HIDDEN N_PER_DOMAIN [zca|none]

Each domain's codes are whitened in closed form, ``x_w = (z − μ_d) C_d^{-1/2}`` (ZCA, with the
σ floor's variance added to ``C_d``), before the label-conditioned cINN; the log-determinant
of the whitening joins the cINN's, so the objective is still the NLL of z. The transfer runs
v = τ⁻¹(W_s(z − μ_s) | s) and z* = W_t⁻¹ τ(v | t) + μ_t. ``none`` is the plain cINN through the
same code. Scored as ``unpaired_trial.py``.
"""
# ruff: noqa: E501
import math
import sys
import time

import torch
from torch import nn

from n2nlib import ConditionalINN, metrics, zoo
from n2nlib.course import semantic, unpaired
from n2nlib.experts import Labelator
from n2nlib.train import fit

torch.set_num_threads(1)
torch.manual_seed(0)
STEPS, SIGMA, BLOCKS, HIDDEN, N = (int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]),
                                   int(sys.argv[4]), int(sys.argv[5]))
MODE = sys.argv[6] if len(sys.argv) > 6 else "zca"
start = time.time()
train = unpaired.make_domains(N, "train", seed=0)
test = unpaired.make_domains(400, "test", seed=1)
ae = zoo.load("shapes-ae")
clf = zoo.load("shapes-attributes")
domains = Labelator(list(unpaired.DOMAINS))
train_codes = semantic.encode_targets(ae, train.images, progress=False)
test_codes = semantic.encode_targets(ae, test.images, progress=False)
labels = torch.as_tensor(train.labels)
means, whiten, colour, logdets = [], [], [], []
for d in (0, 1):
    zd = train_codes[0][labels == d].double()
    cov = torch.cov(zd.T) + SIGMA**2 * torch.eye(zd.shape[1], dtype=zd.dtype)
    w, v = torch.linalg.eigh(cov)
    if MODE == "none":
        means.append(torch.zeros(zd.shape[1]))
        whiten.append(torch.eye(zd.shape[1]))
        colour.append(torch.eye(zd.shape[1]))
        logdets.append(0.0)
    else:
        means.append(zd.mean(0).float())
        whiten.append((v @ torch.diag(w**-0.5) @ v.T).float())
        colour.append((v @ torch.diag(w**0.5) @ v.T).float())
        logdets.append(float(-0.5 * torch.log(w).sum()))
MU, W, WI, LOGDET = torch.stack(means), torch.stack(whiten), torch.stack(colour), torch.tensor(logdets)


class Whitened(nn.Module):
    """x → W_d (x − μ_d) → cINN, d the domain of the one-hot condition."""

    def __init__(self, cinn: ConditionalINN) -> None:
        super().__init__()
        self.cinn, self.dim, self.cond_shape = cinn, cinn.dim, cinn.cond_shape

    def forward(self, x, c):
        d = c.argmax(1)
        v, logdet = self.cinn(torch.einsum("bd,bde->be", x - MU[d], W[d]), c)
        return v, logdet + LOGDET[d]

    def nll(self, x, c):
        v, logdet = self(x, c)
        return 0.5 * v.pow(2).sum(1) + 0.5 * self.dim * math.log(2 * math.pi) - logdet

    def inverse(self, v, c):
        d = c.argmax(1)
        return torch.einsum("bd,bde->be", self.cinn.inverse(v, c)[0], WI[d]) + MU[d]


model = Whitened(ConditionalINN(dim=ae.dim, cond_dim=domains.dim, n_blocks=BLOCKS, hidden_dim=HIDDEN))
pairs = semantic.latent_pairs(train_codes, domains.encode(train.labels), min_std=SIGMA)
eval_pairs = semantic.latent_pairs(test_codes, domains.encode(test.labels), min_std=SIGMA)
history = fit(model, pairs, steps=STEPS, batch_size=128, lr=1e-3, warmup=100, eval_data=eval_pairs,
              progress=False)
print(MODE, "fit", round(history.seconds), "s; held-out NLL", [round(x, 1) for x in history.eval_nll], flush=True)
with torch.no_grad():
    v, _ = model(test_codes[0], domains.encode(test.labels))
print("linear probe of the domain from v", round(metrics.linear_probe_accuracy(v, torch.as_tensor(test.labels)), 3),
      "|v|²/D", round(float(v.pow(2).mean()), 3))
for s, t in ((0, 1), (1, 0)):
    images, factors = test.domain(s)
    with torch.no_grad():
        z = semantic.encode_targets(ae, images, progress=False)[0]
        v, _ = model(z, domains.encode([s] * len(z)))
        moved = model.inverse(v, domains.encode([t] * len(z)))
        out = torch.cat([ae.decode(b) for b in moved.split(256)])
    r = unpaired.evaluate_transfer(clf, out, factors, target=t)
    print(unpaired.DOMAINS[s], "->", unpaired.DOMAINS[t], {k: round(x, 3) for k, x in r.items()}, flush=True)
print("total", round(time.time() - start))
