r"""Unpaired translation between domains (paper Sec. 4.3 and supplement D, Fig. 8).

With two sets of images and no pairs between them, the source "expert" is the *domain label*
(a :class:`~n2nlib.experts.Labelator`: :math:`z_\Phi \in \{0, 1\}` as a one-hot vector) and the
target expert is one autoencoder trained on both domains. The cINN learns
:math:`p(z_\Theta \mid \text{domain})`; because :math:`v = \tau^{-1}(z_\Theta \mid d)` is pushed
to the same :math:`\mathcal{N}(0, I)` whatever the domain, it cannot carry the domain and keeps
what the two domains share. Translating keeps :math:`v` and swaps the label:

.. math:: y^* = \Lambda(\tau(\tau^{-1}(\Theta(y^0) \mid 0) \mid 1)).

Here the domains are shapes on plain backgrounds and shapes on photo backgrounds
(:data:`DOMAINS`); what they share is the shape, its colour, size and position, which the zoo's
attribute classifier reads back from the translations (:func:`evaluate_transfer`). The naive
baseline (:func:`mean_shift`) moves the latent code by the difference of the domains' mean codes.

>>> data = make_domains(4, split="test", seed=0)
>>> data.images.shape, data.labels.tolist()
(torch.Size([8, 3, 32, 32]), [0, 0, 0, 0, 1, 1, 1, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from n2nlib import metrics
from n2nlib.experts.base import reconstruct as _reconstruct

__all__ = [
    "counterparts",
    "DOMAINS",
    "WORLD",
    "TARGET",
    "CLASSIFIER",
    "CONTENT",
    "Domains",
    "make_domains",
    "translate",
    "domain_means",
    "mean_shift",
    "reconstruct",
    "DecodedDomainClassifier",
    "fit_domain_classifier",
    "evaluate_transfer",
]

DOMAINS: tuple[str, str] = ("plain", "photo")
"""Domain 0 and domain 1: the shapes data's two ``background`` values, in its label order."""
WORLD = "v2"
"""The shapes world (:data:`n2nlib.data.WORLDS`) the experts below were trained on."""
TARGET = "shapes-ae"
"""The zoo's autoencoder trained on both domains (Θ, Λ)."""
CLASSIFIER = "shapes-attributes"
"""The zoo's attribute classifier: its ``background`` head is the domain classifier."""
CONTENT = ("shape", "color", "size", "position")
"""The factors the two domains share, which a translation should keep."""


@dataclass
class Domains:
    """Images of both domains, unpaired.

    Attributes:
        images: ``(N, 3, S, S)`` in [0, 1], domain 0 first, then domain 1.
        labels: ``(N,)`` the domain of each image (0 or 1).
        factors: ``(N, 5)`` the true factors (columns :data:`n2nlib.data.FACTOR_NAMES`); only
            the measurements use them, never the training.
    """

    images: Tensor
    labels: Tensor
    factors: Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def domain(self, d: int) -> tuple[Tensor, Tensor]:
        """``(images, factors)`` of domain ``d``."""
        keep = self.labels == d
        return self.images[keep], self.factors[keep]


def make_domains(
    n_per_domain: int, split: str = "train", seed: int = 0, *, size: int = 32,
    progress: bool | None = None,
) -> Domains:
    """Shapes on plain backgrounds (domain 0) and on photo backgrounds (domain 1), *unpaired*.

    Each domain draws its own factors (shape, colour, size, position) with its own seed, so no
    image of one domain has a counterpart in the other; only the distributions of the shared
    factors agree. ``split="test"`` uses the held-out random stream and, for photo backgrounds,
    the held-out photographs.

    Arguments:
        n_per_domain: images per domain.
        split: ``"train"`` or ``"test"``.
        seed: the same seed gives the same images.
        size: image side.
        progress: show a progress bar while rendering (default: for large sets only).

    Returns:
        :class:`Domains`.
    """
    from n2nlib.data import render_shapes, sample_factors

    images, factors = None, []
    for d, background in enumerate(DOMAINS):
        f = sample_factors(n_per_domain, 2 * seed + d, split=split, background=background)
        x = render_shapes(f, size, 2 * seed + d, split, world=WORLD, progress=progress)[0]
        if images is None:  # filled in place: no second copy of every image at the end
            images = x.new_empty((len(DOMAINS) * n_per_domain, *x.shape[1:]))
        images[d * n_per_domain:(d + 1) * n_per_domain] = x
        del x
        factors.append(f)
    labels = torch.arange(len(DOMAINS)).repeat_interleave(n_per_domain)
    return Domains(images, labels, torch.cat(factors))


def counterparts(factors: Tensor, source: int, target: int, seed: int, split: str = "test", *,
                 size: int = 32) -> Tensor:
    """What a perfect translation shows: images of domain ``source`` made by
    :func:`make_domains`, drawn again with domain ``target``'s background — the same shape,
    size, place and colour, since the renderer draws them before the background.

    Arguments:
        factors: ``(n, 5)`` the source domain's factors, all of it (``Domains.domain(source)``:
            the renderer's random stream runs over the whole domain in order).
        source, target: domain indices.
        seed, split: those given to :func:`make_domains`.
        size: image side.

    Returns:
        ``(n, 3, S, S)``; with ``target == source``, exactly the source images.

    Raises:
        ValueError: a domain index outside ``DOMAINS`` or factors of another shape.
    """
    from n2nlib.data import FACTOR_NAMES, render_shapes

    for name, d in (("source", source), ("target", target)):
        if d not in range(len(DOMAINS)):
            raise ValueError(f"{name} must be a domain index in [0, {len(DOMAINS) - 1}], got {d!r}")
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ValueError(f"factors must be (n, {len(FACTOR_NAMES)}), got {tuple(factors.shape)}")
    moved = factors.clone()
    moved[:, FACTOR_NAMES.index("background")] = target
    return render_shapes(moved, size, 2 * seed + source, split, world=WORLD)[0]


@torch.no_grad()
def translate(n2n: Any, images: Tensor, source: int, target: int, *,
              temperature: float = 1.0, batch_size: int = 256, progress: bool = False) -> Tensor:
    r"""Translate images of domain ``source`` into domain ``target`` (supplement D):
    :math:`y^* = \Lambda(\tau(T \cdot \tau^{-1}(\Theta(y) \mid \text{source}) \mid
    \text{target}))`, with :math:`T = 1` the paper's translation.

    Arguments:
        n2n: a trained :class:`~n2nlib.Net2Net` whose source expert is a Labelator of the
            domains.
        images: ``(B, 3, S, S)`` images of domain ``source``.
        source, target: domain indices.
        temperature: scale of the kept residual :math:`v`; below 1 it pulls the translation
            towards the mode of the target domain (more typical of it, less of the source
            image kept), 0 gives the same image for every input.
        batch_size: images per call.
        progress: show a progress bar over the batches.

    Returns:
        ``(B, 3, S, S)`` on the CPU.

    Raises:
        ValueError: a negative temperature.
    """
    from n2nlib.settings import progress_bar as tqdm

    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    out = []
    desc = f"translating {DOMAINS[source]} -> {DOMAINS[target]}"
    for i in tqdm(range(0, len(images), batch_size), desc=desc, disable=not progress):
        y = images[i : i + batch_size]
        v = n2n.residual(y, [source] * len(y)) * temperature  # T = 1: Net2Net.transfer's path
        z = n2n.translate_latent(n2n.encode_source([target] * len(y)), v=v)
        out.append(n2n.decode(z).cpu())
    return torch.cat(out)


@torch.no_grad()
def domain_means(expert: Any, images: Tensor, labels: Tensor, *,
                 batch_size: int = 256) -> Tensor:
    """The mean latent code ``Θ(y)`` of each domain, ``(n_domains, D)`` (for
    :func:`mean_shift`)."""
    z = torch.cat([expert.encode(images[i : i + batch_size]).cpu()
                   for i in range(0, len(images), batch_size)])
    n = int(labels.max()) + 1
    return torch.stack([z[labels == d].mean(dim=0) for d in range(n)])


@torch.no_grad()
def mean_shift(expert: Any, images: Tensor, means: Tensor, source: int, target: int, *,
               batch_size: int = 256) -> Tensor:
    r"""The naive baseline: :math:`\Lambda(\Theta(y) - \mu_{\text{source}} +
    \mu_{\text{target}})`, moving the code by the difference of the domains' mean codes.

    Arguments:
        expert: the autoencoder (``encode``/``decode``).
        images: ``(B, 3, S, S)`` images of domain ``source``.
        means: ``(n_domains, D)`` from :func:`domain_means` (on training images).
        source, target: domain indices.
        batch_size: images per call.

    Returns:
        ``(B, 3, S, S)`` on the CPU.
    """
    shift = (means[target] - means[source]).to(torch.float32)
    out = []
    for i in range(0, len(images), batch_size):
        z = expert.encode(images[i : i + batch_size])
        out.append(expert.decode(z + shift.to(z.device, z.dtype)).cpu())
    return torch.cat(out)


reconstruct = _reconstruct  # the autoencoder's reconstructions Λ(Θ(y))


@dataclass
class DecodedDomainClassifier:
    """A domain classifier for images *decoded by the autoencoder* (see
    :func:`fit_domain_classifier`).

    Attributes:
        expert: the autoencoder whose encoder gives half of the features.
        model: the fitted scikit-learn classifier.
        size: the side of the downsampled image that gives the other half.
    """

    expert: Any
    model: Any
    size: int = 8

    def features(self, images: Tensor, batch_size: int = 256) -> Tensor:
        """``[Θ(images), downsample(images, size)]``, ``(N, D + 3 · size²)``."""
        with torch.no_grad():
            codes = torch.cat([self.expert.encode(images[i : i + batch_size]).cpu()
                               for i in range(0, len(images), batch_size)])
        pixels = metrics.downsample(images.cpu(), self.size).flatten(1)
        return torch.cat([codes.double(), pixels.double()], dim=1)

    def predict(self, images: Tensor) -> Tensor:
        """The predicted domain of each image, ``(N,)`` int64."""
        return torch.as_tensor(self.model.predict(self.features(images).numpy())).long()


def fit_domain_classifier(expert: Any, images: Tensor, labels: Tensor, *,
                          seed: int = 0) -> DecodedDomainClassifier:
    """Fit a domain classifier on the autoencoder's *reconstructions* of real images.

    Translations are decoded by the autoencoder, so they look like its reconstructions
    (smoother than the rendered images); a classifier trained on rendered images can read such
    images wrongly. This one sees only decoded images: a logistic regression (scikit-learn,
    standardised features) on the autoencoder's code of the image and the image shrunk to
    8×8. Its accuracy on reconstructions of held-out real images is
    the most that it can confirm on translations.

    Arguments:
        expert: the autoencoder (``encode``/``decode``).
        images: ``(N, 3, S, S)`` real training images of all domains.
        labels: ``(N,)`` their domains.
        seed: seed of the classifier.

    Returns:
        A :class:`DecodedDomainClassifier`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(images) != len(labels):
        raise ValueError(f"images and labels must have the same length, got {len(images)} and "
                         f"{len(labels)}")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))
    probe = DecodedDomainClassifier(expert, model)
    features = probe.features(reconstruct(expert, images))
    probe.model.fit(features.numpy(), torch.as_tensor(labels).long().numpy())
    return probe


def evaluate_transfer(classifier: Any, translated: Tensor, source_factors: Tensor,
                      target: int, domain_classifier: Any = None) -> dict[str, float]:
    """Measure translations with the attribute classifier (and a decoded-image domain
    classifier).

    Arguments:
        classifier: the zoo's ``shapes-attributes`` (``predict(images) -> {factor: labels}``).
        translated: ``(N, 3, S, S)`` translated images.
        source_factors: ``(N, 5)`` the true factors of the images they were translated from.
        target: the domain they were translated into.
        domain_classifier: optionally a :class:`DecodedDomainClassifier` (anything with
            ``predict(images) -> (N,)``).

    Returns:
        ``{"target_accuracy": share that the background head puts in domain ``target``,
        "shape": …, "color": …, "size": …, "position": …: share equal to the source's factor,
        "content": share with all four equal, "content_csp": share with colour, size and
        position equal}``, and with ``domain_classifier`` ``"target_accuracy_decoded"``: the
        share that it puts in domain ``target``.
    """
    pred = classifier.predict(translated)
    out = {"target_accuracy": metrics.content_preservation(
        {"background": pred["background"]},
        {"background": torch.full((len(translated),), target)},
        names=("background",))["background"]}
    kept = metrics.content_preservation(pred, source_factors, names=CONTENT)
    out.update({k: v for k, v in kept.items() if k != "all"})
    out["content"] = kept["all"]
    out["content_csp"] = metrics.content_preservation(
        pred, source_factors, names=("color", "size", "position"))["all"]
    if domain_classifier is not None:
        domains = domain_classifier.predict(translated)
        out["target_accuracy_decoded"] = float((domains == target).double().mean())
    return out
