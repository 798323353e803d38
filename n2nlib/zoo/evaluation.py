"""Held-out measurements of the zoo's experts: what each card's ``quality`` reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from n2nlib.metrics import downsample
from n2nlib.zoo.data import digits_split, photo_crops, shapes_data

EVAL_SEED = 1000


def _reconstructions(model: Any, images: Tensor, batch_size: int = 256) -> Tensor:
    from n2nlib.experts.base import reconstruct

    return reconstruct(model, images, batch_size=batch_size)


def eval_shapes_ae_v1(model: Any, n: int) -> dict[str, float]:
    """PSNR, and whether reconstructions are *recognisably* the input: the accuracy with which
    the zoo's ``shapes-attributes-v1`` classifier reads the input's factors back from them."""
    from n2nlib import zoo
    from n2nlib.metrics import accuracy_per_factor, psnr

    data = shapes_data(n, EVAL_SEED, "test")
    recon = _reconstructions(model, data["image"])
    photo = data["factors"][:, 4] == 1
    out = {"psnr_db": psnr(data["image"], recon)}
    if photo.any() and (~photo).any():
        out["psnr_db/plain"] = psnr(data["image"][~photo], recon[~photo])
        out["psnr_db/photo"] = psnr(data["image"][photo], recon[photo])
    classifier = zoo.load("shapes-attributes-v1", device="cpu")
    acc = accuracy_per_factor(classifier.predict(recon), data["factors"])
    out.update({f"recon_accuracy/{k}": v for k, v in acc.items()})
    return out


def eval_textures(size: int) -> Callable[[Any, int], dict[str, float]]:
    def evaluate(model: Any, n: int) -> dict[str, float]:
        from n2nlib.metrics import psnr

        images = photo_crops(n, EVAL_SEED, "test")
        if size != 32:
            images = downsample(images, size)
        return {"psnr_db": psnr(images, _reconstructions(model, images))}

    return evaluate


def eval_digits_ae(model: Any, n: int) -> dict[str, float]:
    from n2nlib.metrics import psnr

    images = digits_split("test")["image"][:n]
    return {"psnr_db": psnr(images, _reconstructions(model, images))}


def joint_by_domain(predicted: dict[str, Tensor], factors: Tensor, prefix: str
                     ) -> dict[str, float]:
    """Shape, colour, size and position read right together, overall and per domain, and the
    background (domain) read right per domain."""
    content = torch.ones(len(factors), dtype=torch.bool)
    for j, name in enumerate(("shape", "color", "size", "position")):
        content &= predicted[name].cpu() == factors[:, j]
    domain = predicted["background"].cpu() == factors[:, 4]
    out = {f"{prefix}joint": float(content.float().mean())}
    for value, name in enumerate(("plain", "photo")):
        rows = factors[:, 4] == value
        if rows.any():
            out[f"{prefix}joint/{name}"] = float(content[rows].float().mean())
            out[f"{prefix}background/{name}"] = float(domain[rows].float().mean())
    return out


def eval_attributes(model: Any, n: int, world: str = "v1") -> dict[str, float]:
    from n2nlib.metrics import accuracy_per_factor

    data = shapes_data(n, EVAL_SEED, "test", world=world)
    predicted = model.predict(data["image"])
    acc = accuracy_per_factor(predicted, data["factors"], names=list(model.factors))
    out = {f"accuracy/{k}": v for k, v in acc.items()}
    if world != "v1":
        out.update(joint_by_domain(predicted, data["factors"], ""))
    return out


def eval_shapes_ae(model: Any, n: int) -> dict[str, float]:
    """The drawable world's autoencoder: what its reconstructions keep, per domain, read by
    the zoo's ``shapes-attributes`` and ``shapes-segmenter`` (when present), PSNR, and the
    Fréchet distance of reconstructions to originals in EfficientNet-Lite0 features."""
    from n2nlib import zoo
    from n2nlib.metrics import efficientnet_frechet_distance, miou, psnr

    data = shapes_data(n, EVAL_SEED, "test", world="v2")
    recon = _reconstructions(model, data["image"])
    photo = data["factors"][:, 4] == 1
    bicubic = F.interpolate(downsample(data["image"], 8), size=32, mode="bicubic",
                            align_corners=False).clamp(0, 1)
    out = {"psnr_db": psnr(data["image"], recon),
           "psnr_db/plain": psnr(data["image"][~photo], recon[~photo]),
           "psnr_db/photo": psnr(data["image"][photo], recon[photo]),
           "psnr_db/bicubic_from_8": psnr(data["image"], bicubic)}
    reader = zoo.load("shapes-attributes", device="cpu")
    out.update(joint_by_domain(reader.predict(recon), data["factors"], "recon_"))
    if "shapes-segmenter" in zoo.available():
        segmenter = zoo.load("shapes-segmenter", device="cpu")
        pred = segmenter.predict_masks(recon)
        out["recon_miou/plain"] = miou(pred[~photo], data["mask"][~photo], 6)
        out["recon_miou/photo"] = miou(pred[photo], data["mask"][photo], 6)
    out["frechet_efficientnet"] = efficientnet_frechet_distance(data["image"], recon)
    out["frechet_efficientnet/bicubic_from_8"] = efficientnet_frechet_distance(data["image"],
                                                                              bicubic)
    return out


def eval_shapes_ae_swap(model: Any, n: int) -> dict[str, float]:
    """:func:`eval_shapes_ae`, and how well the code's parts swap: each held-out image's
    geometry part with its neighbour's appearance part (:meth:`Autoencoder.combine
    <n2nlib.nets.autoencoder.Autoencoder.combine>`), decoded and read by ``shapes-attributes``:
    shape, size and position should be the image's, colour and background the neighbour's;
    PSNR against the renderer's own drawing of that scene."""
    from n2nlib import zoo
    from n2nlib._batched import batched
    from n2nlib.encoding import encode_latents
    from n2nlib.metrics import psnr
    from n2nlib.zoo.data import composite, swap_shapes_data

    out = eval_shapes_ae(model, n)
    data = swap_shapes_data(n, EVAL_SEED, "test")
    partner = torch.roll(torch.arange(n), 1)
    z = encode_latents(model, data["image"], progress=False)
    swapped = batched(model.decode, model.combine(z, z[partner]), batch_size=256,
                      progress=False, desc="decoding")
    truth = composite(data["background"][partner], data["coverage"], data["color"][partner])
    out["swap_psnr_db"] = psnr(truth, swapped)
    read = zoo.load("shapes-attributes", device="cpu").predict(swapped)
    want = data["factors"].clone()
    want[:, 1], want[:, 4] = data["factors"][partner, 1], data["factors"][partner, 4]
    for j, name in enumerate(("shape", "color", "size", "position", "background")):
        out[f"swap_accuracy/{name}"] = float((read[name].cpu() == want[:, j]).float().mean())
    return out


def eval_shapes_lowres(model: Any, n: int) -> dict[str, float]:
    from n2nlib.metrics import psnr

    images = downsample(shapes_data(n, EVAL_SEED, "test", world="v2")["image"], 8)
    return {"psnr_db": psnr(images, _reconstructions(model, images))}


def eval_segmenter(model: Any, n: int, world: str = "v1") -> dict[str, float]:
    from n2nlib.metrics import iou_per_class, miou

    data = shapes_data(n, EVAL_SEED, "test", world=world)
    pred = model.predict_masks(data["image"])
    out = {"miou": miou(pred, data["mask"], model.n_classes)}
    photo = data["factors"][:, 4] == 1
    if photo.any() and (~photo).any():
        out["miou/plain"] = miou(pred[~photo], data["mask"][~photo], model.n_classes)
        out["miou/photo"] = miou(pred[photo], data["mask"][photo], model.n_classes)
    ious = iou_per_class(pred, data["mask"], model.n_classes)
    out.update({f"iou/{c}": float(v) for c, v in zip(model.classes, ious) if v == v})
    return out


def eval_digits_classifier(model: Any, n: int) -> dict[str, float]:
    from n2nlib.metrics import accuracy

    data = digits_split("test")
    return {"accuracy": accuracy(model.predict(data["image"][:n]), data["label"][:n])}
