"""Exact 2-D signed distance functions (negative inside), vectorised over torch tensors.

Coordinates are y-up. Formulas after Inigo Quilez, "2D distance functions"
(https://iquilezles.org/articles/distfunctions2d/).
"""

from __future__ import annotations

import math

import torch

_SQRT3 = math.sqrt(3.0)


def sd_circle(x: torch.Tensor, y: torch.Tensor, r: float = 1.0) -> torch.Tensor:
    """Circle of radius ``r`` centred at the origin."""
    return torch.sqrt(x * x + y * y) - r


def sd_box(x: torch.Tensor, y: torch.Tensor, b: float) -> torch.Tensor:
    """Axis-aligned square of half-side ``b``."""
    dx = x.abs() - b
    dy = y.abs() - b
    outside = torch.sqrt(dx.clamp(min=0) ** 2 + dy.clamp(min=0) ** 2)
    return outside + torch.maximum(dx, dy).clamp(max=0)


def sd_triangle(x: torch.Tensor, y: torch.Tensor, r: float) -> torch.Tensor:
    """Equilateral triangle pointing up, half-side ``r``, centroid at the origin."""
    x = x.abs() - r
    y = y + r / _SQRT3
    fold = (x + _SQRT3 * y) > 0
    x, y = (
        torch.where(fold, (x - _SQRT3 * y) / 2, x),
        torch.where(fold, (-_SQRT3 * x - y) / 2, y),
    )
    x = x - x.clamp(min=-2 * r, max=0)
    return -torch.sqrt(x * x + y * y) * torch.sign(y)


def sd_star5(x: torch.Tensor, y: torch.Tensor, r: float, rf: float) -> torch.Tensor:
    """Five-pointed star pointing up, outer radius ``r``, inner/outer ratio controlled by ``rf``."""
    k1x, k1y = 0.809016994375, -0.587785252292
    k2x, k2y = -k1x, k1y
    x = x.abs()
    d = (k1x * x + k1y * y).clamp(min=0)
    x, y = x - 2 * d * k1x, y - 2 * d * k1y
    d = (k2x * x + k2y * y).clamp(min=0)
    x, y = x - 2 * d * k2x, y - 2 * d * k2y
    x = x.abs()
    y = y - r
    bax, bay = -rf * k1y, rf * k1x - 1.0
    h = ((x * bax + y * bay) / (bax * bax + bay * bay)).clamp(0.0, r)
    return torch.sqrt((x - bax * h) ** 2 + (y - bay * h) ** 2) * torch.sign(y * bax - x * bay)


def sd_heart(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Heart with its tip at the origin, about 1.2 wide and 1.1 tall."""
    x = x.abs()
    lobe = torch.sqrt((x - 0.25) ** 2 + (y - 0.75) ** 2) - math.sqrt(2.0) / 4
    s = (x + y).clamp(min=0) * 0.5
    lower = torch.sqrt(torch.minimum(x * x + (y - 1) ** 2, (x - s) ** 2 + (y - s) ** 2))
    return torch.where(x + y > 1.0, lobe, lower * torch.sign(x - y))
