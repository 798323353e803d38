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
               cell: float = 0.32, dpi: int = DPI, pad: int = 1,
               columns: Sequence[str] | None = None):
    """Labelled rows of images, one strip per row (e.g. one row per depth of an expert, as
    in the paper's Fig. 5 / Fig. S4).

    Arguments:
        rows: ``{label: images (N, C, H, W)}`` in [0, 1]; every row has the same ``N`` and
            image size.
        title: the figure title.
        cell: inches per image.
        dpi: resolution.
        pad: pixels between images.
        columns: a label per column, written above the first row.

    Returns:
        The figure.

    >>> import torch
    >>> fig = image_rows({"input": torch.rand(4, 1, 8, 8), "samples": torch.rand(4, 1, 8, 8)},
    ...                  columns=["a", "b", "c", "d"])
    >>> [ax.get_ylabel() for ax in fig.axes], [t.get_text() for t in fig.axes[0].get_xticklabels()]
    (['input', 'samples'], ['a', 'b', 'c', 'd'])
    >>> close(fig)
    """
    if not rows:
        raise ValueError("rows must hold at least one row of images")
    counts = {label: len(images) for label, images in rows.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every row needs the same number of images, got {counts}")
    n = next(iter(counts.values()))
    if columns is not None and len(columns) != n:
        raise ValueError(f"columns must hold one label per image of a row ({n}), "
                         f"got {len(columns)}")
    plt = _pyplot()
    # room for the row labels (about 0.065 in per character at 8 pt) beside the images
    labels = 0.2 + 0.065 * max(len(str(label)) for label in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(labels + cell * n, 0.1 + cell * len(rows)
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
    if columns is not None:  # ticks at the tile centres of make_grid's layout, on top
        width = _numpy(next(iter(rows.values()))).shape[-1]
        top = axes[0, 0]
        top.set_xticks([pad + i * (width + pad) + (width - 1) / 2 for i in range(n)])
        top.set_xticklabels(list(columns), fontsize=7)
        top.xaxis.set_ticks_position("top")
        top.tick_params(axis="x", length=0, pad=2)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


__all__ += ["image_rows"]


def layer_curves(curves: dict[str, Sequence[float]], layers: Sequence[str], *, ax=None,
                 title: str | None = None, ylabel: str | None = None, log: bool = False,
                 reference: float | None = None, reference_label: str = "reference",
                 colors: dict[str, str] | None = None):
    """One line per method over the depths of an expert (e.g. the Fréchet distance of a cINN
    and of an MLP at each layer, as in the paper's Tab. S4).

    Arguments:
        curves: ``{label: one value per layer}``.
        layers: the layer names (x axis).
        ax: draw into this axes.
        title, ylabel: labels.
        log: logarithmic y axis (plain numbers on the ticks; the ticks between powers of ten
            are labelled only when the values span less than a decade).
        reference: a horizontal dashed line (e.g. the value of a perfect method).
        reference_label: its legend entry.
        colors: ``{label: matplotlib colour}``, so that a method keeps its colour (and its
            marker) across panels that show different sets of methods (default: the colour
            cycle, markers in order).

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
    markers = "os^vDx*"
    for i, (label, values) in enumerate(curves.items()):
        if colors and label in colors:  # colour and marker follow the label, not the order
            i = list(colors).index(label)
        ax.plot(range(len(layers)), list(values), marker=markers[i % len(markers)], ms=4,
                lw=1.2, label=label, color=(colors or {}).get(label))
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label=reference_label)
    ax.set_xticks(range(len(layers)), list(layers), fontsize=8)
    if log:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        shown = [v for vs in curves.values() for v in vs if v > 0]
        if reference is not None and reference > 0:
            shown.append(reference)
        narrow = bool(shown) and max(shown) < 10 * min(shown)
        ax.yaxis.set_minor_formatter(plain if narrow else NullFormatter())
        ax.tick_params(axis="y", which="both", labelsize=7)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


__all__ += ["layer_curves"]


def coupling_diagram(*, dpi: int = DPI):
    """One block of the cINN as in the paper's Fig. S7: the alternating affine coupling
    (Eqs. 20–22), ActNorm and a fixed permutation, with the embedded condition
    :math:`h = H(y)` entering both updates. Arrows run in the direction :math:`\\tau^{-1}`
    (data to residual); every box is inverted exactly on the way back.

    Returns:
        The figure.

    >>> fig = coupling_diagram()
    >>> any("Eq. 21" in t.get_text() for t in fig.axes[0].texts)
    True
    >>> close(fig)
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10.5, 3.6), dpi=dpi, layout="constrained")
    ax.set_xlim(0, 18.2)
    ax.set_ylim(0, 6.1)
    ax.axis("off")

    def box(x: float, y: float, text: str, color: str = "#dde8f5", w: float = 1.9,
            h: float = 0.8) -> None:
        ax.add_patch(plt.Rectangle((x - w / 2, y - h / 2), w, h, facecolor=color,
                                   edgecolor="0.3", linewidth=0.8))
        ax.text(x, y, text, ha="center", va="center", fontsize=9.5)

    def arrow(x0: float, y0: float, x1: float, y1: float, color: str = "0.25") -> None:
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 0.9})

    mid, top, low = 3.4, 4.7, 1.7
    box(0.8, mid, r"$z$", "white", w=0.9)
    box(2.6, mid, "split\n(Eq. 20)", w=1.5, h=1.0)
    arrow(1.25, mid, 1.85, mid)
    box(4.5, top, r"$z_{1:d}$", "white", w=1.2)
    box(4.5, 2.3, r"$z_{d+1:D}$", "white", w=1.2)
    arrow(3.35, mid + 0.2, 3.9, top)
    arrow(3.35, mid - 0.2, 3.9, 2.3)
    box(7.2, mid, r"$s_1, t_1([z_{1:d}; h])$", "#fbe3c8", w=2.5)
    arrow(5.1, top - 0.1, 6.3, mid + 0.4)
    box(10.0, low, r"$z'_{d+1:D} = z_{d+1:D} \odot e^{s_1} + t_1$" + "\n(Eq. 21)", w=3.3,
        h=1.0)
    arrow(5.1, 2.2, 8.35, low + 0.1)
    arrow(8.1, mid - 0.4, 9.0, low + 0.5)
    box(12.9, mid, r"$s_2, t_2([z'_{d+1:D}; h])$", "#fbe3c8", w=2.6)
    arrow(11.0, low + 0.5, 12.2, mid - 0.4)
    box(12.9, 5.6, r"$z'_{1:d} = z_{1:d} \odot e^{s_2} + t_2$  (Eq. 22)", w=4.0, h=0.7)
    arrow(5.1, top + 0.2, 10.9, 5.55)
    arrow(12.9, mid + 0.4, 12.9, 5.25)
    box(15.4, mid, "concat", w=1.2)
    arrow(14.4, 5.3, 15.2, mid + 0.4)
    arrow(11.65, low, 15.0, mid - 0.4)
    box(17.0, mid, "ActNorm", "#e2f0d9", w=1.3)
    box(17.0, 2.2, "permute", "#e2f0d9", w=1.3)
    arrow(16.0, mid, 16.35, mid)
    arrow(17.0, mid - 0.4, 17.0, 2.6)
    arrow(17.0, 1.8, 17.0, 1.0)
    ax.text(17.0, 0.75, r"$z''$", ha="center", va="center", fontsize=9)
    box(10.0, 0.35, r"$h = H(y)$, the embedded condition (Eq. 19)", "#ead7f0", w=7.2, h=0.6)
    arrow(7.2, 0.65, 7.2, mid - 0.4, color="#7a4d91")
    arrow(12.9, 0.65, 12.9, mid - 0.4, color="#7a4d91")
    ax.text(3.0, 0.35, "log-det of a block:\n" + r"$\sum s_1 + \sum s_2$ + ActNorm's",
            ha="center", va="center", fontsize=8, color="0.3")
    return fig


__all__ += ["coupling_diagram"]


@torch.no_grad()
def flow_steps(cinn, condition: Tensor, *, n: int = 2000,
               extent: Sequence[float] | None = None, seed: int = 0, size: float = 1.9,
               dpi: int = DPI):
    """Samples of a 2-D conditional flow after each of its blocks, in the sampling direction
    :math:`\\tau`: from :math:`v \\sim \\mathcal N(0, I)` (left) through every block to
    :math:`z_\\Theta \\sim p_\\tau(\\cdot \\mid c)` (right), at one condition ``c``.

    Arguments:
        cinn: a :class:`~n2nlib.flows.ConditionalINN` with ``dim=2``.
        condition: one condition, ``(cond_dim,)`` or ``(1, cond_dim)``.
        n: points drawn.
        extent: ``(xmin, xmax, ymin, ymax)`` of every panel (default: a square around the
            middle 99 % of every cloud).
        seed: seed of :math:`v`.
        size: inches per panel.
        dpi: resolution.

    Returns:
        The figure (one panel per block, plus the residual).

    >>> from n2nlib import ConditionalINN
    >>> fig = flow_steps(ConditionalINN(2, 1, n_blocks=2, hidden_dim=8), torch.zeros(1), n=50)
    >>> len(fig.axes)
    3
    >>> close(fig)
    """
    if getattr(cinn, "dim", None) != 2:
        raise ValueError("flow_steps draws 2-D flows: the cINN must have dim=2")
    p = next(cinn.parameters())
    c = torch.as_tensor(condition, dtype=p.dtype, device=p.device).reshape(1, -1)
    h = cinn.embed(c.expand(n, -1), n)
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)).to(p)
    clouds = [("v ~ N(0, I)", x.cpu())]
    blocks = list(reversed(cinn.blocks))
    for i, block in enumerate(blocks, 1):
        x = block.inverse(x, h)[0]
        clouds.append((f"after {i} block{'s' if i > 1 else ''}" if i < len(blocks)
                       else f"z_Θ ({i} blocks)", x.cpu()))
    if extent is None:
        every = torch.cat([points for _, points in clouds]).double()
        lo, hi = every.quantile(0.005, dim=0), every.quantile(0.995, dim=0)
        centre, half = (lo + hi) / 2, 0.6 * float((hi - lo).max())
        extent = (float(centre[0]) - half, float(centre[0]) + half,
                  float(centre[1]) - half, float(centre[1]) + half)
    fig, axes = new_figure(len(clouds), size=size, dpi=dpi)
    for ax, (title, points) in zip(axes, clouds):
        scatter(points, ax=ax, extent=extent, size=2, alpha=0.4, color="tab:orange",
                title=title)
    return fig


__all__ += ["flow_steps"]
