"""One optimisation step of :func:`n2nlib.train.fit`: eager, or compiled with a device guard.

Both apply the same update: the objective's mean over the minibatch, its gradients, the global
gradient norm clipped to ``clip_grad``, one Adam/AdamW step. They differ in when the host looks
at the result:

* :class:`EagerStep` reads the loss back after every step, and the gradients when their norm
  is not finite, and raises :class:`TrainingDiverged` *before* the update. On a GPU every read
  is a sync: the host waits for the device once per step.
* :class:`CompiledStep` (``fit(..., compile=True)``) runs the forward and backward pass, and
  the update, as graphs made by :func:`torch.compile` (captured as CUDA graphs with
  ``mode="reduce-overhead"`` on a GPU), and reads nothing back. The finiteness check stays on
  the device: a non-finite loss or gradient records its step in a device flag, and from that
  step on the update is masked (gradients zeroed, learning rate 0), so the weights stay those
  after the last good step. The loop reads the losses and the flag together every
  :attr:`CompiledStep.sync_every` steps (:meth:`~CompiledStep.read`), and raises then.

The masked steps still advance Adam's step count and decay its moments: after a divergence
the weights are exactly the last good ones, the optimizer state is not.
"""

from __future__ import annotations

import inspect
import os
import shutil
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._checks import finite_checks_off

__all__ = ["TrainingDiverged", "EagerStep", "CompiledStep"]


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN/Inf; the model keeps its last good weights."""


def _all_mean(value: Tensor, world: int) -> Tensor:
    if world == 1:
        return value
    import torch.distributed as dist

    value = value.detach().clone()
    dist.all_reduce(value)
    return value / world


class EagerStep:
    """The step in plain PyTorch, checked on the host after every step.

    Arguments:
        net: ``(x, c) -> (B,)`` losses (the objective, possibly wrapped in DDP).
        model: the module whose parameters are named in error messages.
        params: the trainable parameters.
        opt: their optimizer.
        clip_grad: clip the global gradient norm to this value (``None``: no clipping).
        world: the number of processes (the reported loss is their mean).
    """

    sync_every = 1

    def __init__(self, net: Callable[[Tensor, Tensor | None], Tensor], model: nn.Module,
                 params: list[nn.Parameter], opt: torch.optim.Optimizer,
                 clip_grad: float | None, world: int = 1) -> None:
        self.net, self.model, self.params, self.opt = net, model, params, opt
        self.clip_grad, self.world = clip_grad, world
        self._values: list[float] = []

    def __call__(self, step: int, x: Tensor, c: Tensor | None, lr: float) -> None:
        """One update at learning rate ``lr``; raises :class:`TrainingDiverged` before it when
        the loss or a gradient is not finite."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        loss = self.net(x, c).mean()
        reported = _all_mean(loss.detach(), self.world)
        if not torch.isfinite(reported):
            raise TrainingDiverged(
                f"the loss became {float(reported)} at step {step} (lr {lr:.3g}); the weights "
                f"are those after step {step - 1}. Lower the learning rate, use warm-up, or "
                f"clip gradients (clip_grad)."
            )
        if self.world == 1:
            _backward_releasing_grads(loss, self.params)
        else:  # DistributedDataParallel's own hooks read the gradients as they arrive
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
        grads = [p.grad for p in self.params if p.grad is not None]
        # one reduction over all gradients: finite iff every gradient is (an overflow of
        # finite gradients falls through to the per-tensor check below)
        total_norm = _total_norm(grads, self.clip_grad is not None)
        if not torch.isfinite(total_norm):
            bad = [name for name, p in self.model.named_parameters()
                   if p.grad is not None and not torch.isfinite(p.grad).all()]
            if bad:
                raise TrainingDiverged(
                    f"non-finite gradients at step {step} in {len(bad)} parameter(s), e.g. "
                    f"{', '.join(bad[:3])}; the loss was {float(reported):.4g}. Lower the "
                    f"learning rate or clip gradients."
                )
        if self.clip_grad is not None:
            # exactly clip_grad_norm_(params, clip_grad), reusing the norm computed above
            torch.nn.utils.clip_grads_with_norm_(self.params, self.clip_grad, total_norm,
                                                 foreach=True)
        self.opt.step()
        self._values.append(reported.item())

    def read(self, steps: range) -> list[float]:
        """The losses of ``steps`` (those since the last read)."""
        values, self._values = self._values, []
        return values


def _backward_releasing_grads(loss: Tensor, params: list[nn.Parameter]) -> None:
    """``zero_grad(set_to_none=True)`` then ``loss.backward()``, with each old gradient
    released only when its replacement arrives.

    The result is the same: every parameter's ``.grad`` is this backward pass's gradient, and
    ``None`` where the pass gives it none. Released all at once before the pass, the paper
    configuration's 765 MB of gradients can end up at the top of glibc's heap, which hands
    them back to the system; the pass then faults them in again. Here that cost more than
    10,000 page faults in 14–17 of 34 steps, and the slowest steps took 1.1 s against 0.6 s
    (``benchmarks/RESULTS.md``, session 19). Released one at a time, each old gradient's
    memory is there for the next new one: 2–4 such steps of 34, the slowest 0.67 s."""
    arrived: set[int] = set()

    def release(param: nn.Parameter) -> Callable[[Tensor], None]:
        def hook(_: Tensor) -> None:  # runs before the gradient is stored
            param.grad = None
            arrived.add(id(param))
        return hook

    held = [p for p in params if p.grad is not None]
    handles = []
    try:
        for p in held:
            if p.requires_grad:
                handles.append(p.register_hook(release(p)))
            else:  # frozen since its last gradient: nothing will replace it
                p.grad = None
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
        for p in held:  # also when the pass failed, as zero_grad would have left them
            if id(p) not in arrived:
                p.grad = None  # no gradient this pass


def _total_norm(grads: list[Tensor], exact: bool) -> Tensor:
    """The global gradient norm, as :func:`torch.nn.utils.get_total_norm`; with ``exact=False``
    (when only its finiteness matters: no clipping) on the CPU, the sum of squares by BLAS
    ``dot``, which is finite exactly when the norm is and runs about twice as fast here
    (40 against 80 ms over the paper configuration's 800 MB of gradients)."""
    if exact or not grads or any(g.device.type != "cpu" or g.is_complex() for g in grads):
        return torch.nn.utils.get_total_norm(grads, foreach=True)
    return torch.stack([torch.dot(g.reshape(-1), g.reshape(-1)).double() for g in grads]).sum()


def _own_code(method: Any) -> Any:
    """``method`` bound to a copy of its function with a code object of its own.

    torch.compile keeps its graphs per code object, guarded by the objects they were traced
    with; shared by every CompiledStep, the cache would fill after a few runs (8 by default)
    and later runs would fall back to eager silently. A fresh code object per step gives each
    run its own cache, freed with it."""
    f = method.__func__
    copy = types.FunctionType(f.__code__.replace(), f.__globals__, f.__name__, f.__defaults__,
                              f.__closure__)
    return types.MethodType(copy, method.__self__)


class CompiledStep:
    """The step as compiled graphs, with no host read per step (see the module docstring).

    Arguments:
        net: ``(x, c) -> (B,)`` losses of the model (not DDP-wrapped).
        params: the trainable parameters.
        opt: their optimizer; its learning rates become device tensors (so that a schedule
            changes no compiled graph).
        clip_grad: clip the global gradient norm to this value (``None``: no clipping).
        first_step: the step the run starts at (after a resume).
        mode: the :func:`torch.compile` mode; default ``"reduce-overhead"`` (CUDA graphs) on a
            GPU, ``"default"`` elsewhere.
        sync_every: read losses and the flag back at least every this many steps.
    """

    def __init__(self, net: Callable[[Tensor, Tensor | None], Tensor],
                 params: list[nn.Parameter], opt: torch.optim.Optimizer,
                 clip_grad: float | None, first_step: int = 0, mode: str | None = None,
                 sync_every: int = 10) -> None:
        device = params[0].device
        if device.type == "cpu" and not any(shutil.which(cc) for cc in (
                os.environ.get("CXX", "g++"), "g++", "clang++", "c++")):
            raise RuntimeError("compile=True on the CPU needs a C++ compiler (torch.compile "
                               "builds its kernels with it): install g++ (apt-get install g++) "
                               "or train without compile")
        if mode is None:
            mode = "reduce-overhead" if device.type == "cuda" else "default"
        self.net, self.params, self.opt, self.clip_grad = net, params, opt, clip_grad
        self.sync_every = sync_every
        self.cuda = device.type == "cuda"
        for group in opt.param_groups:
            if not isinstance(group["lr"], Tensor):
                group["lr"] = torch.tensor(float(group["lr"]), device=device)
        self.lr = torch.zeros((), device=device)
        self.step_t = torch.full((), first_step, dtype=torch.long, device=device)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.losses = torch.zeros(sync_every, dtype=torch.float64, device=device)
        for buffer in (self.lr, self.step_t, self.first_bad, self.losses):
            torch._dynamo.mark_static_address(buffer)  # CUDA graphs may update them in place
        self._warm = self._grads_static = False
        self._loss = torch.compile(_own_code(self._objective), mode=mode)
        # Optimizer.step's wrappers (hooks; a no_grad switch between two graph breaks) would be
        # compiled as frames of their own, shared by every run: call the bare step instead,
        # inside one graph, with gradients off around it.
        self._raw_step = inspect.unwrap(type(opt).step)
        self._update = torch.compile(_own_code(self._masked_update), mode=mode)

    def _objective(self, x: Tensor, c: Tensor | None) -> Tensor:
        return self.net(x, c).mean()

    def _masked_update(self, loss: Tensor) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        finite = torch.isfinite(loss) & torch.stack([torch.isfinite(g).all() for g in grads]).all()
        self.first_bad.copy_(torch.where((self.first_bad < 0) & ~finite, self.step_t,
                                         self.first_bad))
        good = self.first_bad < 0
        self.losses.index_copy_(0, (self.step_t % self.sync_every).view(1),
                                loss.view(1).to(self.losses.dtype))
        self.step_t.add_(1)
        if self.clip_grad is not None:
            norm = torch.nn.utils.get_total_norm(grads, foreach=True)
            torch.nn.utils.clip_grads_with_norm_(self.params, self.clip_grad, norm, foreach=True)
        for g in grads:
            g.copy_(torch.where(good, g, torch.zeros_like(g)))
        for group in self.opt.param_groups:
            group["lr"].copy_(self.lr * good)
        self._raw_step(self.opt)  # under no_grad (see __init__)

    def __call__(self, step: int, x: Tensor, c: Tensor | None, lr: float) -> None:
        """One (possibly masked) update at learning rate ``lr``; reads nothing back. ``step``
        is not used: the graph counts steps on the device (a Python int would recompile it)."""
        if not self._warm:  # ActNorm's data-dependent initialisation runs eagerly, once
            with torch.no_grad():
                self.net(x, c)
            self._warm = True
        if self.cuda:
            torch.compiler.cudagraph_mark_step_begin()
        self.lr.fill_(lr)
        self.opt.zero_grad(set_to_none=False)
        with finite_checks_off():  # the device flag catches a non-finite pair as well
            loss = self._loss(x, c)
        loss.backward()
        if not self._grads_static:  # zero_grad(set_to_none=False) keeps them where they are
            for p in self.params:
                if p.grad is not None:
                    torch._dynamo.mark_static_address(p.grad)
            self._grads_static = True
        with torch.no_grad():
            self._update(loss.detach())

    def read(self, steps: range) -> list[float]:
        """The losses of ``steps`` (at most :attr:`sync_every`, those since the last read);
        raises :class:`TrainingDiverged` when one of the steps so far was not finite."""
        if len(steps) > self.sync_every:
            raise ValueError(f"read at most {self.sync_every} steps at once, got {len(steps)}")
        slots = torch.tensor([s % self.sync_every for s in steps], device=self.losses.device)
        both = torch.cat([self.losses[slots], self.first_bad.double().view(1)])
        *values, bad = both.tolist()  # the one host read
        if bad >= 0:
            bad = int(bad)
            raise TrainingDiverged(
                f"the loss or a gradient became non-finite at step {bad} (the device-side check "
                f"of compile=True, read at step {steps[-1]}; a non-finite training pair does "
                f"the same); the weights are those after step {bad - 1}. Lower the learning "
                f"rate, use warm-up, or clip gradients (clip_grad)."
            )
        return values
