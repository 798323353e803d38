r"""A deformation that keeps an image's appearance and nothing of its layout: the
appearance mosaic of notebook 05.

The disentangling experiment reads its condition from a deformed copy :math:`d(y)`; whatever
:math:`d` keeps, the transfer takes from the appearance source. The paper's warp keeps where
things are and how big they are; shuffling the warped image's tiles removes where, but not
how big: a large shape leaves more tiles of its colour in any order (a linear probe reads
the size from :math:`\Theta(d(y))` in 0.71–0.76 of the images, chance 0.50), and the transfer
then takes the size from the wrong image. :class:`AppearanceMosaic` builds a new image from
two things it estimates from the pixels alone — no labels, no masks:

* **the foreground colour**: the median colour of the ``fg_pixels`` pixels farthest from the
  image's median colour (the shape's pixels whenever the shape covers at least that many);
* **the background**: the ``bg_fraction`` of 4×4 tiles closest to the median colour (tiles of
  the background, plain or photo).

With ``background="shuffled"`` the output is a grid of background tiles drawn at random from
those; with ``background="in place"`` the image keeps its own tiles and only the
``shape_tiles`` most distinct ones (a fixed fraction, more than a large shape covers) are
replaced by background tiles drawn at random — the background's layout stays, the shape's
footprint does not. Either way ``fg_tiles`` tiles of the foreground colour are then put at
random places. How much of the image the shape covered, where it was and what outline it had
are gone by construction; the colour and the background stay.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["AppearanceMosaic"]


class AppearanceMosaic:
    """``d(images, seed) -> images``: the appearance of each image, in a random mosaic.

    Arguments:
        tile: side of the tiles (it divides the image side).
        fg_tiles: how many tiles of the foreground colour each output holds.
        fg_pixels: how many of the most distinct pixels make the foreground colour.
        bg_fraction: the fraction of tiles, the least distinct ones, that the background is
            drawn from.
        background: ``"shuffled"`` (a new grid of background tiles) or ``"in place"`` (the
            image's own tiles, its most distinct ones replaced).
        shape_tiles: with ``"in place"``, the fraction of tiles replaced.

    Raises:
        ValueError: sizes that do not fit (checked when called, against the images).

    >>> images = torch.zeros(2, 3, 16, 16)
    >>> images[:, 0, 2:6, 2:6] = 1.0                       # a red square on black
    >>> out = AppearanceMosaic(fg_tiles=3, fg_pixels=8)(images, seed=0)
    >>> out.shape, int((out[0, 0] == 1.0).sum())           # three 4×4 tiles of red
    (torch.Size([2, 3, 16, 16]), 48)
    """

    def __init__(self, tile: int = 4, fg_tiles: int = 8, fg_pixels: int = 24,
                 bg_fraction: float = 0.5, background: str = "shuffled",
                 shape_tiles: float = 0.3) -> None:
        for name, value in (("tile", tile), ("fg_tiles", fg_tiles), ("fg_pixels", fg_pixels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 < float(bg_fraction) <= 1.0:
            raise ValueError(f"bg_fraction must be in (0, 1], got {bg_fraction!r}")
        if background not in ("shuffled", "in place"):
            raise ValueError(f"background must be 'shuffled' or 'in place', got {background!r}")
        if not 0.0 < float(shape_tiles) < 1.0:
            raise ValueError(f"shape_tiles must be in (0, 1), got {shape_tiles!r}")
        self.tile, self.fg_tiles, self.fg_pixels = tile, fg_tiles, fg_pixels
        self.bg_fraction, self.shape_tiles = float(bg_fraction), float(shape_tiles)
        self.background = background

    def __repr__(self) -> str:
        return (f"AppearanceMosaic(tile={self.tile}, fg_tiles={self.fg_tiles}, "
                f"fg_pixels={self.fg_pixels}, bg_fraction={self.bg_fraction}, "
                f"background={self.background!r}, shape_tiles={self.shape_tiles})")

    def __call__(self, images: Tensor, seed: int | None = None) -> Tensor:
        """The mosaics of ``images`` ``(B, C, H, W)``; the same ``seed`` gives the same ones."""
        if not isinstance(images, Tensor) or images.ndim != 4 or not images.is_floating_point():
            raise ValueError(f"images must be a float tensor (B, C, H, W), got "
                             f"{getattr(images, 'shape', type(images).__name__)}")
        b, c, h, w = images.shape
        t = self.tile
        if h % t or w % t:
            raise ValueError(f"the tile side {t} must divide the image size {h}×{w}")
        rows, cols = h // t, w // t
        n = rows * cols
        if self.fg_tiles > n or self.fg_pixels > h * w:
            raise ValueError(f"fg_tiles={self.fg_tiles} and fg_pixels={self.fg_pixels} must fit "
                             f"in {n} tiles of {h}×{w} pixels")
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        flat = images.flatten(2)                                          # (B, C, HW)
        distance = (flat - flat.median(dim=2).values[:, :, None]).norm(dim=1)  # (B, HW)
        far = distance.topk(self.fg_pixels, dim=1).indices
        colour = flat.gather(2, far[:, None, :].expand(b, c, -1)).median(dim=2).values
        tiles = (images.unfold(2, t, t).unfold(3, t, t)                   # (B, C, r, c, t, t)
                 .permute(0, 2, 3, 1, 4, 5).reshape(b, n, c, t, t))
        per_tile = (distance.view(b, rows, t, cols, t).permute(0, 1, 3, 2, 4)
                    .reshape(b, n, t * t))
        keep = max(1, int(n * self.bg_fraction))
        if self.background == "shuffled":
            background = per_tile.mean(dim=2).topk(keep, dim=1, largest=False).indices
            drawn = background.gather(1, torch.randint(0, keep, (b, n), generator=gen).to(
                background.device))
            out = tiles.gather(1, drawn[:, :, None, None, None].expand(b, n, c, t, t)).clone()
        else:  # the tiles that hold any distinct pixel go, the others stay where they are
            tile_distance = per_tile.amax(dim=2)
            background = tile_distance.topk(keep, dim=1, largest=False).indices
            m = max(1, int(n * self.shape_tiles))
            gone = tile_distance.topk(m, dim=1).indices
            drawn = background.gather(1, torch.randint(0, keep, (b, m), generator=gen).to(
                background.device))
            out = tiles.clone()
            out.scatter_(1, gone[:, :, None, None, None].expand(b, m, c, t, t),
                         tiles.gather(1, drawn[:, :, None, None, None].expand(b, m, c, t, t)))
        places = torch.rand(b, n, generator=gen).argsort(dim=1)[:, : self.fg_tiles]
        out.scatter_(1, places.to(out.device)[:, :, None, None, None].expand(
            b, self.fg_tiles, c, t, t),
            colour[:, None, :, None, None].expand(b, self.fg_tiles, c, t, t).contiguous())
        return out.view(b, rows, cols, c, t, t).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)
