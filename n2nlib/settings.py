"""Run-time settings shared by the library and the notebooks.

``FAST`` is true when the environment variable ``N2N_FAST`` is set to ``1`` (or ``true``,
``yes``, ``on``). CI sets it, so that every notebook runs in about a minute on two CPU
cores; without it, notebooks run their full-size experiments.

>>> from n2nlib import settings
>>> steps = settings.pick(full=5000, fast=200)
>>> device = settings.device()
"""

from __future__ import annotations

import functools
import os
from typing import Any, TypeVar

import torch

__all__ = [
    "FAST", "pick", "device", "is_fast", "seed_everything", "progress_bar",
    "return_freed_memory",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

T = TypeVar("T")


def is_fast() -> bool:
    """Read ``N2N_FAST`` now (the module-level :data:`FAST` is read once at import).

    Raises:
        ValueError: if ``N2N_FAST`` holds something that is neither true nor false.
    """
    value = os.environ.get("N2N_FAST", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"N2N_FAST must be one of {sorted(_TRUE | _FALSE - {''})} (or unset), got {value!r}"
    )


FAST: bool = is_fast()


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in reduced mode (``N2N_FAST=1``), else ``full``.

    Arguments:
        full: the value for a full run (the committed notebook outputs).
        fast: the value for a reduced run (CI).

    Returns:
        One of the two, chosen by :data:`FAST` as it is now (it can be patched in tests).
    """
    return fast if FAST else full


def device(preferred: str | torch.device | None = None) -> torch.device:
    """Choose the device the library puts new models and tensors on.

    Arguments:
        preferred: an explicit choice (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).
            When ``None``, the environment variable ``N2N_DEVICE`` is used if set, else
            CUDA when available, else CPU.

    Returns:
        A :class:`torch.device`.

    Raises:
        ValueError: if the requested device is not available on this machine.
    """
    choice = preferred if preferred is not None else os.environ.get("N2N_DEVICE") or None
    if choice is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(choice)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(dev)!r} was requested but CUDA is not available here")
    if dev.type == "mps" and not (
        hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    ):
        raise ValueError(f"device {str(dev)!r} was requested but MPS is not available here")
    return dev


_default_device = device  # for functions whose ``device`` parameter shadows it


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's generators; return a seeded torch generator."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def return_freed_memory(mmap_threshold: int = 4 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Let the memory of freed tensors go back to the operating system (glibc, Linux).

    glibc's ``malloc`` serves a block larger than its *mmap threshold* with a separate mapping,
    which goes back to the system when the block is freed; smaller blocks come from the heap,
    whose freed pieces stay in the process while anything above them is alive. By default the
    threshold starts at 128 KiB and *rises* (up to 32 MiB) each time such a mapping is freed.
    After a few batches, PyTorch's CPU tensors of a few MiB (images, activations) come from
    the heap, and a long notebook's resident memory (the figure a 2 GiB Binder limit counts)
    only grows, far above what is alive. Fixing the thresholds stops the rise: tensors of
    ``mmap_threshold`` bytes or more are mapped and unmapped, and the heap is trimmed when
    ``trim_threshold`` bytes at its top are free. Each mapped block costs page faults when it
    is filled again, so a lower threshold trades time for memory: 1 MiB made notebook 08's
    conv-embedder training 1.3–1.7× slower, 4 MiB (the default) costs nothing measurable there
    (``benchmarks/RESULTS.md``).

    The other way round, for low latency: ``return_freed_memory(32 << 20, 64 << 20)`` fixes
    the thresholds at glibc's ceiling, so freed maps of a few MiB stay for the next call. A fresh
    process translating one prompt to 16 images otherwise gives the decoder's maps back and
    faults them in again every time, about a thousand page faults per prompt
    (``benchmarks/bench_translate.py --malloc steady``).

    Arguments:
        mmap_threshold: blocks of at least this many bytes get their own mapping.
        trim_threshold: free bytes at the top of the heap above which it is given back.

    Returns:
        ``True`` if glibc took the setting; ``False`` where there is no glibc (macOS,
        Windows, musl): nothing is changed there.

    Raises:
        ValueError: a threshold that is not a positive int (glibc caps the mmap threshold at
            32 MiB on 64-bit machines).
    """
    for name, value, cap in (("mmap_threshold", mmap_threshold, 32 << 20),
                             ("trim_threshold", trim_threshold, None)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (
                cap is not None and value > cap):
            raise ValueError(f"{name} must be an int in [1, {cap or 'inf'}] bytes, got {value!r}")
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(
        mallopt(m_trim_threshold, trim_threshold))


@functools.cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


def trim_memory() -> bool:
    """Give the memory that freed tensors left inside the process back to the system now
    (glibc's ``malloc_trim``, which also releases free pages in the middle of the heap).

    Cheaper than :func:`return_freed_memory` for code that decodes large batches again and
    again (its mapped blocks cost page faults on every batch: notebook 06's measurements ran
    1.5× slower with it), at the price of acting only when called.
    :func:`trim_after_each_cell` calls it after every notebook cell.

    Returns:
        ``True`` if glibc released memory; ``False`` if there was nothing to release or there
        is no glibc (macOS, Windows, musl).
    """
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    return bool(trim(0)) if trim is not None else False


def trim_after_each_cell() -> bool:
    """Call :func:`trim_memory` after every cell of the running IPython kernel: between cells
    the process then holds about what is alive, so what one cell freed does not add to the
    next cell's peak (notebook 06 uses it to stay under a Binder session's 2 GiB).

    Returns:
        ``True`` if the hook was registered (once per kernel); ``False`` outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    hooks = shell.events.callbacks["post_run_cell"]
    if _trim_hook not in hooks:
        shell.events.register("post_run_cell", _trim_hook)
    return True


def _trim_hook(*_: Any) -> None:
    trim_memory()


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A tqdm progress bar: the notebook widget normally, plain text when ``N2N_TEXT_BARS`` is
    set (``scripts/run_notebooks.py`` sets it).

    A widget bar is saved in a notebook file without its state, so GitHub, nbviewer and an
    untrusted copy show "0%" for a run that finished; a text bar is saved as its final line
    ("100%|██████████| 12000/12000 [05:10<00:00, ...]"). Every long loop of the library makes
    its bar here. Arguments are tqdm's.
    """
    if os.environ.get("N2N_TEXT_BARS", "").strip().lower() in _TRUE - {""}:
        from tqdm.std import tqdm

        kwargs.setdefault("mininterval", 5.0)
        kwargs.setdefault("ascii", False)
        return tqdm(*args, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(*args, **kwargs)


def static_widgets() -> bool:
    """Whether widgets should also leave a static picture of their first state
    (``N2N_STATIC_WIDGETS``, set by ``scripts/run_notebooks.py``).

    A widget is saved in a notebook without the state of its output area, so a static viewer
    (GitHub, nbviewer, a fresh untrusted copy) shows only its text form. In a saved run the
    course's widgets therefore also display an ordinary figure of what they first drew.
    """
    return os.environ.get("N2N_STATIC_WIDGETS", "").strip().lower() in _TRUE - {""}


def bf16_support(device: str | torch.device | None = None) -> tuple[bool, str]:
    """Whether bfloat16 autocast can be fast on ``device``, and why (not).

    On a CPU, bf16 matrix products are fast only with bf16 instructions (AVX-512 BF16 or AMX),
    which oneDNN reports; without them PyTorch falls back to a reference kernel (measured in
    ``benchmarks/bench_bf16_matmul.py``: about 76× slower than float32 on an AVX2 machine), so
    a bf16 path should be refused rather than taken. On CUDA it asks
    :func:`torch.cuda.is_bf16_supported`.

    Returns:
        ``(supported, reason)``.
    """
    dev = torch.device(device) if device is not None else _default_device()
    if dev.type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ok, "CUDA bf16 is supported" if ok else "this GPU has no bf16 support"
    if dev.type == "cpu":
        capability = torch.backends.cpu.get_cpu_capability()
        try:
            ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            ok = False
        if ok:
            return True, f"this CPU ({capability}) has bf16 instructions"
        return False, (f"this CPU ({capability}) has no bf16 instructions (AVX-512 BF16 or AMX): "
                       f"bf16 matrix products would run a reference kernel, many times slower "
                       f"than float32")
    return False, f"no bf16 check for device type {dev.type!r}"
