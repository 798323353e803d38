"""The model zoo: small pretrained experts shipped inside the package, sha256-checked, with cards.

Nothing is downloaded. Each expert was trained by this project's own recipe
(``python -m n2nlib.zoo train NAME``, see :mod:`n2nlib.zoo.retrain`) on offline data, and its
weights are stored (in float16) as ``n2nlib/zoo/weights/NAME.safetensors``. The registry
``n2nlib/zoo/registry.json`` holds, per expert, the class and architecture to build, the
sha256 of the weights file, and the model card: the command that trained it, its data, the
training time on the machine that trained it and its measured held-out quality.

============================ ==================================================================
name                         what
============================ ==================================================================
``shapes-ae``                the paper's autoencoder g (Sec. F: γ, perceptual loss, PatchGAN)
                             for 32×32 shapes of the drawable world (``world="v2"``), both
                             domains
``shapes-ae-8``              autoencoder of the same world at 8×8 (superresolution source)
``shapes-attributes``        reader of all five factors of the drawable world (the metrics)
``shapes-segmenter``         per-pixel segmenter of the drawable world, with layer taps
``shapes-ae-32``             the first world's autoencoder (``world="v1"``: small shapes,
                             sharp photos), without perceptual loss or PatchGAN
``shapes-attributes-v1``     the first world's factor reader
``shapes-segmenter-v1``      the first world's segmenter (diagnosis)
``textures-ae-32``           autoencoder of 32×32 photo crops
``textures-ae-8``            autoencoder of the same crops at 8×8
``digits-ae``                autoencoder of the 8×8 scikit-learn digits
``digits-classifier``        digits classifier with layer taps (diagnosis, MLP ablation)
``shapes-generator``,        the text-to-image target (notebook 06) and its dequantiser, on
``…-dequant``                the first world
``sbert-to-shapes``          the shipped text-to-image translator
============================ ==================================================================

>>> from n2nlib import zoo
>>> "shapes-ae-32" in zoo.available()
True
>>> zoo.card("shapes-ae-32").command.startswith("python -m n2nlib.zoo train shapes-ae-32")
True
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from n2nlib import settings
from n2nlib.experts.base import register_expert_source

__all__ = [
    "Card",
    "ZooError",
    "WeightsMissingError",
    "ChecksumError",
    "available",
    "load",
    "card",
    "cards_markdown",
    "cards_table",
    "registry",
    "evaluate",
    "weights_path",
    "sha256_file",
    "verify",
    "PACKAGE_ROOT",
]

PACKAGE_ROOT = Path(__file__).resolve().parent
"""The folder of the shipped registry (``registry.json``) and weights (``weights/``)."""

REGISTRY_FILE = "registry.json"
FORMAT = 1


class ZooError(RuntimeError):
    """A zoo expert cannot be loaded; the message says how to retrain it."""


class WeightsMissingError(ZooError, FileNotFoundError):
    """The weights file of a registered expert is not there."""


class ChecksumError(ZooError):
    """The weights file does not have the sha256 recorded in the registry."""


@dataclass(frozen=True)
class Card:
    """The model card of a zoo expert.

    Attributes:
        name: the zoo name.
        kind: ``"autoencoder"``, ``"attributes"``, ``"segmenter"`` or ``"classifier"``.
        summary: one sentence on what it is for.
        architecture: the architecture, in words.
        dim: the size of its ``encode`` representation.
        parameters: number of parameters.
        data: the training data, in words (with the generator call).
        held_out: the held-out data its quality was measured on.
        quality: the measured held-out numbers (higher is better for each), e.g.
            ``{"psnr_db": 27.1}`` or ``{"accuracy/shape": 0.995, ...}``.
        command: the command that trained it.
        train_seconds: wall-clock seconds of the training loop.
        train_cpu_seconds: CPU seconds of the training loop (all threads; steadier than the
            wall clock on a shared machine).
        data_seconds: seconds spent generating the training data.
        steps: optimisation steps.
        batch_size: images per step.
        machine: where it was trained (CPU model, threads, torch version).
        notes: what differs from the paper and why.
        file: the weights file, relative to the registry's folder.
        sha256: the weights file's sha256.
        bytes: the weights file's size.
    """

    name: str
    kind: str
    summary: str
    architecture: str
    dim: int
    parameters: int
    data: str
    held_out: str
    quality: dict[str, float]
    command: str
    train_seconds: float
    data_seconds: float
    steps: int
    batch_size: int
    machine: str
    notes: tuple[str, ...] = ()
    train_cpu_seconds: float = 0.0
    file: str = ""
    sha256: str = ""
    bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, name: str, entry: dict[str, Any]) -> Card:
        """Build a card from a registry entry."""
        known = {f.name for f in fields(cls)}
        raw = dict(entry.get("card", {}))
        raw.update(name=name, file=entry.get("file", ""), sha256=entry.get("sha256", ""),
                   bytes=int(entry.get("bytes", 0)))
        raw["notes"] = tuple(raw.get("notes", ()))
        extra = {k: v for k, v in raw.items() if k not in known}
        values = {k: v for k, v in raw.items() if k in known}
        optional = {"extra", "notes", "file", "sha256", "bytes", "train_cpu_seconds"}
        missing = known - set(values) - optional
        if missing:
            raise ZooError(f"the registry entry of {name!r} has an incomplete card (missing "
                           f"{sorted(missing)}); retrain it with `python -m n2nlib.zoo train "
                           f"{name}`")
        return cls(**values, extra=extra)

    def to_markdown(self) -> str:
        """The card as a markdown section."""
        quality = ", ".join(f"{k} = {_fmt(v)}" for k, v in self.quality.items())
        lines = [
            f"### `{self.name}` ({self.kind})",
            "",
            self.summary,
            "",
            f"- **Architecture**: {self.architecture} ({self.parameters:,} parameters; "
            f"representation dim {self.dim})",
            f"- **Data**: {self.data}",
            f"- **Held-out quality** ({self.held_out}): {quality}",
            f"- **Training**: {self.steps} steps × {self.batch_size} images, "
            f"{self.train_seconds:.0f} s wall clock, {self.train_cpu_seconds:.0f} s CPU "
            f"(+ {self.data_seconds:.0f} s to make the data) on {self.machine}"
            + (f"; load average {self.extra['load_average'][0]} at the start, "
               f"{self.extra['load_average'][1]} at the end (a load above the threads used "
               f"means other jobs shared the machine and lengthened the wall clock)"
               if self.extra.get("load_average") else ""),
            f"- **Command**: `{self.command}`",
            f"- **Weights**: `{self.file}`, {self.bytes / 1e6:.2f} MB, sha256 "
            f"`{self.sha256[:16]}…`",
        ]
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) <= 1.0 else f"{value:.2f}"


def _root(root: str | os.PathLike | None) -> Path:
    return PACKAGE_ROOT if root is None else Path(root)


def registry(root: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The registry entries ``{name: entry}`` (class, config, file, sha256, card).

    Arguments:
        root: a folder with ``registry.json`` and ``weights/`` (default: the shipped zoo;
            ``python -m n2nlib.zoo train NAME --out DIR`` makes such a folder).

    Returns:
        A fresh dict (editing it changes nothing on disk).
    """
    path = _root(root) / REGISTRY_FILE
    if not path.exists():
        if root is None:
            raise ZooError(f"the zoo registry {path} is missing; reinstall n2nlib")
        return {}
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if data.get("format") != FORMAT:
        raise ZooError(f"{path} has registry format {data.get('format')!r}, expected {FORMAT}")
    return dict(data.get("experts", {}))


def write_registry(entries: dict[str, dict[str, Any]], root: str | os.PathLike) -> Path:
    """Write ``entries`` as ``root/registry.json`` (sorted, stable formatting) and the cards."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / REGISTRY_FILE
    text = json.dumps({"format": FORMAT, "experts": dict(sorted(entries.items()))}, indent=2,
                      ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    (root / "CARDS.md").write_text(cards_markdown(root), encoding="utf-8")
    return path


def available(root: str | os.PathLike | None = None) -> list[str]:
    """Names of the registered experts, sorted.

    >>> available()[:2]
    ['digits-ae', 'digits-classifier']
    """
    return sorted(registry(root))


def _entry(name: str, root: str | os.PathLike | None) -> dict[str, Any]:
    if not isinstance(name, str):
        raise TypeError(f"a zoo name must be a string, got {type(name).__name__}")
    entries = registry(root)
    if name not in entries:
        where = "" if root is None else f" in {root}"
        raise ValueError(f"no zoo expert named {name!r}{where}; available: "
                         f"{', '.join(sorted(entries)) or 'none'}")
    return entries[name]


def card(name: str, root: str | os.PathLike | None = None) -> Card:
    """The model card of ``name`` (see :class:`Card`; it renders as markdown in Jupyter).

    >>> c = card("digits-classifier")
    >>> c.kind, 0.9 < c.quality["accuracy"] <= 1.0
    ('classifier', True)
    """
    return Card.from_entry(name, _entry(name, root))


def cards_markdown(root: str | os.PathLike | None = None) -> str:
    """All cards of a registry as one markdown document."""
    parts = ["# n2nlib model zoo\n",
             "Generated from `registry.json` by `python -m n2nlib.zoo train`; do not edit.\n"]
    for name in available(root):
        parts.append(card(name, root).to_markdown())
    return "\n".join(parts)


def cards_table(root: str | os.PathLike | None = None) -> str:
    """One markdown table row per expert: size, training time, steps and held-out quality."""
    rows = ["| expert | kind | params | dim | weights (MB) | steps × batch | train wall (s) | "
            "train CPU (s) | data (s) | held-out quality |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name in available(root):
        c = card(name, root)
        quality = ", ".join(f"{k} {_fmt(v)}" for k, v in c.quality.items()
                            if not k.startswith("iou/"))
        rows.append(f"| `{name}` | {c.kind} | {c.parameters / 1e6:.2f} M | {c.dim} | "
                    f"{c.bytes / 1e6:.2f} | {c.steps} × {c.batch_size} | {c.train_seconds:.0f} | "
                    f"{c.train_cpu_seconds:.0f} | {c.data_seconds:.0f} | {quality} |")
    return "\n".join(rows) + "\n"


def weights_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where the weights file of ``name`` is (it may be missing)."""
    return _root(root) / _entry(name, root)["file"]


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> sha256_file(fh.name)[:12]
    'ba7816bf8f01'
    >>> os.remove(fh.name)
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _retrain_hint(name: str) -> str:
    return (f"Retrain it with `python -m n2nlib.zoo train {name}` (rewrites the weights and the "
            f"registry entry), or reinstall n2nlib.")


def verify(name: str, root: str | os.PathLike | None = None) -> Path:
    """Check that the weights of ``name`` exist and match the registry's sha256.

    Returns:
        The path of the weights file.

    Raises:
        WeightsMissingError: the file is missing.
        ChecksumError: its sha256 differs from the registry's.
    """
    entry = _entry(name, root)
    path = _root(root) / entry["file"]
    if not path.is_file():
        raise WeightsMissingError(
            f"the weights of zoo expert {name!r} are missing: {path} does not exist. "
            + _retrain_hint(name)
        )
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ChecksumError(
            f"the weights of zoo expert {name!r} ({path}) have sha256 {digest[:16]}… but the "
            f"registry expects {entry['sha256'][:16]}…: the file is damaged or was replaced. "
            + _retrain_hint(name)
        )
    return path


ARCHITECTURES: dict[str, str] = {
    "Autoencoder": "n2nlib.nets.autoencoder:Autoencoder",
    "AttributeClassifier": "n2nlib.nets.classifiers:AttributeClassifier",
    "DigitsClassifier": "n2nlib.nets.classifiers:DigitsClassifier",
    "Segmenter": "n2nlib.nets.classifiers:Segmenter",
    "DequantizationVAE": "n2nlib.nets.dequant:DequantizationVAE",
    "ShapesGenerator": "n2nlib.nets.generator:ShapesGenerator",
    "TextToImage": "n2nlib.zoo.text2image:TextToImage",
}
"""The only classes a registry entry may name (its ``"class"``), and where each lives. A
registry file is data: a folder downloaded from elsewhere must not be able to make
:func:`build` or :func:`load` import and call anything else (``"os:system"``, say). This
table is the package's one place that imports by name."""


def architecture_name(cls: type) -> str:
    """The registry name of an architecture class (a key of :data:`ARCHITECTURES`).

    >>> from n2nlib.nets.autoencoder import Autoencoder
    >>> architecture_name(Autoencoder)
    'Autoencoder'
    """
    spec = f"{cls.__module__}:{cls.__qualname__}"
    for name, where in ARCHITECTURES.items():
        if where == spec:
            return name
    raise ZooError(f"{spec} is not one of the zoo's architectures; add it to "
                   f"n2nlib.zoo.ARCHITECTURES first")


def _import_class(spec: object) -> type[nn.Module]:
    if not isinstance(spec, str) or spec not in ARCHITECTURES:
        raise ZooError(f"the registry names the class {spec!r}, which is not one of the zoo's "
                       f"architectures {sorted(ARCHITECTURES)}; a registry can only name those")
    module_name, _, attr = ARCHITECTURES[spec].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def build(name: str, root: str | os.PathLike | None = None) -> nn.Module:
    """An untrained float32 model with the registered architecture of ``name``."""
    entry = _entry(name, root)
    return _import_class(entry["class"])(**entry["config"]).to(torch.float32)


def load(
    name: str,
    device: str | torch.device | None = None,
    *,
    root: str | os.PathLike | None = None,
) -> Any:
    """Load a zoo expert, offline and sha256-checked, as a frozen expert in float32.

    Arguments:
        name: a name from :func:`available`.
        device: where to put it (default :func:`n2nlib.settings.device`).
        root: load from another zoo folder (one written by ``train NAME --out DIR``).

    Returns:
        The model (an :class:`~n2nlib.experts.Expert`: ``encode``, ``dim``; autoencoders also
        ``decode`` and ``encode_distribution``), frozen by :func:`n2nlib.experts.as_expert`:
        eval mode, no gradients. It records ``n2n_spec = {"name": "zoo:<name>", ...}``, so a
        :class:`~n2nlib.Net2Net` saved with it reloads these weights by itself.

    Raises:
        ValueError: unknown name.
        WeightsMissingError, ChecksumError: the weights file is missing or altered; the
            message gives the command that retrains it.

    >>> ae = load("digits-ae", device="cpu")
    >>> ae.decode(ae.encode(torch.zeros(2, 1, 8, 8))).shape
    torch.Size([2, 1, 8, 8])
    """
    from safetensors.torch import load_file

    from n2nlib.experts.base import as_expert

    path = verify(name, root)
    model = build(name, root)
    state = load_file(str(path))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ZooError(f"the weights of {name!r} do not fit its registered architecture ({err}). "
                       + _retrain_hint(name)) from None
    model.to(settings.device(device))
    expert = as_expert(model)
    # how a saved Net2Net rebuilds this expert (n2nlib.experts.create_expert("zoo:<name>")):
    # the trained weights, not a fresh model of the same architecture
    spec = {"name": f"zoo:{name}", "kwargs": {} if root is None else {"root": str(root)}}
    object.__setattr__(expert, "n2n_spec", spec)
    return expert


def evaluate(
    name: str, model: Any | None = None, n: int | None = None, *,
    root: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Measure an expert on held-out data, the way its card's ``quality`` was measured.

    Arguments:
        name: a zoo name (chooses the held-out data and the metric).
        model: the model to measure (default: ``load(name)``).
        n: number of held-out examples (default: the card's; fewer is faster and noisier).
        root: the zoo folder to load from.

    Returns:
        The quality numbers, keyed like ``card(name).quality``.
    """
    from n2nlib.zoo.retrain import evaluate_expert

    if model is None:
        model = load(name, root=root)
    return evaluate_expert(name, model, n=n, root=root)


register_expert_source("zoo", load)  # create_expert("zoo:<name>") is load("<name>")
