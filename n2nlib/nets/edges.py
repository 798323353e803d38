r"""Hand-made source experts for image-to-image translation (the paper's Fig. 3, 6, 7).

The paper pairs one autoencoder g with *different* source experts f to solve different
image-to-image tasks; Net2Net only needs each f's representation :math:`z_\Phi = \Phi(x)`.
Here are the small, fixed (parameter-free) experts the semantic-synthesis notebook uses:

* :class:`SobelEdges` — an edge map (Sobel gradient magnitude of the luminance): edge-to-image.
* :class:`Grayscale` — the luminance alone: colorisation.
* :class:`LabelMaps` — a segmentation label map as one-hot channels (optionally average-pooled
  to a coarser grid): semantic image synthesis from label maps (Sec. 4.2, Fig. 7a, 14).
* :class:`AttributeVectors` — the factor labels of an image as concatenated one-hot vectors:
  attribute modification (Fig. 6), where "attribute vectors" themselves are :math:`z_\Phi`.

The image experts return *spatial* codes ``(B, C, H, W)`` and say so with ``latent_shape``;
:class:`~n2nlib.flows.ConditionalINN` then embeds them with the convolutional embedder of
Table S3b (``Net2Net`` builds it from ``latent_shape``). ``dim`` is the flattened size.

>>> import torch
>>> edges = SobelEdges(size=16)
>>> edges.latent_shape, edges.dim
((1, 16, 16), 256)
>>> LabelMaps(n_classes=3, size=8, pool=4).encode(torch.zeros(2, 8, 8, dtype=torch.long)).shape
torch.Size([2, 3, 4, 4])
>>> AttributeVectors({"shape": ["a", "b"], "size": ["s", "m", "l"]}).encode(
...     torch.tensor([[1, 2]])).tolist()
[[0.0, 1.0, 0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from n2nlib.nets.blocks import check_images

__all__ = [
    "luminance",
    "sobel",
    "SobelEdges",
    "Grayscale",
    "LabelMaps",
    "AttributeVectors",
    "mask_center",
]

#: ITU-R BT.601 luma weights of R, G, B.
LUMA = (0.299, 0.587, 0.114)


def luminance(images: Tensor) -> Tensor:
    """Luma ``0.299 R + 0.587 G + 0.114 B`` of RGB images; grey images pass through.

    Arguments:
        images: ``(B, 3, H, W)`` or ``(B, 1, H, W)``.

    Returns:
        ``(B, 1, H, W)``.

    >>> luminance(torch.ones(1, 3, 2, 2)).flatten().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be (B, 3, H, W) or (B, 1, H, W), got {got}")
    if images.shape[1] == 1:
        return images
    w = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * w).sum(dim=1, keepdim=True)


def sobel(images: Tensor) -> Tensor:
    r"""Sobel gradient magnitude of the luminance, scaled so that a step of height 1 gives 1.

    The 3×3 Sobel kernels :math:`G_x = [1, 2, 1]^T [-1, 0, 1]` and :math:`G_y = G_x^T` are
    applied with replicated borders (so the image border is not an edge);
    :math:`\sqrt{G_x^2 + G_y^2} / 4`.

    Arguments:
        images: ``(B, C, H, W)`` with ``C`` 1 or 3, values in [0, 1].

    Returns:
        ``(B, 1, H, W)`` edge strength in ``[0, √2]``.

    >>> img = torch.zeros(1, 1, 4, 6); img[..., 3:] = 1.0
    >>> sobel(img)[0, 0, 0].tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    """
    gray = luminance(images)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
                      dtype=gray.dtype, device=gray.device)
    kernels = torch.stack([kx, kx.T])[:, None]  # (2, 1, 3, 3)
    grad = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), kernels)
    return grad.pow(2).sum(dim=1, keepdim=True).sqrt() / 4.0


class _ImageSource:
    """Shared parts of the parameter-free image experts: input checks and ``latent_shape``."""

    channels_in: int = 3
    name: str = "image-source"

    def __init__(self, size: int, channels_out: int, pool: int | None) -> None:
        if not isinstance(size, int) or size < 2:
            raise ValueError(f"size must be an int >= 2, got {size!r}")
        if pool is not None and (not isinstance(pool, int) or pool < 1 or size % pool):
            raise ValueError(f"pool must be a positive int that divides size={size}, got {pool!r}")
        self.size = size
        self.pool = pool
        side = pool or size
        self.latent_shape = (channels_out, side, side)
        self.dim = int(math.prod(self.latent_shape))

    def _pool(self, maps: Tensor) -> Tensor:
        if self.pool is None or self.pool == self.size:
            return maps.contiguous()
        return F.adaptive_avg_pool2d(maps, self.pool)

    def _check(self, images: object) -> Tensor:
        return check_images(images, self.channels_in, self.size, name=f"{self.name} inputs")

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert."""
        return {"size": self.size, "pool": self.pool}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, pool={self.pool})"


class SobelEdges(_ImageSource):
    """Edge maps as a source expert: :func:`sobel` of RGB images, ``(B, 1, S, S)``.

    Arguments:
        size: image side ``S``.
        threshold: if given, binarise (``1`` where the strength exceeds it), as a line drawing.
        pool: average-pool the map to ``pool × pool``.

    >>> img = torch.zeros(1, 3, 8, 8); img[..., 2:6, 2:6] = 1.0
    >>> e = SobelEdges(size=8, threshold=0.5).encode(img)[0, 0]
    >>> e[4].tolist()   # a row through the square: edges at its left and right sides
    [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    """

    name = "sobel-edges"

    def __init__(self, size: int = 32, threshold: float | None = None,
                 pool: int | None = None) -> None:
        super().__init__(size, 1, pool)
        if threshold is not None and not threshold >= 0:
            raise ValueError(f"threshold must be a number >= 0, got {threshold!r}")
        self.threshold = threshold

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """``(B, 1, S', S')`` edge strength of ``(B, 3, S, S)`` images in [0, 1]."""
        edges = sobel(self._check(images))
        if self.threshold is not None:
            edges = (edges > self.threshold).to(edges.dtype)
        return self._pool(edges)

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert."""
        return {**super().get_config(), "threshold": self.threshold}


class Grayscale(_ImageSource):
    """The luminance of RGB images as a source expert, ``(B, 1, S, S)`` (colorisation).

    >>> Grayscale(size=4).encode(torch.ones(2, 3, 4, 4)).shape
    torch.Size([2, 1, 4, 4])
    """

    name = "grayscale"

    def __init__(self, size: int = 32, pool: int | None = None) -> None:
        super().__init__(size, 1, pool)

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """``(B, 1, S', S')`` luma of ``(B, 3, S, S)`` images in [0, 1]."""
        return self._pool(luminance(self._check(images)))


class LabelMaps(_ImageSource):
    """Segmentation label maps as one-hot channels: a source expert for semantic synthesis.

    ``encode`` takes integer label maps ``(B, S, S)`` (e.g. a segmenter's ``predict_masks``, or
    masks drawn by hand) and returns ``(B, n_classes, S', S')``: the one-hot map, average-pooled
    to ``pool × pool`` if asked (each cell then holds the fraction of its pixels per class —
    smaller codes, the same boundaries up to a sub-cell blur).

    Arguments:
        n_classes: number of classes (background included).
        size: label map side ``S``.
        pool: output side ``S'`` (a divisor of ``S``), or ``None`` for ``S``.

    Raises:
        ValueError: on ``encode``, labels outside ``[0, n_classes)`` or a wrong shape.

    >>> maps = torch.zeros(1, 4, 4, dtype=torch.long); maps[0, :2, :2] = 1
    >>> LabelMaps(2, size=4, pool=2).encode(maps)[0, 1].tolist()
    [[1.0, 0.0], [0.0, 0.0]]
    """

    name = "label-maps"

    def __init__(self, n_classes: int, size: int = 32, pool: int | None = None) -> None:
        if not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
        super().__init__(size, n_classes, pool)
        self.n_classes = n_classes

    @torch.no_grad()
    def encode(self, maps: Tensor) -> Tensor:
        """``(B, n_classes, S', S')`` one-hot (pooled) maps of ``(B, S, S)`` labels, in torch's
        default floating dtype."""
        if not isinstance(maps, Tensor) or maps.ndim != 3 or tuple(maps.shape[1:]) != (
                self.size, self.size):
            got = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
            raise ValueError(f"label maps must be (B, {self.size}, {self.size}) integer labels, "
                             f"got {got}")
        if maps.is_floating_point() or maps.dtype == torch.bool:
            raise TypeError(f"label maps must be integer labels, got dtype {maps.dtype}")
        if maps.numel() and (int(maps.min()) < 0 or int(maps.max()) >= self.n_classes):
            raise ValueError(f"labels must be in [0, {self.n_classes - 1}], got values in "
                             f"[{int(maps.min())}, {int(maps.max())}]")
        onehot = F.one_hot(maps.long(), self.n_classes).permute(0, 3, 1, 2)
        onehot = onehot.to(torch.get_default_dtype())
        return self._pool(onehot)

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert."""
        return {"n_classes": self.n_classes, **super().get_config()}

    def __repr__(self) -> str:
        return f"LabelMaps(n_classes={self.n_classes}, size={self.size}, pool={self.pool})"


class AttributeVectors:
    """Factor labels as concatenated one-hot vectors: attribute vectors as :math:`z_\\Phi`.

    The paper's attribute modification (Fig. 6) uses CelebA's binary attribute labels directly
    as the source representation; here the factors of the shapes data (or any factors) play
    that role: ``encode(labels (B, F)) -> (B, Σ n_values)``.

    Arguments:
        factors: ``{factor: [value names]}`` in column order (default: the shapes factors,
            :data:`n2nlib.data.FACTORS`).

    Attributes:
        dim: the total number of values.
        offsets: where each factor's block starts.

    >>> a = AttributeVectors()
    >>> a.dim, a.names
    (26, ['shape', 'color', 'size', 'position', 'background'])
    >>> a.decode(a.encode(torch.tensor([[4, 7, 1, 8, 1]]))).tolist()
    [[4, 7, 1, 8, 1]]
    """

    name = "attribute-vectors"

    def __init__(self, factors: Mapping[str, Sequence[str]] | None = None) -> None:
        if factors is None:
            from n2nlib.data import FACTORS

            factors = FACTORS
        if not isinstance(factors, Mapping) or not factors:
            raise TypeError(f"factors must be a non-empty mapping name -> values, got {factors!r}")
        self.factors = {str(k): [str(v) for v in values] for k, values in factors.items()}
        if any(len(v) < 1 for v in self.factors.values()):
            raise ValueError("every factor needs at least one value")
        self.names = list(self.factors)
        self.sizes = [len(v) for v in self.factors.values()]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.dim = sum(self.sizes)

    def _labels(self, labels: object) -> Tensor:
        labels = torch.as_tensor(labels)
        if labels.ndim != 2 or labels.shape[1] != len(self.names):
            raise ValueError(f"labels must be (B, {len(self.names)}) with columns {self.names}, "
                             f"got {tuple(labels.shape)}")
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        sizes = torch.tensor(self.sizes)
        if labels.numel() and (bool((labels < 0).any()) or bool((labels >= sizes).any())):
            raise ValueError(f"labels out of range: column j must lie in [0, {self.sizes}[j])")
        return labels.long()

    @torch.no_grad()
    def encode(self, labels: Tensor) -> Tensor:
        """``(B, dim)`` (torch's default floating dtype): one one-hot block per factor."""
        labels = self._labels(labels)
        dtype = torch.get_default_dtype()
        blocks = [F.one_hot(labels[:, j], n).to(dtype) for j, n in enumerate(self.sizes)]
        return torch.cat(blocks, dim=1)

    def decode(self, vectors: Tensor) -> Tensor:
        """The labels ``(B, F)``: the argmax of each block (inverse of :meth:`encode`)."""
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors must be (B, {self.dim}), got {tuple(vectors.shape)}")
        return torch.stack([vectors[:, o : o + n].argmax(dim=1)
                            for o, n in zip(self.offsets, self.sizes, strict=True)], dim=1)

    def with_value(self, labels: Tensor, factor: str, value: int | str) -> Tensor:
        """A copy of ``labels`` with one factor set to ``value`` (an index or a value name).

        >>> AttributeVectors().with_value(torch.tensor([[0, 0, 0, 0, 0]]), "color", "cyan").tolist()
        [[0, 7, 0, 0, 0]]
        """
        if factor not in self.factors:
            raise ValueError(f"factor must be one of {self.names}, got {factor!r}")
        j = self.names.index(factor)
        if isinstance(value, str):
            if value not in self.factors[factor]:
                raise ValueError(f"{factor} must be one of {self.factors[factor]}, got {value!r}")
            value = self.factors[factor].index(value)
        if not 0 <= int(value) < self.sizes[j]:
            raise ValueError(f"{factor} index must be in [0, {self.sizes[j]}), got {value}")
        out = self._labels(labels).clone()
        out[:, j] = int(value)
        return out

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert."""
        return {"factors": self.factors}

    def __repr__(self) -> str:
        return f"AttributeVectors({dict(zip(self.names, self.sizes, strict=True))})"


def mask_center(images: Tensor, fraction: float = 0.5, fill: float = 0.5) -> Tensor:
    """Grey out a centred square of each image (the input of inpainting).

    Arguments:
        images: ``(B, C, H, W)``.
        fraction: the square's side as a fraction of the image side.
        fill: the value written into it.

    Returns:
        A masked copy.

    >>> mask_center(torch.ones(1, 1, 4, 4), 0.5, 0.0)[0, 0].tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    out = images.clone()
    h, w = images.shape[-2:]
    sh, sw = max(1, round(h * fraction)), max(1, round(w * fraction))
    y0, x0 = (h - sh) // 2, (w - sw) // 2
    out[..., y0 : y0 + sh, x0 : x0 + sw] = fill
    return out
