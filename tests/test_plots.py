"""Plot and widget helpers draw what they are given and return figures (Agg, no display)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from n2nlib import ConditionalINN  # noqa: E402
from n2nlib.course import plots, widgets  # noqa: E402
from n2nlib.course.toy import MLPRegressor, RingModes  # noqa: E402
from n2nlib.train import History  # noqa: E402


def _std_normal(points):
    return -0.5 * points.pow(2).sum(1) - math.log(2 * math.pi)


def test_evaluate_on_grid_mass_and_orientation():
    density, mass = plots.evaluate_on_grid(lambda p: _std_normal(p - torch.tensor([2.0, 0.0])),
                                           (-5, 6, -5, 6), n=110)
    assert mass == pytest.approx(1.0, abs=1e-3)
    row, col = np.unravel_index(density.argmax(), density.shape)
    assert col in (69, 70) and row in (49, 50)  # the peak is right of centre: columns are x


def test_density_heatmap_and_scatter_share_axes():
    fig, (ax,) = plots.new_figure()
    plots.density_heatmap(_std_normal, (-3, 3, -3, 3), n=40, ax=ax, title="N(0, I)")
    out = plots.scatter(torch.randn(50, 2), ax=ax, extent=(-3, 3, -3, 3))
    assert out is fig and len(ax.images) == 1 and len(ax.collections) == 1
    assert ax.get_title() == "N(0, I)" and fig.dpi == plots.DPI
    plots.close(fig)


def test_scatter_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.scatter(torch.randn(5, 3))


def test_image_grid_tiles_images():
    fig = plots.image_grid(torch.rand(6, 1, 4, 4), nrow=3, title="digits")
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (2 * 5 + 1, 3 * 5 + 1)
    plots.close(fig)
    with pytest.raises(ValueError, match="images"):
        plots.image_grid(torch.rand(2, 2, 4, 4))


def test_training_curve_draws_loss_eval_and_reference():
    history = History(step=list(range(100)), loss=[1.0 / (s + 1) for s in range(100)],
                      lr=[1e-3] * 100, eval_step=[50, 100], eval_nll=[0.5, 0.4])
    fig = plots.training_curve(history, reference=0.3, smooth=10)
    assert len(fig.axes[0].lines) == 3
    plots.close(fig)


def test_plot_conditional_samples_uses_fixed_noise():
    cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=2, hidden_dim=16)
    task = RingModes()
    figs = [widgets.plot_conditional_samples(cinn, 1.5, 1.0, n=30, extent=task.extent,
                                             reference=task.log_prob) for _ in range(2)]
    a, b = (f.axes[0].collections[0].get_offsets() for f in figs)
    assert np.array_equal(a, b) and len(figs[0].axes[0].images) == 1
    for f in figs:
        plots.close(f)
    reg = MLPRegressor(2, 1, hidden=8)
    fig = widgets.plot_conditional_samples(reg, 2.0, 0.5, n=10, extent=task.extent)
    assert fig.axes[0].get_title() == "c = 2.00, T = 0.50"
    plots.close(fig)


def test_sample_explorer_builds_two_sliders():
    pytest.importorskip("ipywidgets")
    cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=2, hidden_dim=16)
    w = widgets.sample_explorer(cinn, condition_range=(1.0, 2.5, 0.1), n=20,
                                extent=(-3, 3, -3, 3))
    sliders = {c.description: c for c in w.children if hasattr(c, "min")}
    assert set(sliders) == {"condition", "temperature"}
    assert sliders["temperature"].value == 1.0
    assert sliders["condition"].min == 1.0 and sliders["condition"].max == 2.5


def test_image_columns_labels_rows():
    from n2nlib.course import plots

    fig = plots.image_columns({"a": torch.rand(2, 3, 4, 4), "b": torch.rand(2, 3, 4, 4)},
                              rows=["first", "second"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["first", "", "second", ""]
    plots.close(fig)
    with pytest.raises(ValueError, match="one label per row"):
        plots.image_columns({"a": torch.rand(2, 3, 4, 4)}, rows=["only one"])
