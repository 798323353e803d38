r"""Random spatial deformations d(y): horizontal flip, thin-plate-spline warp, crop-and-resize.

The disentangling experiment of the paper (supplement C, Fig. S1 / 7b) trains a translator
between :math:`\Phi(d(y)) = \Theta(d(y))` and :math:`\Theta(y)`: the same encoder, once applied
to a *randomly deformed* copy of the image. Whatever d destroys (where things are, their pose and
outline) cannot be read from the condition, so the cINN has to put it into its residual
:math:`v`; whatever d keeps (colours, textures) comes from the condition. This module is that
d, in plain torch (one :func:`torch.nn.functional.grid_sample` per batch):

* **crop-and-resize**: a square window of side ``scale`` (a fraction of the image side, drawn
  log-uniformly) at a random place; ``scale > 1`` zooms out (outside the image is filled by
  ``padding_mode``). With ``padding_mode="wrap"`` the image is treated as periodic (a torus)
  and the window may sit anywhere: a random cyclic translation, which leaves no trace of where
  things were;
* **horizontal flip** with probability ``flip_p``;
* **thin-plate spline** (TPS): an ``n × n`` grid of control points, each moved by a random
  offset of up to ``tps_strength`` (in units of half the image side); the TPS is the smoothest
  map (minimal bending energy) that moves every control point exactly by its offset.

All three are composed into one sampling grid, so the image is resampled (bilinearly) once.
Coordinates are :func:`~torch.nn.functional.grid_sample`'s: ``(x, y)`` in ``[-1, 1]``, pixel
centres at ``(2j + 1)/S - 1`` (``align_corners=False``), ``y`` downwards.

Deformations are drawn per image from a :class:`torch.Generator`, so the same ``seed`` gives the
same deformations whatever the chunk size; :class:`DeformParams` holds the drawn values and can
be applied again to other images (e.g. to masks). :meth:`RandomDeformation.as_transform` makes it
a ``torchvision.transforms.v2`` transform that moves images and ``tv_tensors.Mask`` label maps
together. (torchvision has no thin-plate spline and draws one set of parameters per call, so a
batch is either deformed alike or image by image in a loop, 3.5× slower than one grid here:
``benchmarks/bench_deform_torchvision.py``.)

>>> import torch
>>> d = RandomDeformation(flip_p=0.5, tps_strength=0.1, crop_scale=(0.8, 1.0))
>>> images = torch.rand(4, 3, 16, 16)
>>> out = d(images, seed=0)
>>> out.shape, bool(out.min() >= 0) and bool(out.max() <= 1)
(torch.Size([4, 3, 16, 16]), True)
>>> bool(torch.equal(out, d(images, seed=0)))   # seeded
True
>>> params = d.sample(4, seed=0)
>>> bool(torch.allclose(d.apply(images, params), out))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = [
    "DeformParams",
    "RandomDeformation",
    "DeformTransform",
    "tps_control_points",
    "tps_coefficients",
    "tps_transform",
    "identity_grid",
    "deformation_grid",
    "random_deform",
    "shuffle_patches",
]

_PADDING = ("border", "reflection", "zeros", "wrap")


def tps_control_points(n: int, margin: float = 0.0, *, dtype: torch.dtype | None = None
                       ) -> Tensor:
    """An ``n × n`` grid of TPS control points in ``[-1 + margin, 1 - margin]²``.

    Arguments:
        n: points per side (``n >= 2``).
        margin: distance of the outer points from the image border (normalised units).
        dtype: floating dtype (default: torch's default).

    Returns:
        ``(n·n, 2)`` points ``(x, y)``, row by row.

    >>> tps_control_points(2).tolist()
    [[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n (control points per side) must be an int >= 2, got {n!r}")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    t = torch.linspace(-1 + margin, 1 - margin, n, dtype=dtype)
    y, x = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)


def _tps_kernel(a: Tensor, b: Tensor) -> Tensor:
    """``U(|a_i - b_j|)`` with ``U(r) = r² log r²`` (and ``U(0) = 0``): ``(..., N, K)``."""
    r2 = (a[..., :, None, :] - b[..., None, :, :]).pow(2).sum(-1)
    return torch.where(r2 > 0, r2 * torch.log(r2.clamp_min(1e-30)), torch.zeros_like(r2))


def tps_coefficients(points: Tensor, targets: Tensor) -> Tensor:
    r"""Solve for the thin-plate spline that maps ``points[k]`` to ``targets[..., k]`` exactly.

    The spline is :math:`s(q) = A\,[1, q] + \sum_k w_k\, U(\lVert q - p_k\rVert)` with
    :math:`U(r) = r^2 \log r^2` and the side conditions :math:`\sum_k w_k = 0`,
    :math:`\sum_k w_k p_k = 0` (no bending energy in the affine part).

    Arguments:
        points: control points ``(K, 2)``, ``K >= 3`` and not all on one line.
        targets: where they go, ``(B, K, 2)`` (or ``(K, 2)``).

    Returns:
        Coefficients ``(B, K + 3, 2)``: the ``K`` weights ``w`` then the affine ``A`` (rows for
        ``1, x, y``); computed in float64.

    Raises:
        ValueError: shapes that do not fit, or fewer than 3 points.

    >>> p = tps_control_points(3)
    >>> coef = tps_coefficients(p, p[None])      # no displacement: the identity map
    >>> (coef[0, -3:].round(decimals=6) + 0.0).tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    """
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] < 3:
        raise ValueError(f"points must be (K, 2) with K >= 3, got {tuple(points.shape)}")
    if targets.ndim == 2:
        targets = targets[None]
    k = points.shape[0]
    if targets.ndim != 3 or tuple(targets.shape[1:]) != (k, 2):
        raise ValueError(f"targets must be (B, {k}, 2), got {tuple(targets.shape)}")
    p = points.to(torch.float64)
    system = torch.zeros(k + 3, k + 3, dtype=torch.float64, device=points.device)
    system[:k, :k] = _tps_kernel(p, p)
    ones = torch.ones(k, 1, dtype=torch.float64, device=points.device)
    p1 = torch.cat([ones, p], dim=1)
    system[:k, k:] = p1
    system[k:, :k] = p1.T
    rhs = torch.zeros(targets.shape[0], k + 3, 2, dtype=torch.float64, device=points.device)
    rhs[:, :k] = targets.to(torch.float64)
    return torch.linalg.solve(system, rhs)


def tps_transform(query: Tensor, points: Tensor, coefficients: Tensor) -> Tensor:
    """Evaluate thin-plate splines at ``query`` points.

    Arguments:
        query: ``(B, N, 2)`` or ``(N, 2)`` (shared by the batch).
        points: the control points ``(K, 2)``.
        coefficients: ``(B, K + 3, 2)`` from :func:`tps_coefficients`.

    Returns:
        ``(B, N, 2)`` mapped points, in ``query``'s dtype.

    >>> p = tps_control_points(3)
    >>> moved = p + 0.1
    >>> out = tps_transform(p, p, tps_coefficients(p, moved[None]))
    >>> bool(torch.allclose(out[0], moved, atol=1e-6))   # control points go where they should
    True
    """
    b = coefficients.shape[0]
    k = points.shape[0]
    q = query.to(torch.float64)
    if q.ndim == 2:
        q = q[None].expand(b, -1, -1)
    u = _tps_kernel(q, points.to(torch.float64))  # (B, N, K)
    affine = torch.cat([torch.ones_like(q[..., :1]), q], dim=-1)  # (B, N, 3)
    out = u @ coefficients[:, :k] + affine @ coefficients[:, k:]
    return out.to(query.dtype)


def identity_grid(height: int, width: int, *, dtype: torch.dtype | None = None,
                  device: torch.device | str | None = None) -> Tensor:
    """Pixel centres in :func:`~torch.nn.functional.grid_sample` coordinates.

    Returns:
        ``(H, W, 2)`` with ``(x, y)`` in ``(-1, 1)`` (``align_corners=False``).

    >>> identity_grid(1, 2).tolist()
    [[[-0.5, 0.0], [0.5, 0.0]]]
    """
    ys = (torch.arange(height, dtype=dtype, device=device) * 2 + 1) / height - 1
    xs = (torch.arange(width, dtype=dtype, device=device) * 2 + 1) / width - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


@dataclass
class DeformParams:
    """The drawn parameters of a batch of deformations.

    Attributes:
        flip: bool ``(B,)``: mirror left–right.
        crop: ``(B, 3)``: window centre ``(cx, cy)`` and ``scale`` (side as a fraction of
            the image side), normalised coordinates.
        displacement: ``(B, K, 2)``: offsets of the TPS control points (normalised units).
        points: ``(K, 2)``: the TPS control points.
    """

    flip: Tensor
    crop: Tensor
    displacement: Tensor
    points: Tensor

    def __len__(self) -> int:
        return int(self.flip.shape[0])

    def __getitem__(self, index: slice | Tensor) -> DeformParams:
        return DeformParams(self.flip[index], self.crop[index], self.displacement[index],
                            self.points)

    @classmethod
    def identity(cls, n: int, tps_points: int = 3) -> DeformParams:
        """Parameters that leave images unchanged (no flip, full window, no displacement).

        >>> p = DeformParams.identity(2)
        >>> p.crop.tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
        """
        points = tps_control_points(tps_points)
        crop = torch.zeros(n, 3, dtype=points.dtype)
        crop[:, 2] = 1.0
        return cls(torch.zeros(n, dtype=torch.bool), crop,
                   torch.zeros(n, points.shape[0], 2, dtype=points.dtype), points)


def deformation_grid(params: DeformParams, height: int, width: int, *,
                     dtype: torch.dtype | None = None,
                     device: torch.device | str | None = None) -> Tensor:
    """The sampling grid of a batch of deformations (for :func:`~torch.nn.functional.grid_sample`).

    Output pixel ``q`` reads the input at ``crop(flip(tps(q)))``: the TPS warp moves the pixel,
    the flip mirrors it, the crop maps it into the window.

    Arguments:
        params: the deformations (``B`` of them).
        height, width: the output size.
        dtype, device: of the grid.

    Returns:
        ``(B, H, W, 2)``.

    >>> grid = deformation_grid(DeformParams.identity(1), 2, 2)
    >>> bool(torch.allclose(grid[0], identity_grid(2, 2)))
    True
    """
    base = identity_grid(height, width, dtype=torch.float64, device=device).reshape(-1, 2)
    b = len(params)
    points = params.points.to(device=device, dtype=torch.float64)
    disp = params.displacement.to(device=device, dtype=torch.float64)
    if bool((disp != 0).any()):
        coef = tps_coefficients(points, points[None] + disp)
        q = tps_transform(base, points, coef)  # (B, N, 2)
    else:
        q = base[None].expand(b, -1, -1).clone()
    flip = params.flip.to(device=device)
    q[..., 0] = torch.where(flip[:, None], -q[..., 0], q[..., 0])
    crop = params.crop.to(device=device, dtype=torch.float64)
    q = crop[:, None, :2] + crop[:, None, 2:3] * q
    return q.reshape(b, height, width, 2).to(dtype or torch.get_default_dtype())


class RandomDeformation:
    """The random deformation d of the disentangling experiment: crop, flip and TPS warp.

    Arguments:
        flip_p: probability of a left–right flip.
        tps_points: control points per side of the TPS grid (``n × n`` points).
        tps_strength: largest offset of a control point, in units of half the image side
            (each coordinate uniform in ``[-tps_strength, tps_strength]``); 0 switches the warp
            off.
        tps_margin: distance of the outer control points from the border (normalised).
        crop_scale: range ``(lo, hi)`` of the window side as a fraction of the image side
            (drawn log-uniformly); the window is placed uniformly where it fits (for
            ``scale > 1``, where it covers the image), or anywhere with ``"wrap"``.
            ``(1, 1)`` switches cropping off (with ``"wrap"``: leaves only the translation).
        padding_mode: what is read outside the image: ``"border"``, ``"reflection"``,
            ``"zeros"`` (as in :func:`~torch.nn.functional.grid_sample`) or ``"wrap"``
            (periodic: the opposite side of the image).
        batch_size: images resampled at once (memory: ``batch_size × H × W × K`` doubles for
            the TPS).
        shuffle_patches: after the warp, cut the image into square tiles of this side and
            put them back in a random order (:func:`shuffle_patches`; 0: off). The tiles
            keep the colours of the image and lose where things are and what outline they
            have: a condition that carries appearance only.

    Raises:
        ValueError: a probability outside [0, 1], a negative strength, a bad scale range,
            padding mode or tile side.

    >>> d = RandomDeformation(tps_strength=0.0, crop_scale=(1.0, 1.0), flip_p=1.0)
    >>> x = torch.rand(2, 3, 8, 8)
    >>> from torchvision.transforms.v2.functional import horizontal_flip
    >>> bool(torch.allclose(d(x, seed=1), horizontal_flip(x), atol=1e-6))
    True
    """

    def __init__(
        self,
        flip_p: float = 0.5,
        tps_points: int = 4,
        tps_strength: float = 0.15,
        tps_margin: float = 0.0,
        crop_scale: Sequence[float] = (0.7, 1.0),
        padding_mode: str = "border",
        batch_size: int = 512,
        shuffle_patches: int = 0,
    ) -> None:
        if not 0.0 <= float(flip_p) <= 1.0:
            raise ValueError(f"flip_p must be a probability in [0, 1], got {flip_p}")
        if float(tps_strength) < 0:
            raise ValueError(f"tps_strength must be >= 0, got {tps_strength}")
        if len(crop_scale) != 2 or not 0 < float(crop_scale[0]) <= float(crop_scale[1]):
            raise ValueError(f"crop_scale must be a range (lo, hi) with 0 < lo <= hi, got "
                             f"{tuple(crop_scale)}")
        if padding_mode not in _PADDING:
            raise ValueError(f"padding_mode must be one of {_PADDING}, got {padding_mode!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(shuffle_patches, int) or shuffle_patches < 0:
            raise ValueError(f"shuffle_patches must be an int >= 0, got {shuffle_patches!r}")
        self.shuffle_patches = shuffle_patches
        self.flip_p = float(flip_p)
        self.tps_points = tps_points
        self.tps_strength = float(tps_strength)
        self.tps_margin = float(tps_margin)
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))
        self.padding_mode = padding_mode
        self.batch_size = batch_size
        self.points = tps_control_points(tps_points, tps_margin, dtype=torch.float64)

    def __repr__(self) -> str:
        return (f"RandomDeformation(flip_p={self.flip_p}, tps_points={self.tps_points}, "
                f"tps_strength={self.tps_strength}, crop_scale={self.crop_scale}, "
                f"padding_mode={self.padding_mode!r}"
                + (f", shuffle_patches={self.shuffle_patches})" if self.shuffle_patches else ")"))

    def as_transform(self, seed: int | None = None) -> DeformTransform:
        """This deformation as a ``torchvision.transforms.v2`` transform (see
        :class:`DeformTransform`): in a ``v2.Compose``, the images and masks of one sample get
        the same draw.

        Arguments:
            seed: seed of the transform's own generator (default: torch's global one).
        """
        return DeformTransform(self, seed)

    def sample(self, n: int, seed: int | None = None, *,
               generator: torch.Generator | None = None) -> DeformParams:
        """Draw the parameters of ``n`` deformations.

        Arguments:
            n: how many.
            seed: seed of a fresh generator (ignored when ``generator`` is given).
            generator: draw from this generator instead (default: torch's global one when
                neither is given).

        Returns:
            A :class:`DeformParams`.
        """
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        k = self.points.shape[0]
        dt = torch.float64
        flip = torch.rand(n, generator=generator, dtype=dt) < self.flip_p
        lo, hi = self.crop_scale
        u = torch.rand(n, generator=generator, dtype=dt)
        scale = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
        # the window's centre may move this far from the middle (anywhere on a torus)
        room = torch.ones_like(scale) if self.padding_mode == "wrap" else (1.0 - scale).abs()
        centre = (2 * torch.rand(n, 2, generator=generator, dtype=dt) - 1) * room[:, None]
        disp = (2 * torch.rand(n, k, 2, generator=generator, dtype=dt) - 1) * self.tps_strength
        return DeformParams(flip, torch.cat([centre, scale[:, None]], dim=1), disp, self.points)

    def apply(self, images: Tensor, params: DeformParams, *, mode: str = "bilinear") -> Tensor:
        """Deform ``images`` with given parameters.

        Arguments:
            images: ``(B, C, H, W)`` floating point (any range; bilinear resampling keeps
                values within the input's range).
            params: ``B`` deformations (from :meth:`sample`).
            mode: ``"bilinear"`` or ``"nearest"`` (for label maps stored as floats).

        Returns:
            ``(B, C, H, W)``, same dtype and device.

        Raises:
            TypeError: not a floating tensor.
            ValueError: not ``(B, C, H, W)``, or ``B`` differs from the parameters'.
        """
        if not isinstance(images, Tensor) or not images.is_floating_point():
            raise TypeError("images must be a floating-point tensor (B, C, H, W), got "
                            + (f"dtype {images.dtype}" if isinstance(images, Tensor)
                               else type(images).__name__))
        if images.ndim != 4:
            raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
        if images.shape[0] != len(params):
            raise ValueError(f"{images.shape[0]} images but {len(params)} deformations")
        h, w = images.shape[-2:]
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            chunk = images[start : start + self.batch_size]
            grid = deformation_grid(params[start : start + self.batch_size], h, w,
                                    dtype=images.dtype, device=images.device)
            padding = self.padding_mode
            if padding == "wrap":
                grid, padding = torch.remainder(grid + 1.0, 2.0) - 1.0, "border"
            out.append(F.grid_sample(chunk, grid, mode=mode, padding_mode=padding,
                                     align_corners=False))
        return torch.cat(out) if out else images.clone()

    def __call__(self, images: Tensor, seed: int | None = None, *,
                 generator: torch.Generator | None = None) -> Tensor:
        """Deform each image with its own random draw.

        Arguments:
            images: ``(B, C, H, W)`` floating point, e.g. in [0, 1].
            seed: seed of the draws (same seed, same deformations).
            generator: draw from this generator instead.

        Returns:
            The deformed images, ``(B, C, H, W)``.
        """
        if not isinstance(images, Tensor) or images.ndim != 4:
            raise ValueError("images must be a tensor (B, C, H, W), got "
                             + (str(tuple(images.shape)) if isinstance(images, Tensor)
                                else type(images).__name__))
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        out = self.apply(images, self.sample(images.shape[0], generator=generator))
        if self.shuffle_patches:
            out = shuffle_patches(out, self.shuffle_patches, generator=generator)
        return out


class DeformTransform(v2.Transform):
    """A :class:`RandomDeformation` as a ``torchvision.transforms.v2`` transform.

    One call draws one deformation per image of the batch (``(B, C, H, W)``; one for
    ``(C, H, W)``) and applies it to every input of the sample: images (``tv_tensors.Image`` or
    plain tensors) are resampled bilinearly, ``tv_tensors.Mask`` label maps with nearest
    neighbours, so an image and its mask stay aligned. Patch shuffling, if set, moves the
    image's tiles only and is refused when a mask comes along.

    Arguments:
        deformation: the :class:`RandomDeformation` to draw from.
        seed: seed of the transform's generator (default: torch's global one).

    >>> d = RandomDeformation(tps_strength=0.2).as_transform(seed=0)
    >>> image = tv_tensors.Image(torch.rand(2, 3, 8, 8))
    >>> mask = tv_tensors.Mask((image[:, :1] > 0.5).long())
    >>> out_image, out_mask = d(image, mask)
    >>> type(out_mask).__name__, out_mask.dtype, tuple(out_image.shape)
    ('Mask', torch.int64, (2, 3, 8, 8))
    """

    def __init__(self, deformation: RandomDeformation, seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(deformation, RandomDeformation):
            raise TypeError(f"deformation must be a RandomDeformation, got "
                            f"{type(deformation).__name__}")
        self.deformation = deformation
        self.generator = None if seed is None else torch.Generator().manual_seed(int(seed))

    def make_params(self, flat_inputs: list) -> dict:
        shapes = {tuple(x.shape[:-3]) for x in flat_inputs
                  if isinstance(x, Tensor) and not isinstance(x, tv_tensors.Mask) and x.ndim >= 3}
        if len(shapes) != 1 or len(next(iter(shapes))) > 1:
            raise ValueError(f"DeformTransform needs images (C, H, W) or (B, C, H, W) of one "
                             f"batch size, got leading shapes {sorted(shapes)}")
        (lead,) = shapes
        if self.deformation.shuffle_patches and any(isinstance(x, tv_tensors.Mask)
                                                    for x in flat_inputs):
            raise ValueError("shuffle_patches moves image tiles that a mask cannot follow")
        params = self.deformation.sample(lead[0] if lead else 1, generator=self.generator)
        return {"params": params, "batched": bool(lead)}

    def transform(self, inpt, params: dict):
        if not isinstance(inpt, Tensor) or isinstance(inpt, tv_tensors.BoundingBoxes):
            return inpt
        is_mask = isinstance(inpt, tv_tensors.Mask)
        x = inpt.as_subclass(Tensor)
        shape = x.shape
        if is_mask:  # (H, W), (B, H, W), (1, H, W) or (B, 1, H, W) label maps
            x = x.reshape(len(params["params"]), 1, *shape[-2:]).double()
        elif not params["batched"]:
            x = x[None]
        out = self.deformation.apply(x if x.is_floating_point() else x.float(), params["params"],
                                     mode="nearest" if is_mask else "bilinear")
        if is_mask:
            out = out.round().to(inpt.dtype).reshape(shape)
        else:
            if self.deformation.shuffle_patches:
                out = shuffle_patches(out, self.deformation.shuffle_patches,
                                      generator=self.generator)
            out = out.to(inpt.dtype) if inpt.is_floating_point() else out
            out = out if params["batched"] else out[0]
        return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out


def shuffle_patches(images: Tensor, patch: int, seed: int | None = None, *,
                    generator: torch.Generator | None = None) -> Tensor:
    """Cut each image into ``patch × patch`` tiles and reassemble them in a random order.

    Arguments:
        images: ``(B, C, H, W)`` with ``H`` and ``W`` multiples of ``patch``.
        patch: side of a tile.
        seed: seed of the orders (ignored when ``generator`` is given).
        generator: draw the orders from this generator.

    Returns:
        ``(B, C, H, W)``: the same pixel values, each image's tiles permuted.

    >>> x = torch.arange(16.0).view(1, 1, 4, 4)
    >>> y = shuffle_patches(x, 2, seed=0)
    >>> sorted(y.flatten().tolist()) == x.flatten().tolist()
    True
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
    b, c, h, w = images.shape
    if patch < 1 or h % patch or w % patch:
        raise ValueError(f"the image side ({h}×{w}) must be a multiple of patch={patch}")
    if generator is None and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    rows, cols = h // patch, w // patch
    tiles = images.reshape(b, c, rows, patch, cols, patch).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(b, rows * cols, c, patch, patch)
    order = torch.rand(b, rows * cols, generator=generator).argsort(dim=1).to(images.device)
    tiles = tiles[torch.arange(b, device=images.device)[:, None], order]
    tiles = tiles.reshape(b, rows, cols, c, patch, patch).permute(0, 3, 1, 4, 2, 5)
    return tiles.reshape(b, c, h, w)


def random_deform(images: Tensor, seed: int | None = None, **kwargs: float) -> Tensor:
    """Deform ``images`` once with :class:`RandomDeformation` (``**kwargs`` its arguments).

    >>> random_deform(torch.rand(2, 3, 8, 8), seed=0, tps_strength=0.2).shape
    torch.Size([2, 3, 8, 8])
    """
    return RandomDeformation(**kwargs)(images, seed)
