"""Small matplotlib helpers for the notebooks: each draws one kind of picture and returns the
figure, so that a notebook cell stays one line and the committed notebooks stay small.

Figures are made at ``DPI`` (80) and a few inches wide; pass ``ax=`` to draw into an existing
axes (then the figure of that axes is returned).

>>> import torch
>>> fig = scatter(torch.randn(100, 2), title="samples")
>>> fig.axes[0].get_title()
'samples'
>>> close(fig)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DPI",
    "new_figure",
    "close",
    "density_heatmap",
    "evaluate_on_grid",
    "scatter",
    "image_grid",
    "training_curve",
]

#: Resolution of every figure made here (small PNGs keep the notebooks light).
DPI = 80


def _pyplot():
    # imported on first use: ``import n2nlib.course.plots`` stays cheap, and matplotlib picks its
    # backend (inline in a notebook, Agg without a display) only when a figure is made
    import matplotlib.pyplot as plt

    return plt


def new_figure(ncols: int = 1, nrows: int = 1, size: float = 3.0, dpi: int = DPI):
    """A figure with a grid of square-ish axes, ``size`` inches each.

    Arguments:
        ncols, nrows: the grid.
        size: inches per panel.
        dpi: resolution.

    Returns:
        ``(fig, axes)``: the axes as a flat list (also for a single panel).

    >>> fig, axes = new_figure(3)
    >>> len(axes)
    3
    >>> close(fig)
    """
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), dpi=dpi,
                             squeeze=False)
    fig.set_layout_engine("constrained")
    return fig, list(axes.ravel())


def close(fig) -> None:
    """Release a figure (after it was shown or saved), so memory does not pile up."""
    _pyplot().close(fig)


def _axes(ax):
    if ax is None:
        fig, (ax,) = new_figure()
        return fig, ax
    return ax.figure, ax


def _numpy(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x)


@torch.no_grad()
def evaluate_on_grid(
    log_prob: Callable[[Tensor], Tensor],
    extent: Sequence[float],
    n: int = 150,
    chunk: int = 8192,
    dtype: torch.dtype | None = None,
) -> tuple[np.ndarray, float]:
    """Evaluate a log-density on an ``n × n`` grid of cell centres over ``extent``.

    Arguments:
        log_prob: maps points ``(M, 2)`` to log-densities ``(M,)``.
        extent: ``(xmin, xmax, ymin, ymax)``.
        n: grid points per side.
        chunk: points per call of ``log_prob``.
        dtype: dtype of the points (default: torch's default dtype).

    Returns:
        ``(density, mass)``: the density ``(n, n)`` (rows are ``y``, as ``imshow`` with
        ``origin="lower"`` expects) and its integral over the box by the midpoint rule, which
        is close to 1 when the box holds the distribution.

    >>> import math, torch
    >>> density, mass = evaluate_on_grid(lambda p: -0.5 * p.pow(2).sum(1) - math.log(2 * math.pi),
    ...                                  (-6, 6, -6, 6), n=100)
    >>> density.shape, round(mass, 4)
    ((100, 100), 1.0)
    """
    from n2nlib.course.toy import grid

    points, _, area = grid(extent, n)
    points = points.to(dtype or torch.get_default_dtype())
    values = torch.cat([log_prob(points[i : i + chunk]).detach().cpu().double()
                        for i in range(0, points.shape[0], chunk)])
    density = values.exp().view(n, n).numpy()
    return density, float(density.sum() * area)


def density_heatmap(
    log_prob: Callable[[Tensor], Tensor],
    extent: Sequence[float],
    *,
    n: int = 150,
    ax=None,
    title: str | None = None,
    cmap: str = "magma",
    dtype: torch.dtype | None = None,
):
    """Draw ``exp(log_prob)`` over ``extent`` as a heat map.

    Arguments:
        log_prob: maps points ``(M, 2)`` to log-densities ``(M,)`` (e.g.
            ``lambda p: cinn.log_prob(p)`` or a toy distribution's ``log_prob``).
        extent: ``(xmin, xmax, ymin, ymax)``.
        n: grid points per side.
        ax: draw into this axes instead of a new figure.
        title: the panel title.
        cmap: a matplotlib colormap name.
        dtype: dtype of the grid points (match the model's parameters).

    Returns:
        The figure.
    """
    fig, ax = _axes(ax)
    density, _ = evaluate_on_grid(log_prob, extent, n=n, dtype=dtype)
    ax.imshow(density, origin="lower", extent=tuple(extent), cmap=cmap, aspect="equal",
              interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def scatter(
    points: Tensor | np.ndarray,
    *,
    ax=None,
    title: str | None = None,
    extent: Sequence[float] | None = None,
    color: str | Sequence | np.ndarray | None = None,
    size: float = 2.0,
    alpha: float = 0.5,
    label: str | None = None,
    cmap: str | None = None,
):
    """Scatter 2D points ``(N, 2)``.

    Arguments:
        points: the points.
        ax: draw into this axes instead of a new figure.
        title: the panel title.
        extent: ``(xmin, xmax, ymin, ymax)`` to fix the view (and equal aspect).
        color: one colour, or one value per point (with ``cmap``).
        size, alpha: marker size and opacity.
        label: legend label.
        cmap: colormap for per-point values.

    Returns:
        The figure.
    """
    fig, ax = _axes(ax)
    pts = _numpy(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {pts.shape}")
    if isinstance(color, Tensor):
        color = _numpy(color)
    ax.scatter(pts[:, 0], pts[:, 1], s=size, alpha=alpha, c=color, label=label, cmap=cmap,
               linewidths=0)
    if extent is not None:
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def image_grid(images: Tensor | np.ndarray, *, nrow: int = 8, ax=None, title: str | None = None,
               pad: int = 1):
    """Tile images into one picture.

    Arguments:
        images: ``(N, C, H, W)`` with ``C`` 1 or 3, or ``(N, H, W)``, values in ``[0, 1]``
            (clipped).
        nrow: images per row.
        ax: draw into this axes instead of a new figure.
        title: the panel title.
        pad: pixels between images.

    Returns:
        The figure.

    >>> import torch
    >>> fig = image_grid(torch.rand(10, 3, 8, 8), nrow=5)
    >>> close(fig)
    """
    arr = _numpy(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in (1, 3) or (N, H, W), "
                         f"got {arr.shape}")
    from torchvision.utils import make_grid

    n, c = arr.shape[:2]
    ncol = min(nrow, n)
    tiles = torch.from_numpy(np.clip(arr, 0, 1).astype(np.float32))
    canvas = make_grid(tiles, nrow=ncol, padding=pad, pad_value=1.0).permute(1, 2, 0).numpy()
    if ax is None:
        fig, (ax,) = new_figure(size=min(8.0, 0.5 + 0.9 * ncol))
    fig = ax.figure
    # nearest: crisp pixels when upscaled, and PNGs that compress (notebooks stay small)
    ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray" if c == 1 else None,
              vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def training_curve(history, *, ax=None, reference: float | None = None,
                   reference_label: str = "ground truth", title: str | None = None,
                   smooth: int = 50):
    """Plot a :class:`~n2nlib.train.History`: training loss (smoothed) and held-out NLL.

    Arguments:
        history: what :func:`n2nlib.train.fit` returned.
        ax: draw into this axes instead of a new figure.
        reference: a horizontal line, e.g. the true NLL of the data.
        reference_label: its legend label.
        title: the panel title.
        smooth: window of the running mean over the training loss.

    Returns:
        The figure.
    """
    fig, ax = _axes(ax)
    loss = np.asarray(history.loss, dtype=np.float64)
    if loss.size:
        window = max(1, min(smooth, loss.size))
        running = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(np.arange(running.size) + window - 1, running, lw=1, label="training NLL")
    if history.eval_nll:
        ax.plot(history.eval_step, history.eval_nll, "o-", ms=3, lw=1, label="held-out NLL")
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label=reference_label)
    if loss.size >= 20:  # leave out the first steps' large losses, which squash the rest
        settled = running[running.size // 10 :]
        late = [e for s, e in zip(history.eval_step, history.eval_nll) if s >= loss.size // 10]
        values = [settled.min(), settled.max(), *late, *([] if reference is None else [reference])]
        lo, hi = min(values), max(values)
        pad = 0.1 * (hi - lo) + 1e-3
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("step")
    ax.set_ylabel("nats")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def image_columns(columns: dict[str, Tensor | np.ndarray], *, size: float = 1.1,
                  fontsize: int = 8, dpi: int = DPI, rows: list[str] | None = None):
    """Images side by side in titled columns: row ``i`` of every column shows example ``i``
    (e.g. low-res input | bicubic | samples | truth, as in the paper's Fig. 4).

    Arguments:
        columns: ``{title: images (N, C, H, W)}`` in [0, 1]; every column has the same ``N``
            (sizes may differ: each image fills its cell).
        size: inches per image.
        fontsize: of the column titles.
        dpi: resolution (``size * dpi`` pixels per image on screen: ≥ 96 for 32-pixel images).
        rows: a label per row, written left of the first column.

    Returns:
        The figure.

    >>> import torch
    >>> fig = image_columns({"input": torch.rand(3, 3, 8, 8), "output": torch.rand(3, 3, 16, 16)})
    >>> [ax.get_title() for ax in fig.axes[:2]], len(fig.axes)
    (['input', 'output'], 6)
    >>> close(fig)
    """
    if not columns:
        raise ValueError("columns must hold at least one column of images")
    arrays = {title: _numpy(images) for title, images in columns.items()}
    counts = {title: a.shape[0] for title, a in arrays.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every column needs the same number of images, got {counts}")
    n = next(iter(counts.values()))
    if rows is not None and len(rows) != n:
        raise ValueError(f"rows must hold one label per row ({n}), got {len(rows)}")
    fig, axes = new_figure(len(arrays), n, size=size, dpi=dpi)
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.0, hspace=0.0)
    for j, (title, images) in enumerate(arrays.items()):
        if images.ndim == 3:
            images = images[:, None]
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"column {title!r} must be (N, C, H, W) with C in (1, 3), got "
                             f"{images.shape}")
        for i in range(n):
            ax = axes[i * len(arrays) + j]
            img = np.clip(images[i].transpose(1, 2, 0), 0, 1)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img,
                      cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=fontsize)
            if j == 0 and rows is not None:
                ax.set_ylabel(rows[i], fontsize=fontsize)
    return fig


__all__ += ["image_columns"]


def image_rows(rows: dict[str, Tensor | np.ndarray], *, title: str | None = None,
               cell: float = 0.32, dpi: int = DPI, pad: int = 1):
    """Labelled rows of images, one strip per row (e.g. one row per depth of an expert, as
    in the paper's Fig. 5 / Fig. S4).

    Arguments:
        rows: ``{label: images (N, C, H, W)}`` in [0, 1]; every row has the same ``N`` and
            image size.
        title: the figure title.
        cell: inches per image.
        dpi: resolution.
        pad: pixels between images.

    Returns:
        The figure.

    >>> import torch
    >>> fig = image_rows({"input": torch.rand(4, 1, 8, 8), "samples": torch.rand(4, 1, 8, 8)})
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['input', 'samples']
    >>> close(fig)
    """
    if not rows:
        raise ValueError("rows must hold at least one row of images")
    counts = {label: len(images) for label, images in rows.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every row needs the same number of images, got {counts}")
    n = next(iter(counts.values()))
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.8 + cell * n, 0.1 + cell * len(rows)
                                                    + (0.25 if title else 0.0)),
                             dpi=dpi, squeeze=False, layout="constrained")
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        image_grid(images, nrow=n, ax=ax, pad=pad)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


__all__ += ["image_rows"]


def layer_curves(curves: dict[str, Sequence[float]], layers: Sequence[str], *, ax=None,
                 title: str | None = None, ylabel: str | None = None, log: bool = False,
                 reference: float | None = None, reference_label: str = "reference"):
    """One line per method over the depths of an expert (e.g. the Fréchet distance of a cINN
    and of an MLP at each layer, as in the paper's Tab. S4).

    Arguments:
        curves: ``{label: one value per layer}``.
        layers: the layer names (x axis).
        ax: draw into this axes.
        title, ylabel: labels.
        log: logarithmic y axis (plain numbers on the ticks).
        reference: a horizontal dashed line (e.g. the value of a perfect method).
        reference_label: its legend entry.

    Returns:
        The figure.

    >>> fig = layer_curves({"cINN": [1.0, 1.2], "MLP": [1.5, 9.0]}, ["conv1", "argmax"], log=True)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['conv1', 'argmax']
    >>> close(fig)
    """
    if any(len(v) != len(layers) for v in curves.values()):
        raise ValueError(f"every curve needs one value per layer ({len(layers)}), got "
                         f"{ {k: len(v) for k, v in curves.items()} }")
    if ax is None:
        fig, (ax,) = new_figure(size=2.8)
    fig = ax.figure
    for (label, values), marker in zip(curves.items(), "os^vDx*"):
        ax.plot(range(len(layers)), list(values), marker=marker, ms=4, lw=1.2, label=label)
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label=reference_label)
    ax.set_xticks(range(len(layers)), list(layers), fontsize=8)
    if log:
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="both", labelsize=7)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


__all__ += ["layer_curves"]
