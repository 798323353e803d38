"""Images: reconstruction, classification and segmentation quality, superresolution and
transfer measures, linear probes."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from n2nlib.metrics._common import _as_2d_numpy

__all__ = [
    "psnr",
    "accuracy",
    "accuracy_per_factor",
    "confusion_matrix",
    "iou_per_class",
    "miou",
    "ssim",
    "downsample",
    "lr_consistency",
    "pixel_std",
    "diversity_vs_ambiguity",
    "sharpness",
    "content_preservation",
    "linear_probe_accuracy",
]


# -- image experts: reconstruction, classification, segmentation (the zoo cards) -------------
# (used by n2nlib.zoo to measure the shipped experts, and by the notebooks)


def psnr(images: Tensor, reconstructions: Tensor, max_value: float = 1.0) -> float:
    r"""Peak signal-to-noise ratio in dB, :math:`10 \log_{10}(\text{max}^2 / \text{MSE})`,
    computed per image and averaged over the batch.

    Arguments:
        images: ``(N, ...)`` reference images (in [0, ``max_value``]).
        reconstructions: same shape.
        max_value: the largest possible pixel value (1 for images in [0, 1]).

    Returns:
        The mean PSNR in dB (an identical pair of images is capped at 100 dB).

    >>> import torch
    >>> round(psnr(torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.1)), 2)
    20.0
    """
    a = torch.as_tensor(images).detach().double()
    b = torch.as_tensor(reconstructions).detach().double().to(a.device)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"images and reconstructions must have the same shape (N, ...), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    mse = (a - b).pow(2).flatten(1).mean(dim=1).clamp_min(max_value**2 * 1e-10)
    return float((10.0 * torch.log10(max_value**2 / mse)).mean())


def accuracy(predicted: Tensor, labels: Tensor) -> float:
    """Fraction of ``predicted`` labels equal to ``labels`` (both integer ``(N,)``).

    >>> import torch
    >>> accuracy(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 0]))
    0.75
    """
    p, t = torch.as_tensor(predicted).detach().cpu(), torch.as_tensor(labels).detach().cpu()
    if p.shape != t.shape or p.numel() == 0:
        raise ValueError(f"predicted and labels must have the same non-empty shape, got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    return float((p == t).double().mean())


def accuracy_per_factor(predicted: dict[str, Tensor] | Tensor, labels: Tensor,
                        names: list[str] | tuple[str, ...] | None = None) -> dict[str, float]:
    """Accuracy of each factor of a multi-factor classifier.

    Arguments:
        predicted: ``{factor: (N,)}`` (as ``AttributeClassifier.predict`` returns) or an
            ``(N, F)`` label table.
        labels: the true labels ``(N, F)``, columns in the order of ``names``.
        names: the factor names of the columns (default: the shapes factors,
            :data:`n2nlib.data.FACTOR_NAMES`).

    Returns:
        ``{factor: accuracy}``.

    >>> import torch
    >>> accuracy_per_factor({"a": torch.tensor([0, 1]), "b": torch.tensor([1, 1])},
    ...                     torch.tensor([[0, 0], [1, 1]]), names=["a", "b"])
    {'a': 1.0, 'b': 0.5}
    """
    if names is None:
        from n2nlib.data import FACTOR_NAMES

        names = list(FACTOR_NAMES)
    labels = torch.as_tensor(labels)
    if labels.ndim != 2 or labels.shape[1] != len(names):
        raise ValueError(f"labels must be (N, {len(names)}) with columns {list(names)}, got "
                         f"{tuple(labels.shape)}")
    if isinstance(predicted, Tensor):
        if predicted.shape != labels.shape:
            raise ValueError(f"predicted must have the shape of labels {tuple(labels.shape)}, "
                             f"got {tuple(predicted.shape)}")
        predicted = {name: predicted[:, j] for j, name in enumerate(names)}
    missing = [n for n in names if n not in predicted]
    if missing:
        raise ValueError(f"predicted has no labels for {missing}")
    return {name: accuracy(predicted[name], labels[:, j]) for j, name in enumerate(names)}


def confusion_matrix(predicted: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Counts ``(n_classes, n_classes)``: row = true class, column = predicted class.

    >>> import torch
    >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2).tolist()
    [[1, 1], [0, 1]]
    """
    p = torch.as_tensor(predicted).detach().cpu().long().flatten()
    t = torch.as_tensor(labels).detach().cpu().long().flatten()
    if p.shape != t.shape:
        raise ValueError(f"predicted and labels must have the same number of entries, got "
                         f"{p.numel()} and {t.numel()}")
    if p.numel() and (int(min(p.min(), t.min())) < 0 or int(max(p.max(), t.max())) >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes - 1}]")
    return torch.bincount(t * n_classes + p, minlength=n_classes**2).view(n_classes, n_classes)


def iou_per_class(predicted: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Intersection over union of each class over all pixels of all images, ``(n_classes,)``
    (NaN for a class absent from both).

    >>> import torch
    >>> iou_per_class(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 1, 0]]), 2).tolist()
    [0.5, 0.5]
    """
    cm = confusion_matrix(predicted, labels, n_classes).double()
    inter = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - inter
    return torch.where(union > 0, inter / union.clamp_min(1), torch.full_like(inter, float("nan")))


def miou(predicted: Tensor, labels: Tensor, n_classes: int) -> float:
    """Mean intersection over union of a segmentation, over the classes that occur.

    IoU is accumulated over all pixels of all images per class (as in PASCAL VOC), then
    averaged over the classes present in ``labels`` or ``predicted``.

    Arguments:
        predicted: predicted class per pixel, integer ``(N, H, W)``.
        labels: true class per pixel, same shape.
        n_classes: number of classes (background included).

    Returns:
        mIoU in [0, 1].

    >>> import torch
    >>> miou(torch.tensor([[[0, 1], [1, 1]]]), torch.tensor([[[0, 1], [0, 1]]]), 2)
    0.5833333333333333
    """
    ious = iou_per_class(predicted, labels, n_classes)
    return float(ious[~torch.isnan(ious)].mean())




# -- superresolution and unpaired transfer (notebooks 03 and 04) -----------------------------


def _image_batch(images: object, name: str) -> Tensor:
    x = torch.as_tensor(images).detach()
    if x.ndim != 4:
        raise ValueError(f"{name} must be images (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating-point images in [0, 1], got {x.dtype}")
    return x.double()


def _gaussian_window(size: int, sigma: float) -> Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return g[:, None] * g[None, :]


_SSIM_CHUNK = 256  # images per pass of :func:`ssim`


def ssim(images: Tensor, references: Tensor, *, window: int = 7, sigma: float = 1.5,
         max_value: float = 1.0, per_image: bool = False) -> float | Tensor:
    r"""Structural similarity (Wang et al. 2004) between two batches of images.

    Local means, variances and the covariance are taken in a Gaussian window (``sigma``,
    ``window`` × ``window`` pixels, positions where the window fits inside the image only),
    per channel; with :math:`C_1 = (0.01 L)^2, C_2 = (0.03 L)^2`,

    .. math:: \mathrm{SSIM} = \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
              {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)},

    averaged over positions and channels. It is 1 for identical images, near 0 for unrelated
    noise, and unlike PSNR it rewards matching *structure* (edges, texture) over matching
    mean intensities. The usual window is 11 pixels; the default 7 suits 32×32 images.

    Arguments:
        images: ``(N, C, H, W)`` in [0, ``max_value``].
        references: the same shape.
        window: side of the Gaussian window (odd, at most the image side).
        sigma: its standard deviation in pixels.
        max_value: the dynamic range ``L``.
        per_image: return the ``(N,)`` values instead of their mean.

    Returns:
        The mean SSIM (a float), or per image.

    >>> import torch
    >>> x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> ssim(x, x)
    1.0
    >>> ssim(x, torch.rand(2, 3, 16, 16)) < 0.2
    True
    """
    a, b = _image_batch(images, "images"), _image_batch(references, "references")
    if a.shape != b.shape:
        raise ValueError(f"images and references must have the same shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd positive int, got {window!r}")
    if window > min(a.shape[-2:]):
        raise ValueError(f"window {window} is larger than the images {tuple(a.shape[-2:])}")
    c = a.shape[1]
    kernel = _gaussian_window(window, sigma).to(a.device)[None, None].repeat(c, 1, 1, 1)
    c1, c2 = (0.01 * max_value) ** 2, (0.03 * max_value) ** 2

    def blur(x: Tensor) -> Tensor:
        return torch.nn.functional.conv2d(x, kernel, groups=c)

    def per_image_ssim(a: Tensor, b: Tensor) -> Tensor:
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a**2
        var_b = blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
            (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        return value.flatten(1).mean(dim=1)

    # in chunks: a dozen float64 maps of the whole batch would hold ~0.9 GiB for 2,400 images
    per = torch.cat([per_image_ssim(a[i:i + _SSIM_CHUNK], b[i:i + _SSIM_CHUNK])
                     for i in range(0, len(a), _SSIM_CHUNK)]) if len(a) else a.new_zeros(0)
    return per.float() if per_image else float(per.mean())


def downsample(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Shrink images with an antialiased bilinear filter, clipped to [0, 1].

    This is the filter that made the low-resolution training images of the zoo's
    ``textures-ae-8`` and ``shapes-ae-8``, so it is the one to measure
    low-resolution consistency with (:func:`lr_consistency`).

    Arguments:
        images: ``(N, C, H, W)``.
        size: the new side (or ``(height, width)``).

    Returns:
        ``(N, C, size, size)``.

    >>> import torch
    >>> downsample(torch.rand(2, 3, 32, 32), 8).shape
    torch.Size([2, 3, 8, 8])
    """
    x = torch.as_tensor(images)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
    hw = (size, size) if isinstance(size, int) else tuple(size)
    return torch.nn.functional.interpolate(x, size=hw, mode="bilinear", antialias=True,
                                           align_corners=False).clamp(0.0, 1.0)


def lr_consistency(samples: Tensor, low_res: Tensor, *, per_image: bool = False
                   ) -> float | Tensor:
    """Low-resolution consistency of superresolved images: the PSNR (dB) between each sample,
    downsampled to the low resolution (:func:`downsample`), and the low-resolution input.

    A superresolution that invents detail but keeps what the input showed scores high, however
    different its detail is from the truth. The truth itself scores 100 (the cap of
    :func:`psnr`) when ``low_res = downsample(truth)``; a realistic upper bound for samples
    decoded by an autoencoder is the same number for the autoencoder's reconstruction of the
    truth.

    Arguments:
        samples: ``(N, C, H, W)`` high-resolution images; for several samples per input
            repeat the inputs to match (``low_res.repeat_interleave(k, 0)``).
        low_res: ``(N, C, h, w)`` the low-resolution inputs.
        per_image: return ``(N,)`` values instead of their mean.

    Returns:
        The mean PSNR in dB, or per image.

    >>> import torch
    >>> hi = torch.rand(2, 3, 32, 32)
    >>> lr_consistency(hi, downsample(hi, 8))
    100.0
    """
    hi = _image_batch(samples, "samples")
    lo = _image_batch(low_res, "low_res")
    if hi.shape[:2] != lo.shape[:2]:
        raise ValueError(f"samples {tuple(hi.shape)} and low_res {tuple(lo.shape)} must have the "
                         f"same number of images and channels")
    down = downsample(hi, tuple(lo.shape[-2:]))
    mse = (down - lo).pow(2).flatten(1).mean(dim=1).clamp_min(1e-10)
    per = 10.0 * torch.log10(1.0 / mse)
    return per.float() if per_image else float(per.mean())


def pixel_std(samples: Tensor, n_samples: int) -> Tensor:
    """Per-pixel standard deviation across the samples drawn for the same input: *where* a
    translator is uncertain (:func:`sample_diversity` gives one number for how much).

    Arguments:
        samples: ``(B * n_samples, C, H, W)`` images in ``repeat_interleave`` order (the layout
            of ``Net2Net.translate``): rows ``i * n_samples … (i + 1) * n_samples - 1`` belong
            to input ``i``.
        n_samples: samples per input (≥ 2).

    Returns:
        ``(B, H, W)``: the standard deviation over the samples, averaged over channels (0
        where all samples agree).

    >>> import torch
    >>> pixel_std(torch.zeros(8, 3, 4, 4), n_samples=4).abs().max().item()
    0.0
    >>> pixel_std(torch.rand(8, 3, 4, 4), n_samples=4).shape
    torch.Size([2, 4, 4])
    """
    s = torch.as_tensor(samples).detach()
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an int >= 2, got {n_samples!r}")
    if s.ndim != 4 or s.shape[0] % n_samples or s.shape[0] == 0:
        raise ValueError(f"samples must be (B * n_samples, C, H, W) with n_samples={n_samples}, "
                         f"got shape {tuple(s.shape)}")
    s = s.double().reshape(s.shape[0] // n_samples, n_samples, *s.shape[1:])
    return s.std(dim=1).mean(dim=1).float()


def diversity_vs_ambiguity(diversity: Tensor, ambiguity: Tensor, quantile: float = 0.25
                           ) -> dict[str, float]:
    """Is the spread of the samples larger where the input leaves more open?

    The maps are compared pixel by pixel over the whole batch (their Pearson correlation, and
    the mean diversity in the most ambiguous ``quantile`` of the pixels divided by that in the
    least ambiguous ``quantile``) and image by image (the correlation of the per-image means:
    do inputs that leave more open get more varied samples?). For superresolution a natural
    ambiguity map is the detail that the low-resolution input lost, ``|truth −
    bicubic(low_res)|`` (averaged over channels): flat regions are determined by the
    low-resolution pixels, edges and texture are not.

    Arguments:
        diversity: ``(B, H, W)`` from :func:`pixel_std`.
        ambiguity: ``(B, H, W)`` (or ``(B, C, H, W)``, averaged over channels).
        quantile: the share of pixels at each end.

    Returns:
        ``{"correlation": r, "ratio": high / low, "high": ..., "low": ...,
        "image_correlation": r of the per-image means}``.

    >>> import torch
    >>> amb = torch.rand(4, 8, 8)
    >>> out = diversity_vs_ambiguity(2 * amb, amb)
    >>> round(out["correlation"], 6), out["ratio"] > 1
    (1.0, True)
    """
    d = torch.as_tensor(diversity).detach().double()
    a = torch.as_tensor(ambiguity).detach().double()
    if a.ndim == 4:
        a = a.mean(dim=1)
    if d.shape != a.shape or d.ndim != 3:
        raise ValueError(f"diversity and ambiguity must be (B, H, W) maps of one shape, got "
                         f"{tuple(d.shape)} and {tuple(a.shape)}")
    if not 0 < quantile <= 0.5:
        raise ValueError(f"quantile must be in (0, 0.5], got {quantile}")
    def pearson(x: Tensor, y: Tensor) -> float:
        xc, yc = x - x.mean(), y - y.mean()
        return float((xc * yc).sum() / (xc.norm() * yc.norm()).clamp_min(1e-30))

    per_image = pearson(d.flatten(1).mean(1), a.flatten(1).mean(1)) if len(d) > 1 else 0.0
    d, a = d.flatten(), a.flatten()
    order = torch.argsort(a)
    k = max(1, int(round(quantile * a.numel())))
    low, high = float(d[order[:k]].mean()), float(d[order[-k:]].mean())
    return {"correlation": pearson(d, a), "ratio": high / max(low, 1e-30), "high": high,
            "low": low, "image_correlation": per_image}


def sharpness(images: Tensor) -> float:
    """Mean magnitude of the image gradient (finite differences, over pixels, channels and
    images): blurry images score low, noisy or detailed ones high. Compare it with the same
    number of the true images.

    >>> import torch
    >>> sharpness(torch.zeros(1, 3, 8, 8))
    0.0
    >>> sharpness(torch.rand(1, 3, 8, 8)) > sharpness(torch.full((1, 3, 8, 8), 0.5))
    True
    """
    x = _image_batch(images, "images")
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return float(torch.sqrt(dx[..., :-1, :] ** 2 + dy[..., :, :-1] ** 2).mean())


def content_preservation(predicted: dict[str, Tensor], reference: dict[str, Tensor] | Tensor,
                         names: tuple[str, ...] | list[str] = ("shape", "color", "size",
                                                                "position"),
                         all_names: tuple[str, ...] | list[str] | None = None
                         ) -> dict[str, float]:
    """How often the factors read from a translation equal those of its source.

    Arguments:
        predicted: ``{factor: (N,)}`` labels read from the translated images (e.g.
            ``AttributeClassifier.predict``).
        reference: the source's labels, as a dict like ``predicted`` or an ``(N, F)`` table
            whose columns are ``all_names``.
        names: the factors that a translation should keep (default: all but the background).
        all_names: the column names of a table ``reference`` (default: the shapes factors,
            :data:`n2nlib.data.FACTOR_NAMES`).

    Returns:
        ``{factor: fraction equal}`` for each of ``names``, and ``"all"``: the fraction of
        images where *every* one of them is equal.

    >>> import torch
    >>> pred = {"shape": torch.tensor([0, 1, 2]), "color": torch.tensor([1, 1, 1])}
    >>> ref = {"shape": torch.tensor([0, 1, 0]), "color": torch.tensor([1, 1, 1])}
    >>> content_preservation(pred, ref, names=("shape", "color"))
    {'shape': 0.6666666666666666, 'color': 1.0, 'all': 0.6666666666666666}
    """
    if isinstance(reference, Tensor):
        if all_names is None:
            from n2nlib.data import FACTOR_NAMES

            all_names = FACTOR_NAMES
        if reference.ndim != 2 or reference.shape[1] != len(all_names):
            raise ValueError(f"a reference table must be (N, {len(all_names)}) with columns "
                             f"{list(all_names)}, got {tuple(reference.shape)}")
        reference = {n: reference[:, j] for j, n in enumerate(all_names)}
    missing = [n for n in names if n not in predicted or n not in reference]
    if missing or not names:
        raise ValueError(f"predicted and reference need labels for {list(names)}; missing "
                         f"{missing}")
    equal = []
    for n in names:
        p = torch.as_tensor(predicted[n]).detach().cpu().long().flatten()
        r = torch.as_tensor(reference[n]).detach().cpu().long().flatten()
        if p.shape != r.shape or p.numel() == 0:
            raise ValueError(f"factor {n!r}: predicted and reference must have the same "
                             f"non-empty length, got {p.numel()} and {r.numel()}")
        equal.append(p == r)
    eq = torch.stack(equal, dim=1)
    out = {n: float(eq[:, j].double().mean()) for j, n in enumerate(names)}
    out["all"] = float(eq.all(dim=1).double().mean())
    return out


def linear_probe_accuracy(features: Tensor, labels: Tensor, *, test_fraction: float = 0.3,
                          seed: int = 0, test_features: Tensor | None = None,
                          test_labels: Tensor | None = None) -> float:
    """How well a linear classifier predicts ``labels`` from ``features`` (held-out accuracy).

    A logistic regression (scikit-learn, standardised features) is fitted on a random
    ``1 - test_fraction`` of the rows and scored on the rest. Chance level means the features
    hold no *linearly readable* information about the labels: e.g. the residual ``v`` of a
    cINN conditioned on the labels should sit at chance, the representation it came from far
    above it. With ``test_features`` and ``test_labels`` the probe is fitted on *all* rows and
    scored on that separate set instead — a transfer test, e.g. from training phrasings to
    held-out ones.

    Arguments:
        features: ``(N, D)``.
        labels: ``(N,)`` integer classes.
        test_fraction: share of rows held out for scoring (without a separate test set).
        seed: seed of the split.
        test_features: ``(M, D)``, a separate test set (with ``test_labels``).
        test_labels: ``(M,)``.

    Returns:
        Held-out accuracy in [0, 1].

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.randint(0, 2, (400,), generator=g)
    >>> x = torch.randn(400, 3, generator=g)
    >>> linear_probe_accuracy(x + 4.0 * y[:, None], y) > 0.95
    True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _as_2d_numpy(features, "features")
    y = torch.as_tensor(labels).detach().cpu().long().numpy().ravel()
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"features and labels need the same number of rows, got {x.shape[0]} "
                         f"and {y.shape[0]}")
    if (test_features is None) != (test_labels is None):
        raise ValueError("give test_features and test_labels together")
    if test_features is not None:
        x_test = _as_2d_numpy(test_features, "test_features")
        y_test = torch.as_tensor(test_labels).detach().cpu().long().numpy().ravel()
        if x_test.shape[1] != x.shape[1] or y_test.shape[0] != x_test.shape[0]:
            raise ValueError(f"test_features must be (M, {x.shape[1]}) with M test_labels, got "
                             f"{x_test.shape} and {y_test.shape[0]} labels")
        x_train, y_train = x, y
    else:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        order = rng.permutation(x.shape[0])
        n_test = max(1, int(round(test_fraction * x.shape[0])))
        test, train = order[:n_test], order[n_test:]
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    if len(np.unique(y_train)) < 2:
        raise ValueError("the training part of the split holds a single class")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(x_train, y_train)
    return float((clf.predict(x_test) == y_test).mean())


