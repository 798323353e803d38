"""Issue 11, target 4: latency of text → 16 images with the shipped text-to-image model.

    .venv/bin/python benchmarks/bench_translate.py                  # 100 prompts, warm
    .venv/bin/python benchmarks/bench_translate.py --prompts 20 --threads 1

Loads ``zoo.load("sbert-to-shapes")`` once, warms it up, then times each of ``--prompts``
held-out prompts (``text2image.make_prompts``) one at a time: ``translate([prompt],
n_samples=16)`` → ``(16, 3, 32, 32)`` images. Reports p50 and p95 over the prompts, and, in the
same run, where the time goes (Sentence-BERT encoding, cINN sampling, decoding) and the
per-prompt cost when all prompts are encoded in one batch (SBERT batched) and translated
together — the ratio single/batched says what batching buys on this machine.

It also counts the page faults per prompt. A fresh process's glibc ``malloc`` may hand the
decoder's maps of 1–2 MiB back to the system after each prompt (its trim threshold is twice
its mmap threshold, which has not risen far yet) and fault them in again on the next: about a
thousand faults per prompt. ``--malloc steady`` fixes the thresholds at glibc's own ceiling
first (``settings.return_freed_memory(32 MiB, 64 MiB)``), as a long-running process would
have them; the default leaves glibc as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("--malloc", choices=("glibc", "steady"), default="glibc",
                        help="glibc: as the process starts; steady: thresholds fixed at "
                             "glibc's ceiling first (see the module doc)")
    parser.add_argument("--root", default=None,
                        help="zoo folder (default: the shipped zoo; e.g. one written by "
                             "'python -m n2nlib.zoo train all --fast --out DIR')")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from n2nlib import settings, zoo
    from n2nlib.course.text2image import make_prompts

    if args.malloc == "steady" and not settings.return_freed_memory(32 << 20, 64 << 20):
        print("--malloc steady: no glibc here, nothing changed")
    settings.seed_everything(0)
    model, load_s = _timed(zoo.load, "sbert-to-shapes", device="cpu", root=args.root)
    prompts = make_prompts(args.prompts + args.warmup, seed=7).texts
    warm, timed = prompts[: args.warmup], prompts[args.warmup:]
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for text in warm:
            model.translate([text], n_samples=args.samples, generator=gen)
        single, parts = [], {"sbert": [], "cinn": [], "decode": []}
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for text in timed:
            images, seconds = _timed(model.translate, [text], n_samples=args.samples,
                                     generator=gen)
            assert images.shape == (args.samples, 3, 32, 32)
            single.append(seconds)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / len(timed)
        # where the time goes, one prompt at a time, the same stages translate runs
        for text in timed[: min(len(timed), 30)]:
            cond, t_enc = _timed(model.encode_source, [text])
            z, t_cinn = _timed(model.translate_latent, cond, args.samples, generator=gen)
            _, t_dec = _timed(model.decode, z)
            parts["sbert"].append(t_enc)
            parts["cinn"].append(t_cinn)
            parts["decode"].append(t_dec)
        batched_images, batched_s = _timed(model.translate, timed, n_samples=args.samples,
                                           generator=gen)
        assert batched_images.shape[0] == len(timed) * args.samples

    p50, p95 = (float(q) for q in np.percentile(single, [50, 95]))
    per_prompt_batched = batched_s / len(timed)
    result = {
        "prompts": len(timed), "samples": args.samples, "threads": torch.get_num_threads(),
        "load_s": load_s, "p50_s": p50, "p95_s": p95, "mean_s": statistics.fmean(single),
        "malloc": args.malloc, "page_faults_per_prompt": faults,
        "stage_median_s": {k: statistics.median(v) for k, v in parts.items()},
        "batched_per_prompt_s": per_prompt_batched,
        "single_over_batched": p50 / per_prompt_batched,
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    print(f"text → {args.samples} images with zoo.load('sbert-to-shapes'), "
          f"{len(timed)} held-out prompts one at a time, warm, {result['threads']} threads "
          f"(model loaded in {load_s:.2f} s), malloc: {args.malloc}")
    print("| measure | seconds |\n|---|---|")
    print(f"| p50 per prompt | {p50:.4f} |\n| p95 per prompt | {p95:.4f} |")
    for k, v in result["stage_median_s"].items():
        print(f"| median stage: {k} | {v:.4f} |")
    print(f"| per prompt, all {len(timed)} prompts in one batch | {per_prompt_batched:.4f} |")
    print(f"\nsingle-prompt p50 / batched per-prompt = {result['single_over_batched']:.1f}× "
          f"(same run); {faults:.0f} page faults per prompt; 1-minute load average at the "
          f"end {result['load_average']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
