"""The one training loop of the project: fits a ConditionalINN by the objective of Eq. (4).

Everything that trains a translator goes through :func:`fit`: ``Net2Net.fit``, the notebooks
and the command line. The experts are fixed, so the loop only ever sees latent pairs
``(x, c) = (z_Θ, z_Φ)`` — plain tensors, or a :class:`~n2nlib.cache.LatentPairs` cache (in
memory or memory-mapped from disk, optionally with a stochastic target that is re-sampled at
every step).

What the loop does, besides the optimisation itself:

* **Reproducible order.** The minibatches of step ``s`` are a function of ``(seed, s)`` alone:
  epoch ``e`` is a permutation drawn from a generator seeded by ``(seed, e)``, and the noise of a
  stochastic target at step ``s`` from one seeded by ``(seed, s)``.
* **Checkpoints and resume.** With ``checkpoint_dir``, every ``checkpoint_every`` steps the
  model, the optimizer, the RNG states and the history are written atomically
  (:mod:`n2nlib.checkpoint`); calling :func:`fit` again with the same arguments continues from
  the latest checkpoint, and reaches bit-for-bit the weights an uninterrupted run reaches.
* **Divergence guard.** A NaN/Inf loss or gradient stops the run with :class:`TrainingDiverged`
  and a diagnosis (the step, the learning rate, the offending parameters), before the
  optimizer step, so the model keeps its last good weights.
* **A compiled step.** ``compile=True`` runs each step as :func:`torch.compile` graphs (CUDA
  graphs on a GPU) with the divergence guard on the device, read every few steps
  (:mod:`n2nlib.step`), so that a GPU is not held up by a host read per step.
* **Distributed data parallel.** Launched with ``torchrun`` (``torchrun --nproc_per_node 2
  script.py``), :func:`fit` runs unchanged: it initialises the process group (``gloo`` on CPU,
  ``nccl`` on GPU) from the environment, wraps the model in
  :class:`~torch.nn.parallel.DistributedDataParallel`, and splits every global batch of
  ``batch_size`` pairs evenly over the processes, so that the result matches a single process
  training on the same global batches. Rank 0 shows the progress bar and writes checkpoints.

>>> import torch
>>> from n2nlib import ConditionalINN
>>> cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=2, hidden_dim=16)
>>> c = torch.randn(512, 1); x = torch.cat([c, torch.randn(512, 1)], 1)
>>> history = fit(cinn, (x, c), steps=20, batch_size=64, progress=False)
>>> len(history.loss)
20
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._checks import first_float
from n2nlib.cache import LatentPairs
from n2nlib.step import CompiledStep, EagerStep, TrainingDiverged

__all__ = [
    "History",
    "TrainingDiverged",
    "fit",
    "evaluate",
    "lr_factor",
    "batch_indices",
    "init_distributed",
    "distributed_info",
    "fused_supported",
    "make_optimizer",
]


@dataclass
class History:
    """What :func:`fit` measured.

    Attributes:
        step: the step index of each entry of ``loss`` (0-based).
        loss: training NLL per step (nats per sample, Eq. 4 with the Gaussian constant).
        lr: learning rate used at each step.
        eval_step: the steps at which held-out data was evaluated.
        eval_nll: held-out NLL (nats per sample) at those steps.
        seconds: wall-clock seconds spent in the loop (summed over resumed runs).
        best_step: the evaluation step whose weights the model holds when ``keep_best``
            restored them (``None``: the weights are those of the last step).
        stopped_step: the number of completed steps when early stopping or a callback ended
            the run before ``steps`` (``None``: it ran to the end).
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_nll: list[float] = field(default_factory=list)
    seconds: float = 0.0
    best_step: int | None = None
    stopped_step: int | None = None

    @property
    def final_eval_nll(self) -> float:
        """The last held-out NLL, or NaN if there was no held-out data."""
        return self.eval_nll[-1] if self.eval_nll else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


def lr_factor(step: int, steps: int, warmup: int, schedule: str) -> float:
    """Multiplier of the base learning rate at ``step``: linear warm-up, then the schedule.

    ``"cosine"`` decays to 0 at ``steps``; ``"step"`` divides by 10 at 60% and 85% of the
    run; ``"constant"`` keeps 1.

    >>> [round(lr_factor(s, 10, 2, "cosine"), 3) for s in (0, 1, 2, 6, 9)]
    [0.5, 1.0, 1.0, 0.5, 0.038]
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return 0.1 ** sum(step >= m * steps for m in (0.6, 0.85))
    raise ValueError(f"schedule must be 'cosine', 'step' or 'constant', got {schedule!r}")


# -- data -------------------------------------------------------------------------------------


def _as_pairs(data: object, name: str) -> LatentPairs:
    if isinstance(data, LatentPairs):
        return data
    if isinstance(data, Tensor):
        return LatentPairs(data, None)
    if isinstance(data, tuple | list) and len(data) == 2:
        x, c = data
        if not isinstance(x, Tensor) or (c is not None and not isinstance(c, Tensor)):
            got = f"({type(x).__name__}, {type(c).__name__})"
            raise TypeError(f"{name} must hold tensors (x, c), got {got}")
        try:
            return LatentPairs(x, c)
        except (TypeError, ValueError) as err:
            msg = str(err).replace("target", f"{name} x").replace("condition", f"{name} c")
            msg = msg.replace("the same number of rows", "the same batch size")
            raise type(err)(msg) from None
    raise TypeError(
        f"{name} must be a tensor x, a pair (x, c) of tensors or a LatentPairs, got "
        f"{type(data).__name__}" + (f" of length {len(data)}" if isinstance(data, list | tuple)
                                    else "")
    )


def _mix(*values: int) -> int:
    """A 63-bit seed derived from integers (different tuples give unrelated seeds)."""
    digest = hashlib.blake2b("/".join(map(str, values)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class _Order:
    """The minibatch order: a pure function of ``(seed, step)``."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self.batch = min(batch_size, n)
        self.per_epoch = max(1, n // self.batch)
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def __call__(self, step: int) -> Tensor:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(_mix(self.seed, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen)
        return self._perm[pos * self.batch : (pos + 1) * self.batch]


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> Tensor:
    """The indices of the minibatch :func:`fit` uses at ``step`` (for ``n`` pairs).

    Every ``n // batch_size`` steps start a new epoch with a fresh permutation; the tail that
    does not fill a batch is left out of that epoch.

    >>> batch_indices(10, 4, seed=0, step=3).shape
    torch.Size([4])
    >>> torch.equal(batch_indices(10, 4, 0, 5), batch_indices(10, 4, 0, 5))
    True
    """
    return _Order(n, batch_size, seed)(step)



@torch.no_grad()
def evaluate(model: nn.Module, data: object, batch_size: int = 1024, seed: int = 0) -> float:
    """Mean NLL (nats per sample) of ``model`` on ``data``, in eval mode — or the mean of its
    ``training_loss`` when it has one (see :func:`objective`), drawn with the same generator.

    ``data`` is ``x``, ``(x, c)`` or a :class:`~n2nlib.cache.LatentPairs`; a stochastic cache
    is evaluated on one draw per pair from a generator seeded with ``seed``.
    """
    pairs = _as_pairs(data, "eval_data")
    was_training = model.training
    model.eval()
    p = first_float(model)
    gen = torch.Generator().manual_seed(_mix(seed, "eval"))
    total = 0.0
    for i in range(0, len(pairs), batch_size):
        idx = torch.arange(i, min(len(pairs), i + batch_size))
        xb, cb = pairs.batch(idx, generator=gen, device=p.device, dtype=p.dtype)
        total += float(objective(model, gen)(xb, cb).sum())
    model.train(was_training)
    return total / len(pairs)


# -- distributed ------------------------------------------------------------------------------


def distributed_info() -> tuple[int, int]:
    """``(world_size, rank)`` of the initialised process group, or ``(1, 0)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def init_distributed(backend: str | None = None) -> bool:
    """Initialise ``torch.distributed`` from the environment ``torchrun`` sets, if needed.

    Arguments:
        backend: ``"gloo"`` or ``"nccl"``; default ``nccl`` when CUDA is available, else
            ``gloo``.

    Returns:
        Whether a process group with more than one process is active.

    >>> init_distributed()   # a plain process: nothing to do
    False
    """
    import torch.distributed as dist

    if not dist.is_available():
        return False
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return dist.get_world_size() > 1


def objective(model: nn.Module, generator: torch.Generator | None = None) -> Any:
    """What :func:`fit` minimises for ``model``, as ``(x, c) -> (B,)``: its
    ``training_loss(x, c, generator=...)`` when it has one (a translator trained by a surrogate,
    such as flow matching; its noise drawn from ``generator``), else its ``nll(x, c)``."""
    loss = getattr(model, "training_loss", None)
    if not callable(loss):
        return model.nll
    return loss if generator is None else functools.partial(loss, generator=generator)


class _NLL(nn.Module):
    """``forward = model.nll``, so that DistributedDataParallel sees the computation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        return objective(self.model)(x, c)


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


# -- the optimizer ----------------------------------------------------------------------------


def fused_supported(params: list[nn.Parameter]) -> bool:
    """Whether PyTorch's fused Adam kernel can update ``params`` (floating dtypes on CPU,
    CUDA, MPS or XPU, all on one device type).

    >>> fused_supported([nn.Parameter(torch.zeros(2))])
    True
    """
    supported = {"cpu", "cuda", "mps", "xpu"}
    devices = {p.device.type for p in params}
    return (len(devices) == 1 and devices <= supported
            and all(p.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
                    for p in params))


def make_optimizer(
    params: list[nn.Parameter],
    name: str = "adam",
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    r"""The optimizer of :func:`fit`: Adam or AdamW, fused where possible.

    The fused kernel applies the same update as the default (``foreach``) implementation,
    :math:`m \leftarrow \beta_1 m + (1-\beta_1) g`, :math:`v \leftarrow \beta_2 v +
    (1-\beta_2) g^2`, :math:`\theta \leftarrow \theta - \eta\,\hat m/(\sqrt{\hat v}+
    \epsilon)`, in one pass over each parameter, so it agrees with it up to float rounding
    (not bit for bit); a run with a given setting is bit-for-bit reproducible and resumable.

    Arguments:
        params: the parameters to optimise.
        name: ``"adam"`` or ``"adamw"``.
        lr, weight_decay: as in :func:`fit`.
        fused: ``True`` to require the fused kernel, ``False`` for the default one,
            ``None`` for fused where :func:`fused_supported`.

    Returns:
        The optimizer.

    >>> opt = make_optimizer([nn.Parameter(torch.zeros(2))], "adamw", lr=0.1)
    >>> type(opt).__name__, opt.defaults["fused"]
    ('AdamW', True)
    """
    classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if name not in classes:
        raise ValueError(f"optimizer must be 'adam' or 'adamw', got {name!r}")
    if fused is None:
        fused = fused_supported(params)
    kwargs: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    if fused:
        kwargs["fused"] = True
    return classes[name](params, **kwargs)


# -- the loop ---------------------------------------------------------------------------------

_RUN_KEYS = ("steps", "batch_size", "lr", "optimizer", "weight_decay", "schedule", "warmup",
             "clip_grad", "seed", "n", "dim", "cond_shape", "stochastic")


def fit(
    model: nn.Module,
    data: object,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    warmup: int = 0,
    clip_grad: float | None = 10.0,
    eval_data: object | None = None,
    eval_every: int | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training cINN",
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    keep_checkpoints: int = 2,
    callback: Callable[[int, History], bool | None] | None = None,
    distributed: bool | None = None,
    fused_optimizer: bool | None = None,
    patience: int | None = None,
    keep_best: bool | None = None,
    compile: bool = False,
) -> History:
    """Train ``model`` (a :class:`~n2nlib.flows.ConditionalINN`) to minimise its NLL on ``data``.

    Arguments:
        model: the flow; it must have ``nll(x, c)``.
        data: training pairs — a tensor ``x`` (unconditional), ``(x, c)``, or a
            :class:`~n2nlib.cache.LatentPairs` (e.g. from :func:`~n2nlib.cache.encode_pairs`);
            minibatches follow a permutation per epoch, a function of ``(seed, step)``.
        steps: number of optimisation steps.
        batch_size: samples per step (the *global* batch when distributed).
        lr: base learning rate.
        optimizer: ``"adam"`` or ``"adamw"``.
        weight_decay: weight decay (decoupled for AdamW).
        schedule: ``"cosine"``, ``"step"`` or ``"constant"`` after ``warmup`` linear steps.
        clip_grad: clip the global gradient norm to this value (``None``: no clipping).
        eval_data: held-out pairs (same forms as ``data``), evaluated every ``eval_every``
            steps and at the end.
        eval_every: default ``max(1, steps // 10)``.
        seed: seed of the minibatch order (and of a stochastic target's noise).
        progress: show a tqdm progress bar with the loss and the held-out NLL.
        desc: the progress bar's label.
        checkpoint_dir: write resumable checkpoints here (see :mod:`n2nlib.checkpoint`).
        checkpoint_every: steps between checkpoints (default ``max(1, steps // 10)``); one is
            always written after the last step.
        resume: continue from the latest checkpoint in ``checkpoint_dir`` if there is one
            (the run's arguments must be the same).
        keep_checkpoints: how many checkpoints to keep.
        callback: called as ``callback(step, history)`` after every step; a true return value
            stops training there (``history.stopped_step`` says where).
        distributed: use DistributedDataParallel; default: when launched by ``torchrun`` with
            more than one process (or when a process group is already initialised).
        fused_optimizer: use PyTorch's fused Adam/AdamW kernel (one pass over each parameter
            instead of several; about twice as fast an optimizer step for large models on
            CPU). Default: where the parameters' device and dtype support it. It computes the
            same update up to float rounding; see :func:`make_optimizer`.
        patience: early stopping: stop when the held-out NLL has not improved for this many
            evaluations in a row (needs ``eval_data``; ``None``: never stop early).
        keep_best: at the end, give the model back the weights of its best held-out
            evaluation (``history.best_step``). Default: on whenever ``eval_data`` is given.
            With it off, a held-out NLL that ends far above its best (τ overfits: too many
            blocks for the data, too many steps) raises a ``UserWarning``. Weights are tracked
            within one call: after a resume, the best of the resumed part is kept.
        compile: run each step as compiled graphs with the divergence guard on the device
            (:class:`~n2nlib.step.CompiledStep`): no host read per step, losses read every
            10 steps (every step with a ``callback``). For a GPU, where a step of small
            matrices is bound by kernel launches; on a CPU it is slower than the eager step
            (0.71× in the paper configuration, benchmarks/RESULTS.md) and compiling takes
            minutes. Not with ``distributed`` or ``fused_optimizer=True``: the
            optimizer is compiled from the foreach one, and gives its updates (as with
            ``fused_optimizer=False``) up to float rounding.

    Returns:
        A :class:`History` (of the whole run, including resumed parts).

    Raises:
        ValueError, TypeError: bad arguments or data (the message says what was expected), or
            a checkpoint from a run with other arguments.
        TrainingDiverged: the loss or a gradient became NaN/Inf; the model keeps the weights
            of the last good step and the message names the step and the offending tensors.
    """
    from n2nlib import checkpoint as ckpt
    from n2nlib.settings import progress_bar as tqdm

    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not callable(getattr(model, "nll", None)):
        raise TypeError(f"model must have nll(x, c) (a ConditionalINN), got {type(model).__name__}")
    pairs = _as_pairs(data, "data")
    eval_pairs = None if eval_data is None else _as_pairs(eval_data, "eval_data")
    lr_factor(0, steps, warmup, schedule)  # validates the schedule name
    params = [p for p in model.parameters() if p.requires_grad]
    # told after every step (the fused optimizer does not bump version counters): GroupedCINN
    watchers = [m.parameters_changed for m in model.modules() if hasattr(m, "parameters_changed")]
    if not params:
        raise ValueError("the model has no trainable parameters (all requires_grad=False)")
    if compile and fused_optimizer:
        raise ValueError("compile=True generates its own fused optimizer from the foreach "
                         "one; leave fused_optimizer unset")
    opt = make_optimizer(params, optimizer, lr=lr, weight_decay=weight_decay,
                         fused=False if compile else fused_optimizer)
    eval_every = eval_every or max(1, steps // 10)
    checkpoint_every = checkpoint_every or max(1, steps // 10)
    if patience is not None and (not isinstance(patience, int) or isinstance(patience, bool)
                                 or patience < 1):
        raise ValueError(f"patience must be a positive int or None, got {patience!r}")
    if patience is not None and eval_pairs is None:
        raise ValueError("patience (early stopping) needs eval_data to watch")
    keep_best = eval_pairs is not None if keep_best is None else bool(keep_best)
    if keep_best and eval_pairs is None:
        raise ValueError("keep_best needs eval_data to tell which weights were best")
    best = {"nll": math.inf, "step": None, "state": None, "since": 0}

    # -- distributed set-up
    use_dist = init_distributed() if distributed is None else bool(distributed)
    if compile and use_dist:
        raise ValueError("compile=True runs in one process; use it without distributed")
    if use_dist and not init_distributed():
        raise ValueError(
            "distributed=True needs several processes: launch with torchrun "
            "(torchrun --nproc_per_node N script.py) or initialise torch.distributed first"
        )
    world, rank = distributed_info() if use_dist else (1, 0)
    order = _Order(len(pairs), batch_size, seed)
    if world > 1 and order.batch % world:
        raise ValueError(
            f"the global batch ({order.batch}) must be divisible by the number of processes "
            f"({world}); choose batch_size as a multiple of {world}"
        )
    local = order.batch // world
    device = next(model.parameters()).device
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        model.to(device)
    dtype = next(model.parameters()).dtype

    # -- resume
    run = {"steps": steps, "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
           "weight_decay": weight_decay, "schedule": schedule, "warmup": warmup,
           "clip_grad": clip_grad, "seed": seed, "n": len(pairs), "dim": pairs.dim,
           "cond_shape": list(pairs.cond_shape), "stochastic": pairs.stochastic}
    history = History()
    start_step = 0
    if checkpoint_dir is not None and resume:
        loaded = ckpt.load_training_state(checkpoint_dir, model=model, optimizer=opt)
        if loaded is not None:
            saved = loaded["state"]["run"]
            diff = [k for k in _RUN_KEYS if saved.get(k) != run.get(k)]
            if diff:
                details = ", ".join(f"{k}: {saved.get(k)!r} then, {run.get(k)!r} now"
                                    for k in diff)
                raise ValueError(
                    f"the checkpoint in {checkpoint_dir} is from a run with other arguments "
                    f"({details}); use another checkpoint_dir, or resume=False to start over"
                )
            history = History.from_dict(loaded["state"]["history"])
            start_step = loaded["step"]

    def save_checkpoint(completed: int) -> None:
        if rank == 0:
            ckpt.save_training_state(
                checkpoint_dir, step=completed, model=model, optimizer=opt,
                state={"run": run, "history": history.to_dict()}, keep=keep_checkpoints,
            )
        _barrier(world)

    if start_step >= steps:
        model.eval()
        return history

    net: nn.Module = _NLL(model)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        if start_step == 0:  # data-dependent initialisation (ActNorm) on the global batch
            with torch.no_grad():
                xb, cb = pairs.batch(order(0), _noise(seed, 0, pairs), device, dtype)
                objective(model)(xb, cb)
        net = DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,
        )

    stepper: EagerStep | CompiledStep
    if compile:
        stepper = CompiledStep(net, params, opt, clip_grad, first_step=start_step)
    else:
        stepper = EagerStep(net, model, params, opt, clip_grad, world)
    model.train()
    began = time.perf_counter()
    bar = tqdm(range(start_step, steps), desc=desc, disable=not progress or rank > 0,
               leave=True, initial=start_step, total=steps)
    smooth = None
    unread = start_step  # the first step whose loss the host has not read yet
    for step in bar:
        xb, cb = pairs.batch(order(step), _noise(seed, step, pairs), device, dtype)
        if world > 1:
            xb = xb[rank * local : (rank + 1) * local]
            cb = None if cb is None else cb[rank * local : (rank + 1) * local]
        factor = lr_factor(step, steps, warmup, schedule)
        stepper(step, xb, cb, lr * factor)
        for notify in watchers:
            notify()
        history.step.append(step)
        history.lr.append(lr * factor)
        completed = step + 1
        evaluate_now = eval_pairs is not None and (completed % eval_every == 0
                                                   or completed == steps)
        checkpoint_now = checkpoint_dir is not None and (completed % checkpoint_every == 0
                                                         or completed == steps)
        read_now = (completed - unread >= stepper.sync_every or completed == steps
                    or evaluate_now or checkpoint_now or callback is not None)
        if read_now:  # raises TrainingDiverged, for the compiled step here
            for value in stepper.read(range(unread, completed)):
                history.loss.append(value)
                smooth = value if smooth is None else 0.95 * smooth + 0.05 * value
            unread = completed
        stop = False
        if evaluate_now:
            history.eval_step.append(completed)
            history.eval_nll.append(evaluate(model, eval_pairs, seed=seed))
            model.train()
            if history.eval_nll[-1] < best["nll"]:
                best.update(nll=history.eval_nll[-1], step=completed, since=0)
                if keep_best:
                    best["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                best["since"] += 1
                stop = patience is not None and best["since"] >= patience
        if progress and rank == 0 and read_now and (step % 10 == 0 or completed == steps
                                                    or stepper.sync_every > 1):
            post = {"loss": f"{history.loss[-1]:.3f}", "nll(avg)": f"{smooth:.3f}"}
            if history.eval_nll:
                post["held-out nll"] = f"{history.eval_nll[-1]:.3f}"
            bar.set_postfix(post)
        if checkpoint_now:
            history.seconds += time.perf_counter() - began
            began = time.perf_counter()
            save_checkpoint(completed)
        if callback is not None and callback(step, history):
            stop = True
        if stop and completed < steps:
            history.stopped_step = completed
            if checkpoint_dir is not None and completed % checkpoint_every != 0:
                history.seconds += time.perf_counter() - began
                began = time.perf_counter()
                save_checkpoint(completed)
            break
    bar.close()
    history.seconds += time.perf_counter() - began
    _finish_best(model, history, best, keep_best)
    model.eval()
    return history


def _finish_best(model: nn.Module, history: History, best: dict[str, Any],
                 keep_best: bool) -> None:
    """Restore the best held-out weights, or warn when the held-out NLL ended far above them."""
    if not history.eval_nll or best["step"] is None:
        return
    last = history.eval_nll[-1]
    if keep_best:
        if best["state"] is not None and best["step"] != history.eval_step[-1]:
            model.load_state_dict(best["state"])
            history.best_step = best["step"]
        return
    if last - best["nll"] > max(1.0, 0.05 * abs(best["nll"])):
        warnings.warn(
            f"the held-out NLL ended at {last:.4g} after falling to {best['nll']:.4g} at step "
            f"{best['step']}: τ overfits its training pairs. Use keep_best=True (the default "
            f"with eval_data), patience=..., fewer blocks or steps, or more pairs.",
            UserWarning, stacklevel=3)


def _noise(seed: int, step: int, pairs: LatentPairs) -> torch.Generator | None:
    if not pairs.stochastic:
        return None
    return torch.Generator().manual_seed(_mix(seed, "noise", step))

