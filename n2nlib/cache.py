"""The latent cache: encode the data with the frozen experts once, train on the codes.

The experts never change during training, so :math:`z_\\Phi = \\Phi(x)` and
:math:`z_\\Theta = \\Theta(y)` are the same in every epoch. :func:`encode_pairs` computes them
once (batched, without gradients, with a progress bar) into a :class:`LatentPairs`, which is
what :func:`n2nlib.train.fit` trains on. For a target expert with a stochastic encoder (a VAE's
:math:`q(z \\mid y)`, exposed as ``encode_distribution(y) -> (mean, logvar)``) the cache keeps
mean and log-variance and the training loop draws a fresh :math:`z` at every step.

Small sets live in memory; large ones go to disk as safetensors shards (written while encoding,
so the codes never need to fit in memory at once) that are read back memory-mapped, row by row.

>>> import torch
>>> pairs = LatentPairs(torch.randn(10, 3), torch.randn(10, 2))
>>> len(pairs), pairs.dim, pairs.cond_shape
(10, 3, (2,))
>>> x, c = pairs.batch(torch.tensor([0, 4]))
>>> x.shape, c.shape
(torch.Size([2, 3]), torch.Size([2, 2]))
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from n2nlib._checks import check_batch, check_tensor
from n2nlib.encoding import as_pairs, encode_latents, input_length, item_bar, take_rows
from n2nlib.experts.base import is_stochastic_expert

__all__ = [
    "LatentPairs",
    "ShardedArray",
    "expert_fingerprint",
    "encode_pairs",
]

_INDEX = "latents.json"
_FORMAT = "n2nlib.latents"
_NP_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16}


# -- memory-mapped safetensors shards ---------------------------------------------------------


def _safetensors_layout(path: Path) -> dict[str, Any]:
    """Read the JSON header of a safetensors file (no tensor data)."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return {"offset": 8 + size, "tensors": header}


class ShardedArray:
    """A read-only ``(N, *shape)`` array stored as rows of one tensor in several safetensors
    shards, memory-mapped: indexing reads only the requested rows.

    Arguments:
        files: the shard files, in row order.
        name: the tensor's name inside each file.

    Raises:
        ValueError: a shard lacks the tensor, or shards disagree in dtype or row shape.
    """

    def __init__(self, files: list[Path], name: str) -> None:
        self.files = [Path(f) for f in files]
        self.name = name
        self._maps: list[np.memmap] = []
        row_shape: tuple[int, ...] | None = None
        dtype = None
        for f in self.files:
            layout = _safetensors_layout(f)
            if name not in layout["tensors"]:
                raise ValueError(f"shard {f} has no tensor {name!r}")
            info = layout["tensors"][name]
            if info["dtype"] not in _NP_DTYPES:
                raise ValueError(f"shard {f}: dtype {info['dtype']} cannot be memory-mapped")
            shape = tuple(info["shape"])
            if row_shape is not None and (shape[1:] != row_shape or info["dtype"] != dtype):
                raise ValueError(f"shard {f} disagrees with the first shard in shape or dtype")
            row_shape, dtype = shape[1:], info["dtype"]
            start, _ = info["data_offsets"]
            self._maps.append(
                np.memmap(f, dtype=_NP_DTYPES[dtype], mode="r",
                          offset=layout["offset"] + start, shape=shape)
            )
        if not self._maps:
            raise ValueError("a ShardedArray needs at least one shard")
        self.row_shape = row_shape or ()
        self.dtype = torch.from_numpy(np.zeros(0, _NP_DTYPES[dtype])).dtype
        sizes = torch.tensor([m.shape[0] for m in self._maps])
        self._bounds = torch.cumsum(sizes, 0)
        self.shape = (int(self._bounds[-1]), *self.row_shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Tensor) -> Tensor:
        """Rows ``index`` (a 1-d integer tensor), as a new in-memory tensor."""
        index = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= len(self)):
            raise IndexError(f"row index out of range [0, {len(self)})")
        shard = torch.searchsorted(self._bounds, index, right=True)
        out = torch.empty((index.numel(), *self.row_shape), dtype=self.dtype)
        for s in shard.unique().tolist():
            sel = (shard == s).nonzero().flatten()
            local = index[sel] - (int(self._bounds[s - 1]) if s > 0 else 0)
            out[sel] = torch.from_numpy(np.ascontiguousarray(self._maps[s][local.numpy()]))
        return out

    def to_tensor(self) -> Tensor:
        """All rows, in memory."""
        return torch.cat([torch.from_numpy(np.array(m)) for m in self._maps])


# -- the dataset type the training loop takes -------------------------------------------------


class LatentPairs:
    r"""Cached training pairs :math:`(z_\Theta, z_\Phi)` for :func:`n2nlib.train.fit`.

    Arguments:
        target: :math:`z_\Theta`, ``(N, dim)`` — or, with ``target_logvar``, the mean of the
            target encoder's Gaussian. A tensor or a :class:`ShardedArray`.
        condition: :math:`z_\Phi`, ``(N, *cond_shape)``, or ``None`` (unconditional).
        target_logvar: log-variance of the target encoder's Gaussian, ``(N, dim)``: makes the
            pairs *stochastic* — every batch draws :math:`z = \mu + e^{\frac12\log\sigma^2}
            \epsilon` anew.

    Raises:
        TypeError, ValueError: shapes or batch sizes that do not fit together.

    >>> pairs = LatentPairs(torch.zeros(4, 2), None, target_logvar=torch.zeros(4, 2))
    >>> pairs.stochastic
    True
    >>> x, c = pairs.batch(torch.arange(4), generator=torch.Generator().manual_seed(0))
    >>> x.shape, c is None, bool(x.std() > 0)
    (torch.Size([4, 2]), True, True)
    """

    def __init__(
        self,
        target: Tensor | ShardedArray,
        condition: Tensor | ShardedArray | None = None,
        *,
        target_logvar: Tensor | ShardedArray | None = None,
    ) -> None:
        self.target = _check_array(target, "target")
        self.condition = None if condition is None else _check_array(condition, "condition")
        self.target_logvar = (
            None if target_logvar is None else _check_array(target_logvar, "target_logvar")
        )
        if len(self.target.shape) != 2:
            raise ValueError(f"target must be (N, dim), got {tuple(self.target.shape)}")
        n = self.target.shape[0]
        for name, arr in (("condition", self.condition), ("target_logvar", self.target_logvar)):
            if arr is not None and arr.shape[0] != n:
                raise ValueError(
                    f"target and {name} must have the same number of rows, got {n} and "
                    f"{arr.shape[0]}"
                )
        if self.target_logvar is not None and tuple(self.target_logvar.shape) != tuple(
            self.target.shape
        ):
            raise ValueError(
                f"target_logvar must have the target's shape {tuple(self.target.shape)}, got "
                f"{tuple(self.target_logvar.shape)}"
            )
        if n == 0:
            raise ValueError("LatentPairs needs at least one pair")

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def with_min_std(self, min_std: float | None) -> LatentPairs:
        r"""The same pairs, with the target codes drawn with a standard deviation of at least
        ``min_std``: :math:`\log\sigma^2 \leftarrow \max(\log\sigma^2, 2\log\sigma_{min})`.

        An autoencoder's posterior is often far narrower than the spacing of its codes; a floor
        smooths the target density that τ learns, so that it generalises to held-out codes (the
        knob that moved notebooks 04 and 08 most). Deterministic pairs get a log-variance of
        their own. ``None`` returns ``self``.

        >>> pairs = LatentPairs(torch.zeros(3, 2), torch.zeros(3, 1)).with_min_std(0.5)
        >>> pairs.stochastic, round(float(pairs.target_logvar.exp().sqrt().min()), 3)
        (True, 0.5)
        """
        if min_std is None:
            return self
        if not isinstance(min_std, int | float) or isinstance(min_std, bool) or not min_std > 0:
            raise ValueError(f"min_std must be > 0 (or None), got {min_std!r}")
        target = _materialise(self.target)
        floor = 2.0 * math.log(min_std)
        logvar = (torch.full_like(target, floor) if self.target_logvar is None
                  else _materialise(self.target_logvar).clamp_min(floor))
        cond = None if self.condition is None else self.condition
        return LatentPairs(target, cond, target_logvar=logvar)

    @property
    def dim(self) -> int:
        """Size of :math:`z_\\Theta`."""
        return int(self.target.shape[1])

    @property
    def cond_shape(self) -> tuple[int, ...]:
        """Shape of one :math:`z_\\Phi` (``()`` if unconditional)."""
        return () if self.condition is None else tuple(self.condition.shape[1:])

    @property
    def stochastic(self) -> bool:
        """Whether a fresh target is sampled for every batch."""
        return self.target_logvar is not None

    @property
    def on_disk(self) -> bool:
        """Whether the codes are memory-mapped shards rather than in-memory tensors."""
        return isinstance(self.target, ShardedArray)

    def batch(
        self,
        index: Tensor,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Rows ``index`` as ``(x, c)`` on ``device``; stochastic pairs draw ``x`` with
        ``generator`` (on the CPU, so draws do not depend on the device)."""
        x = self.target[index]
        if self.target_logvar is not None:
            logvar = self.target_logvar[index]
            eps = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = x + torch.exp(0.5 * logvar) * eps
        c = None if self.condition is None else self.condition[index]
        x = x.to(device=device, dtype=dtype)
        c = None if c is None else c.to(device=device, dtype=dtype)
        return x, c

    def tensors(
        self, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """All pairs in memory (one draw per row for stochastic pairs)."""
        return self.batch(torch.arange(len(self)), generator=generator)

    def to(self, device: torch.device | str) -> LatentPairs:
        """In-memory pairs moved to ``device`` (so that batches need no transfer)."""
        if self.on_disk:
            raise ValueError("memory-mapped pairs stay on the CPU; load them with mmap=False")

        def move(a: Any) -> Any:
            return None if a is None else a.to(device)

        return LatentPairs(move(self.target), move(self.condition),
                           target_logvar=move(self.target_logvar))

    def save(self, directory: str | os.PathLike, *, shard_rows: int = 65536,
             metadata: dict[str, Any] | None = None) -> Path:
        """Write the pairs to ``directory`` as safetensors shards plus ``latents.json``.

        The index is written last (atomically), so a directory with an index is complete.
        """
        writer = _ShardWriter(Path(directory), shard_rows)
        for start in range(0, len(self), shard_rows):
            idx = torch.arange(start, min(len(self), start + shard_rows))
            writer.add(
                self.target[idx],
                None if self.condition is None else self.condition[idx],
                None if self.target_logvar is None else self.target_logvar[idx],
            )
        return writer.close(metadata or {})

    @classmethod
    def load(cls, directory: str | os.PathLike, *, mmap: bool = True) -> LatentPairs:
        """Open pairs saved by :meth:`save` (or :func:`encode_pairs` with ``cache_dir``).

        Arguments:
            directory: the folder holding ``latents.json`` and the shards.
            mmap: memory-map the shards (default) instead of reading them into memory.

        Raises:
            FileNotFoundError: no complete cache in ``directory``.
            ValueError: the index is not an n2nlib latent cache.
        """
        directory = Path(directory)
        index = read_index(directory)
        if index is None:
            raise FileNotFoundError(f"no latent cache ({_INDEX}) in {directory}")
        files = [directory / s["file"] for s in index["shards"]]

        def array(name: str) -> Any:
            if not index["arrays"].get(name):
                return None
            arr = ShardedArray(files, name)
            return arr if mmap else arr.to_tensor()

        return cls(array("target"), array("condition"), target_logvar=array("target_logvar"))

    def __repr__(self) -> str:
        where = "memory-mapped" if self.on_disk else "in memory"
        kind = ", stochastic" if self.stochastic else ""
        return f"LatentPairs(n={len(self)}, dim={self.dim}, cond={self.cond_shape}{kind}, {where})"


def _materialise(a: Tensor | ShardedArray) -> Tensor:
    return a.to_tensor() if isinstance(a, ShardedArray) else a


def _check_array(a: Any, name: str) -> Tensor | ShardedArray:
    if isinstance(a, ShardedArray):
        return a
    check_tensor(a, name)
    if a.ndim < 2:
        raise ValueError(f"{name} must have shape (N, ...) with feature dims, got {tuple(a.shape)}")
    return a


def read_index(directory: Path) -> dict[str, Any] | None:
    """The ``latents.json`` index of a complete cache in ``directory``, or ``None``."""
    path = Path(directory) / _INDEX
    if not path.is_file():
        return None
    index = json.loads(path.read_text())
    if index.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an n2nlib latent cache (format {index.get('format')!r})")
    return index


class _ShardWriter:
    """Accumulate rows and write them as numbered safetensors shards."""

    def __init__(self, directory: Path, shard_rows: int) -> None:
        if not isinstance(shard_rows, int) or shard_rows < 1:
            raise ValueError(f"shard_rows must be a positive int, got {shard_rows!r}")
        directory.mkdir(parents=True, exist_ok=True)
        old = directory / _INDEX
        if old.exists():
            old.unlink()  # the cache is incomplete until the new index is written
        self.directory, self.shard_rows = directory, shard_rows
        self.buffers: dict[str, list[Tensor]] = {"target": [], "condition": [], "target_logvar": []}
        self.buffered = 0
        self.shards: list[dict[str, Any]] = []
        self.present: dict[str, bool] = {}

    def add(self, target: Tensor, condition: Tensor | None, logvar: Tensor | None) -> None:
        for name, t in (("target", target), ("condition", condition), ("target_logvar", logvar)):
            self.present.setdefault(name, t is not None)
            if (t is not None) != self.present[name]:
                raise ValueError(f"{name} is present in some batches and missing in others")
            if t is not None:
                self.buffers[name].append(t.detach().cpu())
        self.buffered += target.shape[0]
        while self.buffered >= self.shard_rows:
            self._flush(self.shard_rows)

    def _flush(self, rows: int) -> None:
        from safetensors.torch import save_file

        from n2nlib.checkpoint import atomic_path

        tensors = {}
        for name, parts in self.buffers.items():
            if not parts:
                continue
            whole = torch.cat(parts)
            tensors[name] = whole[:rows].contiguous()
            self.buffers[name] = [whole[rows:]] if whole.shape[0] > rows else []
        self.buffered -= rows
        name = f"shard-{len(self.shards):05d}.safetensors"
        with atomic_path(self.directory / name) as tmp:
            save_file(tensors, str(tmp))
        self.shards.append({"file": name, "rows": rows})

    def close(self, metadata: dict[str, Any]) -> Path:
        from n2nlib.checkpoint import atomic_write_json

        if self.buffered:
            self._flush(self.buffered)
        if not self.shards:
            raise ValueError("no rows were written")
        index = {
            "format": _FORMAT,
            "version": 1,
            "n": sum(s["rows"] for s in self.shards),
            "arrays": self.present,
            "shards": self.shards,
            "metadata": metadata,
        }
        atomic_write_json(self.directory / _INDEX, index)
        return self.directory


# -- encoding paired data with two experts ----------------------------------------------------


def fingerprint(inputs: Any) -> str | None:
    """A sha256 of a batch of inputs (tensors, arrays, strings, ints), or ``None`` if the kind
    of input cannot be hashed cheaply. Used to reuse a cache only for the same data."""
    h = hashlib.sha256()
    if isinstance(inputs, Tensor):
        t = inputs.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(inputs, np.ndarray):
        h.update(f"{inputs.dtype}{inputs.shape}".encode())
        h.update(np.ascontiguousarray(inputs).tobytes())
    elif isinstance(inputs, list | tuple) and all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in inputs
    ):
        h.update(json.dumps(list(inputs)).encode())
    else:
        return None
    return h.hexdigest()


def expert_fingerprint(expert: Any) -> str:
    """A sha256 of what makes an expert's codes: its weights (every tensor of its
    ``state_dict``), and for wrapped plain functions their compiled code. An expert may set
    ``cache_key`` (any string) to be identified by that instead (e.g. a release tag of a large
    model whose weights are slow to hash).

    A retrained expert therefore never reuses the codes its old weights wrote into a cache.

    >>> from torch import nn
    >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    >>> fa, fb = expert_fingerprint(a), expert_fingerprint(b)
    >>> fa == expert_fingerprint(a), fa == fb
    (True, False)
    """
    key = getattr(expert, "cache_key", None)
    if key is not None:
        return f"key:{key}"
    h = hashlib.sha256(f"{type(expert).__qualname__}:{getattr(expert, 'dim', None)}".encode())
    if isinstance(expert, nn.Module):
        for name, t in expert.state_dict().items():
            h.update(f"{name}{t.dtype}{tuple(t.shape)}".encode())
            t = t.detach().cpu().contiguous().reshape(-1)  # 0-d tensors cannot be viewed
            if t.numel():
                h.update(t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.bool
                         else t.numpy().tobytes())
    for attr in ("_encode_fn", "_decode_fn"):
        code = getattr(getattr(expert, attr, None), "__code__", None)
        if code is not None:
            h.update(code.co_code)
            h.update(repr(code.co_consts).encode())
    return h.hexdigest()


def _expert_tag(expert: Any) -> str:
    spec = getattr(expert, "n2n_spec", None)
    name = json.dumps(spec, sort_keys=True) if spec else f"{type(expert).__qualname__}"
    return f"{name}@{expert_fingerprint(expert)}"


def encode_pairs(
    source: Any,
    target: Any,
    data: Any,
    *,
    batch_size: int = 256,
    dtype: torch.dtype | None = None,
    stochastic: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    shard_rows: int = 65536,
    mmap: bool = True,
    progress: bool = True,
) -> LatentPairs:
    r"""Encode paired data ``(xs, ys)`` once into :class:`LatentPairs` :math:`(\Theta(y),
    \Phi(x))`.

    Arguments:
        source: the source expert Φ (``None`` for an unconditional model of Θ(y)).
        target: the target expert Θ.
        data: ``(xs, ys)`` — two batches of inputs of the same length (tensors, arrays, lists
            of strings or labels, Datasets) — or a ``Dataset`` of ``(x, y)`` pairs, or a
            ``DataLoader`` of ``(xs, ys)`` batches (see :func:`as_pairs`).
        batch_size: items per ``encode`` call.
        dtype: dtype of the cached codes (default: what the experts return).
        stochastic: cache ``(mean, logvar)`` of a stochastic target; default: whenever the
            target has ``encode_distribution``.
        cache_dir: write the codes to this folder as safetensors shards (streamed, for sets
            larger than memory) and reuse them next time if the experts and data match.
        shard_rows: rows per shard on disk.
        mmap: open an on-disk cache memory-mapped (else read into memory).
        progress: show tqdm bars.

    Returns:
        A :class:`LatentPairs`.

    Raises:
        TypeError, ValueError: ``data`` is not a pair of equally long batches, or an expert
            returned codes of the wrong shape.

    >>> from n2nlib.experts import as_expert
    >>> src, tgt = as_expert(lambda x: x[:, :1], dim=1), as_expert(lambda y: y, dim=2)
    >>> encode_pairs(src, tgt, (torch.ones(6, 3), torch.zeros(6, 2)), progress=False)
    LatentPairs(n=6, dim=2, cond=(1,), in memory)
    """
    if isinstance(data, tuple | list) and len(data) != 2:
        raise TypeError(
            f"data must be a pair (xs, ys) of source and target inputs, got "
            f"{type(data).__name__} of length {len(data)}"
        )
    xs, ys = as_pairs(data)
    n = input_length(ys)
    if source is not None and input_length(xs) != n:
        raise ValueError(
            f"xs and ys must have the same length (pairs), got {input_length(xs)} and {n}"
        )
    stochastic = is_stochastic_expert(target) if stochastic is None else stochastic
    meta = {
        "source": None if source is None else _expert_tag(source),
        "target": _expert_tag(target),
        "stochastic": bool(stochastic),
        "dtype": str(dtype),
        "xs": None if source is None else fingerprint(xs),
        "ys": fingerprint(ys),
        "n": n,
    }
    if cache_dir is not None:
        index = read_index(Path(cache_dir))
        hashable = meta["ys"] is not None and (source is None or meta["xs"] is not None)
        if index is not None and hashable and index.get("metadata") == meta:
            return LatentPairs.load(cache_dir, mmap=mmap)
        return _encode_to_disk(source, target, xs, ys, n, batch_size, dtype, stochastic,
                               Path(cache_dir), shard_rows, meta, mmap, progress)
    cond = None
    if source is not None:
        cond = encode_latents(source, xs, batch_size=batch_size, dtype=dtype, progress=progress,
                              desc="encoding x with the source expert", role="the source expert")
    out = encode_latents(target, ys, batch_size=batch_size, dtype=dtype, progress=progress,
                         distribution=stochastic, desc="encoding y with the target expert",
                         role="the target expert")
    if stochastic:
        mean, logvar = out
        return LatentPairs(mean, cond, target_logvar=logvar)
    if cond is not None:
        check_batch(out, cond, "target codes", "source codes")
    return LatentPairs(out, cond)


def _encode_to_disk(source: Any, target: Any, xs: Any, ys: Any, n: int, batch_size: int,
                    dtype: torch.dtype | None, stochastic: bool, directory: Path,
                    shard_rows: int, meta: dict[str, Any], mmap: bool,
                    progress: bool) -> LatentPairs:
    writer = _ShardWriter(directory, shard_rows)
    with item_bar(n, "encoding pairs to disk", progress) as bar:
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            cond = None
            if source is not None:
                cond = encode_latents(source, take_rows(xs, start, stop), batch_size=batch_size,
                                      dtype=dtype, progress=False, role="the source expert")
            out = encode_latents(target, take_rows(ys, start, stop), batch_size=batch_size,
                                 dtype=dtype, distribution=stochastic, progress=False,
                                 role="the target expert")
            mean, logvar = out if stochastic else (out, None)
            writer.add(mean, cond, logvar)
            bar.update(stop - start)
    writer.close(meta)
    return LatentPairs.load(directory, mmap=mmap)
