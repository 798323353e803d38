"""Settings of notebook 08's attribute translator (Fig. 6: flip one attribute, keep the rest).

    .venv/bin/python benchmarks/sweep_attribute_translator.py            # every setting (~10 min)
    .venv/bin/python benchmarks/sweep_attribute_translator.py 12000,4000,8,1.0

Each setting ``n_train,steps,n_blocks,min_std`` (``min_std`` "none": no floor on the target
codes' standard deviation) trains the attribute-vector translator of notebook 08 on the same
data recipe (``semantic.make_data``, ``shapes-ae-32``) and measures, on the notebook's 300
held-out images with one of colour / size / position changed each, the fraction of images whose
changed factor flipped and whose other drawn factors were kept (``semantic.modification_scores``,
read by ``shapes-attributes-v1``). One thread; the trials quoted in notebook 08 and in
``benchmarks/RESULTS.md`` are its output.
"""

from __future__ import annotations

import sys

import torch

from n2nlib import settings, zoo
from n2nlib.course import semantic
from n2nlib.nets.edges import AttributeVectors

SETTINGS = [(4000, 1000, 4, None), (4000, 3000, 4, 0.3), (12000, 3000, 4, 0.3),
            (12000, 3000, 4, 0.8), (12000, 4000, 4, 1.0), (12000, 4000, 8, 1.0)]
DRAWN = ["color", "size", "position"]


def parse(arg: str) -> tuple[int, int, int, float | None]:
    n, steps, blocks, floor = arg.split(",")
    return int(n), int(steps), int(blocks), None if floor == "none" else float(floor)


def main() -> None:
    torch.set_num_threads(1)
    chosen = [parse(a) for a in sys.argv[1:]] or SETTINGS
    ae = zoo.load(semantic.TARGET, device="cpu")
    classifier = zoo.load(semantic.CLASSIFIER, device="cpu")
    test = semantic.make_data(300, "test", seed=1)
    attributes = AttributeVectors()
    drawn = torch.tensor([attributes.names.index(n) for n in DRAWN])
    changed, which = semantic.change_one_factor(test.factors, seed=8,
                                                which=drawn[torch.arange(300) % len(DRAWN)])
    print("| images | steps | blocks | σ floor | train s | flipped | kept | flipped per factor |")
    print("|---|---|---|---|---|---|---|---|")
    data = {}  # per training-set size: rendered and encoded once, shared by its settings
    for n_train, steps, blocks, floor in chosen:
        settings.seed_everything(0)
        if n_train not in data:
            train = semantic.make_data(n_train, "train", seed=0)
            data[n_train] = train, semantic.encode_targets(ae, train.images, progress=False)
        train, targets = data[n_train]
        tr = semantic.fit_translator(
            attributes, ae, targets, train.factors, steps=steps,
            cinn_kwargs={"n_blocks": blocks, "hidden_dim": 128}, desc="attributes",
            batch_size=128, lr=1e-3, min_std=floor, weight_decay=1e-4, device="cpu",
            progress=False)
        modified = semantic.exemplar_transfer(tr.n2n, test.images, test.factors, changed,
                                              progress=False)
        s = semantic.modification_scores(classifier, modified, test.factors, changed, which,
                                         judged=DRAWN)
        per = ", ".join(f"{k} {v:.2f}" for k, v in s.flipped_by_factor.items())
        print(f"| {n_train} | {steps} | {blocks} | {floor} | {tr.train_seconds:.0f} | "
              f"{s.flipped:.3f} | {s.kept:.3f} | {per} |", flush=True)


if __name__ == "__main__":
    main()
