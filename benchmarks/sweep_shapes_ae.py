"""Sweep of `shapes-ae-32` recipe variants, trained side by side on one GPU (issue 6).

    python benchmarks/sweep_shapes_ae.py                         # every variant, $OUT or ./sweep
    DEV=cpu MIN_STEPS=5 BUDGET=0 EVAL_N=50 python benchmarks/sweep_shapes_ae.py long  # smoke
    python benchmarks/sweep_shapes_ae.py latent128,latent128-wide
    BUDGET=330 python benchmarks/sweep_shapes_ae.py latent128    # seconds of training each

Renders the 60,000 training images once, then runs each variant of the zoo recipe in its own
process (:func:`n2nlib.zoo.retrain.train_expert` with the recipe changed, ``device="cuda"``):
"ctrl" keeps the shipped step count, the others first time 40 steps and then train for as many
thousand steps as fit into ``BUDGET`` seconds. Each variant's card quality (held-out PSNR and
the attribute classifier on the reconstructions) is printed as one JSON line and collected in
``sweep.json``; the weights and registry of the two best (by shape read on reconstructions) are
copied next to it. The figures of the zoo section of ``benchmarks/RESULTS.md`` come from it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VARIANTS: dict[str, dict] = {
    "ctrl": {},
    "long": {"long": True},
    "long-kl001": {"long": True, "kl": 0.01},
    "long-gan": {"long": True, "gan": 1.0},
    "long-wide": {"long": True, "config": {"width": 64, "max_width": 256}},
    "latent128": {"long": True, "config": {"dim": 128}},
    "latent128-wide": {"long": True, "config": {"dim": 128, "width": 64, "max_width": 256}},
}
DEVICE = os.environ.get("DEV", "cuda")
BUDGET = float(os.environ.get("BUDGET", "200"))
DATA = Path(os.environ.get("SWEEP_DATA", "/tmp/shapes60k.pt"))
MIN_STEPS = int(os.environ.get("MIN_STEPS", "2000"))  # a smoke run: MIN_STEPS=5 BUDGET=0
EVAL_N = os.environ.get("EVAL_N")  # held-out images (default: the recipe's 2,000)


def run_variant(name: str, out: str) -> None:
    import torch

    from n2nlib.zoo import objectives, recipes, retrain, training

    variant = VARIANTS[name]
    recipe = recipes.RECIPES["shapes-ae-32"]
    kl, gan = variant.get("kl", 0.1), variant.get("gan", 0.0)
    config = {**recipe.config, **variant.get("config", {})}
    images = torch.load(DATA)
    changes: dict = {"config": config, "make_data": lambda n, seed: {"image": images[:n]}}
    if variant.get("long"):
        changes["n_train"] = len(images)
        model = recipe.model(**config).to(DEVICE)
        pilot = {"image": images[:512]}
        objective = objectives.AutoencoderObjective(kl_weight=kl, gan_weight=gan)
        training.fit_expert(model, objective, pilot, steps=10, batch_size=64, progress=False)
        start = time.perf_counter()
        objective = objectives.AutoencoderObjective(kl_weight=kl, gan_weight=gan)
        training.fit_expert(model, objective, pilot, steps=40, batch_size=64, progress=False)
        per_step = (time.perf_counter() - start) / 40
        changes["steps"] = max(MIN_STEPS, min(40000, int(BUDGET / per_step / 1000) * 1000))
        print(f"[{name}] pilot {per_step * 1e3:.1f} ms/step -> {changes['steps']} steps",
              flush=True)
    gan_start = max(changes.get("steps", recipe.steps) // 3, 1)
    changes["objective"] = lambda: objectives.AutoencoderObjective(kl_weight=kl, gan_weight=gan,
                                                          gan_start=gan_start)
    if EVAL_N:
        changes["eval_n"] = int(EVAL_N)
    recipes.RECIPES["shapes-ae-32"] = recipes.replace(recipe, **changes)
    card = retrain.train_expert("shapes-ae-32", out=out, device=DEVICE, progress=False).card
    print(json.dumps({"variant": name, "steps": card["steps"], "seconds": card["train_seconds"],
                      "quality": card["quality"]}), flush=True)


def main(names: list[str], outdir: Path, deadline_s: float = 480.0) -> list[dict]:
    import torch

    from n2nlib.zoo.data import shapes_data

    outdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    torch.save(shapes_data(60000, 0)["image"], DATA)  # the recipe's data: seed 0
    print(f"data {time.perf_counter() - start:.0f} s", flush=True)
    deadline = time.time() + deadline_s
    procs = {}
    for name in names:
        log = open(f"/tmp/sweep_{name}.log", "w")  # noqa: SIM115 (closed with the process)
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, "--variant", name, f"/tmp/sweep/{name}"], stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "2"})
    results = []
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
        lines = Path(f"/tmp/sweep_{name}.log").read_text().splitlines()
        print(f"==== {name} (exit {proc.returncode})", flush=True)
        for line in lines:
            if line.startswith(("{", "[", "Traceback", "  File", "RuntimeError", "ValueError")):
                print(line, flush=True)
            if line.startswith("{"):
                results.append(json.loads(line))
    (outdir / "sweep.json").write_text(json.dumps(results, indent=1))
    results.sort(key=lambda r: -r["quality"].get("recon_accuracy/shape", 0.0))
    for r in results[:2]:
        src = Path(f"/tmp/sweep/{r['variant']}")
        shutil.copy(src / "weights/shapes-ae-32.safetensors",
                    outdir / f"{r['variant']}.safetensors")
        shutil.copy(src / "registry.json", outdir / f"{r['variant']}.registry.json")
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--variant":
        run_variant(sys.argv[2], sys.argv[3])
    else:
        chosen = sys.argv[1].split(",") if len(sys.argv) > 1 else list(VARIANTS)
        main(chosen, Path(os.environ.get("OUT", "sweep")),
             float(os.environ.get("DEADLINE", "480")))
