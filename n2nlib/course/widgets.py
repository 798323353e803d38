"""Interactive demos for the notebooks (ipywidgets), importable without a display.

:func:`sample_explorer` builds sliders for the condition and the temperature of a 2D
conditional model and redraws its samples whenever one moves. The drawing itself is the plain
function :func:`plot_conditional_samples`, which works (and is tested) without any widget, and
``ipywidgets`` is imported only when a widget is made.

The samples are drawn from one fixed noise draw :math:`\\epsilon` (``seed``), so moving the
condition slider shows the *same* residuals :math:`v = T\\epsilon` translated under a new
condition, and moving the temperature slider scales them towards the mode of :math:`v`.

>>> import torch
>>> from n2nlib import ConditionalINN
>>> cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=2, hidden_dim=16)
>>> fig = plot_conditional_samples(cinn, 1.5, 1.0, n=50, extent=(-3, 3, -3, 3))
>>> len(fig.axes[0].collections)
1
>>> from n2nlib.course.plots import close
>>> close(fig)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib import settings
from n2nlib.course import plots

__all__ = ["plot_conditional_samples", "sample_explorer", "show", "show_static"]


def show(fig: Any) -> None:
    """Display a figure in the notebook (inside a widget's output area, too) and release it."""
    from IPython.display import display

    display(fig)
    plots.close(fig)


def show_static(draw: Callable[[], Any]) -> None:
    """In a saved run (:func:`n2nlib.settings.static_widgets`), display the figure ``draw()``
    makes — the first state of a widget, for readers without a kernel; otherwise do nothing
    (and draw nothing)."""
    if settings.static_widgets():
        show(draw())


def _condition(model: nn.Module, value: float, n: int) -> Tensor:
    p = next(model.parameters())
    return torch.full((n, 1), float(value), dtype=p.dtype, device=p.device)


@torch.no_grad()
def plot_conditional_samples(
    model: nn.Module,
    condition: float,
    temperature: float = 1.0,
    *,
    n: int = 400,
    extent: Sequence[float],
    reference: Callable[[Tensor, Tensor], Tensor] | None = None,
    seed: int = 0,
    ax: Any = None,
    title: str | None = None,
):
    """Draw ``n`` samples of a conditional model at one scalar condition.

    Arguments:
        model: a model with ``sample(c, temperature, generator=...)`` and a one-dimensional
            condition (a :class:`~n2nlib.flows.ConditionalINN` with ``cond_dim=1``, or an
            :class:`~n2nlib.course.toy.MLPRegressor`).
        condition: the value of the condition.
        temperature: the standard deviation of the residual.
        n: number of samples.
        extent: ``(xmin, xmax, ymin, ymax)`` of the view.
        reference: ``log_prob(x, c)`` of the true conditional density, drawn underneath as
            a heat map (e.g. :meth:`n2nlib.course.toy.RingModes.log_prob`).
        seed: seed of the noise (the same for every call, so redraws are comparable).
        ax: draw into this axes instead of a new figure.
        title: the panel title (default: the condition and temperature).

    Returns:
        The figure.
    """
    if ax is None:
        fig, (ax,) = plots.new_figure()
    fig = ax.figure
    if reference is not None:
        dtype = next(model.parameters()).dtype

        def log_prob(points: Tensor) -> Tensor:
            return reference(points, torch.full((points.shape[0], 1), float(condition),
                                                dtype=points.dtype))

        plots.density_heatmap(log_prob, extent, n=100, ax=ax, cmap="Greys", dtype=dtype)
    generator = torch.Generator().manual_seed(seed)
    samples = model.sample(_condition(model, condition, n), temperature, generator=generator)
    plots.scatter(samples, ax=ax, extent=extent, color="tab:orange", size=3, alpha=0.5,
                  title=title or f"c = {condition:.2f}, T = {temperature:.2f}")
    return fig


def sample_explorer(
    model: nn.Module,
    *,
    condition_range: tuple[float, float, float],
    temperature_range: tuple[float, float, float] = (0.0, 1.5, 0.05),
    n: int = 400,
    extent: Sequence[float],
    reference: Callable[[Tensor, Tensor], Tensor] | None = None,
    seed: int = 0,
):
    """Sliders for the condition and the temperature that redraw the model's samples.

    Arguments:
        model, n, extent, reference, seed: as in :func:`plot_conditional_samples`.
        condition_range: ``(min, max, step)`` of the condition slider (it starts in the
            middle).
        temperature_range: ``(min, max, step)`` of the temperature slider (it starts at 1).

    Returns:
        An ``ipywidgets.interactive`` widget: make it the last expression of a cell (or pass
        it to ``display``) to show it. In a saved run (:func:`n2nlib.settings.static_widgets`)
        a static figure of the sliders' first state is displayed first, for readers without a
        kernel.
    """
    import ipywidgets

    lo, hi, step = condition_range
    t_lo, t_hi, t_step = temperature_range
    start = (round((lo + hi) / 2 / step) * step, min(max(1.0, t_lo), t_hi))
    show_static(lambda: plot_conditional_samples(
        model, *start, n=n, extent=extent, reference=reference, seed=seed,
        title=f"static picture: c = {start[0]:.2f}, T = {start[1]:.2f}"))

    def redraw(condition: float, temperature: float) -> None:
        show(plot_conditional_samples(model, condition, temperature, n=n, extent=extent,
                                      reference=reference, seed=seed))

    return ipywidgets.interactive(
        redraw,
        condition=ipywidgets.FloatSlider(value=start[0], min=lo, max=hi, step=step,
                                         description="condition"),
        temperature=ipywidgets.FloatSlider(value=start[1], min=t_lo, max=t_hi, step=t_step,
                                           description="temperature"),
    )
