r"""The zoo's text-to-image translator ``sbert-to-shapes`` and how it is built (Sec. 4.1, G.2).

1. **target expert** — a class-conditional generator with BigGAN's interface: the real
   :class:`~n2nlib.experts.biggan.BigGAN` when its weights are here, else the project's
   ``shapes-generator`` (:class:`~n2nlib.nets.generator.ShapesGenerator`, 40 classes =
   shape × colour). Its latent :math:`[\tilde z, Wc]` (Eq. 23) is dequantised by a small VAE to
   :math:`z_\Theta = [\tilde z, \hat h]` (Eq. 24, :func:`load_target`).
2. **synthetic training data** (:func:`synthesize`) — sample :math:`\tilde z` and a class,
   generate an image, and caption it with a captioning expert
   (:class:`~n2nlib.data.prompts.AttributeCaptioner`).
3. **source expert** — :class:`~n2nlib.experts.text.SentenceBERT` encodes the captions.
4. **translator** — the cINN learns :math:`p(z_\Theta \mid z_\Phi)` with
   :meth:`n2nlib.Net2Net.fit` (:func:`make_translator`).

``zoo.load("sbert-to-shapes")`` is a :class:`TextToImage`, a :class:`~n2nlib.Net2Net` whose
``translate(["a large red star in the top left corner"], n_samples=8)`` returns 8 images
``(8, 3, 32, 32)`` in [0, 1]. Its recipe is :mod:`n2nlib.zoo.text2image_recipes`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from n2nlib.data.prompts import Captions
from n2nlib.experts.biggan import truncated_noise
from n2nlib.flows import ConditionalINN, GroupedCINN, cinn_from_config
from n2nlib.net2net import Net2Net
from n2nlib.nets.dequant import DequantizationVAE, DequantizedGenerator
from n2nlib.nets.generator import KNOWN_NOISE, class_factors

__all__ = [
    "GENERATOR",
    "DEQUANTIZER",
    "TRANSLATOR",
    "CLASSIFIER",
    "SyntheticData",
    "synthesize",
    "CINN_CONFIG",
    "load_target",
    "translator_groups",
    "make_translator",
    "TextToImage",
]


GENERATOR = "shapes-generator"
"""The zoo's offline BigGAN stand-in (:class:`~n2nlib.nets.generator.ShapesGenerator`)."""


DEQUANTIZER = "shapes-generator-dequant"
"""The zoo's dequantisation VAE of the shapes generator's class embeddings (Table S4)."""


TRANSLATOR = "sbert-to-shapes"
"""The zoo's trained text-to-image Net2Net (:class:`TextToImage`)."""


CLASSIFIER = "shapes-attributes-v1"
"""The zoo's attribute classifier: the captioning expert and the measuring stick."""


@dataclass
class SyntheticData:
    """Synthetic training data of the text-to-image translator (the paper's Sec. 4.1 recipe).

    Attributes:
        noise: the sampled :math:`\\tilde z`, ``(N, z_dim)``.
        labels: the sampled classes ``(N,)``.
        captions: what the captioning expert said, one sentence per image.
        factors: what the captioning expert read (``(N, 5)``, or ``None``).
        stated: which factors each caption states (``(N, 5)`` bool, or ``None``).
        num_classes: K.
        seconds: time to generate and caption.
    """

    noise: Tensor
    labels: Tensor
    captions: list[str]
    factors: Tensor | None
    stated: Tensor | None
    num_classes: int
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.captions)

    def inputs(self) -> Tensor:
        """The generator's inputs ``[z̃, c]`` (``c`` one-hot), ``(N, z_dim + K)``: the target
        expert's ``y``."""
        onehot = torch.nn.functional.one_hot(self.labels.long(), self.num_classes)
        return torch.cat([self.noise.float(), onehot.float()], dim=1)

    def pairs(self) -> tuple[list[str], Tensor]:
        """``(captions, inputs)``: the paired data for :meth:`n2nlib.Net2Net.fit`."""
        return self.captions, self.inputs()

    def agreement(self) -> float:
        """Fraction of images whose shape and colour, as read by the captioner, are the
        requested class (``nan`` without factors)."""
        if self.factors is None:
            return float("nan")
        shape, color = class_factors(self.labels)
        return float(((self.factors[:, 0] == shape) & (self.factors[:, 1] == color))
                     .float().mean())

    def subset(self, index: Tensor | slice) -> SyntheticData:
        """The rows ``index`` (a slice or an index tensor)."""
        idx = torch.arange(len(self))[index] if isinstance(index, slice) else index
        pick = idx.tolist()
        return SyntheticData(
            self.noise[idx], self.labels[idx], [self.captions[i] for i in pick],
            None if self.factors is None else self.factors[idx],
            None if self.stated is None else self.stated[idx], self.num_classes, self.seconds,
        )


@torch.no_grad()
def synthesize(
    n: int,
    generator: Any,
    captioner: Callable[[Tensor, Tensor, np.random.Generator], Captions],
    *,
    truncation: float = 1.0,
    classes: Sequence[int] | None = None,
    seed: int = 0,
    batch_size: int = 500,
    progress: bool = True,
) -> SyntheticData:
    r"""Make ``n`` training pairs: sample :math:`\tilde z` and a class, generate, caption.

    Arguments:
        n: number of examples.
        generator: the target generator (``sample_noise``, ``generate``, ``num_classes``).
        captioner: ``captioner(images, labels, rng) -> Captions`` (an
            :class:`AttributeCaptioner` or a :class:`ClassNameCaptioner`).
        truncation: scale of the truncated-normal noise.
        classes: the classes to sample from (uniformly); default all.
        seed: seed of the noise, the classes and the captions.
        batch_size: images generated at once.
        progress: show a progress bar.

    Returns:
        A :class:`SyntheticData` (the images are not kept: they are the generator's output for
        ``inputs()``).
    """
    from n2nlib.settings import progress_bar as tqdm

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    pool = torch.arange(generator.num_classes) if classes is None else torch.as_tensor(
        list(classes)).long()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = pool[torch.randint(0, len(pool), (n,), generator=gen)]
    noise = truncated_noise(n, generator.z_dim, truncation, gen)
    texts: list[str] = []
    factors, stated = [], []
    start = time.perf_counter()
    with tqdm(total=n, desc="generating and captioning", disable=not progress,
              leave=False) as bar:
        for i in range(0, n, batch_size):
            images = generator.generate(noise[i : i + batch_size], labels[i : i + batch_size])
            caps = captioner(images, labels[i : i + batch_size], rng)
            texts += caps.texts
            if caps.factors is not None:
                factors.append(caps.factors)
            if caps.stated is not None:
                stated.append(caps.stated)
            bar.update(len(images))
    return SyntheticData(
        noise, labels, texts, torch.cat(factors) if factors else None,
        torch.cat(stated) if stated else None, int(generator.num_classes),
        time.perf_counter() - start,
    )


CINN_CONFIG: dict[str, Any] = {"n_blocks": 8, "hidden_dim": 128, "embed_dim": 64}
"""The cINN of the text-to-image translator (Table S3 with fewer, narrower blocks: z_Θ has 48
dimensions here, 268 in the paper)."""


def load_target(
    generator: str | nn.Module = GENERATOR,
    dequantizer: str | DequantizationVAE = DEQUANTIZER,
    *,
    root: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
) -> DequantizedGenerator:
    """The target expert: a generator with its dequantised class embedding (Eq. 24).

    Arguments:
        generator: a zoo name or the generator itself.
        dequantizer: a zoo name or the VAE itself.
        root: the zoo folder to load names from (default: the shipped zoo).
        device: where to put them.
    """
    from n2nlib import zoo

    if isinstance(generator, str):
        generator = zoo.load(generator, device=device, root=root)
    if isinstance(dequantizer, str):
        dequantizer = zoo.load(dequantizer, device=device, root=root)
    return DequantizedGenerator(generator, dequantizer)


def translator_groups(target: Any) -> list[int] | None:
    r"""How :func:`make_translator` splits :math:`z_\Theta = [\tilde z, \hat h]` into groups
    that get separate cINNs (:class:`~n2nlib.flows.GroupedCINN`), or ``None`` for one cINN.

    One shared cINN learns :math:`p(\hat h \mid c)` — the class embedding, nearly a function
    of the sentence — and leaves the noise :math:`\tilde z` at its prior: the large, steep
    likelihood gains of :math:`\hat h` dominate the gradients of the shared weights, and the
    weak dependence of size and position on the sentence is never learned (notebook 06,
    section 8). Separate groups give each part its own weights. For the zoo's shapes generator,
    whose first seven noise dimensions are its renderer's parameters
    (:func:`~n2nlib.nets.generator.known_noise`), the groups are: the centre (x, y), the
    radius, the colour jitter (3), the background, the remaining noise, and :math:`\hat h`.
    For other generators (e.g. the real BigGAN): :math:`[\tilde z, \hat h]`.

    Arguments:
        target: the target expert (a :class:`~n2nlib.nets.dequant.DequantizedGenerator`);
            without ``z_dim`` and ``embed_dim`` there are no groups.

    Returns:
        The group sizes (adding up to ``target.dim``), or ``None``.

    >>> class Target:
    ...     z_dim, embed_dim, dim = 120, 128, 248
    >>> translator_groups(Target())
    [120, 128]
    """
    z_dim, embed_dim = getattr(target, "z_dim", None), getattr(target, "embed_dim", None)
    if z_dim is None or embed_dim is None:
        return None
    known = getattr(getattr(target, "generator", None), "known_dims", 0)
    if known == len(KNOWN_NOISE) and z_dim > known:
        return [len(g) for g in _KNOWN_NOISE_GROUPS] + [int(z_dim) - known, int(embed_dim)]
    return [int(z_dim), int(embed_dim)]


_KNOWN_NOISE_GROUPS = (("x", "y"), ("radius",), ("red", "green", "blue"), ("photo",))
"""The groups of the generator's renderer parameters (:data:`~n2nlib.nets.generator.
KNOWN_NOISE`, in its order) that :func:`translator_groups` gives a cINN each."""


def make_translator(
    source: Any = None,
    target: Any = None,
    *,
    device: str | torch.device | None = None,
    groups: Sequence[int] | str | None = "auto",
    **cinn_kwargs: Any,
) -> Net2Net:
    r"""A fresh (untrained) text-to-image :class:`~n2nlib.Net2Net`.

    Arguments:
        source: the text expert (default: :class:`~n2nlib.experts.text.SentenceBERT`).
        target: the target expert (default: :func:`load_target`).
        device: where the cINN lives.
        groups: ``"auto"`` (:func:`translator_groups`), explicit group sizes for a
            :class:`~n2nlib.flows.GroupedCINN`, or ``None`` for one
            :class:`~n2nlib.ConditionalINN` over all of :math:`z_\Theta` (the paper's τ).
        **cinn_kwargs: override :data:`CINN_CONFIG` (for every group).
    """
    if source is None:
        from n2nlib.experts.text import SentenceBERT

        source = SentenceBERT(device=device)
    if target is None:
        target = load_target(device=device)
    config = {**CINN_CONFIG, **cinn_kwargs}
    if isinstance(groups, str):
        if groups != "auto":
            raise ValueError(f"groups must be 'auto', a list of sizes or None, got {groups!r}")
        groups = translator_groups(target)
    if groups is None:
        cinn: ConditionalINN | GroupedCINN = ConditionalINN(int(target.dim), int(source.dim),
                                                             **config)
    else:
        if sum(groups) != int(target.dim):
            raise ValueError(f"groups {list(groups)} add up to {sum(groups)}, but the target "
                             f"encodes to {int(target.dim)} dimensions")
        cinn = GroupedCINN(list(groups), int(source.dim), **config)
    return Net2Net(source, target, cinn, device=device)


class TextToImage(Net2Net):
    """The shipped text-to-image translator (``zoo.load("sbert-to-shapes")``): a
    :class:`~n2nlib.Net2Net` from Sentence-BERT into a dequantised generator.

    Its experts are fixed and come from their own sources (the bundled Sentence-BERT, the zoo's
    generator and dequantisation VAE); its own weights are τ's only, so ``state_dict`` and
    ``load_state_dict`` hold the cINN (keys ``cinn.*``).

    As an :class:`~n2nlib.experts.Expert` (what the zoo hands out), ``encode(texts)`` draws one
    code :math:`z_\\Theta = \\tau(v \\mid \\Phi(\\text{text}))` per sentence, ``dim`` is the
    target's, and ``decode(z)`` makes the images: ``decode(encode(texts))`` is
    ``translate(texts, n_samples=1)``.

    Arguments:
        cinn: the cINN's config (:meth:`~n2nlib.ConditionalINN.get_config`).
        source: ``{"name": ..., "kwargs": ...}`` of a registered text expert (default
            Sentence-BERT on the bundled model).
        generator: the zoo name of the generator.
        dequantizer: the zoo name of its dequantisation VAE.
        device: where everything runs.
        zoo_root: the zoo folder to load the generator and the VAE from (default: shipped).
    """

    def __init__(
        self,
        cinn: dict[str, Any],
        source: dict[str, Any] | None = None,
        generator: str = GENERATOR,
        dequantizer: str = DEQUANTIZER,
        device: str | torch.device | None = None,
        zoo_root: str | None = None,
    ) -> None:
        from n2nlib.experts.base import create_expert

        source = source or {"name": "sentence-bert", "kwargs": {}}
        src = create_expert(source["name"], **source.get("kwargs", {}))
        tgt = load_target(generator, dequantizer, root=zoo_root, device=device)
        super().__init__(src, tgt, cinn_from_config(cinn), device=device)
        self.config: dict[str, Any] = {"cinn": dict(cinn), "source": dict(source),
                                       "generator": generator, "dequantizer": dequantizer}
        self.dim = int(tgt.dim)
        self.name = f"TextToImage({generator})"

    def encode(self, texts: Sequence[str]) -> Tensor:
        """One translated code :math:`z_\\Theta` per sentence, ``(B, dim)``."""
        return self.translate(list(texts), n_samples=1, decode=False)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """τ's weights only (``cinn.*``); the experts are fixed and stored elsewhere."""
        return {f"cinn.{k}": v for k, v in self.cinn.state_dict().items()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """Load τ's weights (keys ``cinn.*``)."""
        extra = [k for k in state_dict if not k.startswith("cinn.")]
        if strict and extra:
            raise RuntimeError(f"unexpected keys {extra[:5]} (a TextToImage stores only cinn.*)")
        own = {k[len("cinn."):]: v for k, v in state_dict.items() if k.startswith("cinn.")}
        return self.cinn.load_state_dict(own, strict=strict, assign=assign)
