"""The ``n2n`` command: train a translator from a YAML config, translate with a saved one.

::

    n2n train CONFIG.yaml [--output DIR] [--steps N] [--no-resume] [--device cpu]
    n2n translate RUN_OR_MODEL_DIR --input TEXT [--input TEXT ...] [--n-samples 4]
                  [--temperature 1.0] [--seed 0] [--latent] [--output out.npy]
    n2n experts                      # the registered expert names a config can use

Distributed: ``torchrun --nproc_per_node 2 -m n2nlib.cli train CONFIG.yaml`` (the training
loop picks the process group up from the environment; rank 0 writes the results).

A config names its experts by **registered names** (see :func:`n2nlib.experts.available_experts`
and ``zoo:<model>`` for the model zoo), never by import strings, so that running a config
cannot import arbitrary code::

    source: sentence-bert                  # or {name: labels, kwargs: {classes: [a, b]}}
    target: {name: identity, kwargs: {dim: 3}}
    cinn: {n_blocks: 8, hidden_dim: 128}   # optional, ConditionalINN arguments
    data:
      train: {x: captions.txt, y: codes.npy}   # paths relative to the config file
      eval: {x: eval_captions.txt, y: eval_codes.npy}   # optional
      cache_dir: cache                     # optional: latent cache on disk
    train: {steps: 2000, batch_size: 64, lr: 0.001}   # arguments of n2nlib.train.fit
    output: runs/my-translator             # optional (default: next to the config)
    device: cpu                            # optional
    seed: 0                                # optional: seeds the cINN's initialisation

**Your own experts.** A config cannot import code, so a model of your own is registered by a
few lines of Python that then run the command line — the script is the trusted part::

    # my_n2n.py
    import sys
    from n2nlib.cli import main
    from n2nlib.experts import as_expert, register_expert
    from my_project import MyAutoencoder            # anything with encode (and decode)

    register_expert("my-ae", lambda: as_expert(MyAutoencoder.load("weights.pt"), dim=64))
    sys.exit(main(sys.argv[1:]))                    # python my_n2n.py train config.yaml

and the config names it like any registered expert (``target: my-ae``).

Input files: ``.txt`` (one item per non-empty line), ``.json`` (a list), ``.npy`` (loaded
without pickle) and ``.safetensors`` (one tensor).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["main", "load_config", "load_inputs", "build_from_config", "CONFIG_KEYS"]

CONFIG_KEYS = {"source", "target", "cinn", "data", "train", "output", "device", "seed"}
_DATA_KEYS = {"train", "eval", "cache_dir", "encode_batch_size"}


class ConfigError(ValueError):
    """A config file that cannot be used; the message says which key and why."""


# -- configs ----------------------------------------------------------------------------------


def load_config(path: str | Path) -> dict[str, Any]:
    """Read and check a training config (YAML).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: unknown keys, missing keys or malformed values.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a mapping (key: value), got {type(config).__name__}")
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; allowed: {sorted(CONFIG_KEYS)}")
    for key in ("source", "target", "data", "train"):
        if key not in config:
            raise ConfigError(f"the config needs a {key!r} entry")
    for key in ("source", "target"):
        config[key] = _expert_entry(config[key], key)
    data = config["data"]
    if not isinstance(data, dict) or "train" not in data:
        raise ConfigError("data must be a mapping with a 'train' entry {x: FILE, y: FILE}")
    if set(data) - _DATA_KEYS:
        raise ConfigError(f"unknown data keys {sorted(set(data) - _DATA_KEYS)}; "
                          f"allowed: {sorted(_DATA_KEYS)}")
    for split in ("train", "eval"):
        if split in data and (not isinstance(data[split], dict) or set(data[split]) != {"x", "y"}):
            raise ConfigError(f"data.{split} must be {{x: FILE, y: FILE}}, got {data[split]!r}")
    if not isinstance(config["train"], dict) or "steps" not in config["train"]:
        raise ConfigError("train must be a mapping with at least 'steps'")
    if not isinstance(config.get("cinn", {}), dict):
        raise ConfigError("cinn must be a mapping of ConditionalINN arguments")
    config["_root"] = str(path.resolve().parent)
    return config


def _expert_entry(entry: Any, role: str) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{role} must be an expert name or {{name: ..., kwargs: {{...}}}}")
    if set(entry) - {"name", "kwargs"}:
        raise ConfigError(f"{role} takes only 'name' and 'kwargs', got {sorted(entry)}")
    name = entry["name"]
    if not name.startswith("zoo:") and (":" in name or "." in name or "/" in name):
        raise ConfigError(
            f"{role}: {name!r} looks like an import string or a path; configs name experts by "
            f"their registered names (n2n experts lists them)"
        )
    kwargs = entry.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{role}.kwargs must be a mapping")
    return {"name": name, "kwargs": kwargs}


def load_inputs(path: str | Path) -> Any:
    """Read a batch of expert inputs from a file (never unpickles).

    ``.txt``: the non-empty lines; ``.json``: a list (numbers become a tensor); ``.npy``: an
    array (floating arrays become float32 tensors); ``.safetensors``: its only tensor.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unsupported suffix or content.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return [line.rstrip("\r\n") for line in path.read_text().splitlines() if line.strip()]
    if suffix == ".json":
        items = json.loads(path.read_text())
        if not isinstance(items, list):
            raise ValueError(f"{path} must hold a JSON list, got {type(items).__name__}")
        if items and all(isinstance(v, list) for v in items):
            return torch.tensor(items, dtype=torch.float32)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
        if items and numbers and any(isinstance(v, float) for v in items):
            return torch.tensor(items, dtype=torch.float32)[:, None]
        return items
    if suffix == ".npy":
        return _from_numpy(np.load(path, allow_pickle=False))
    if suffix == ".safetensors":
        from n2nlib.checkpoint import load_tensors

        tensors = load_tensors(path)
        if len(tensors) != 1:
            raise ValueError(f"{path} must hold exactly one tensor, got {sorted(tensors)}")
        return next(iter(tensors.values()))
    raise ValueError(f"unsupported input file {path.name}: use .txt, .json, .npy or .safetensors")


def _from_numpy(array: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(array))
    return t.float() if t.is_floating_point() else t


def build_from_config(config: dict[str, Any], device: str | None = None) -> Any:
    """The (untrained) :class:`~n2nlib.Net2Net` a config describes."""
    from n2nlib import ConditionalINN, Net2Net
    from n2nlib.experts import create_expert
    from n2nlib.experts.base import latent_shape

    source = create_expert(config["source"]["name"], **config["source"]["kwargs"])
    target = create_expert(config["target"]["name"], **config["target"]["kwargs"])
    torch.manual_seed(int(config.get("seed", 0)))
    src = latent_shape(source)
    cinn = ConditionalINN(target.dim, src[0] if len(src) == 1 else src,
                          **config.get("cinn", {}))
    return Net2Net(source, target, cinn, device=device or config.get("device"))


# -- commands ---------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    from n2nlib.train import distributed_info

    config = load_config(args.config)
    root = Path(config["_root"])
    output = Path(args.output) if args.output else root / config.get(
        "output", f"runs/{Path(args.config).stem}")
    data = config["data"]

    def pair(split: str) -> tuple[Any, Any] | None:
        if split not in data:
            return None
        return load_inputs(root / data[split]["x"]), load_inputs(root / data[split]["y"])

    n2n = build_from_config(config, args.device)
    fit_kwargs = dict(config["train"])
    if args.steps is not None:
        fit_kwargs["steps"] = args.steps
    cache = data.get("cache_dir")
    history = n2n.fit(
        pair("train"), eval_data=pair("eval"),
        encode_batch_size=int(data.get("encode_batch_size", 256)),
        cache_dir=None if cache is None else root / cache,
        checkpoint_dir=output / "checkpoints", resume=not args.no_resume,
        progress=not args.quiet, **fit_kwargs,
    )
    _, rank = distributed_info()
    if rank == 0:
        n2n.save(output / "model")
        from n2nlib.checkpoint import atomic_write_json

        atomic_write_json(output / "history.json", history.to_dict())
        held_out = (f", held-out NLL {history.final_eval_nll:.4f} nats"
                    if history.eval_nll else "")
        print(f"trained {len(history.loss)} steps, final loss {history.loss[-1]:.4f}"
              f"{held_out}; model saved to {output / 'model'}")
    return 0


def _model_dir(path: Path) -> Path:
    if (path / "model" / "config.json").is_file():
        return path / "model"
    return path


def _parse_inputs(values: Sequence[str], source: Any) -> Any:
    from n2nlib.experts import Labelator

    if isinstance(source, Labelator):
        return [int(v) if v.lstrip("-").isdigit() else v for v in values]
    if type(source).__name__ in {"SentenceBERT", "BERT"}:
        return list(values)
    try:  # vectors, one per --input, comma-separated
        return torch.tensor([[float(f) for f in v.split(",")] for v in values])
    except ValueError:
        return list(values)


def _write_output(result: Any, path: Path | None) -> None:
    if path is None:
        rows = result.tolist() if isinstance(result, torch.Tensor) else list(result)
        for row in rows:
            print(json.dumps(row))
        return
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in {".npy", ".safetensors"} and not isinstance(result, torch.Tensor):
        raise ValueError(f"{suffix} output needs tensor results; use .json or .txt")
    if suffix == ".npy":
        np.save(path, result.detach().cpu().numpy())
    elif suffix == ".safetensors":
        from n2nlib.checkpoint import save_tensors

        save_tensors({"outputs": result}, path)
    elif suffix == ".json":
        rows = result.tolist() if isinstance(result, torch.Tensor) else list(result)
        path.write_text(json.dumps(rows))
    elif suffix == ".txt":
        rows = result.tolist() if isinstance(result, torch.Tensor) else list(result)
        path.write_text("".join(f"{r}\n" for r in rows))
    else:
        raise ValueError(f"unsupported output {path.name}: use .npy, .safetensors, .json, .txt")
    print(f"wrote {path}")


def _translate(args: argparse.Namespace) -> int:
    from n2nlib import Net2Net

    n2n = Net2Net.load(_model_dir(Path(args.checkpoint)), device=args.device)
    if bool(args.input) == bool(args.input_file):
        raise ValueError("give the source inputs with --input (repeatable) or --input-file")
    inputs = (_parse_inputs(args.input, n2n.source) if args.input
              else load_inputs(args.input_file))
    generator = torch.Generator().manual_seed(args.seed)
    result = n2n.translate(inputs, n_samples=args.n_samples, temperature=args.temperature,
                           decode=not args.latent, generator=generator)
    _write_output(result, Path(args.output) if args.output else None)
    return 0


def _experts(args: argparse.Namespace) -> int:
    from n2nlib.experts import available_experts

    for name in available_experts():
        print(name)
    print("zoo:<model>  (models of n2nlib.zoo)")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="n2n", description="Network-to-Network translation: train and use translators.")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback of an error, not just its message")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a translator from a YAML config")
    train.add_argument("config", help="the YAML config (see `n2nlib.cli` for its keys)")
    train.add_argument("--output", help="run folder (default: the config's 'output')")
    train.add_argument("--steps", type=int, help="override train.steps")
    train.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: automatic)")
    train.add_argument("--no-resume", action="store_true",
                       help="start over even if the run folder has a checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)
    tr = sub.add_parser("translate", help="translate inputs with a trained translator")
    tr.add_argument("checkpoint", help="a run folder of `n2n train`, or a Net2Net.save folder")
    tr.add_argument("--input", action="append", default=[],
                    help="one source input (repeatable): a sentence, a label, or a "
                         "comma-separated vector")
    tr.add_argument("--input-file", help="source inputs from .txt/.json/.npy/.safetensors")
    tr.add_argument("--n-samples", type=int, default=4, help="translations per input")
    tr.add_argument("--temperature", type=float, default=1.0, help="residual temperature")
    tr.add_argument("--seed", type=int, default=0, help="seed of the residual draws")
    tr.add_argument("--latent", action="store_true", help="output codes z, not decoded outputs")
    tr.add_argument("--output", help=".npy, .safetensors, .json or .txt (default: print)")
    tr.add_argument("--device", help="cpu, cuda, ... (default: automatic)")
    tr.set_defaults(func=_translate)
    ex = sub.add_parser("experts", help="list the registered expert names")
    ex.set_defaults(func=_experts)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``n2n`` console script.

    Arguments:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 for a usage or input error (with a one-line message).
    """
    from n2nlib.checkpoint import CheckpointError

    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError, TypeError) as err:
        if args.traceback:
            raise
        print(f"n2n {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
