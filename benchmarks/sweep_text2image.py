"""Settings of notebook 06's translator τ (Sentence-BERT → the dequantised shapes generator).

    .venv/bin/python benchmarks/sweep_text2image.py       # the ten runs of RESULTS.md (~25 min)
    .venv/bin/python benchmarks/sweep_text2image.py I E   # some of them

Makes the notebook's data once (12,000 synthetic training pairs, 1,000 held-out, seeds 0 and 1),
then, per run, trains a fresh grouped τ (``text2image.make_translator``) with ``fit`` and
measures it as the notebook does (``measure_translator``: 200 + 100 held-out prompts × 16
images). Prints one Markdown row per run: training seconds, the held-out NLL at the last
evaluation (and the best, when ``fit`` kept an earlier one), accuracy, diversity and held-out
pairs. Two threads, as the notebook.
"""

from __future__ import annotations

import sys
import time

import torch

from n2nlib import settings, zoo
from n2nlib.course import text2image as t2i
from n2nlib.experts.text import SentenceBERT

# name: (steps, batch size, lr, translator arguments)
RUNS = {
    "A": (2500, 128, 1e-3, {}),
    "B": (1000, 128, 1e-3, {}),
    "C": (400, 512, 2e-3, {}),
    "D": (1200, 128, 1e-3, {"n_blocks": 4}),
    "E": (1000, 128, 1e-3, {"cond_norm": True}),
    "F": (400, 512, 2e-3, {"cond_norm": True}),
    "G": (1000, 128, 1e-3, {"cond_norm": True, "n_blocks": 4}),
    "H": (600, 256, 1e-3, {"cond_norm": True}),
    "I": (500, 128, 1e-3, {"cond_norm": True}),
    "J": (350, 256, 1e-3, {"cond_norm": True}),
}


def main() -> None:
    torch.set_num_threads(2)
    chosen = sys.argv[1:] or list(RUNS)
    unknown = [name for name in chosen if name not in RUNS]
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; choose from {list(RUNS)}")
    settings.seed_everything(0)
    sbert = SentenceBERT()
    classifier = zoo.load(t2i.CLASSIFIER)
    target = t2i.load_target()
    captioner = t2i.AttributeCaptioner(classifier)
    data = t2i.synthesize(12_000, target.generator, captioner, seed=0, progress=False)
    eval_data = t2i.synthesize(1_000, target.generator, captioner, seed=1, progress=False)
    encoder = t2i.make_translator(sbert, target)
    pairs, eval_pairs = encoder.encode_data(data.pairs()), encoder.encode_data(eval_data.pairs())
    print("| run | steps × batch | arguments | train s | held-out NLL last (best) | accuracy | "
          "diversity | held-out pairs |")
    print("|---|---|---|---|---|---|---|---|")
    for name in chosen:
        steps, batch, lr, kwargs = RUNS[name]
        n2n = t2i.make_translator(sbert, target, **kwargs)
        start = time.perf_counter()
        history = n2n.fit(pairs, steps=steps, batch_size=batch, lr=lr, warmup=steps // 10,
                          eval_data=eval_pairs, seed=0, progress=False)
        seconds = time.perf_counter() - start
        scores = t2i.summarize_scores(t2i.measure_translator(
            n2n, classifier, n_prompts=200, n_compositional=100, n_samples=16, batch_size=16))
        best = "" if history.best_step is None else f" ({min(history.eval_nll):.2f})"
        print(f"| {name} | {steps} × {batch}, lr {lr:g} | {kwargs} | {seconds:.1f} | "
              f"{history.eval_nll[-1]:.2f}{best} | {scores['accuracy/mean']:.3f} | "
              f"{scores['diversity/mean']:.3f} | {scores['compositional/accuracy']:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
