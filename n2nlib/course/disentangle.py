r"""Unsupervised disentangling of shape and appearance (supplement C, Fig. 7b / S1).

No shape expert is needed: the source and the target expert are the *same* encoder Θ of one
autoencoder, but the source sees a randomly deformed copy of the image,
:math:`z_\Phi = \Theta(d(y))`, with :math:`d` = crop-and-resize, horizontal flip and a
thin-plate-spline warp (:class:`~n2nlib.course.deform.RandomDeformation`). The cINN learns
:math:`p(\Theta(y) \mid \Theta(d(y)))`. What d destroys — *where* the shape is, how large, its
outline — is not in the condition, so Eq. (4) puts it into the residual :math:`v`; what d keeps —
the colours and the texture of the background — comes from the condition. After training,
with the *undeformed* images,

.. math:: v = \tau^{-1}(\Theta(y) \mid \Theta(y)), \qquad y^* = \Lambda(\tau(v \mid \Theta(x)))

takes the shape (geometry) of ``y`` and the appearance of ``x``: ``Net2Net.transfer(y, x)``.

On the shapes data both halves can be *measured*: the zoo's attribute classifier reads the
factors of :math:`y^*` (:func:`evaluate`). The held-out pairs (:func:`held_out_pairs`) differ in
every factor, so "y*'s size is y's" and "y*'s size is x's" are exclusive events.

>>> pairs = held_out_pairs(4, seed=0)
>>> pairs.ys.shape, bool((pairs.y_factors != pairs.x_factors).all())
(torch.Size([4, 3, 32, 32]), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from n2nlib import metrics
from n2nlib.course.common import ridge_regression
from n2nlib.course.deform import RandomDeformation
from n2nlib.course.mosaic import AppearanceMosaic
from n2nlib.experts.base import reconstruct

#: what reads a condition from an image: the warp (and tile shuffle), or the mosaic
Deformation = RandomDeformation | AppearanceMosaic

__all__ = [
    "WORLD",
    "TARGET",
    "CLASSIFIER",
    "SHAPE_FACTORS",
    "APPEARANCE_FACTORS",
    "default_deformation",
    "make_training_pairs",
    "condition_probe",
    "fit_disentangler",
    "HeldOutPairs",
    "held_out_pairs",
    "transfer",
    "transfer_grid",
    "DisentangleScores",
    "evaluate",
    "LinearTransfer",
    "fit_linear_baseline",
    "border_agreement",
    "grid_with_sources",
]

WORLD = "v2"
"""The shapes world (:data:`n2nlib.data.WORLDS`) the experts below were trained on."""
TARGET = "shapes-ae"
"""The zoo's autoencoder: Θ (also used as Φ, on deformed inputs) and Λ."""
CLASSIFIER = "shapes-attributes"
"""The zoo's attribute classifier, which measures the transfers."""
SHAPE_FACTORS: tuple[str, ...] = ("shape", "size", "position")
"""Factors of the *shape* (geometry, pose): y* should take them from y."""
APPEARANCE_FACTORS: tuple[str, ...] = ("color", "background")
"""Factors of the *appearance*: y* should take them from x."""


def default_deformation() -> RandomDeformation:
    """The deformation d of notebook 05: the paper's warp, then the tiles shuffled.

    A flip with probability 0.5; a window of 0.7–1.4 of the side (zoomed in or out, the image
    repeated periodically beyond its border, so sizes change by up to ×1.4 either way); a
    4×4-point thin-plate spline whose points move by up to 0.25 of the half-side; then the
    image is cut into 4×4 pixel tiles put back in a random order. The warp alone leaves
    position and size readable from Θ(d(y)) (a linear probe, :func:`condition_probe`), and a
    transfer then takes them from the condition instead of the residual; the shuffled tiles
    keep the colours and lose the layout.

    >>> default_deformation().shuffle_patches
    4
    """
    return RandomDeformation(flip_p=0.5, tps_points=4, tps_strength=0.25, crop_scale=(0.7, 1.4),
                             padding_mode="wrap", shuffle_patches=4)


def make_training_pairs(
    images: Tensor, deformation: Deformation | None = None, seed: int = 0, copies: int = 1,
) -> tuple[Tensor, Tensor]:
    """The training pairs ``(d(y), y)``: each image with ``copies`` random deformations of it.

    Arguments:
        images: ``(N, 3, S, S)`` in [0, 1].
        deformation: d (default :func:`default_deformation`).
        seed: seed of the deformations.
        copies: deformations per image (the pairs are ``copies · N``).

    Returns:
        ``(deformed, originals)``, each ``(copies · N, 3, S, S)``; row ``i`` of ``deformed`` is a
        deformation of row ``i`` of ``originals``.

    >>> x, y = make_training_pairs(torch.rand(3, 3, 16, 16), copies=2)
    >>> x.shape, bool(torch.equal(y[:3], y[3:]))
    (torch.Size([6, 3, 16, 16]), True)
    """
    if not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a positive int, got {copies!r}")
    d = deformation or default_deformation()
    originals = images.repeat(copies, 1, 1, 1)
    return d(originals, seed=seed).clamp_(0.0, 1.0), originals


def fit_disentangler(
    autoencoder: Any, images: Tensor, *, steps: int, deformation: Deformation | None = None,
    copies: int = 1, seed: int = 0, batch_size: int = 128,
    cinn_kwargs: dict[str, Any] | None = None, lr: float = 1e-3, warmup: int = 100,
    device: Any = None, progress: bool = True, min_std: float | None = None,
    weight_decay: float = 0.0, eval_images: Tensor | None = None,
) -> Any:
    r"""Train τ on :math:`(\Theta(d(y)), \Theta(y))` with ``Net2Net(autoencoder, autoencoder)``.

    Each image is encoded once as a target (the encoder's Gaussian: a fresh code is drawn at
    every step) and ``copies`` times deformed as a source; the pairs go to ``Net2Net.fit``
    (the one training loop) as a latent cache, so the undeformed images are not encoded again
    for every copy.

    Arguments:
        autoencoder: the frozen autoencoder (``encode``, ``encode_distribution``, ``decode``).
        images: training images ``y``, ``(N, 3, S, S)``.
        steps, batch_size, lr, warmup: training.
        deformation: d (default :func:`default_deformation`).
        copies: deformations per image.
        seed: seed of the deformations, the cINN's initialisation and the minibatch order.
        cinn_kwargs: arguments of the :class:`~n2nlib.flows.ConditionalINN`.
        device: where τ lives.
        progress: show progress bars.
        min_std: lower bound of the target codes' standard deviation (see
            :func:`n2nlib.course.common.latent_pairs`).
        weight_decay: AdamW weight decay (0: plain Adam).
        eval_images: held-out images; their pairs ``(Θ(d(y)), Θ(y))`` give the held-out NLL
            curve (and ``fit`` keeps the best held-out weights).

    Returns:
        A :class:`~n2nlib.course.common.TrainedTranslator` (the Net2Net and its costs).
    """
    import time

    from n2nlib.cache import LatentPairs
    from n2nlib.course.common import TrainedTranslator
    from n2nlib.encoding import encode_latents
    from n2nlib.flows import ConditionalINN
    from n2nlib.net2net import Net2Net

    def encode_pairs(ys: Tensor, seed: int, copies: int, progress: bool) -> LatentPairs:
        mean, logvar = encode_latents(autoencoder, ys, distribution=True, progress=progress,
                                      desc="encoding y (targets)")
        deformed, _ = make_training_pairs(ys, deformation, seed=seed, copies=copies)
        cond = encode_latents(autoencoder, deformed, progress=progress,
                              desc="encoding d(y) (conditions)")
        return LatentPairs(mean.repeat(copies, 1), cond,
                           target_logvar=logvar.repeat(copies, 1)).with_min_std(min_std)

    start = time.perf_counter()
    pairs = encode_pairs(images, seed, copies, progress)
    eval_pairs = None if eval_images is None else encode_pairs(eval_images, seed + 1, 1, False)
    encode_seconds = time.perf_counter() - start
    torch.manual_seed(seed)
    cinn = ConditionalINN(int(autoencoder.dim), int(autoencoder.dim), **(cinn_kwargs or {}))
    n2n = Net2Net(autoencoder, autoencoder, cinn, device=device)
    history = n2n.fit(pairs, steps=steps, batch_size=batch_size, lr=lr, eval_data=eval_pairs,
                      warmup=min(warmup, steps // 5), desc="τ: Θ(d(y)) -> Θ(y)",
                      progress=progress, seed=seed, optimizer="adamw" if weight_decay else "adam",
                      weight_decay=weight_decay)
    return TrainedTranslator(n2n, history, encode_seconds, history.seconds)


def condition_probe(autoencoder: Any, images: Tensor, factors: Tensor,
                    deformation: Deformation | None, seed: int = 0) -> dict[str, float]:
    r"""What the condition :math:`\Theta(d(y))` still tells about each factor of ``y``.

    A linear probe (:func:`n2nlib.metrics.linear_probe_accuracy`) reads each factor of the
    *undeformed* images from the codes of their deformed copies. For the transfer to take the
    geometry from ``v``, the shape factors should sit near chance here and the appearance
    factors high.

    Arguments:
        autoencoder: Θ.
        images: ``(N, 3, S, S)``.
        factors: ``(N, 5)`` their labels.
        deformation: d (``None``: no deformation, the probe of Θ(y) itself).
        seed: seed of the deformations.

    Returns:
        ``{factor: held-out probe accuracy}``.
    """
    from n2nlib.data import FACTOR_NAMES
    from n2nlib.encoding import encode_latents

    x = images if deformation is None else deformation(images, seed=seed).clamp(0.0, 1.0)
    codes = encode_latents(autoencoder, x, progress=False)
    return {name: metrics.linear_probe_accuracy(codes, factors[:, k])
            for k, name in enumerate(FACTOR_NAMES)}


@dataclass
class HeldOutPairs:
    """Held-out shape sources ``ys`` and appearance sources ``xs`` that differ in every factor.

    Attributes:
        ys, xs: ``(N, 3, S, S)`` test-split images (held-out photographs).
        y_factors, x_factors: their factor labels ``(N, 5)``; ``y_factors != x_factors``
            everywhere.
    """

    ys: Tensor
    xs: Tensor
    y_factors: Tensor
    x_factors: Tensor
    seed: int = 0

    def __len__(self) -> int:
        return int(self.ys.shape[0])

    def truth(self, size: int | None = None) -> Tensor:
        """What a perfect transfer shows: the renderer's image with ``y``'s shape, size and
        position and ``x``'s colour and background — drawn from ``x``'s random stream, so
        the colour shade and the background (plain pattern or photo crop) are ``x``'s own,
        while the shape sits at a fresh spot inside ``y``'s position cell."""
        from n2nlib.data import FACTOR_NAMES, render_shapes

        factors = self.y_factors.clone()
        appearance = [FACTOR_NAMES.index(f) for f in APPEARANCE_FACTORS]
        factors[:, appearance] = self.x_factors[:, appearance]
        images, _ = render_shapes(factors, size or int(self.xs.shape[-1]), self.seed + 1,
                                  "test", world=WORLD)
        return images


def held_out_pairs(n: int, seed: int = 0, size: int = 32) -> HeldOutPairs:
    """Draw ``n`` held-out pairs ``(y, x)`` of test-split images that differ in every factor.

    ``y``'s factors are uniform; each factor of ``x`` is drawn uniformly among the values that
    differ from ``y``'s, so that for every factor, matching ``y`` and matching ``x`` exclude
    each other.

    Arguments:
        n: number of pairs.
        seed: the same seed gives the same pairs.
        size: image side.

    Returns:
        A :class:`HeldOutPairs`.
    """
    from n2nlib.data import FACTORS, render_shapes, sample_factors

    fy = sample_factors(n, seed, split="test", background="mixed")
    gen = torch.Generator().manual_seed(seed + 7919)
    sizes = torch.tensor([len(v) for v in FACTORS.values()])
    offsets = 1 + (torch.rand(n, len(sizes), generator=gen) * (sizes - 1)).long()
    fx = (fy + offsets) % sizes
    ys, _ = render_shapes(fy, size, seed, "test", world=WORLD)
    xs, _ = render_shapes(fx, size, seed + 1, "test", world=WORLD)
    return HeldOutPairs(ys, xs, fy, fx, seed)


@torch.no_grad()
def transfer(n2n: Any, ys: Tensor, xs: Tensor, *, deformation: Deformation | None = None,
             seed: int = 0, batch_size: int = 256, progress: bool = True) -> Tensor:
    r"""Shape of ``y``, appearance of ``x``, per pair.

    Without ``deformation`` (the paper's supplement C):
    :math:`y^* = \Lambda(\tau(\tau^{-1}(\Theta(y) \mid \Theta(y)) \mid \Theta(x)))`.
    With it, the conditions are read from deformed copies, as in training:
    :math:`y^* = \Lambda(\tau(\tau^{-1}(\Theta(y) \mid \Theta(d(y))) \mid \Theta(d'(x))))`
    (``Net2Net.transfer(y, d'(x), x=d(y))``) — the condition then looks like the ones τ was
    trained on, and it still carries only what d keeps.

    Arguments:
        n2n: the trained :class:`~n2nlib.Net2Net` (source = target = the autoencoder).
        ys: shape sources ``(N, 3, S, S)``.
        xs: appearance sources ``(N, 3, S, S)`` (or one, for every ``y``).
        deformation: read the conditions from ``deformation(ys)`` and ``deformation(xs)``.
        seed: seed of those deformations.
        batch_size: pairs per call.
        progress: show a progress bar (for more than one batch).

    Returns:
        ``(N, 3, S, S)`` on the CPU.
    """
    from n2nlib.settings import progress_bar as tqdm

    if xs.shape[0] == 1:
        xs = xs.expand(ys.shape[0], -1, -1, -1)
    if xs.shape[0] != ys.shape[0]:
        raise ValueError(f"ys and xs must pair up, got {ys.shape[0]} and {xs.shape[0]} images")
    cond_y = cond_x = None
    if deformation is not None:
        cond_y = deformation(ys, seed=seed).clamp_(0.0, 1.0)
        cond_x = deformation(xs.contiguous(), seed=seed + 1).clamp_(0.0, 1.0)
    starts = range(0, ys.shape[0], batch_size)
    bar = tqdm(starts, desc="transferring", disable=not progress or len(starts) < 2, leave=False)
    out = []
    for i in bar:
        j = slice(i, i + batch_size)
        if deformation is None:
            out.append(n2n.transfer(ys[j], xs[j]).cpu())
        else:
            out.append(n2n.transfer(ys[j], cond_x[j], x=cond_y[j]).cpu())
    return torch.cat(out)


@torch.no_grad()
def transfer_grid(n2n: Any, shape_sources: Tensor, appearance_sources: Tensor, *,
                  deformation: Deformation | None = None, seed: int = 0) -> Tensor:
    """All combinations: row ``r``, column ``c`` is the shape of ``shape_sources[r]`` with the
    appearance of ``appearance_sources[c]`` (Fig. S1's layout).

    Returns:
        ``(R · C, 3, S, S)`` in row-major order (``plots.image_grid(out, nrow=C)``);
        ``deformation`` and ``seed`` as in :func:`transfer`.
    """
    r, c = shape_sources.shape[0], appearance_sources.shape[0]
    ys = shape_sources.repeat_interleave(c, dim=0)
    xs = appearance_sources.repeat(r, 1, 1, 1)
    return transfer(n2n, ys, xs, deformation=deformation, seed=seed, progress=False)


@dataclass
class DisentangleScores:
    """What :func:`evaluate` measured on held-out pairs.

    Attributes:
        n: number of pairs.
        from_y: per factor, the fraction of ``y*`` whose (classified) value is ``y``'s.
        from_x: per factor, the fraction whose value is ``x``'s.
        ceiling: per factor, the classifier's accuracy on the autoencoder's reconstructions
            of the source that factor should come from (``y`` for shape factors, ``x`` for
            appearance factors): the best a transfer can score through this autoencoder and
            this classifier.
        goal: the issue's bar for ``from_y`` (shape factors) and ``from_x`` (appearance).
    """

    n: int
    from_y: dict[str, float]
    from_x: dict[str, float]
    ceiling: dict[str, float]
    goal: float = 0.85
    extra: dict[str, float] = field(default_factory=dict)

    def wanted(self, factor: str) -> float:
        """The fraction that came from the right source: ``from_y`` for shape factors,
        ``from_x`` for appearance factors."""
        return self.from_y[factor] if factor in SHAPE_FACTORS else self.from_x[factor]

    def met(self) -> dict[str, bool]:
        """Whether each factor reaches :attr:`goal`."""
        return {f: self.wanted(f) >= self.goal for f in self.from_y}

    def rows(self) -> list[tuple[str, str, float, float, float, bool]]:
        """Table rows ``(factor, should come from, from y, from x, ceiling, goal met)``."""
        return [(f, "y" if f in SHAPE_FACTORS else "x", self.from_y[f], self.from_x[f],
                 self.ceiling[f], self.wanted(f) >= self.goal) for f in self.from_y]


@torch.no_grad()
def evaluate(
    n2n: Any, classifier: Any, pairs: HeldOutPairs, *, transfers: Tensor | None = None,
    deformation: Deformation | None = None, goal: float = 0.85, batch_size: int = 256,
    reconstructions: tuple[Tensor, Tensor] | None = None,
) -> DisentangleScores:
    """Measure the transfer of shape and appearance on held-out pairs.

    Arguments:
        n2n: the trained translator.
        classifier: the attribute classifier (``predict(images) -> {factor: labels}``).
        pairs: from :func:`held_out_pairs`.
        transfers: reuse these ``y*`` (from :func:`transfer`) instead of computing them.
        deformation: compute them with conditions from deformed copies (see :func:`transfer`).
        goal: the bar for the wanted source.
        batch_size: images per call.
        reconstructions: reuse the autoencoder's reconstructions ``(of ys, of xs)`` for the
            ceiling instead of computing them (when several transfers are measured).

    Returns:
        A :class:`DisentangleScores`.
    """
    from n2nlib.data import FACTOR_NAMES

    if transfers is None:
        transfers = transfer(n2n, pairs.ys, pairs.xs, deformation=deformation,
                             batch_size=batch_size)
    pred = classifier.predict(transfers)
    names = [n for n in FACTOR_NAMES if n in pred]
    from_y = metrics.accuracy_per_factor(pred, pairs.y_factors, names=list(FACTOR_NAMES))
    from_x = metrics.accuracy_per_factor(pred, pairs.x_factors, names=list(FACTOR_NAMES))
    if reconstructions is None:
        reconstructions = (reconstruct(n2n.target, pairs.ys, batch_size=batch_size),
                           reconstruct(n2n.target, pairs.xs, batch_size=batch_size))
    recon_y, recon_x = reconstructions
    acc_y = metrics.accuracy_per_factor(classifier.predict(recon_y), pairs.y_factors,
                                        names=list(FACTOR_NAMES))
    acc_x = metrics.accuracy_per_factor(classifier.predict(recon_x), pairs.x_factors,
                                        names=list(FACTOR_NAMES))
    ceiling = {f: acc_y[f] if f in SHAPE_FACTORS else acc_x[f] for f in names}
    return DisentangleScores(
        n=len(pairs),
        from_y={f: from_y[f] for f in names},
        from_x={f: from_x[f] for f in names},
        ceiling=ceiling,
        goal=goal,
    )


@dataclass
class LinearTransfer:
    r"""The naive baseline: a least-squares *linear* model of the code given the condition.

    :math:`\hat z(c) = b + c W` is fitted on the training pairs :math:`(\Theta(d(y)),
    \Theta(y))`. It is what τ becomes with a single affine, Gaussian layer: the residual is
    :math:`r = \Theta(y) - \hat z(\Theta(y))`, and the transfer keeps it and swaps the
    condition, :math:`z^* = \hat z(\Theta(x)) + r = \Theta(y) + (\Theta(x) - \Theta(y)) W`.

    Attributes:
        weight: ``W``, ``(D, D)``.
        r2: the fraction of the codes' variance the condition explains (training pairs).
        seconds: time to encode the pairs and fit.
    """

    weight: Tensor
    r2: float
    seconds: float = 0.0

    @torch.no_grad()
    def transfer(self, autoencoder: Any, ys: Tensor, xs: Tensor, batch_size: int = 256, *,
                 deformation: Deformation | None = None, seed: int = 0) -> Tensor:
        r"""``y*`` for paired ``ys`` (kept: the residual) and ``xs`` (the new condition).

        With ``deformation`` the conditions are read from deformed copies (as in
        :func:`transfer`): :math:`z^* = \Theta(y) + (\Theta(d'(x)) - \Theta(d(y))) W`.

        Returns:
            ``(N, 3, S, S)`` decoded on the CPU.
        """
        if xs.shape[0] != ys.shape[0]:
            raise ValueError(f"ys and xs must pair up, got {ys.shape[0]} and {xs.shape[0]}")
        cond_y, cond_x = ys, xs
        if deformation is not None:
            cond_y = deformation(ys, seed=seed).clamp_(0.0, 1.0)
            cond_x = deformation(xs.contiguous(), seed=seed + 1).clamp_(0.0, 1.0)
        out = []
        for i in range(0, ys.shape[0], batch_size):
            j = slice(i, i + batch_size)
            zy = autoencoder.encode(ys[j])
            dz = autoencoder.encode(cond_x[j]) - autoencoder.encode(cond_y[j])
            w = self.weight.to(zy.device, zy.dtype)
            out.append(autoencoder.decode(zy + dz @ w).cpu())
        return torch.cat(out)


@torch.no_grad()
def fit_linear_baseline(
    autoencoder: Any, images: Tensor, *, deformation: Deformation | None = None,
    seed: int = 0, ridge: float = 1e-3, progress: bool = True,
) -> LinearTransfer:
    r"""Fit :class:`LinearTransfer` on :math:`(\Theta(d(y)), \Theta(y))` by ridge regression.

    Arguments:
        autoencoder: the frozen autoencoder (``encode``).
        images: training images ``y``, ``(N, 3, S, S)``.
        deformation: d (default :func:`default_deformation`).
        seed: seed of the deformations.
        ridge: ridge penalty, relative to the mean variance of the centred conditions.
        progress: show progress bars while encoding.

    Returns:
        A :class:`LinearTransfer`.
    """
    import time

    from n2nlib.encoding import encode_latents

    start = time.perf_counter()
    deformed, _ = make_training_pairs(images, deformation, seed=seed)
    z = encode_latents(autoencoder, images, progress=progress, desc="baseline: encoding y")
    c = encode_latents(autoencoder, deformed, progress=progress,
                       desc="baseline: encoding d(y)")
    weight, _, r2 = ridge_regression(c, z, ridge)
    return LinearTransfer(weight, r2, time.perf_counter() - start)


def border_agreement(images: Tensor, refs_y: Tensor, refs_x: Tensor, width: int = 2) -> float:
    """A second measure of the background: the fraction of ``images`` whose outer frame of
    ``width`` pixels is closer (mean squared error) to ``refs_x``'s frame than to ``refs_y``'s.

    The shapes lie inside the 3×3 grid of cells and rarely touch the frame, so the frame is
    (nearly) background: its colours and texture. Unlike the classifier's background head,
    which reads decoded images poorly, this compares with the two sources directly.

    >>> y, x = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    >>> border_agreement(0.9 * x, y, x), border_agreement(y, y, x)
    (1.0, 0.0)
    """
    if not images.shape == refs_y.shape == refs_x.shape:
        raise ValueError(f"images, refs_y and refs_x must have the same shape, got "
                         f"{tuple(images.shape)}, {tuple(refs_y.shape)}, {tuple(refs_x.shape)}")
    mask = torch.ones(images.shape[-2:], dtype=torch.bool)
    mask[width:-width, width:-width] = False

    def frame_error(ref: Tensor) -> Tensor:
        return ((images - ref)[..., mask] ** 2).mean(dim=(1, 2))

    return float((frame_error(refs_x) < frame_error(refs_y)).float().mean())


def grid_with_sources(shape_sources: Tensor, appearance_sources: Tensor,
                      transfers: Tensor) -> Tensor:
    """Fig. S1's picture: a blank corner, the appearance sources along the top row, the shape
    sources down the first column, and :func:`transfer_grid`'s output inside.

    Returns:
        ``((R + 1) · (C + 1), 3, S, S)`` for ``plots.image_grid(out, nrow=C + 1)``.

    >>> out = grid_with_sources(torch.zeros(2, 3, 4, 4), torch.ones(3, 3, 4, 4),
    ...                         torch.rand(6, 3, 4, 4))
    >>> out.shape, float(out[0].min()), float(out[1].min()), float(out[4].max())
    (torch.Size([12, 3, 4, 4]), 1.0, 1.0, 0.0)
    """
    r, c = shape_sources.shape[0], appearance_sources.shape[0]
    if transfers.shape[0] != r * c:
        raise ValueError(f"expected {r} x {c} = {r * c} transfers, got {transfers.shape[0]}")
    rows = [torch.cat([torch.ones_like(appearance_sources[:1]), appearance_sources])]
    for i in range(r):
        rows.append(torch.cat([shape_sources[i : i + 1], transfers[i * c : (i + 1) * c]]))
    return torch.cat(rows)
