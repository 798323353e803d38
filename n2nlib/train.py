"""The one training loop of the project: fits a ConditionalINN by the objective of Eq. (4).

Everything that trains a translator goes through :func:`fit`: ``Net2Net.fit``, the notebooks
and the command line. The experts are fixed, so the loop only ever sees latent pairs
``(x, c) = (z_Θ, z_Φ)``; how they are computed (and cached) is the caller's business.

>>> import torch
>>> from n2nlib import ConditionalINN
>>> cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=2, hidden_dim=16)
>>> c = torch.randn(512, 1); x = torch.cat([c, torch.randn(512, 1)], 1)
>>> history = fit(cinn, (x, c), steps=20, batch_size=64, progress=False)
>>> len(history.loss)
20
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from n2nlib._checks import check_batch, check_tensor

__all__ = ["History", "TrainingDiverged", "fit", "lr_factor"]


class TrainingDiverged(RuntimeError):
    """Raised when the loss or a gradient becomes NaN or infinite; the message says where."""


@dataclass
class History:
    """What :func:`fit` measured.

    Attributes:
        step: the step index of each entry of ``loss`` (0-based).
        loss: training NLL per step (nats per sample, Eq. 4 with the Gaussian constant).
        lr: learning rate used at each step.
        eval_step: the steps at which held-out data was evaluated.
        eval_nll: held-out NLL (nats per sample) at those steps.
        seconds: wall-clock seconds spent in the loop.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_nll: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_eval_nll(self) -> float:
        """The last held-out NLL, or NaN if there was no held-out data."""
        return self.eval_nll[-1] if self.eval_nll else float("nan")


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


def _as_pairs(data: object, name: str) -> tuple[Tensor, Tensor | None]:
    if isinstance(data, Tensor):
        return check_tensor(data, f"{name} x"), None
    if isinstance(data, tuple | list) and len(data) == 2:
        x, c = data
        check_tensor(x, f"{name} x")
        if c is not None:
            check_tensor(c, f"{name} c")
            check_batch(x, c, f"{name} x", f"{name} c")
        return x, c
    raise TypeError(
        f"{name} must be a tensor x or a pair (x, c) of tensors, got {type(data).__name__}"
    )


@torch.no_grad()
def evaluate(model: nn.Module, data: object, batch_size: int = 1024) -> float:
    """Mean NLL (nats per sample) of ``model`` on ``data`` = ``x`` or ``(x, c)``, in eval mode."""
    x, c = _as_pairs(data, "eval_data")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device)
        cb = None if c is None else c[i : i + batch_size].to(device)
        total += float(model.nll(xb, cb).sum())
    model.train(was_training)
    return total / x.shape[0]


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
) -> History:
    """Train ``model`` (a :class:`~n2nlib.flows.ConditionalINN`) to minimise its NLL on ``data``.

    Arguments:
        model: the flow; it must have ``nll(x, c)``.
        data: training pairs — a tensor ``x`` (unconditional) or ``(x, c)``; minibatches are
            drawn at random, with replacement across epochs, from a seeded generator.
        steps: number of optimisation steps.
        batch_size: samples per step.
        lr: base learning rate.
        optimizer: ``"adam"`` or ``"adamw"``.
        weight_decay: weight decay (decoupled for AdamW).
        schedule: ``"cosine"``, ``"step"`` or ``"constant"`` after ``warmup`` linear steps.
        clip_grad: clip the global gradient norm to this value (``None``: no clipping).
        eval_data: held-out pairs, evaluated every ``eval_every`` steps and at the end.
        eval_every: default ``max(1, steps // 10)``.
        seed: seed of the minibatch order.
        progress: show a tqdm progress bar with the loss.
        desc: the progress bar's label.

    Returns:
        A :class:`History`.

    Raises:
        TrainingDiverged: the loss or a gradient became NaN/Inf; the model keeps the weights
            of the last good step and the message names the step and the offending tensors.
    """
    import time

    from tqdm.auto import tqdm

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x_all, c_all = _as_pairs(data, "data")
    lr_factor(0, steps, warmup, schedule)  # validates the schedule name
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'adamw', got {optimizer!r}")
    eval_every = eval_every or max(1, steps // 10)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    n = x_all.shape[0]
    history = History()
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=True)
    order = torch.randperm(n, generator=generator)
    cursor = 0
    for step in bar:
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + batch_size]
        cursor += batch_size
        xb = x_all[idx].to(device)
        cb = None if c_all is None else c_all[idx].to(device)
        factor = lr_factor(step, steps, warmup, schedule)
        for group in opt.param_groups:
            group["lr"] = lr * factor
        loss = model.nll(xb, cb).mean()
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {float(loss)} at step {step} (lr {lr * factor:.3g}); "
                f"the weights are those after step {step - 1}. Lower the learning rate, "
                f"use warm-up, or clip gradients (clip_grad)."
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        bad = [
            name
            for name, p in model.named_parameters()
            if p.grad is not None and not torch.isfinite(p.grad).all()
        ]
        if bad:
            raise TrainingDiverged(
                f"non-finite gradients at step {step} in {len(bad)} parameter(s), e.g. "
                f"{', '.join(bad[:3])}; the loss was {float(loss):.4g}. Lower the learning "
                f"rate or clip gradients."
            )
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_grad)
        opt.step()
        history.step.append(step)
        history.loss.append(loss.item())
        history.lr.append(lr * factor)
        if eval_data is not None and ((step + 1) % eval_every == 0 or step + 1 == steps):
            history.eval_step.append(step + 1)
            history.eval_nll.append(evaluate(model, eval_data))
            model.train()
        if progress and (step % 10 == 0 or step + 1 == steps):
            post = {"nll": f"{float(loss):.3f}"}
            if history.eval_nll:
                post["held-out"] = f"{history.eval_nll[-1]:.3f}"
            bar.set_postfix(post)
    history.seconds = time.perf_counter() - start
    model.eval()
    return history
