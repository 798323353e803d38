"""Checkpoints: safetensors weights + a JSON config, written atomically, loaded without pickle.

Two kinds of folders:

* **Models** (:func:`save_model` / :func:`load_config` + :func:`load_weights`, used by
  ``ConditionalINN.save``/``load`` and ``Net2Net.save``/``load``): ``config.json`` (what
  rebuilds the architecture) and ``model.safetensors`` (the weights).
* **Training state** (:func:`save_training_state` / :func:`load_training_state`, used by
  :func:`n2nlib.train.fit` for resume): one ``step-XXXXXXXX`` folder per checkpoint holding the
  model, the optimizer state, the random-number-generator states and ``state.json``; the file
  ``latest.json`` names the newest complete one.

Every file is written to a temporary name and renamed into place (``os.replace`` is atomic on
POSIX and Windows), and a training checkpoint's folder is renamed into place only once all its
files are written: a process killed at any moment leaves either the previous checkpoint or the
new one, never a half-written file that would be loaded. Loading reads safetensors and JSON
only; nothing is ever unpickled.

>>> import tempfile, torch
>>> from torch import nn
>>> net = nn.Linear(3, 2)
>>> with tempfile.TemporaryDirectory() as d:
...     _ = save_model(net, d, {"in": 3, "out": 2}, kind="doc.Linear")
...     config = load_config(d, kind="doc.Linear")
...     net2 = nn.Linear(config["in"], config["out"])
...     load_weights(net2, d)
...     torch.equal(net.weight, net2.weight)
True
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "atomic_path",
    "atomic_write_json",
    "save_tensors",
    "load_tensors",
    "save_model",
    "load_config",
    "load_weights",
    "save_training_state",
    "load_training_state",
    "latest_checkpoint",
    "saved_dtype",
    "CheckpointError",
]

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
LATEST = "latest.json"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete, or does not match the model."""


# -- atomic files -----------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform (e.g. Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is fsynced and renamed onto
    ``path``, on error it is removed.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_path(pathlib.Path(d) / "a.txt") as tmp:
    ...         _ = tmp.write_text("done")
    ...     (pathlib.Path(d) / "a.txt").read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from None


def save_tensors(tensors: dict[str, Tensor], path: str | os.PathLike,
                 metadata: dict[str, str] | None = None) -> None:
    """Save named tensors to a safetensors file atomically (copies to CPU, unshared)."""
    from safetensors.torch import save_file

    flat = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=metadata)


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Tensor]:
    """Read a safetensors file (never unpickles).

    Raises:
        CheckpointError: the file is missing or not a safetensors file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from None


# -- models -----------------------------------------------------------------------------------


def save_model(module: nn.Module, directory: str | os.PathLike, config: dict[str, Any], *,
               kind: str, state_dict: dict[str, Tensor] | None = None) -> Path:
    """Write ``config.json`` (``{"format": kind, "version": 1, "config": config}``) and
    ``model.safetensors`` to ``directory``, each atomically (weights first).

    Arguments:
        module: the model whose ``state_dict`` is saved (unless ``state_dict`` is given).
        directory: the folder (created if needed).
        config: JSON-serialisable arguments that rebuild the architecture.
        kind: a label checked on load (e.g. ``"n2nlib.ConditionalINN"``).
        state_dict: the tensors to save instead of ``module.state_dict()``.

    Returns:
        The folder.

    Raises:
        TypeError: ``config`` is not JSON-serialisable.
    """
    directory = Path(directory)
    try:
        json.dumps(config)
    except TypeError as err:
        raise TypeError(f"the config of a {kind} must be JSON-serialisable: {err}") from None
    save_tensors(module.state_dict() if state_dict is None else state_dict,
                 directory / WEIGHTS, metadata={"format": kind})
    atomic_write_json(directory / CONFIG, {"format": kind, "version": 1, "config": config})
    return directory


def load_config(directory: str | os.PathLike, *, kind: str) -> dict[str, Any]:
    """The ``config`` saved by :func:`save_model` in ``directory``.

    Raises:
        CheckpointError: missing files, or a folder of another kind.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint folder {directory} does not exist")
    doc = _read_json(directory / CONFIG)
    if not isinstance(doc, dict) or doc.get("format") != kind:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise CheckpointError(f"{directory} holds a {got!r} checkpoint, expected {kind!r}")
    return doc["config"]


def load_weights(module: nn.Module, directory: str | os.PathLike, *,
                 filename: str = WEIGHTS) -> None:
    """Load ``model.safetensors`` from ``directory`` into ``module``, exactly (strict).

    A module with an ``adapt_state_dict(tensors) -> tensors`` method gets to rewrite the saved
    tensors first: a cINN converts coupling weights saved in the other layout (fused or
    separate s/t networks, :func:`~n2nlib.flows.coupling.match_coupling_layout`).

    Raises:
        CheckpointError: missing or unexpected tensors, or shapes that do not match.
    """
    path = Path(directory) / filename
    tensors = load_tensors(path)
    adapt = getattr(module, "adapt_state_dict", None)
    if adapt is not None:
        tensors = adapt(tensors)
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match the model: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}"
        )
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(
                f"{path}: {k} has shape {tuple(v.shape)} but the model expects "
                f"{tuple(own[k].shape)}"
            )
    module.load_state_dict(tensors, strict=True)


def saved_dtype(directory: str | os.PathLike, *, filename: str = WEIGHTS) -> torch.dtype:
    """The floating dtype of the weights in ``directory`` (read from the file's header only).

    Raises:
        CheckpointError: missing file, or no floating-point tensor in it.
    """
    from safetensors import safe_open

    path = Path(directory) / filename
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    from safetensors import SafetensorError

    try:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                dtype = f.get_slice(key).get_dtype()
                if dtype in _DTYPES:
                    return _DTYPES[dtype]
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from None
    raise CheckpointError(f"{path} holds no floating-point tensor")


_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
           "BF16": torch.bfloat16}


# -- optimizer state --------------------------------------------------------------------------


def _optimizer_to_files(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"state.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    # a compiled step keeps its learning rates as 0-d tensors (n2nlib.step): store numbers
    groups = [{k: v.item() if isinstance(v, Tensor) and v.numel() == 1 else v
               for k, v in group.items()} for group in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _optimizer_from_files(opt: torch.optim.Optimizer, tensors: dict[str, Tensor],
                          doc: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, values in doc["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    groups = doc["param_groups"]
    for group in groups:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


# -- random number generators -----------------------------------------------------------------


def _rng_state() -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy.keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss = random.getstate()
    doc = {
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss],
    }
    return tensors, doc


def _set_rng_state(tensors: dict[str, Tensor], doc: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    kind, pos, has_gauss, cached = doc["numpy"]
    np.random.set_state((kind, tensors["numpy.keys"].numpy().astype(np.uint32), pos, has_gauss,
                         cached))
    version, internal, gauss = doc["python"]
    random.setstate((version, tuple(internal), gauss))


# -- training state ---------------------------------------------------------------------------


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete training checkpoint in ``directory``, or ``None``."""
    directory = Path(directory)
    pointer = directory / LATEST
    if not pointer.is_file():
        return None
    name = _read_json(pointer)["checkpoint"]
    path = directory / name
    if not (path / "state.json").is_file():
        raise CheckpointError(f"{pointer} names {name}, which is missing or incomplete")
    return path


def save_training_state(
    directory: str | os.PathLike,
    *,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write a resumable checkpoint after ``step`` completed steps and point ``latest`` at it.

    The folder ``step-XXXXXXXX`` is assembled under a temporary name and renamed into place,
    then ``latest.json`` is replaced; older checkpoints beyond ``keep`` are removed.

    Arguments:
        directory: the run's checkpoint folder.
        step: the number of completed optimisation steps.
        model: its weights go to ``model.safetensors``.
        optimizer: its state goes to ``optimizer.safetensors`` and ``state.json``.
        state: anything else JSON-serialisable (history, run arguments).
        keep: how many checkpoints to keep (at least 1).

    Returns:
        The new checkpoint folder.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:08d}"
    final = directory / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=directory))
    try:
        save_tensors(model.state_dict(), tmp / WEIGHTS)
        opt_tensors, opt_doc = _optimizer_to_files(optimizer)
        save_tensors(opt_tensors, tmp / "optimizer.safetensors")
        rng_tensors, rng_doc = _rng_state()
        save_tensors(rng_tensors, tmp / "rng.safetensors")
        atomic_write_json(tmp / "state.json", {
            "format": "n2nlib.training_state", "version": 1, "step": step,
            "optimizer": opt_doc, "rng": rng_doc, "state": state,
        })
        _fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_json(directory / LATEST, {"checkpoint": name, "step": step})
    old = sorted(p for p in directory.glob("step-*") if p.is_dir() and p.name != name)
    for p in old[: max(0, len(old) - max(1, keep) + 1)]:
        shutil.rmtree(p, ignore_errors=True)
    for p in directory.glob(".step-*.tmp"):  # left over by a killed run
        shutil.rmtree(p, ignore_errors=True)
    return final


def load_training_state(
    directory: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    restore_rng: bool = True,
) -> dict[str, Any] | None:
    """Load the latest checkpoint of ``directory`` into ``model`` and ``optimizer``.

    Returns:
        ``{"step": int, "state": dict}``, or ``None`` if there is no checkpoint yet.

    Raises:
        CheckpointError: the checkpoint does not match the model or is damaged.
    """
    path = latest_checkpoint(directory)
    if path is None:
        return None
    doc = _read_json(path / "state.json")
    if doc.get("format") != "n2nlib.training_state":
        raise CheckpointError(f"{path} is not an n2nlib training checkpoint")
    load_weights(model, path)
    device = next(model.parameters()).device
    _optimizer_from_files(optimizer, load_tensors(path / "optimizer.safetensors", device),
                          doc["optimizer"])
    if restore_rng:
        _set_rng_state(load_tensors(path / "rng.safetensors"), doc["rng"])
    return {"step": int(doc["step"]), "state": doc["state"], "path": str(path)}
