"""The one expert-training loop of the zoo: :func:`fit_expert` trains an autoencoder,
classifier, generator or VAE on a dict of tensors with an :class:`~n2nlib.zoo.objectives.
Objective`, with warm-up, cosine decay, a finiteness check and exact resumption from its
checkpoints. (Translators are trained by :func:`n2nlib.train.fit` instead.)
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib.train import TrainingDiverged, lr_factor
from n2nlib.zoo.data import Batch


@dataclass
class ExpertHistory:
    """What :func:`fit_expert` measured: per-step ``loss``, the last ``logs``, wall-clock
    ``seconds`` and ``cpu_seconds`` (the process's CPU time: on a machine shared with other
    jobs it is the steadier measure of the work done)."""

    loss: list[float] = field(default_factory=list)
    logs: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def fit_expert(
    model: nn.Module,
    objective: Callable[[nn.Module, Batch, int], tuple[Tensor, dict]],
    data: Batch,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    warmup: int = 100,
    schedule: str = "cosine",
    clip_grad: float | None = 5.0,
    augment: Callable[[Batch, torch.Generator], Batch] | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training expert",
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 250,
) -> ExpertHistory:
    """Train an expert (autoencoder, classifier, segmenter): the one loop of every zoo recipe.

    Minibatches are drawn without replacement within each epoch from a seeded generator, moved
    to the model's device, optionally augmented, and passed to ``objective``. AdamW with
    linear warm-up and a cosine (or step/constant, see :func:`n2nlib.train.lr_factor`) decay;
    an objective's ``discriminator`` gets its own Adam (β₁ = 0.5) and steps after the model.

    Arguments:
        model: the network to train (all parameters that require grad are trained).
        objective: ``objective(model, batch, step) -> (loss, logs)``.
        data: the training set as tensors of one length, e.g. ``{"image": ..., "label": ...}``.
        steps: optimisation steps.
        batch_size: examples per step.
        lr: peak learning rate.
        weight_decay: decoupled weight decay.
        warmup: linear warm-up steps.
        schedule: ``"cosine"``, ``"step"`` or ``"constant"``.
        clip_grad: clip the global gradient norm (``None``: no clipping).
        augment: ``augment(batch, generator) -> batch``, applied per step.
        seed: seed of the minibatch order, the augmentation and the latent samples.
        progress: show a tqdm bar with the loss and the objective's logs.
        desc: the bar's label.
        checkpoint_dir: write a resumable checkpoint (model, optimizer, discriminator, random
            states, loss history) every ``checkpoint_every`` steps and at the end, with
            :func:`n2nlib.checkpoint.save_training_state`; if the folder already holds one,
            training resumes from it (a killed run loses at most ``checkpoint_every`` steps).
        checkpoint_every: steps between checkpoints.

    Returns:
        An :class:`ExpertHistory`; the model is left in eval mode.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
        ValueError: bad ``steps``/``batch_size``, or tensors of different lengths in ``data``.

    >>> net = nn.Linear(2, 2)
    >>> data = {"image": torch.randn(64, 2), "label": torch.randint(0, 2, (64,))}
    >>> from n2nlib.zoo.objectives import CrossEntropyObjective
    >>> h = fit_expert(net, CrossEntropyObjective(), data, steps=3, batch_size=16,
    ...                progress=False)
    >>> len(h.loss)
    3
    """
    from n2nlib.settings import progress_bar as tqdm

    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(data, dict) or not data:
        raise TypeError("data must be a non-empty dict of tensors, e.g. {'image': images}")
    lengths = {k: len(v) for k, v in data.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"the tensors in data must share one non-zero length, got {lengths}")
    lr_factor(0, steps, warmup, schedule)  # validates the schedule name
    n = next(iter(lengths.values()))
    device = next(model.parameters()).device
    if hasattr(objective, "setup"):
        objective.setup(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    disc = getattr(objective, "discriminator", None)
    disc_opt = None
    if disc is not None:
        disc.train()
        disc_opt = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.9))
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    history = ExpertHistory()
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    order, cursor = torch.randperm(n, generator=generator), 0
    first, prior_seconds, prior_cpu = 0, 0.0, 0.0
    if checkpoint_dir is not None:
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive int, got {checkpoint_every!r}")
        resumed = _resume_expert(checkpoint_dir, model, opt, disc, disc_opt, generator)
        if resumed is not None:
            first = resumed["step"]
            history.loss = list(resumed["state"]["loss"])
            order = torch.tensor(resumed["state"]["order"], dtype=torch.long)
            cursor = int(resumed["state"]["cursor"])
            prior_seconds = float(resumed["state"].get("seconds", 0.0))
            prior_cpu = float(resumed["state"].get("cpu_seconds", 0.0))
            if first > steps:
                raise ValueError(f"{checkpoint_dir} holds a checkpoint after {first} steps, "
                                 f"more than the {steps} asked for")
    bar = tqdm(range(first, steps), desc=desc, disable=not progress, leave=True,
               initial=first, total=steps)
    for step in bar:
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        idx = order[cursor : cursor + batch_size]
        cursor += batch_size
        batch = {k: v[idx].to(device) for k, v in data.items()}
        if augment is not None:
            batch = augment(batch, generator)
        factor = lr_factor(step, steps, warmup, schedule)
        for group in opt.param_groups:
            group["lr"] = lr * factor
        loss, logs = objective(model, batch, step)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {float(loss)} at step {step} of {desc!r} (lr "
                f"{lr * factor:.3g}); lower the learning rate or the batch size's variance"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(params, clip_grad)
        opt.step()
        if disc_opt is not None:
            d_loss = objective.discriminator_loss(batch, step)  # type: ignore[attr-defined]
            if d_loss is not None:
                for group in disc_opt.param_groups:
                    group["lr"] = lr * factor
                disc_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                disc_opt.step()
                logs["d"] = float(d_loss.detach())
        history.loss.append(float(loss.detach()))
        history.logs = logs
        if progress and (step % 10 == 0 or step + 1 == steps):
            bar.set_postfix({"loss": f"{history.loss[-1]:.4f}",
                             **{k: f"{v:.3g}" for k, v in list(logs.items())[:5]}})
        if checkpoint_dir is not None and ((step + 1) % checkpoint_every == 0
                                           or step + 1 == steps):
            _save_expert_state(checkpoint_dir, step + 1, model, opt, disc, disc_opt, generator,
                               {"loss": history.loss, "order": order.tolist(),
                                "cursor": cursor,
                                "seconds": prior_seconds + time.perf_counter() - start,
                                "cpu_seconds": prior_cpu + time.process_time() - cpu_start})
    history.seconds = prior_seconds + time.perf_counter() - start
    history.cpu_seconds = prior_cpu + time.process_time() - cpu_start
    model.eval()
    return history


def _save_expert_state(directory: str | os.PathLike, step: int, model: nn.Module,
                       opt: torch.optim.Optimizer, disc: nn.Module | None,
                       disc_opt: torch.optim.Optimizer | None, generator: torch.Generator,
                       state: dict[str, Any]) -> None:
    """The discriminator first, then the model (whose ``latest`` pointer decides a resume)."""
    from n2nlib.checkpoint import save_training_state

    directory = Path(directory)
    if disc is not None and disc_opt is not None:
        save_training_state(directory / "discriminator", step=step, model=disc,
                            optimizer=disc_opt, state={})
    state = {**state, "generator": generator.get_state().tolist()}
    save_training_state(directory, step=step, model=model, optimizer=opt, state=state)


def _resume_expert(directory: str | os.PathLike, model: nn.Module, opt: torch.optim.Optimizer,
                   disc: nn.Module | None, disc_opt: torch.optim.Optimizer | None,
                   generator: torch.Generator) -> dict[str, Any] | None:
    from n2nlib.checkpoint import load_training_state

    directory = Path(directory)
    resumed = load_training_state(directory, model=model, optimizer=opt)
    if resumed is None:
        return None
    generator.set_state(torch.tensor(resumed["state"]["generator"], dtype=torch.uint8))
    if disc is not None and disc_opt is not None:
        load_training_state(directory / "discriminator", model=disc, optimizer=disc_opt,
                            restore_rng=False)
    return resumed


def machine_description() -> str:
    """CPU model, torch threads and torch version of this machine, in words."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {torch.get_num_threads()} torch threads ({os.cpu_count()} logical CPUs), "
            f"torch {torch.__version__}")


def _load_average() -> float | None:
    """The 1-minute load average (how busy the shared machine was), if the OS tells."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None
