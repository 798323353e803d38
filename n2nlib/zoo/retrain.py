"""Retrain a zoo entry from its recipe (``python -m n2nlib.zoo train NAME``).

:func:`train_expert` makes the recipe's training data, runs the zoo's loop
(:func:`~n2nlib.zoo.training.fit_expert`), saves the weights in float16 with their sha256 in a
registry, reloads them and measures them on held-out data (:func:`evaluate_expert`), and
writes the model card. With ``fast=True`` every recipe runs end to end in seconds on tiny data,
into a temporary folder, never over the shipped weights.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from n2nlib import settings
from n2nlib.nets.blocks import n_parameters
from n2nlib.zoo.recipes import RECIPES, Recipe
from n2nlib.zoo.training import _load_average, fit_expert, machine_description


def _save_weights(model: nn.Module, path: Path, name: str, class_spec: str) -> None:
    from safetensors.torch import save_file

    state = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
        for k, v in model.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"name": name, "class": class_spec, "config": json.dumps(model.config),
                "format": "n2nlib-zoo-1", "storage": "float16"}
    save_file(state, str(path), metadata=metadata)


def all_recipes() -> dict[str, Recipe]:
    """Every recipe :func:`train_expert` knows: the image experts' (:mod:`n2nlib.zoo.recipes`)
    and the text-to-image ones (:mod:`n2nlib.zoo.text2image_recipes`), by name."""
    from n2nlib.zoo.text2image_recipes import zoo_recipes

    return {**RECIPES, **{r.name: r for r in zoo_recipes()}}


def _recipe(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        raise ValueError(f"no recipe for {name!r}; recipes: {', '.join(sorted(recipes))}")
    return recipes[name]


def _dependencies(recipe: Recipe, root: Path | None, fast: bool = False) -> dict[str, Any]:
    """The zoo models ``recipe`` needs (``recipe.requires``): from the zoo folder being written
    when it has them, else from the shipped zoo; with ``fast``, an untrained model when neither
    has it (a pipeline check before anything was trained)."""
    from n2nlib import zoo

    deps: dict[str, Any] = {}
    for dep in recipe.requires:
        if root is not None and (root / zoo.REGISTRY_FILE).exists() and dep in zoo.registry(root):
            deps[dep] = zoo.load(dep, root=root)
            continue
        try:
            deps[dep] = zoo.load(dep)
        except (zoo.ZooError, OSError):
            if not fast:
                raise
            deps[dep] = zoo.build(dep).eval()
    return deps


def _with_deps(fn: Any, deps: dict[str, Any], *args: Any) -> Any:
    return fn(*args, deps) if deps else fn(*args)


def evaluate_expert(name: str, model: Any, n: int | None = None, *,
                    root: str | os.PathLike | None = None) -> dict[str, float]:
    """Measure ``model`` on the held-out data of recipe ``name``.

    Arguments:
        name: a recipe name (:func:`all_recipes`).
        model: a trained model of that recipe.
        n: held-out examples (default: the recipe's ``eval_n``).
        root: the zoo folder to take the models the recipe needs from (default: shipped).

    Returns:
        ``{metric: value}``, higher is better for each.
    """
    recipe = _recipe(name)
    deps = _dependencies(recipe, Path(root) if root is not None else None)
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    out = _with_deps(recipe.evaluate, deps, model, n or recipe.eval_n)
    if isinstance(model, nn.Module):
        model.train(was_training)
    return {k: round(float(v), 5) for k, v in out.items()}


@dataclass
class TrainResult:
    """What :func:`train_expert` did: where it wrote, and the card it wrote."""

    name: str
    root: Path
    weights: Path
    card: dict[str, Any]


def train_expert(
    name: str,
    fast: bool = False,
    *,
    out: str | os.PathLike | None = None,
    threads: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
) -> TrainResult:
    """Train the zoo expert ``name`` by its recipe, save it and write its card.

    Arguments:
        name: a recipe name (:data:`RECIPES`).
        fast: tiny data and a few steps, to check the pipeline end to end in seconds.
        out: the zoo folder to write ``weights/NAME.safetensors``, ``registry.json`` and
            ``CARDS.md`` into. Default: the shipped zoo (``n2nlib/zoo``) for a full run, a new
            temporary folder for ``fast`` (fast runs never touch the shipped weights).
        threads: ``torch.set_num_threads`` for the run (default: leave as it is).
        seed: seed of the data and the training.
        device: where to train (default :func:`n2nlib.settings.device`).
        progress: show progress bars.
        checkpoint_dir: keep resumable checkpoints here (see :func:`fit_expert`); a second
            call with the same folder continues where the first stopped.

    Returns:
        A :class:`TrainResult`.
    """
    from n2nlib import zoo

    recipe = _recipe(name)
    root = Path(out) if out is not None else (
        Path(tempfile.mkdtemp(prefix="n2n-zoo-")) if fast else zoo.PACKAGE_ROOT)
    if fast and root.resolve() == zoo.PACKAGE_ROOT.resolve():
        raise ValueError("--fast never writes into the shipped zoo; choose another --out folder")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = settings.device(device)
    settings.seed_everything(seed)

    load_start = _load_average()
    start = time.perf_counter()
    deps = _dependencies(recipe, root, fast)
    data = _with_deps(recipe.make_data, deps, recipe.n_train_fast if fast else recipe.n_train,
                      seed)
    if fast:
        data = {k: v[: recipe.n_train_fast] for k, v in data.items()}
    data_seconds = time.perf_counter() - start
    model = recipe.model(**recipe.config).to(device=dev, dtype=torch.float32)
    data = {k: v.float() if v.is_floating_point() else v for k, v in data.items()}
    steps = recipe.steps_fast if fast else recipe.steps
    history = fit_expert(
        model, _with_deps(recipe.objective, deps), data, steps=steps, batch_size=recipe.batch_size,
        lr=recipe.lr, weight_decay=recipe.weight_decay,
        warmup=min(recipe.warmup, steps // 10), augment=recipe.augment, seed=seed,
        progress=progress, desc=f"training {name}", checkpoint_dir=checkpoint_dir,
    )

    class_spec = zoo.architecture_name(recipe.model)
    rel = f"weights/{name}.safetensors"
    weights = root / rel
    _save_weights(model, weights, name, class_spec)
    entries = zoo.registry(root) if (root / zoo.REGISTRY_FILE).exists() else {}
    command = f"python -m n2nlib.zoo train {name}" + (" --fast" if fast else "") + (
        f" --threads {threads}" if threads is not None else "") + (
        f" --seed {seed}" if seed != 0 else "") + (
        f" --device {dev.type}" if dev.type != "cpu" else "")
    card: dict[str, Any] = {
        "kind": recipe.kind,
        "summary": recipe.summary,
        "architecture": recipe.architecture,
        "dim": int(model.dim),
        "parameters": n_parameters(model),
        "data": recipe.data if not fast else f"(--fast: {len(next(iter(data.values())))} "
                                             f"examples) {recipe.data}",
        "held_out": recipe.held_out,
        "quality": {},
        "command": command,
        "train_seconds": round(history.seconds, 1),
        "train_cpu_seconds": round(history.cpu_seconds, 1),
        "data_seconds": round(data_seconds, 1),
        "steps": steps,
        "batch_size": recipe.batch_size,
        "machine": machine_description() + (
            f", device {torch.cuda.get_device_name(dev)}" if dev.type == "cuda"
            else f", device {dev.type}"),
        "notes": list(recipe.notes),
        "seed": seed,
        "final_loss": round(history.loss[-1], 5),
        "final_logs": {k: round(v, 5) for k, v in history.logs.items()},
        "trained": time.strftime("%Y-%m-%d"),
        "load_average": [load_start, _load_average()],
    }
    entries[name] = {
        "class": class_spec,
        "config": model.config,
        "file": rel,
        "sha256": zoo.sha256_file(weights),
        "bytes": weights.stat().st_size,
        "storage": "float16",
        "card": card,
    }
    zoo.write_registry(entries, root)
    # measure the weights as shipped (float16 storage, loaded back to float32)
    shipped = zoo.load(name, device=dev, root=root)
    eval_n = recipe.eval_n_fast if fast else recipe.eval_n
    card["quality"] = evaluate_expert(name, shipped, n=eval_n, root=root)
    card["eval_n"] = eval_n
    entries[name]["card"] = card
    zoo.write_registry(entries, root)
    return TrainResult(name=name, root=root, weights=weights, card=card)


TRAINING_ORDER: list[str] = [
    # readers first: the autoencoders' cards are measured with them
    "digits-classifier", "digits-ae",
    "shapes-attributes-v1", "shapes-segmenter-v1", "shapes-ae-32",
    "shapes-attributes", "shapes-segmenter", "shapes-ae", "shapes-ae-swap", "shapes-ae-8",
    "textures-ae-32", "textures-ae-8",
    "shapes-generator", "shapes-generator-dequant", "sbert-to-shapes",
]
"""Every zoo entry in the order ``python -m n2nlib.zoo train all`` trains them."""


def recipe_names() -> list[str]:
    """The names :func:`train_expert` knows, sorted (``sbert-to-shapes`` is trained by
    :func:`n2nlib.zoo.text2image_recipes.train_translator` instead)."""
    return sorted(all_recipes())
