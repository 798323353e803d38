"""Settings of notebook 03's translator (Sec. 4.2: an 8×8 autoencoder to a 32×32 one).

    .venv/bin/python benchmarks/sweep_superres.py              # every setting (~15 min)
    .venv/bin/python benchmarks/sweep_superres.py aug,12000

Each setting ``crops,steps`` trains τ (cINN 4 × 256, batch 128, target codes drawn with
σ ≥ 0.3) from ``textures-ae-8`` to ``textures-ae-32`` on 30,000 training crops — ``plain``: as
``random_crops`` cuts them, ``aug``: turned by k · 90° and with permuted colour channels
(``superres.make_pairs(augment=True)``) — and measures, on notebook 03's 300 held-out crops (6
samples each), the held-out NLL (first / last / best evaluation) and the LR-consistency gap to
the bound set by the high-resolution autoencoder at T = 1 and T = 0.5 (``superres.evaluate``),
with the PSNR to the truth and the per-pixel diversity. One thread.
"""

from __future__ import annotations

import sys

import torch

from n2nlib import ConditionalINN, Net2Net, settings, zoo
from n2nlib.course import superres

SETTINGS = ["plain,3000", "aug,3000", "aug,6000", "aug,12000"]


def main() -> None:
    torch.set_num_threads(1)
    chosen = [a.split(",") for a in sys.argv[1:]] or [s.split(",") for s in SETTINGS]
    source = zoo.load(superres.SOURCE, device="cpu")
    target = zoo.load(superres.TARGET, device="cpu")
    lo_test, hi_test = superres.make_pairs(300, "test", seed=1)
    eval_pairs = superres.latent_pairs(source, target, lo_test, hi_test, min_std=0.3,
                                       progress=False)
    recon = superres.reconstruct(target, hi_test)
    print("| crops | steps | train s | held-out NLL first / last / best | gap T = 1 (dB) | "
          "PSNR T = 1 (dB) | diversity T = 1 | gap T = 0.5 (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    train_pairs = {}  # per kind of crops: encoded once, shared by its settings
    for crops, steps in chosen:
        if crops not in ("plain", "aug"):
            raise ValueError(f"crops must be 'plain' or 'aug', got {crops!r}")
        if crops not in train_pairs:
            lo, hi = superres.make_pairs(30_000, "train", seed=0, augment=crops == "aug")
            train_pairs[crops] = superres.latent_pairs(source, target, lo, hi, min_std=0.3,
                                                       progress=False)
        pairs = train_pairs[crops]
        settings.seed_everything(0)
        cinn = ConditionalINN(dim=target.dim, cond_dim=source.dim, n_blocks=4, hidden_dim=256)
        n2n = Net2Net(source, target, cinn, device="cpu")
        h = n2n.fit(pairs, steps=int(steps), batch_size=128, lr=1e-3, warmup=100,
                    eval_data=eval_pairs, progress=False)
        t1, t05 = (superres.evaluate(n2n, lo_test, hi_test, n_samples=6, temperature=t,
                                     reconstruction=recon) for t in (1.0, 0.5))
        print(f"| {crops} | {steps} | {h.seconds:.0f} | {h.eval_nll[0]:.1f} / "
              f"{h.eval_nll[-1]:.1f} / {min(h.eval_nll):.1f} | {t1.lr_gap_db:.2f} | "
              f"{t1.psnr_db:.2f} | {t1.diversity:.4f} | {t05.lr_gap_db:.2f} |", flush=True)


if __name__ == "__main__":
    main()
