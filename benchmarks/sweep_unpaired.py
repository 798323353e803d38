"""Settings of notebook 04's translator (supplement D: a domain label as the source expert).

    .venv/bin/python benchmarks/sweep_unpaired.py              # every setting (~5 min)
    .venv/bin/python benchmarks/sweep_unpaired.py 2000,1.0

Each setting ``steps,min_std`` trains τ from the domain label (``Labelator``) to
``shapes-ae-32`` on notebook 04's data (``unpaired.make_domains``: 6,000 images per domain, cINN
4 × 128) and translates its 400 held-out images per domain both ways. Columns: the share of
translations in the target domain (``shapes-attributes``' background head) and the share that
keep all four content factors (``unpaired.evaluate_transfer``), per direction and as the mean of
the two. ``min_std`` "none": target codes drawn from the encoder's posterior as it is. One
thread.
"""

from __future__ import annotations

import sys

import torch

from n2nlib import zoo
from n2nlib.experiments import semantic, unpaired
from n2nlib.experts import Labelator

SETTINGS = ["1000,none", "1000,0.5", "1000,0.7", "1000,1.0", "1000,2.0", "2000,1.0", "3000,1.0"]


def main() -> None:
    torch.set_num_threads(1)
    chosen = [a.split(",") for a in sys.argv[1:]] or [s.split(",") for s in SETTINGS]
    train = unpaired.make_domains(6000, "train", seed=0)
    test = unpaired.make_domains(400, "test", seed=1)
    ae = zoo.load(unpaired.TARGET, device="cpu")
    classifier = zoo.load(unpaired.CLASSIFIER, device="cpu")
    labeler = Labelator(list(unpaired.DOMAINS))
    targets = semantic.encode_targets(ae, train.images, progress=False)
    print("| steps | σ floor | train s | domain plain → photo / photo → plain | both ways | "
          "content plain → photo / photo → plain | both ways |")
    print("|---|---|---|---|---|---|---|")
    for steps, floor in chosen:
        trained = semantic.fit_translator(
            labeler, ae, targets, train.labels, steps=int(steps),
            cinn_kwargs={"n_blocks": 4, "hidden_dim": 128}, batch_size=128, lr=1e-3,
            min_std=None if floor == "none" else float(floor), device="cpu", progress=False)
        n2n, history = trained.n2n, trained.history
        got = []
        for src, dst in ((0, 1), (1, 0)):
            images, factors = test.domain(src)
            translated = unpaired.translate(n2n, images, src, dst)
            got.append(unpaired.evaluate_transfer(classifier, translated, factors, target=dst))
        dom = [g["target_accuracy"] for g in got]
        kept = [g["content"] for g in got]
        print(f"| {steps} | {floor} | {history.seconds:.0f} | {dom[0]:.3f} / {dom[1]:.3f} | "
              f"{sum(dom) / 2:.3f} | {kept[0]:.3f} / {kept[1]:.3f} | {sum(kept) / 2:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
