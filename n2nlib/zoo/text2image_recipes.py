"""How the text-to-image zoo entries are trained and measured: the recipes of
``shapes-generator`` and ``shapes-generator-dequant`` (trained by the zoo's loop), and
:func:`train_translator` for ``sbert-to-shapes`` (trained by :meth:`n2nlib.Net2Net.fit`).
``python -m n2nlib.zoo train NAME`` runs them.

>>> [r.name for r in zoo_recipes()]
['shapes-generator', 'shapes-generator-dequant']
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from n2nlib import settings
from n2nlib.data.factors import FACTOR_NAMES, FACTORS, sample_factors
from n2nlib.data.prompts import HELD_OUT_PAIRS, MENTION_PROBS, AttributeCaptioner, make_prompts
from n2nlib.experts.biggan import truncated_noise
from n2nlib.flows import GroupedCINN
from n2nlib.metrics.text import T2IScores, prompt_scores, summarize_scores
from n2nlib.net2net import Net2Net
from n2nlib.nets.dequant import DequantizationVAE
from n2nlib.nets.generator import ShapesGenerator, class_factors
from n2nlib.zoo.data import augment_flip_shapes
from n2nlib.zoo.recipes import Recipe
from n2nlib.zoo.text2image import (
    CINN_CONFIG,
    CLASSIFIER,
    DEQUANTIZER,
    GENERATOR,
    TRANSLATOR,
    load_target,
    make_translator,
    synthesize,
)
from n2nlib.zoo.training import fit_expert, machine_description

__all__ = [
    "evaluate_generator",
    "evaluate_dequantizer",
    "train_dequantizer",
    "measure_translator",
    "zoo_recipes",
    "train_translator",
]


def _classifier(classifier: Any = None) -> Any:
    if classifier is not None:
        return classifier
    from n2nlib import zoo

    return zoo.load(CLASSIFIER)


@torch.no_grad()
def _generate(generator: Any, noise: Tensor, labels: Tensor, batch_size: int = 500) -> Tensor:
    return torch.cat([generator.generate(noise[i : i + batch_size], labels[i : i + batch_size])
                      .cpu() for i in range(0, len(noise), batch_size)])


@torch.no_grad()
def evaluate_generator(
    generator: Any, n: int = 2000, *, classifier: Any = None, truncation: float = 1.0,
    seed: int = 1000,
) -> dict[str, float]:
    """Measure a class-conditional shapes generator with the attribute classifier.

    Arguments:
        generator: a :class:`~n2nlib.nets.generator.ShapesGenerator`.
        n: generated images (classes in turn).
        classifier: the attribute classifier (default: the zoo's ``shapes-attributes-v1``).
        truncation: of the noise.
        seed: seed of the noise.

    Returns:
        ``class_agreement`` (shape and colour both as requested), ``accuracy/shape``,
        ``accuracy/color``; ``entropy/<factor>`` — the normalised entropy of size, position and
        background over all images (what the noise varies); ``noise_controls/<factor>`` — for
        one noise decoded with 8 different classes, the fraction of noises for which the factor
        is read the same in all 8 (the noise, not the class, sets it).
    """
    from n2nlib import metrics

    clf = _classifier(classifier)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % generator.num_classes
    noise = truncated_noise(n, generator.z_dim, truncation, gen)
    pred = clf.predict_factors(_generate(generator, noise, labels)).cpu()
    shape, color = class_factors(labels)
    out = {
        "class_agreement": float(((pred[:, 0] == shape) & (pred[:, 1] == color)).float().mean()),
        "accuracy/shape": float((pred[:, 0] == shape).float().mean()),
        "accuracy/color": float((pred[:, 1] == color).float().mean()),
    }
    for j, name in enumerate(FACTOR_NAMES[2:], start=2):
        out[f"entropy/{name}"] = metrics.normalized_entropy(pred[:, j], len(FACTORS[name]))
    m, k = max(n // 16, 8), 8
    noise = truncated_noise(m, generator.z_dim, truncation, gen).repeat_interleave(k, 0)
    labels = torch.randint(0, generator.num_classes, (m * k,), generator=gen)
    pred = clf.predict_factors(_generate(generator, noise, labels)).cpu().view(m, k, -1)
    for j, name in enumerate(FACTOR_NAMES[2:], start=2):
        same = (pred[:, :, j] == pred[:, :1, j]).all(dim=1)
        out[f"noise_controls/{name}"] = float(same.float().mean())
    return out


@torch.no_grad()
def evaluate_dequantizer(
    vae: DequantizationVAE, generator: Any, n: int = 2000, *, classifier: Any = None,
    seed: int = 1000,
) -> dict[str, float]:
    """Measure the dequantisation VAE: is :math:`\\hat h` close to :math:`h`, and does it
    decode to the same class?

    Returns:
        ``recon_r2`` — :math:`1 - E\\|\\hat h - h\\|^2 / E\\|h - \\bar h\\|^2` over classes;
        ``nearest_class`` — fraction of :math:`\\hat h` whose nearest class embedding is the
        true one; ``class_agreement`` — fraction of images ``decode([z̃, ĥ])`` whose shape
        and colour (attribute classifier) are the class's; ``class_agreement/exact_h`` — the
        same with :math:`h = Wc` itself, for reference.
    """
    clf = _classifier(classifier)
    gen = torch.Generator().manual_seed(seed)
    w = generator.class_embedding_matrix.detach().float().cpu().T  # (K, d)
    labels = torch.arange(n) % w.shape[0]
    h = w[labels]
    device = next(vae.parameters()).device
    h_hat = vae.dequantize(h.to(device), generator=gen).cpu()
    r2 = 1.0 - float((h_hat - h).pow(2).sum(1).mean() / (w - w.mean(0)).pow(2).sum(1).mean())
    nearest = torch.cdist(h_hat, w).argmin(1)
    noise = truncated_noise(n, generator.z_dim, 1.0, gen)
    shape, color = class_factors(labels)
    out = {"recon_r2": r2, "nearest_class": float((nearest == labels).float().mean())}
    for key, emb in (("class_agreement", h_hat), ("class_agreement/exact_h", h)):
        z = torch.cat([noise, emb], 1)
        images = torch.cat([generator.decode(z[i : i + 500]).cpu() for i in range(0, n, 500)])
        pred = clf.predict_factors(images).cpu()
        out[key] = float(((pred[:, 0] == shape) & (pred[:, 1] == color)).float().mean())
    return out


def train_dequantizer(
    generator: Any, *, steps: int = 2000, batch_size: int = 256, lr: float = 1e-3,
    seed: int = 0, progress: bool = True, **vae_kwargs: Any,
) -> DequantizationVAE:
    """Train a :class:`~n2nlib.nets.dequant.DequantizationVAE` on a generator's class
    embeddings (the columns of W, each class equally often), with the zoo's expert loop.

    Arguments:
        generator: anything with ``class_embedding_matrix`` ``(embed_dim, K)`` — the shapes
            generator, or the real BigGAN (then ``hidden`` and ``steps`` may want to grow).
        steps, batch_size, lr, seed, progress: of :func:`n2nlib.zoo.training.fit_expert`.
        **vae_kwargs: architecture (``hidden``, ``n_layers``, ``latent_dim``, ``min_std``).

    Returns:
        The trained VAE (eval mode, on the generator's device).
    """
    from n2nlib.nets.dequant import DequantizationObjective

    w = generator.class_embedding_matrix.detach().float().T.contiguous()
    vae = DequantizationVAE(int(w.shape[1]), **vae_kwargs).to(w.device)
    vae.set_normalization(w)
    reps = max(1, math.ceil(4 * batch_size / w.shape[0]))
    fit_expert(vae, DequantizationObjective(), {"h": w.repeat(reps, 1)}, steps=steps,
               batch_size=batch_size, lr=lr, warmup=min(100, steps // 10), seed=seed,
               progress=progress, desc="training dequantisation VAE")
    return vae.eval()


def measure_translator(
    translator: Any,
    classifier: Any = None,
    *,
    n_prompts: int = 200,
    n_compositional: int = 100,
    n_samples: int = 16,
    temperature: float = 1.0,
    seed: int = 1000,
    batch_size: int = 64,
    n_train_phrasings: int = 0,
) -> dict[str, T2IScores]:
    """The measurements of notebook 06 and of the ``sbert-to-shapes`` card.

    Arguments:
        translator: a text-to-image Net2Net (or the MLP baseline).
        classifier: the attribute classifier (default: the zoo's ``shapes-attributes-v1``).
        n_prompts: prompts in held-out phrasings, shape–colour pairs of training captions.
        n_compositional: prompts in held-out phrasings that name a pair of
            :data:`HELD_OUT_PAIRS` (shape and colour always stated).
        n_train_phrasings: also this many prompts in *training* phrasings (new sentences of
            the training templates and words; 0: none), and ``n_compositional`` compositional
            ones — what separates the translator from its text expert (see
            :func:`text_expert_ceiling`).
        n_samples: images per prompt.
        temperature: of the residual draws.
        seed: seed of the prompts and the draws.
        batch_size: prompts translated at once (``batch_size * n_samples`` images are
            decoded together: smaller saves memory).

    Returns:
        ``{"held-out phrasings": T2IScores, "compositional": T2IScores}``, and with
        ``n_train_phrasings`` also ``"training phrasings"`` and ``"compositional, training
        phrasings"``.
    """
    clf = _classifier(classifier)
    # (name, phrasings, prompts, compositional); set i draws its prompts and images with seed + i
    sets = [("held-out phrasings", "test", n_prompts, False),
            ("compositional", "test", n_compositional, True)]
    if n_train_phrasings:
        sets += [("training phrasings", "train", n_train_phrasings, False),
                 ("compositional, training phrasings", "train", n_compositional, True)]
    out = {}
    for i, (name, split, n, compositional) in enumerate(sets):
        pairs = ({"only_pairs": HELD_OUT_PAIRS, "always": ("shape", "color")} if compositional
                 else {"exclude_pairs": HELD_OUT_PAIRS})
        prompts = make_prompts(n, seed + i, split=split, **pairs)
        out[name] = prompt_scores(translator, clf, prompts, n_samples, temperature,
                                  batch_size=batch_size, seed=seed + i)
    return out


def _card_quality(scores: Mapping[str, T2IScores]) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in summarize_scores(scores).items()}


def _generator_data(n: int, seed: int) -> dict[str, Tensor]:
    from n2nlib.data.render import render_shapes_full
    from n2nlib.nets.generator import known_noise

    factors = sample_factors(n, seed, split="train", background="mixed")
    r = render_shapes_full(factors, 32, seed, "train")
    known = known_noise(r.centers, r.radii, r.colors, factors,
                        generator=torch.Generator().manual_seed(seed))
    return {"image": r.images, "factors": factors, "mask": r.masks, "known": known}


def _embeddings(deps: Mapping[str, Any]) -> Tensor:
    """The class embeddings of the generator this recipe depends on, ``(K, embed_dim)``."""
    return deps[GENERATOR].class_embedding_matrix.detach().float().cpu().T.contiguous()


def _dequantizer_data(n: int, seed: int, deps: Mapping[str, Any]) -> dict[str, Tensor]:
    w = _embeddings(deps)
    return {"h": w.repeat(max(1, n // w.shape[0]), 1)}


def _dequantizer_objective(deps: Mapping[str, Any]) -> Any:
    from n2nlib.nets.dequant import DequantizationObjective

    return DequantizationObjective(embeddings=_embeddings(deps), kl_warmup=300)


_GENERATOR_CONFIG = {"size": 32, "z_dim": 16, "embed_dim": 32, "width": 16, "max_width": 128,
                     "encoder_width": 16, "attention": True}


_DEQUANTIZER_CONFIG = {"dim": 32, "latent_dim": 32, "hidden": 256, "n_layers": 3,
                       "min_std": 0.1}


def zoo_recipes() -> list[Any]:
    """The zoo recipes of the text-to-image experts (``shapes-generator``,
    ``shapes-generator-dequant``) as :class:`n2nlib.zoo.recipes.Recipe` objects, trained by
    the zoo's own loop (:func:`n2nlib.zoo.training.fit_expert`).

    >>> [r.name for r in zoo_recipes()]
    ['shapes-generator', 'shapes-generator-dequant']
    """
    from n2nlib.nets.generator import GeneratorObjective
    generator = Recipe(
        name=GENERATOR,
        kind="generator",
        summary="A class-conditional generator with BigGAN's interface (noise z̃ + class "
                "embedding h = Wc, 40 classes = shape × colour): the offline target expert of "
                "the BERT-to-BigGAN notebook.",
        model=ShapesGenerator,
        config=dict(_GENERATOR_CONFIG),
        make_data=_generator_data,
        n_train=20000,
        steps=3000,
        batch_size=64,
        lr=2e-3,
        objective=lambda: GeneratorObjective(kl_weight=1.0, mask_weight=1.0),
        augment=augment_flip_shapes,
        evaluate=lambda model, n: evaluate_generator(model, n),
        eval_n=2000,
        data="20,000 images `render_shapes(sample_factors(n, seed=0, background='mixed'))` "
             "with their factors (class = shape × colour), half plain and half photo "
             "backgrounds; random left-right flips",
        held_out="2,000 generated images (z̃ ~ truncated N(0, I), classes in turn), read by "
                 "the zoo's shapes-attributes-v1 classifier",
        architecture="BigGAN-style layered generator, z̃ ∈ R^16 (7 Gaussianised renderer "
                     "parameters x, y, radius, colour jitter ×3, photo flag + 9 inferred), "
                     "h = Wc ∈ R^32 (W: 32×40, no bias). Shape layer: FC([z̃_known, h]) → "
                     "4×4×64; 3 residual up-blocks (64, 32, 16 ch) with batch norm conditioned "
                     "on the same; non-local block at 16×16; BN, ReLU, conv → mask α; one "
                     "foreground colour (linear). Background: photo flag > 0 → a half-width "
                     "trunk on [flag, z̃_free]; ≤ 0 → the plain layer (grey level, tint and "
                     "gradient, bounded, linear in z̃_free; blotches 0.03·R z̃_free, R a fixed "
                     "random 48×9 map, upsampled bicubically). Image = "
                     "α·fg + (1 − α)·bg. Training encoder q(z̃_free|y): 3×3 stem (16 ch), 3 "
                     "downsampling ResNet blocks, FC → (μ, log σ²)",
        notes=(
            "Trained as a conditional VAE (the ELBO: L1 pixel NLL with a learnable scale γ, "
            "KL weight 1, true class given to the decoder), not as a GAN: on two shared CPU "
            "cores a GAN is neither fast nor reliable, a VAE is both. Sampling is BigGAN's: "
            "z̃ from a (truncated) normal, any class.",
            "The shape layer's α is also fitted to the renderer's mask (binary cross-entropy, "
            "weight 1): the shapes are small, and from the pixel loss alone α learns them "
            "slowly.",
            "The encoder is kept (`noise_distribution`) to show what z̃ holds; BigGAN has none.",
            "The plain layer is switched on the photo flag by construction: with one "
            "background trunk for both, the encoder told plain from photo in the free "
            "dimensions, the trunk ignored the flag, and prior noise decoded to photo-like "
            "backgrounds almost always (background entropy 0.21 over random noise).",
        ),
    )
    dequantizer = Recipe(
        name=DEQUANTIZER,
        kind="dequantizer",
        summary="The small fully connected VAE of supplement Table S4 on the class embeddings "
                "h = Wc of shapes-generator: its stochastic reconstruction ĥ dequantises the "
                "class part of z_Θ = [z̃, ĥ] (Eq. 24).",
        model=DequantizationVAE,
        config=dict(_DEQUANTIZER_CONFIG),
        make_data=_dequantizer_data,
        n_train=4000,
        n_train_fast=400,
        steps=3000,
        batch_size=256,
        lr=1e-3,
        objective=_dequantizer_objective,
        evaluate=lambda model, n, deps: evaluate_dequantizer(model, deps[GENERATOR], n),
        requires=(GENERATOR,),
        eval_n=2000,
        data="the 40 class embeddings of shapes-generator (columns of W), 100 copies each",
        held_out="2,000 stochastic reconstructions ĥ (classes in turn), decoded with "
                 "shapes-generator and read by shapes-attributes-v1",
        architecture="Table S4 with width 256 instead of 4096: encoder 3×(FC, LReLU 0.01) → "
                     "(FC, LReLU) → 32; μ and log σ² heads 3×(FC, LReLU) → FC 32; decoder "
                     "4×(FC, LReLU) → FC 32; Gaussian output with a learned σ ≥ 0.1 "
                     "(standardised units)",
        notes=(
            "Inputs are standardised per dimension with the statistics of the 40 class "
            "embeddings; the last layers are linear (Table S4 ends each part with a LeakyReLU).",
            "The KL weight rises from 0 to 1 over the first 300 steps: with the full weight from "
            "the start this deep, narrow VAE stays in the collapsed solution (posterior = prior) "
            "for thousands of steps.",
            "The stochastic reconstruction samples the decoder's Gaussian too (σ floored at "
            "0.1), so that ĥ is full-dimensional although 40 classes need few latent "
            "dimensions.",
        ),
    )
    return [generator, dequantizer]


def _save_translator(model: Net2Net, path: Path) -> None:
    from safetensors.torch import save_file

    state = {f"cinn.{k}": v.detach().to(torch.float16).contiguous()
             for k, v in model.cinn.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"name": TRANSLATOR, "format": "n2nlib-zoo-1",
                                          "storage": "float16"})


def train_translator(
    fast: bool = False,
    *,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    n_train: int | None = None,
    steps: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train ``sbert-to-shapes`` (synthetic data → :meth:`n2nlib.Net2Net.fit`), save τ in
    float16, reload it as shipped and measure it (:func:`measure_translator`), and write its
    registry entry and card.

    Arguments:
        fast: tiny data and a few steps (into a temporary folder unless ``out`` is given).
        out: the zoo folder to write into (default: the shipped zoo; never with ``fast``).
        seed: seed of the data and the training.
        n_train: synthetic examples (default 40,000; 2,000 with ``fast``).
        steps: cINN steps (default 6,000; 30 with ``fast``).
        device: where to train.
        progress: progress bars.
        threads: the torch threads the run used (recorded in the card's command).

    Returns:
        The card (a dict).
    """
    from n2nlib import zoo
    from n2nlib.nets.blocks import n_parameters

    root = Path(out) if out is not None else (
        Path(tempfile.mkdtemp(prefix="n2n-zoo-")) if fast else zoo.PACKAGE_ROOT)
    if fast and root.resolve() == zoo.PACKAGE_ROOT.resolve():
        raise ValueError("--fast never writes into the shipped zoo; choose another --out folder")
    settings.seed_everything(seed)
    n_train = n_train or (2000 if fast else 40000)
    steps = steps or (30 if fast else 6000)
    batch_size = 128
    zoo_root = None
    if root.resolve() != zoo.PACKAGE_ROOT.resolve() and GENERATOR in zoo.registry(root):
        zoo_root = str(root)
    classifier = zoo.load(CLASSIFIER, device=device)
    target = load_target(root=zoo_root, device=device)
    start = time.perf_counter()
    data = synthesize(n_train, target.generator, AttributeCaptioner(classifier), seed=seed,
                      progress=progress)
    translator = make_translator(target=target, device=device)
    pairs = translator.encode_data(data.pairs(), progress=progress)
    data_seconds = time.perf_counter() - start
    cpu_start = time.process_time()
    history = translator.fit(pairs, steps=steps, batch_size=batch_size, lr=1e-3,
                             warmup=min(200, steps // 10), seed=seed, progress=progress)
    cpu_seconds = time.process_time() - cpu_start
    rel = f"weights/{TRANSLATOR}.safetensors"
    weights = root / rel
    _save_translator(translator, weights)
    config: dict[str, Any] = {"cinn": translator.cinn.get_config(),
                              "source": {"name": "sentence-bert", "kwargs": {}},
                              "generator": GENERATOR, "dequantizer": DEQUANTIZER}
    if zoo_root is not None:
        config["zoo_root"] = zoo_root
    n_eval = (8, 4, 4) if fast else (200, 100, 16)
    card: dict[str, Any] = {
        "kind": "translator",
        "summary": "Text to image (the paper's Sec. 4.1 on offline experts): a cINN from "
                   "Sentence-BERT (all-MiniLM-L6-v2) into z_Θ = [z̃, ĥ] of shapes-generator, "
                   "dequantised by shapes-generator-dequant. "
                   "`zoo.load('sbert-to-shapes').translate([...], n_samples=8)`.",
        "architecture": (
            f"GroupedCINN(groups={translator.cinn.groups}, cond_dim=384, {CINN_CONFIG}): one "
            "ConditionalINN (Table S3 coupling blocks, MLP embedder of the sentence code) per "
            "group of z_Θ = [centre, radius, colour jitter, background, other noise, ĥ] "
            "(`text2image.translator_groups`)"
            if isinstance(translator.cinn, GroupedCINN) else
            f"ConditionalINN(dim=48, cond_dim=384, {CINN_CONFIG}) (Table S3 coupling blocks, "
            "MLP embedder of the sentence code)"),
        "dim": int(translator.target.dim),
        "parameters": n_parameters(translator.cinn),
        "data": f"{n_train:,} synthetic examples (`text2image.synthesize`): z̃ ~ N(0, I), class "
                "uniform, image by shapes-generator, caption by the shapes-attributes-v1 "
                "classifier in training templates (each factor stated with probability "
                f"{MENTION_PROBS}); no caption names a pair of {list(HELD_OUT_PAIRS)}",
        "held_out": f"{n_eval[0]} prompts in held-out phrasings (test templates/synonyms) × "
                    f"{n_eval[2]} samples; {n_eval[1]} compositional prompts naming a held-out "
                    f"pair; for comparison {n_eval[0]} + {n_eval[1]} new prompts of both "
                    "kinds in training phrasings (train_phrasings/...); images read by "
                    "shapes-attributes-v1",
        "quality": {},
        "command": f"python -m n2nlib.zoo train {TRANSLATOR}" + (
            " --fast" if fast else "") + (f" --threads {threads}" if threads else "") + (
            f" --seed {seed}" if seed else ""),
        "train_seconds": round(history.seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "data_seconds": round(data_seconds, 1),
        "steps": steps,
        "batch_size": batch_size,
        "machine": machine_description(),
        "notes": [
            "Trained with n2nlib.Net2Net.fit (the one cINN training loop); the experts are "
            "fixed and not stored here: the file holds τ only.",
            f"Agreement of the captioning expert with the requested class on the training "
            f"data: {data.agreement():.4f}.",
        ],
        "seed": seed,
        "n_train": n_train,
        "trained": time.strftime("%Y-%m-%d"),
    }
    entries = zoo.registry(root) if (root / zoo.REGISTRY_FILE).exists() else {}
    entries[TRANSLATOR] = {"class": "TextToImage", "config": config,
                           "file": rel, "sha256": zoo.sha256_file(weights),
                           "bytes": weights.stat().st_size, "storage": "float16", "card": card}
    zoo.write_registry(entries, root)
    shipped = zoo.load(TRANSLATOR, device=device, root=root)
    scores = measure_translator(shipped, classifier, n_prompts=n_eval[0],
                                n_compositional=n_eval[1], n_samples=n_eval[2],
                                n_train_phrasings=n_eval[0])
    card["quality"] = _card_quality(scores)
    entries = zoo.registry(root)
    entries[TRANSLATOR]["card"] = card
    zoo.write_registry(entries, root)
    return card
