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
    "ridge_regression",
    "LinearCode",
    "fit_linear_code",
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


def ridge_regression(c: Tensor, z: Tensor, ridge: float = 1e-3
                     ) -> tuple[Tensor, Tensor, float]:
    r"""Least squares with a ridge: :math:`\hat z = b + c W`, fitted in float64.

    Arguments:
        c: ``(N, C)`` inputs.
        z: ``(N, D)`` targets.
        ridge: penalty on ``W``, relative to the mean diagonal of the centred inputs' Gram
            matrix (the scale of the inputs).

    Returns:
        ``(W, b, r2)``: ``(C, D)`` and ``(D,)`` in float32, and the share of the targets'
        variance that the fit explains on these rows.

    >>> c = torch.randn(200, 3, dtype=torch.float64)
    >>> w, b, r2 = ridge_regression(c, 2 * c[:, :2] + 1)
    >>> round(r2, 3), [round(x, 2) for x in b.tolist()]
    (1.0, [1.0, 1.0])
    """
    if c.ndim != 2 or z.ndim != 2 or c.shape[0] != z.shape[0]:
        raise ValueError(f"c and z must be (N, C) and (N, D) with the same N, got "
                         f"{tuple(c.shape)} and {tuple(z.shape)}")
    c, z = c.double().cpu(), z.double().cpu()
    c_mean, z_mean = c.mean(0), z.mean(0)
    cc, zc = c - c_mean, z - z_mean
    gram = cc.T @ cc
    penalty = ridge * float(gram.diagonal().mean())
    weight = torch.linalg.solve(gram + penalty * torch.eye(gram.shape[0], dtype=gram.dtype),
                                cc.T @ zc)
    r2 = 1.0 - float(((zc - cc @ weight) ** 2).sum() / (zc**2).sum().clamp_min(1e-300))
    return weight.float(), (z_mean - c_mean @ weight).float(), r2


@dataclass
class LinearCode:
    r"""A deterministic baseline translator: :math:`\hat z_\Theta = b + W \operatorname{vec}
    (\Phi(x))`, decoded by Λ (see :func:`fit_linear_code`).

    It is what τ becomes with one affine Gaussian layer and no residual: one output per
    input, the best *linear* guess of the code — the conditional mean blurs what the source
    leaves open (colours, backgrounds) where the cINN draws one of its possibilities.

    Attributes:
        source: the source expert Φ.
        weight: ``(C, D)``, ``C`` the flattened size of Φ's code.
        bias: ``(D,)``.
        r2: the share of the codes' variance explained on the training pairs.
    """

    source: Any
    weight: Tensor
    bias: Tensor
    r2: float

    @torch.no_grad()
    def translate(self, target: Any, inputs: Any, *, batch_size: int = 256) -> Tensor:
        """Decode ``Λ(b + W vec(Φ(inputs)))``: ``(N, 3, S, S)`` on the CPU."""
        return self._decode(target, self._code(inputs, batch_size) @ self.weight + self.bias,
                            batch_size)

    @torch.no_grad()
    def transfer(self, target: Any, codes: Tensor, inputs: Any, new_inputs: Any, *,
                 batch_size: int = 256) -> Tensor:
        """The baseline's exemplar transfer: keep what the fit leaves to each code and swap
        the source, ``Λ(z + (Φ(new) − Φ(old)) W)``: ``(N, 3, S, S)`` on the CPU.

        Arguments:
            target: the autoencoder (``decode``).
            codes: ``(N, D)`` the exemplars' codes Θ(y).
            inputs, new_inputs: the source inputs that go with them, and the new ones.
        """
        shift = (self._code(new_inputs, batch_size) - self._code(inputs, batch_size)) @ self.weight
        return self._decode(target, codes.float().cpu() + shift, batch_size)

    def _code(self, inputs: Any, batch_size: int) -> Tensor:
        c = encode_latents(self.source, inputs, batch_size=batch_size, progress=False)
        return c.flatten(1).float().cpu()

    @staticmethod
    def _decode(target: Any, z: Tensor, batch_size: int) -> Tensor:
        return torch.cat([target.decode(z[i : i + batch_size]).cpu()
                          for i in range(0, len(z), batch_size)])


def fit_linear_code(source: Any, targets: tuple[Tensor, Tensor] | Tensor, inputs: Any, *,
                    ridge: float = 1e-3, progress: bool = False) -> LinearCode:
    """Fit :class:`LinearCode` by ridge regression of the target codes on ``source``'s codes.

    Arguments:
        source: the source expert Φ.
        targets: ``(mean, logvar)`` from :func:`encode_targets` (the means are regressed), or
            the ``(N, D)`` codes.
        inputs: what ``source`` takes, one per target row.
        ridge: see :func:`ridge_regression`.
        progress: show a progress bar while encoding.
    """
    z = targets[0] if isinstance(targets, tuple) else targets
    c = encode_latents(source, inputs, progress=progress, desc="baseline: encoding x")
    weight, bias, r2 = ridge_regression(c.flatten(1), z, ridge)
    return LinearCode(source, weight, bias, r2)


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
