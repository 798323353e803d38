"""Progress bars that a saved notebook shows at their final state."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import nbformat

from n2nlib.settings import progress_bar

ROOT = Path(__file__).resolve().parent.parent


def _runner():
    spec = importlib.util.spec_from_file_location("run_notebooks",
                                                  ROOT / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_bars_when_asked_and_only_their_final_state_is_saved(monkeypatch):
    from tqdm.std import tqdm as text_tqdm

    monkeypatch.setenv("N2N_TEXT_BARS", "1")
    stream = io.StringIO()
    bar = progress_bar(range(50), desc="training", file=stream, mininterval=0)
    assert type(bar) is text_tqdm
    for _ in bar:
        pass
    written = stream.getvalue()
    assert written.count("\r") > 2 and "50/50" in written
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("run()"))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text=written)]
    _runner().final_bar_states(nb)
    saved = nb.cells[0].outputs[0]["text"]
    assert "\r" not in saved and saved.count("training") == 1 and "100%" in saved
    assert "50/50" in saved and "0/50" not in saved.replace("50/50", "")


def test_bar_updates_sent_as_separate_outputs_keep_only_their_final_state(monkeypatch):
    monkeypatch.setenv("N2N_TEXT_BARS", "1")
    stream = io.StringIO()
    for _ in progress_bar(range(30), desc="encoding", file=stream, mininterval=0):
        pass
    pieces = [p for p in stream.getvalue().split("\r") if p]  # one message per update
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("run()"))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="result 1\n")]
    nb.cells[0].outputs += [nbformat.v4.new_output("stream", name="stderr", text=p)
                            for p in pieces]
    nb.cells[0].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="done\n"))
    _runner().final_bar_states(nb)
    texts = [(o["name"], o["text"]) for o in nb.cells[0].outputs]
    assert [name for name, _ in texts] == ["stdout", "stderr", "stdout"]
    bar = texts[1][1]
    assert bar.count("encoding") == 1 and "30/30" in bar and "100%" in bar
    # a bar with leave=False erases itself: nothing of it is saved
    stream = io.StringIO()
    for _ in progress_bar(range(5), desc="translating", file=stream, mininterval=0,
                          leave=False):
        pass
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text=p)
                           for p in stream.getvalue().split("\r") if p]
    nb.cells[0].outputs.append(nbformat.v4.new_output("stream", name="stderr", text="ok\n"))
    _runner().final_bar_states(nb)
    assert [o["text"].strip() for o in nb.cells[0].outputs] == ["ok"]


def test_widget_bars_otherwise(monkeypatch):
    monkeypatch.delenv("N2N_TEXT_BARS", raising=False)
    from tqdm.auto import tqdm as auto_tqdm

    bar = progress_bar(total=3, disable=True)
    assert type(bar) is auto_tqdm


def test_saved_figures_are_stored_with_a_palette_when_that_is_smaller():
    import base64

    import matplotlib
    import numpy as np
    from PIL import Image

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(3, 3), dpi=80)
    ax.imshow(rng.random((32, 32, 3)), interpolation="nearest")  # a photo-like, noisy figure
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    raw = buffer.getvalue()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("fig")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "image/png": base64.b64encode(raw).decode("ascii"), "text/plain": "<Figure>"})]
    nb.cells.append(cell)
    saved = _runner().shrink_images(nb)
    new = base64.b64decode(nb.cells[0].outputs[0]["data"]["image/png"])
    assert saved == len(raw) - len(new) > 0
    before, after = Image.open(io.BytesIO(raw)), Image.open(io.BytesIO(new))
    assert before.size == after.size and after.mode == "P"
    diff = np.abs(np.asarray(before.convert("RGB"), dtype=float)
                  - np.asarray(after.convert("RGB"), dtype=float))
    assert diff.mean() < 8  # the same picture, up to the palette


def test_a_saved_run_leaves_a_static_picture_beside_each_widget(tmp_path, monkeypatch):
    # a real kernel runs a notebook with a slider widget, the way scripts/run_notebooks.py does
    runner = _runner()
    monkeypatch.setenv("N2N_STATIC_WIDGETS", "1")
    monkeypatch.setenv("N2N_TEXT_BARS", "1")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import torch\n"
        "from n2nlib import ConditionalINN\n"
        "from n2nlib.course import widgets\n"
        "torch.manual_seed(0)\n"
        "cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=2, hidden_dim=8)\n"
        "widgets.sample_explorer(cinn, condition_range=(1.0, 2.0, 0.5), n=20,\n"
        "                        extent=(-3, 3, -3, 3))"))
    path = tmp_path / "widget.ipynb"
    nbformat.write(nb, path)
    runner.run_one(path, timeout=120, save=True, kernel="python3")
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    kinds = [sorted(o.get("data", {})) for o in outputs]
    picture = next(i for i, k in enumerate(kinds) if "image/png" in k)
    widget = next(i for i, k in enumerate(kinds) if runner._WIDGET_VIEW in k)
    assert picture < widget
    assert outputs[widget]["data"]["text/plain"] == runner.WIDGET_NOTE
    assert "interactive(children" not in path.read_text()


def test_another_librarys_bar_widget_is_dropped_and_ours_are_described():
    runner = _runner()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("load()")
    bar = {runner._WIDGET_VIEW: {"model_id": "a"}, "text/plain": "Loading weights:   0%|  | 0/103"}
    ours = {runner._WIDGET_VIEW: {"model_id": "b"}, "text/plain": "interactive(children=(..."}
    cell.outputs = [nbformat.v4.new_output("display_data", data=bar),
                    nbformat.v4.new_output("execute_result", data=ours, execution_count=1)]
    nb.cells.append(cell)
    assert runner.describe_widgets(nb) == 2
    assert [o["data"]["text/plain"] for o in nb.cells[0].outputs] == [runner.WIDGET_NOTE]
