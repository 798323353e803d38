"""Issue 20: how much the σ floor of the target codes lowers the LR-consistency bound.

    python benchmarks/trials_issue20/superres_bound_floor.py
"""
# ruff: noqa: E402, E501
import torch

from n2nlib import metrics, zoo
from n2nlib.course import superres

torch.set_num_threads(1)
torch.manual_seed(0)
p = superres.make_shape_pairs(300, "test", 1)
tgt = zoo.load("shapes-ae")
src = zoo.load("shapes-ae-8")
with torch.no_grad():
    m, lv = tgt.encode_distribution(p.high)
    print("AE8 recon PSNR at 8x8", metrics.psnr(p.low, superres.reconstruct(src, p.low)))
    for s in (0, 0.05, 0.1, 0.2, 0.3):
        y = tgt.decode(m + s * torch.randn_like(m)).clamp(0, 1)
        print(
            s,
            "LR",
            round(metrics.lr_consistency(y, p.low), 2),
            "PSNR",
            round(metrics.psnr(y, p.high), 2),
        )
