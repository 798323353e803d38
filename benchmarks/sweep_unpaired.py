"""Settings of notebook 04's translator (supplement D: a domain label as the source expert).

    .venv/bin/python benchmarks/sweep_unpaired.py              # every setting (~10 min)
    .venv/bin/python benchmarks/sweep_unpaired.py 2000,1.0 2000,1.0,8x256

Each setting ``steps,min_std[,BLOCKSxUNITS]`` trains τ from the domain label (``Labelator``)
to ``shapes-ae-32`` on notebook 04's data (``unpaired.make_domains``: 6,000 images per domain;
cINN 4 × 128 unless the setting names another size) and translates its 400 held-out images per
domain both ways. Columns: the share of translations in the target domain
(``shapes-attributes-v1``' background head) and the share that keep all four content factors
(``unpaired.evaluate_transfer``), per direction and as the mean of the two. ``min_std``
"none": target codes drawn from the encoder's posterior as it is. The notebook's setting is
also translated at temperatures T < 1 (``unpaired.translate(..., temperature=T)``, τ(T·v |
target)), which pull the residual towards the mode of the target domain. One thread.
"""

from __future__ import annotations

import sys

import torch

from n2nlib import zoo
from n2nlib.course import semantic, unpaired
from n2nlib.experts import Labelator

SETTINGS = ["1000,none", "1000,0.5", "1000,0.7", "1000,1.0", "1000,2.0", "2000,1.0", "3000,1.0",
            "2000,1.0,8x256"]
TEMPERATURES = {"2000,1.0": (0.9, 0.8, 0.7, 0.5)}  # extra rows: translations at T < 1


def main() -> None:
    torch.set_num_threads(1)
    chosen = [a.split(",") for a in sys.argv[1:]] or [s.split(",") for s in SETTINGS]
    train = unpaired.make_domains(6000, "train", seed=0)
    test = unpaired.make_domains(400, "test", seed=1)
    ae = zoo.load(unpaired.TARGET, device="cpu")
    classifier = zoo.load(unpaired.CLASSIFIER, device="cpu")
    labeler = Labelator(list(unpaired.DOMAINS))
    targets = semantic.encode_targets(ae, train.images, progress=False)
    print("| steps | σ floor | blocks × units | T | train s | "
          "domain plain → photo / photo → plain | both ways | "
          "content plain → photo / photo → plain | both ways |")
    print("|---|---|---|---|---|---|---|---|---|")
    for setting in chosen:
        steps, floor, size = (setting + ["4x128"])[:3]
        blocks, hidden = (int(k) for k in size.split("x"))
        trained = semantic.fit_translator(
            labeler, ae, targets, train.labels, steps=int(steps),
            cinn_kwargs={"n_blocks": blocks, "hidden_dim": hidden}, batch_size=128, lr=1e-3,
            min_std=None if floor == "none" else float(floor), device="cpu", progress=False)
        for temperature in (1.0, *TEMPERATURES.get(",".join(setting), ())):
            got = [unpaired.evaluate_transfer(
                       classifier, unpaired.translate(trained.n2n, images, src, 1 - src,
                                          temperature=temperature),
                       factors, target=1 - src)
                   for src in (0, 1) for images, factors in [test.domain(src)]]
            dom = [g["target_accuracy"] for g in got]
            kept = [g["content"] for g in got]
            print(f"| {steps} | {floor} | {blocks} × {hidden} | {temperature} | "
                  f"{trained.history.seconds:.0f} | {dom[0]:.3f} / {dom[1]:.3f} | "
                  f"{sum(dom) / 2:.3f} | {kept[0]:.3f} / {kept[1]:.3f} | {sum(kept) / 2:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
