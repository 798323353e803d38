"""What several notebooks share: target codes encoded once, latent pairs with a σ floor, a
cINN trained on them with its costs, and factor agreement read by a classifier.

Notebooks 04, 05 and 08 translate into one autoencoder from several sources; the target codes
are encoded once (:func:`encode_targets`) and paired with each source's codes
(:func:`latent_pairs`); :func:`fit_translator` trains one Net2Net on them and reports what it
cost (:class:`TrainedTranslator`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from n2nlib import metrics
from n2nlib.cache import LatentPairs
from n2nlib.encoding import encode_latents

__all__ = [
    "encode_targets",
    "latent_pairs",
    "TrainedTranslator",
    "fit_translator",
    "factor_agreement",
]


def encode_targets(target: Any, images: Tensor, *, batch_size: int = 256,
                   progress: bool = True) -> tuple[Tensor, Tensor]:
    """Θ(y) once for all translators: the autoencoder's ``(mean, logvar)``, each ``(N, D)``."""
    return encode_latents(target, images, batch_size=batch_size, distribution=True,
                          progress=progress, desc="encoding y with the autoencoder")


def latent_pairs(targets: tuple[Tensor, Tensor], condition: Tensor,
                 min_std: float | None = None) -> LatentPairs:
    """Training pairs for ``Net2Net.fit`` from shared target codes and one source's codes.

    Arguments:
        targets: ``(mean, logvar)`` from :func:`encode_targets` (a fresh code is drawn from
            them at every step).
        condition: :math:`z_\\Phi` of the same images, ``(N, *cond_shape)``.
        min_std: draw the target codes with at least this standard deviation. An autoencoder
            trained with a small KL weight has a very narrow posterior (the zoo's
            ``shapes-ae``: σ ≈ 0.02 while the codes spread ≈ 1.35 per dimension), so its codes
            are isolated points that a cINN memorises instead of modelling; widening the draw
            (e.g. to σ = 0.3, well below the spread of the codes) smooths the target
            density so that τ generalises to held-out codes.

    >>> pairs = latent_pairs((torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3, 2, 5, 5))
    >>> pairs.cond_shape, pairs.stochastic
    ((2, 5, 5), True)
    """
    mean, logvar = targets
    return LatentPairs(mean, condition, target_logvar=logvar).with_min_std(min_std)


@dataclass
class TrainedTranslator:
    """A trained translator and what it cost (see :func:`fit_translator`).

    Attributes:
        n2n: the :class:`~n2nlib.Net2Net`.
        history: its training history.
        encode_seconds: seconds spent encoding the training inputs with the source expert.
        train_seconds: seconds of the training loop.
    """

    n2n: Any
    history: Any
    encode_seconds: float
    train_seconds: float

    @property
    def seconds(self) -> float:
        """Encoding plus training (the shared target codes not included)."""
        return self.encode_seconds + self.train_seconds


def fit_translator(
    source: Any, target: Any, targets: tuple[Tensor, Tensor], inputs: Any, *, steps: int,
    batch_size: int = 128, cinn_kwargs: dict[str, Any] | None = None, lr: float = 1e-3,
    warmup: int = 100, desc: str = "training τ", device: Any = None, progress: bool = True,
    seed: int = 0, min_std: float | None = None, weight_decay: float = 0.0,
    eval_targets: tuple[Tensor, Tensor] | None = None, eval_inputs: Any = None,
) -> TrainedTranslator:
    """Encode ``inputs`` with ``source``, pair them with the shared target codes and train a
    cINN with ``Net2Net.fit`` (the one training loop).

    Arguments:
        source: the source expert Φ (vector or spatial codes).
        target: the target expert (the autoencoder).
        targets: ``(mean, logvar)`` of the same images, from :func:`encode_targets`.
        inputs: what ``source`` takes, one per target row (images, label maps, factors).
        steps, batch_size, lr, warmup: training.
        cinn_kwargs: arguments of the :class:`~n2nlib.flows.ConditionalINN` (``n_blocks``,
            ``hidden_dim``, ...); its sizes come from the experts.
        desc: the progress bar's label.
        device: where τ lives.
        progress: show progress bars.
        seed: seed of the cINN's initialisation and of the minibatch order.
        min_std: lower bound of the target codes' standard deviation (see
            :func:`latent_pairs`).
        weight_decay: AdamW weight decay (0: plain Adam).
        eval_targets, eval_inputs: held-out ``(mean, logvar)`` codes and the source inputs
            that go with them: the held-out NLL curve (``fit`` keeps the best weights).

    Returns:
        A :class:`TrainedTranslator`.
    """

    from n2nlib.experts.base import latent_shape
    from n2nlib.flows import ConditionalINN
    from n2nlib.net2net import Net2Net

    start = time.perf_counter()
    cond = encode_latents(source, inputs, progress=progress,
                          desc=f"encoding x with {getattr(source, 'name', 'the source')}")
    eval_data = None
    if eval_targets is not None and eval_inputs is not None:
        eval_cond = encode_latents(source, eval_inputs, progress=False)
        eval_data = latent_pairs(eval_targets, eval_cond, min_std)
    encode_seconds = time.perf_counter() - start
    shape = latent_shape(source)
    torch.manual_seed(seed)
    cinn = ConditionalINN(int(target.dim), shape[0] if len(shape) == 1 else shape,
                          **(cinn_kwargs or {}))
    n2n = Net2Net(source, target, cinn, device=device)
    history = n2n.fit(latent_pairs(targets, cond, min_std), steps=steps, batch_size=batch_size,
                      lr=lr, warmup=min(warmup, steps // 5), desc=desc, progress=progress,
                      eval_data=eval_data,
                      seed=seed, optimizer="adamw" if weight_decay else "adam",
                      weight_decay=weight_decay)
    return TrainedTranslator(n2n, history, encode_seconds, history.seconds)


def _repeat(x: Tensor, n_samples: int) -> Tensor:
    return x.repeat_interleave(n_samples, dim=0) if n_samples > 1 else x


@torch.no_grad()
def factor_agreement(classifier: Any, generated: Tensor, factors: Tensor, n_samples: int = 1,
                     names: Sequence[str] | None = None) -> dict[str, float]:
    """Fraction of generated images whose classified factor equals ``factors`` (per factor).

    Arguments:
        classifier: the attribute classifier.
        generated: ``(B * n_samples, 3, S, S)``.
        factors: ``(B, 5)`` the reference labels.
        n_samples: generated images per reference row.
        names: report only these factors (default: all).
    """
    from n2nlib.data import FACTOR_NAMES

    acc = metrics.accuracy_per_factor(classifier.predict(generated), _repeat(factors, n_samples),
                                      names=list(FACTOR_NAMES))
    return {k: v for k, v in acc.items() if names is None or k in names}
