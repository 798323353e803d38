"""Settings of notebook 08's label-map translator (Sec. 4.2–4.3: segmenter argmax -> AE).

    .venv/bin/python benchmarks/sweep_label_map_translator.py            # every setting (~30 min)
    .venv/bin/python benchmarks/sweep_label_map_translator.py 6000,8,0.3

Each setting ``steps,n_blocks,min_std`` trains the translator from the segmenter's label maps
(one-hot, average-pooled to 8×8: ``LabelMaps(pool=8)``) to ``shapes-ae-32`` on notebook 08's
data (``semantic.make_data``: 12,000 training images, segmented by ``shapes-segmenter-v1``; cINN
blocks × 128 units, batch 128, AdamW with weight decay 1e-4, target codes drawn with σ ≥
``min_std``), generates one image per held-out label map (the notebook's 300) and measures the
segmenter's mIoU over the 6 classes and the foreground (layout) IoU on them
(``semantic.segmentation_miou``, ``semantic.foreground_iou``). One thread.
"""

from __future__ import annotations

import sys

import torch

from n2nlib import settings, zoo
from n2nlib.course import semantic
from n2nlib.nets.edges import LabelMaps

SETTINGS = ["3000,4,0.3", "3000,4,0.15", "3000,4,0.6", "3000,4,1.0", "6000,4,0.3",
            "12000,4,0.3", "6000,8,0.3", "6000,8,0.15", "6000,8,0.05", "12000,8,0.15"]


def main() -> None:
    torch.set_num_threads(1)
    chosen = [a.split(",") for a in sys.argv[1:]] or [s.split(",") for s in SETTINGS]
    ae = zoo.load(semantic.TARGET, device="cpu")
    segmenter = zoo.load(semantic.SEGMENTER, device="cpu")
    train = semantic.make_data(12_000, "train", seed=0)
    test = semantic.make_data(300, "test", seed=1)
    train.segment(segmenter)
    test.segment(segmenter)
    targets = semantic.encode_targets(ae, train.images, progress=False)
    print("| steps | blocks | σ floor | train s | mIoU (6 classes) | layout IoU |")
    print("|---|---|---|---|---|---|")
    for steps, blocks, floor in chosen:
        settings.seed_everything(0)
        tr = semantic.fit_translator(
            LabelMaps(semantic.N_CLASSES, pool=8), ae, targets, train.labels, steps=int(steps),
            cinn_kwargs={"n_blocks": int(blocks), "hidden_dim": 128}, batch_size=128, lr=1e-3,
            min_std=float(floor), weight_decay=1e-4, device="cpu", progress=False)
        generated = semantic.translate(tr.n2n, test.labels, seed=2)
        miou = semantic.segmentation_miou(segmenter, generated, test.labels)
        layout = semantic.foreground_iou(segmenter, generated, test.labels)
        print(f"| {steps} | {blocks} | {floor} | {tr.train_seconds:.0f} | {miou:.3f} | "
              f"{layout:.3f} |", flush=True)


if __name__ == "__main__":
    main()
