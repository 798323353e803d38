r"""Net2Net: a frozen source expert, a cINN, and a frozen target expert, translated between.

With a source expert :math:`f = \Psi\circ\Phi` and a target expert :math:`g = \Lambda\circ\Theta`
(both fixed), the cINN :math:`\tau` models :math:`p(z_\Theta \mid z_\Phi)` through the residual
:math:`v = \tau^{-1}(z_\Theta \mid z_\Phi) \sim \mathcal{N}(0, I)`:

* :meth:`Net2Net.fit` — encode the pairs once (latent cache) and train :math:`\tau` only (Eq. 4)
* :meth:`Net2Net.translate` — :math:`y = \Lambda(\tau(v \mid \Phi(x)))`, :math:`v` drawn at a
  temperature
* :meth:`Net2Net.residual` — :math:`v = \tau^{-1}(\Theta(y) \mid \Phi(x))`
* :meth:`Net2Net.transfer` — keep :math:`y`'s residual, change the condition (Eq. 6)
* :meth:`Net2Net.log_prob` — :math:`\log p(\Theta(y) \mid \Phi(x))`

**Output layout of** :meth:`~Net2Net.translate`: one flat batch of ``B * n_samples`` decoded
outputs, the samples of input ``i`` in rows ``i * n_samples ... i * n_samples + n_samples - 1``
(``torch.repeat_interleave`` order); ``.view(B, n_samples, ...)`` groups them by input.

**Unpaired data** (supplement D): make the source a :class:`~n2nlib.experts.Labelator` of the
domains and the data ``unpaired(ys_domain0, ys_domain1, ...)``; transfer between domains with
``transfer(y, x_new=[1] * B, x=[0] * B)``.

>>> import torch
>>> from n2nlib import ConditionalINN
>>> from n2nlib.experts import as_expert
>>> source = as_expert(lambda x: x[:, :2], dim=2)
>>> target = as_expert(lambda y: y, dim=3, decode=lambda z: z)
>>> n2n = Net2Net(source, target, ConditionalINN(3, 2, n_blocks=2, hidden_dim=16),
...               device="cpu")
>>> n2n.translate(torch.randn(4, 5), n_samples=2).shape
torch.Size([8, 3])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib import settings
from n2nlib._batched import batched
from n2nlib._checks import first_float
from n2nlib.cache import LatentPairs, _materialise, encode_pairs
from n2nlib.encoding import call_expert, input_length, iter_batches
from n2nlib.experts.base import (
    as_expert,
    check_latent,
    create_expert,
    expert_spec,
    is_expert,
    is_target_expert,
    latent_shape,
)
from n2nlib.flows import ConditionalINN, GroupedCINN
from n2nlib.train import History, distributed_info, fit
from n2nlib.translators import (
    is_invertible,
    is_translator,
    translator_from_config,
    translator_name,
)

__all__ = ["Net2Net", "unpaired"]

_KIND = "n2nlib.Net2Net"


def unpaired(*domains: Any) -> tuple[Tensor, Any]:
    """Pairs ``(domain label, y)`` from unpaired sets, for a :class:`~n2nlib.experts.Labelator`
    source (supplement D).

    Arguments:
        *domains: two or more batches of target inputs (tensors are concatenated, lists
            joined).

    Returns:
        ``(labels, ys)``: ``labels[i]`` is the index of the domain ``ys[i]`` came from.

    Raises:
        ValueError: fewer than two domains, or an empty one.
        TypeError: domains of mixed kinds.

    >>> labels, ys = unpaired(torch.zeros(2, 3), torch.ones(1, 3))
    >>> labels.tolist(), ys.shape
    ([0, 0, 1], torch.Size([3, 3]))
    """
    if len(domains) < 2:
        raise ValueError(f"unpaired() takes two or more domains, got {len(domains)}")
    sizes = [input_length(d) for d in domains]
    if min(sizes) == 0:
        raise ValueError(f"every domain needs at least one item, got sizes {sizes}")
    labels = torch.cat([torch.full((n,), i, dtype=torch.int64) for i, n in enumerate(sizes)])
    if all(isinstance(d, Tensor) for d in domains):
        return labels, torch.cat(domains)
    if all(isinstance(d, list | tuple) for d in domains):
        return labels, [item for d in domains for item in d]
    raise TypeError("unpaired() needs all domains as tensors, or all as lists")


def _shape_text(shape: tuple[int, ...] | int) -> str:
    if isinstance(shape, int):
        return str(shape)
    return str(shape[0]) if len(shape) == 1 else str(tuple(shape))


class Net2Net(nn.Module):
    r"""Translate between two fixed experts with a conditional INN (the paper's Fig. 2).

    Arguments:
        source: the source expert Φ (``encode(x) -> (B, D_Φ)``), e.g. a sentence encoder or
            a :class:`~n2nlib.experts.Labelator`. Plain callables and modules are wrapped with
            :func:`~n2nlib.experts.as_expert`; modules are frozen.
        target: the target expert Θ/Λ (``encode(y) -> (B, D_Θ)`` and, to translate,
            ``decode(z)``).
        cinn: the translator τ; its ``dim`` must be the target's ``dim`` and its ``cond_dim``
            the source's. Default: a :class:`~n2nlib.flows.ConditionalINN` built with those
            sizes and ``**cinn_kwargs``.
        device: where τ lives (default :func:`n2nlib.settings.device`); encodings are moved
            there. Experts stay where they are (``Net2Net.to`` moves module experts too).
        **cinn_kwargs: arguments of the default cINN (``n_blocks``, ``hidden_dim``, ...).

    Raises:
        TypeError: an expert lacks ``encode``/``dim``, or ``cinn`` is not a ConditionalINN.
        ValueError: the cINN's sizes disagree with the experts'.

    >>> from n2nlib.experts import Labelator, as_expert
    >>> target = as_expert(lambda y: y, dim=4, decode=lambda z: z)
    >>> Net2Net(Labelator(2), target, ConditionalINN(4, 3))
    Traceback (most recent call last):
    ...
    ValueError: the cINN's cond_dim is 3 but the source expert Labelator(2) encodes to 2: ...
    """

    def __init__(
        self,
        source: Any,
        target: Any,
        cinn: ConditionalINN | GroupedCINN | None = None,
        *,
        device: str | torch.device | None = None,
        **cinn_kwargs: Any,
    ) -> None:
        super().__init__()
        for role, expert in (("source", source), ("target", target)):
            if expert is None or not (is_expert(expert) or callable(expert)):
                raise TypeError(
                    f"the {role} expert must have encode(inputs) -> (B, D) and an int dim "
                    f"(or be a callable to wrap with as_expert), got {type(expert).__name__}"
                )
            if not is_expert(expert):
                raise TypeError(
                    f"the {role} expert is a plain callable; wrap it with "
                    f"n2nlib.experts.as_expert(fn, dim=D) to say its size"
                )
        self.source = as_expert(source)
        self.target = as_expert(target)
        src_shape, tgt_shape = latent_shape(self.source), latent_shape(self.target)
        if len(tgt_shape) != 1:
            raise ValueError(f"the target expert must have vector codes (B, D), got {tgt_shape}")
        if cinn is None:
            cond = src_shape[0] if len(src_shape) == 1 else src_shape
            cinn = ConditionalINN(tgt_shape[0], cond, **cinn_kwargs)
        elif cinn_kwargs:
            raise TypeError(
                f"cINN arguments {sorted(cinn_kwargs)} are only used when no cinn is given"
            )
        if not is_translator(cinn):
            raise TypeError(
                f"cinn must be a translator — a ConditionalINN, a GroupedCINN, an EmbeddingMLP, "
                f"or any nn.Module with dim, cond_shape, nll(x, c) and sample(c, temperature) "
                f"(see n2nlib.translators) — got {type(cinn).__name__}")
        if cinn.dim != tgt_shape[0]:
            raise ValueError(
                f"the cINN's dim is {cinn.dim} but the target expert {self._name('target')} "
                f"encodes to {tgt_shape[0]}: build ConditionalINN(dim={tgt_shape[0]}, "
                f"cond_dim={_shape_text(src_shape)}, ...)"
            )
        cinn_cond = tuple(cinn.cond_shape)
        if cinn_cond != src_shape:
            raise ValueError(
                f"the cINN's cond_dim is {_shape_text(cinn.cond_dim)} but the source expert "
                f"{self._name('source')} encodes to {_shape_text(src_shape)}: build "
                f"ConditionalINN(dim={tgt_shape[0]}, cond_dim={_shape_text(src_shape)}, ...)"
            )
        self.cinn = cinn.to(settings.device(device))
        self.history: History | None = None

    def _name(self, role: str) -> str:
        expert = self.source if role == "source" else self.target
        name = getattr(expert, "name", None)
        if isinstance(name, str) and name:
            return repr(name)
        return type(expert).__name__ if isinstance(expert, nn.Module) else repr(expert)

    # -- encoding ---------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """The device of the cINN."""
        return first_float(self.cinn).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the cINN."""
        return first_float(self.cinn).dtype

    @torch.no_grad()
    def _encode(self, role: str, inputs: Any, batch_size: int | None) -> Tensor:
        expert = self.source if role == "source" else self.target
        shape = latent_shape(expert)
        if isinstance(inputs, Tensor) and inputs.ndim == 0:
            raise ValueError(f"{role} inputs must be a batch, got a 0-d tensor")
        if input_length(inputs) == 0:
            raise ValueError(f"the {role} inputs are an empty batch; give at least one input")
        batches = [inputs] if batch_size is None else iter_batches(inputs, batch_size)
        codes = [
            check_latent(call_expert(expert, "encode", b, f"the {role} expert"), shape,
                         f"the {role} expert's encode(...)")
            for b in batches
        ]
        return torch.cat(codes).to(self.device, self.dtype)

    def encode_source(self, x: Any, batch_size: int | None = None) -> Tensor:
        r""":math:`z_\Phi = \Phi(x)`, on the cINN's device and dtype (no gradients)."""
        return self._encode("source", x, batch_size)

    def encode_target(self, y: Any, batch_size: int | None = None) -> Tensor:
        r""":math:`z_\Theta = \Theta(y)` (a stochastic encoder's mean), no gradients."""
        return self._encode("target", y, batch_size)

    def decode(self, z: Tensor) -> Any:
        r""":math:`\Lambda(z)` with the target expert's ``decode``."""
        if not is_target_expert(self.target):
            raise TypeError(
                f"the target expert {self._name('target')} has no decode(z); use "
                f"decode=False to get codes z_Θ, or give a target expert with decode"
            )
        with torch.no_grad():
            return self.target.decode(z)

    # -- training ---------------------------------------------------------------------------

    def encode_data(
        self,
        data: Any,
        *,
        batch_size: int = 256,
        cache_dir: str | os.PathLike | None = None,
        stochastic: bool | None = None,
        progress: bool = True,
    ) -> LatentPairs:
        r"""Encode paired data ``(xs, ys)`` once into a latent cache :math:`(\Theta(y),
        \Phi(x))` (see :func:`n2nlib.cache.encode_pairs`); a :class:`LatentPairs` passes
        through. Under torchrun with a ``cache_dir``, rank 0 writes the cache and the other
        processes open it."""
        if isinstance(data, LatentPairs):
            return data
        world, rank = distributed_info()

        def encode() -> LatentPairs:
            return encode_pairs(self.source, self.target, data, batch_size=batch_size,
                                dtype=self.dtype, stochastic=stochastic, cache_dir=cache_dir,
                                progress=progress and rank == 0)

        if world == 1 or cache_dir is None:
            return encode()
        # several processes share one disk cache: rank 0 writes it, the others then open it
        import torch.distributed as dist

        pairs = encode() if rank == 0 else None
        dist.barrier()
        return pairs if pairs is not None else LatentPairs.load(cache_dir)

    def fit(
        self,
        data: Any,
        *,
        steps: int | None = None,
        batch_size: int = 64,
        eval_data: Any = None,
        encode_batch_size: int = 256,
        cache_dir: str | os.PathLike | None = None,
        stochastic: bool | None = None,
        min_std: float | None = None,
        progress: bool = True,
        **fit_kwargs: Any,
    ) -> History:
        r"""Train τ on paired data; the experts stay fixed.

        The pairs are encoded once with the frozen experts (batched, no gradients, with a
        progress bar) into a latent cache, which :func:`n2nlib.train.fit` — the one training
        loop — then trains on. A stochastic target (with ``encode_distribution``) has its mean
        and log-variance cached and a fresh code drawn at every step.

        Arguments:
            data: ``(xs, ys)``: source inputs and the target inputs paired with them (for
                unpaired domains see :func:`unpaired`); a ``Dataset`` of ``(x, y)`` pairs or a
                ``DataLoader`` of ``(xs, ys)`` batches; or an already encoded
                :class:`~n2nlib.cache.LatentPairs`.
            steps: optimisation steps (not used by a translator fitted in closed form, one
                with ``fit_closed_form(x, c)``: it is solved on the cached codes instead).
            batch_size: pairs per step.
            eval_data: held-out pairs, same forms as ``data``.
            encode_batch_size: items per expert call while encoding.
            cache_dir: keep the codes on disk here (safetensors shards, memory-mapped; reused
                when the experts and data are the same); ``train/`` and ``eval/`` inside.
            stochastic: force (or forbid) sampling from the target's ``encode_distribution``.
            min_std: draw the training target codes with at least this standard deviation
                (:meth:`~n2nlib.cache.LatentPairs.with_min_std`; held-out pairs are kept as
                they are, so their NLL stays comparable between settings).
            progress: tqdm bars for encoding and training.
            **fit_kwargs: passed to :func:`n2nlib.train.fit` (``lr``, ``schedule``,
                ``warmup``, ``clip_grad``, ``seed``, ``checkpoint_dir``, ...).

        Returns:
            The :class:`~n2nlib.train.History` (also kept as ``self.history``).
        """
        sub = None if cache_dir is None else Path(cache_dir)
        pairs = self.encode_data(data, batch_size=encode_batch_size, stochastic=stochastic,
                                 cache_dir=None if sub is None else sub / "train",
                                 progress=progress)
        eval_pairs = None
        if eval_data is not None:
            eval_pairs = self.encode_data(eval_data, batch_size=encode_batch_size,
                                          stochastic=stochastic,
                                          cache_dir=None if sub is None else sub / "eval",
                                          progress=progress)
        pairs = pairs.with_min_std(min_std)
        if callable(getattr(self.cinn, "fit_closed_form", None)):
            self.history = self._fit_closed_form(pairs, eval_pairs)
            return self.history
        if steps is None:
            raise TypeError(f"fit(...) needs steps=... to train a {type(self.cinn).__name__}")
        self.history = fit(self.cinn, pairs, steps=steps, batch_size=batch_size,
                           eval_data=eval_pairs, progress=progress, **fit_kwargs)
        return self.history

    def _fit_closed_form(self, pairs: LatentPairs, eval_pairs: LatentPairs | None) -> History:
        """Fit a closed-form translator on the cached codes (a stochastic target's means)."""
        import time

        from n2nlib.train import evaluate

        if pairs.condition is None:
            raise ValueError("a closed-form translator needs conditions z_Φ")
        start = time.perf_counter()
        self.cinn.fit_closed_form(_materialise(pairs.target).to(self.device),
                                  _materialise(pairs.condition).to(self.device))
        history = History(seconds=time.perf_counter() - start)
        if eval_pairs is not None:
            history.eval_step.append(0)
            history.eval_nll.append(evaluate(self.cinn, eval_pairs))
        return history

    # -- translation ------------------------------------------------------------------------

    @torch.no_grad()
    def translate_latent(
        self,
        z_source: Tensor,
        n_samples: int = 1,
        temperature: float = 1.0,
        *,
        v: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r""":math:`z_\Theta = \tau(v \mid z_\Phi)` — in code space, without the experts.

        Arguments:
            z_source: :math:`z_\Phi`, ``(B, D_Φ)``.
            n_samples: residuals drawn per row (ignored when ``v`` is given).
            temperature: standard deviation of the drawn residuals.
            v: use these residuals ``(B, D_Θ)`` instead of drawing them (e.g. from
                :meth:`residual_latent`); then the result is deterministic.
            generator: for reproducible draws.

        Returns:
            ``(B * n_samples, D_Θ)`` codes (``repeat_interleave`` order), or ``(B, D_Θ)``
            with ``v``.
        """
        self._eval()
        if v is not None:
            self._require_invertible("translate_latent(..., v=...)")
            return self.cinn.inverse(v.to(self.device, self.dtype), z_source)[0]
        _check_samples(n_samples, temperature)
        if getattr(self.cinn, "deterministic", False):  # one output per input, repeated
            z = self.cinn.sample(z_source.to(self.device, self.dtype), temperature,
                                 generator=generator)
            return z.repeat_interleave(n_samples, dim=0)
        c = z_source.repeat_interleave(n_samples, dim=0)
        return self.cinn.sample(c, temperature, generator=generator)

    @torch.no_grad()
    def translate(
        self,
        x: Any,
        n_samples: int = 4,
        temperature: float = 1.0,
        *,
        decode: bool = True,
        generator: torch.Generator | None = None,
        batch_size: int | None = None,
    ) -> Any:
        r"""Translate source inputs to target outputs: :math:`y = \Lambda(\tau(v \mid \Phi(x)))`,
        :math:`v \sim \mathcal{N}(0, T^2 I)`.

        Arguments:
            x: a batch of ``B`` source inputs (whatever the source expert takes).
            n_samples: translations per input (different residuals).
            temperature: :math:`T`; below 1 trades diversity for typicality.
            decode: return decoded outputs (else the codes :math:`z_\Theta`).
            generator: for reproducible draws.
            batch_size: translate ``x`` in chunks of this many inputs — encoding, sampling and
                decoding — and gather the outputs on the CPU (memory stays bounded; the draws
                of each chunk come from ``generator`` in turn).

        Returns:
            ``B * n_samples`` outputs in one flat batch; the samples of input ``i`` are rows
            ``i * n_samples`` to ``(i + 1) * n_samples - 1`` (use ``.view(B, n_samples, ...)``
            to group them).

        Raises:
            ValueError: ``n_samples < 1`` or ``temperature < 0``.
            TypeError: ``decode=True`` with a target expert that has no ``decode``.
        """
        _check_samples(n_samples, temperature)
        if decode and not is_target_expert(self.target):
            self.decode(None)  # raises the explanation

        def run(chunk: Any) -> Any:
            z = self.translate_latent(self.encode_source(chunk), n_samples, temperature,
                                      generator=generator)
            return self.decode(z) if decode else z

        if batch_size is None:
            return run(x)
        if input_length(x) == 0:
            raise ValueError("the source inputs are an empty batch; give at least one input")
        return batched(run, x, batch_size=batch_size, desc="translating")

    @torch.no_grad()
    def residual_latent(self, z_target: Tensor, z_source: Tensor) -> Tensor:
        r""":math:`v = \tau^{-1}(z_\Theta \mid z_\Phi)` in code space."""
        self._require_invertible("residual")
        self._eval()
        return self.cinn(z_target.to(self.device, self.dtype),
                         z_source.to(self.device, self.dtype))[0]

    def residual(self, y: Any, x: Any, batch_size: int | None = None) -> Tensor:
        r"""The residual :math:`v = \tau^{-1}(\Theta(y) \mid \Phi(x))`: what in ``y`` the
        source input ``x`` does not explain. ``(B, D_Θ)``.

        Raises:
            ValueError: ``y`` and ``x`` are batches of different sizes.
        """
        z_target = self.encode_target(y, batch_size)
        z_source = self.encode_source(x, batch_size)
        if z_target.shape[0] != z_source.shape[0]:
            raise ValueError(
                f"y and x must be paired batches of the same size, got {z_target.shape[0]} "
                f"and {z_source.shape[0]}"
            )
        return self.residual_latent(z_target, z_source)

    @torch.no_grad()
    def transfer(
        self,
        y: Any,
        x_new: Any,
        *,
        x: Any = None,
        decode: bool = True,
        batch_size: int | None = None,
    ) -> Any:
        r"""Eq. (6): keep ``y``'s residual, change its condition to ``x_new``:
        :math:`y^* = \Lambda(\tau(\tau^{-1}(\Theta(y) \mid \Phi(x)) \mid \Phi(x_{new})))`.

        Arguments:
            y: ``B`` target inputs whose residual (e.g. pose, style) is kept.
            x_new: ``B`` new source inputs (or one, used for every ``y``).
            x: the source inputs ``y`` goes with. Default: ``y`` itself, i.e.
                :math:`\Phi(y)`, as in the paper's exemplar-guided and disentangling
                experiments (source and target take the same inputs); for a label source
                give ``y``'s labels.
            decode: decode the result (else return :math:`z_\Theta`).
            batch_size: encode in chunks of this size.

        Returns:
            ``B`` outputs (or codes ``(B, D_Θ)``); a single ``y`` with ``B`` new conditions
            gives ``B`` outputs too.

        Raises:
            ValueError: batch sizes that neither match nor are 1.
        """
        if x is None:
            try:
                z_own = self.encode_source(y, batch_size)
            except (RuntimeError, TypeError, ValueError) as err:
                raise TypeError(
                    f"transfer(y, x_new) without x conditions y on Φ(y), the source expert "
                    f"applied to y, and that failed ({err}); pass x=<the source inputs that "
                    f"go with y> (e.g. y's labels for a Labelator source)"
                ) from err
            v = self.residual_latent(self.encode_target(y, batch_size), z_own)
        else:
            v = self.residual(y, x, batch_size)
        z_new = self.encode_source(x_new, batch_size)
        if v.shape[0] != z_new.shape[0]:
            if v.shape[0] == 1:
                v = v.expand(z_new.shape[0], -1)
            elif z_new.shape[0] == 1:
                z_new = z_new.expand(v.shape[0], *z_new.shape[1:])
            else:
                raise ValueError(
                    f"y and x_new must have the same batch size (or one of them 1), got "
                    f"{v.shape[0]} and {z_new.shape[0]}"
                )
        z = self.translate_latent(z_new, v=v)
        return self.decode(z) if decode else z

    @torch.no_grad()
    def log_prob(self, y: Any, x: Any, batch_size: int | None = None) -> Tensor:
        r""":math:`\log p(\Theta(y) \mid \Phi(x))` per pair, in nats, ``(B,)``."""
        self._eval()
        z_target = self.encode_target(y, batch_size)
        z_source = self.encode_source(x, batch_size)
        return -self.cinn.nll(z_target, z_source)

    @property
    def translator(self) -> nn.Module:
        """τ, whatever kind it is (the same object as ``cinn``, the name the paper's method
        gives it)."""
        return self.cinn

    def _eval(self) -> None:
        """τ in eval mode. ``.eval()`` visits every submodule (about 500 in a grouped cINN:
        a quarter of the 16-sample cINN stage), so it runs only when τ itself is in training
        mode; a submodule put back into training by hand (``cinn.parts[0].train()``) stays
        so. The library's flows compute the same in both modes; custom subnetworks with
        dropout or batch norm should be switched with ``n2n.cinn.eval()``."""
        if self.cinn.training:
            self.cinn.eval()

    def _require_invertible(self, what: str) -> None:
        if not is_invertible(self.cinn):
            raise TypeError(
                f"{what} needs an invertible translator (a residual v = τ⁻¹(z_Θ | z_Φ)); a "
                f"{type(self.cinn).__name__} has none: use a ConditionalINN or GroupedCINN"
            )

    # -- saving -----------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The cINN's config and how to rebuild the experts (``None`` where unknown)."""
        return {
            "translator": translator_name(self.cinn),
            "cinn": self.cinn.get_config(),
            "source": expert_spec(self.source),
            "target": expert_spec(self.target),
            "source_shape": list(latent_shape(self.source)),
            "target_dim": int(self.target.dim),
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Save τ's weights (safetensors) and a JSON config naming the experts.

        The experts' own weights are not written: they are fixed, and are rebuilt on
        :meth:`load` from their registered names (``create_expert``); experts without a
        registered name must then be passed to :meth:`load`.

        Returns:
            The folder.
        """
        from n2nlib.checkpoint import save_model

        return save_model(self.cinn, directory, self.get_config(), kind=_KIND)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        *,
        source: Any = None,
        target: Any = None,
        device: str | torch.device | None = None,
    ) -> Net2Net:
        """Rebuild a Net2Net saved by :meth:`save` (JSON + safetensors; nothing unpickled).

        Arguments:
            directory: the folder written by :meth:`save`.
            source, target: the experts; default: rebuilt from the names in the config.
            device: where τ goes.

        Raises:
            n2nlib.checkpoint.CheckpointError: missing or damaged files.
            ValueError: an expert cannot be rebuilt from the config (pass it), or the given
                experts do not fit the saved cINN.
        """
        from n2nlib.checkpoint import load_config, load_weights, saved_dtype

        config = load_config(directory, kind=_KIND)
        experts = {}
        for role, given in (("source", source), ("target", target)):
            if given is not None:
                experts[role] = given
            elif config.get(role) is None:
                raise ValueError(
                    f"the {role} expert of {directory} has no registered name; pass "
                    f"Net2Net.load(..., {role}=<the expert>)"
                )
            else:
                spec = config[role]
                experts[role] = create_expert(spec["name"], **spec.get("kwargs", {}))
        cinn = translator_from_config(config["cinn"], config.get("translator")).to(
            dtype=saved_dtype(directory))
        load_weights(cinn, directory)
        return cls(experts["source"], experts["target"], cinn, device=device)

    def extra_repr(self) -> str:
        return (f"source dim={_shape_text(latent_shape(self.source))}, "
                f"target dim={self.target.dim}")


def _check_samples(n_samples: int, temperature: float) -> None:
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    if not (isinstance(temperature, int | float) and temperature >= 0):
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
