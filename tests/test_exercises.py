"""The hidden checks of the notebooks' "your turn" exercises accept right answers and only those."""

from __future__ import annotations

import pytest
import torch

from n2nlib import ConditionalINN
from n2nlib.course import exercises
from n2nlib.course.toy import RingModes
from n2nlib.flows.coupling import soft_clamp
from n2nlib.train import fit


def _inverse_by_hand(block, y, h):
    """Eq. 22 undone, then Eq. 21: the answer the exercise of notebook 01 asks for."""
    ya, yb = y[:, : block.split], y[:, block.split :]
    s2 = soft_clamp(block.s2(torch.cat([yb, h], 1)), block.clamp)
    xa = (ya - block.t2(torch.cat([yb, h], 1))) * torch.exp(-s2)
    s1 = soft_clamp(block.s1(torch.cat([xa, h], 1)), block.clamp)
    xb = (yb - block.t1(torch.cat([xa, h], 1))) * torch.exp(-s1)
    return torch.cat([xa, xb], 1)


def _wrong_order(block, y, h):
    """Undoes Eq. 21 first: right for an identity block, wrong for a trained one."""
    ya, yb = y[:, : block.split], y[:, block.split :]
    s1 = soft_clamp(block.s1(torch.cat([ya, h], 1)), block.clamp)
    xb = (yb - block.t1(torch.cat([ya, h], 1))) * torch.exp(-s1)
    s2 = soft_clamp(block.s2(torch.cat([xb, h], 1)), block.clamp)
    xa = (ya - block.t2(torch.cat([xb, h], 1))) * torch.exp(-s2)
    return torch.cat([xa, xb], 1)


def test_the_coupling_inverse_check():
    assert exercises.check_coupling_inverse(...).status == "not answered yet"
    assert exercises.check_coupling_inverse(_inverse_by_hand).correct

    def unfinished(block, y, h):
        raise NotImplementedError

    assert exercises.check_coupling_inverse(unfinished).status == "not answered yet"
    wrong = exercises.check_coupling_inverse(_wrong_order)
    assert wrong.status == "not yet" and "Eq. 22" in wrong.message
    assert not exercises.check_coupling_inverse(lambda b, y, h: y).correct
    assert "shape" in exercises.check_coupling_inverse(lambda b, y, h: y[:, :2]).message


@pytest.fixture(scope="module")
def ring_cinn():
    torch.manual_seed(0)
    task = RingModes()
    x, c = task.sample(4000, torch.Generator().manual_seed(0), dtype=torch.float32)
    cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=4, hidden_dim=32)
    fit(cinn, (x, c), steps=400, batch_size=256, lr=3e-3, warmup=20, progress=False)
    return cinn, task


def test_the_temperature_check(ring_cinn):
    cinn, task = ring_cinn
    truth = exercises.lightest_mode_temperature(cinn, task, n=1000)
    assert 0.0 < truth <= 1.0  # at T = 1 every mode is sampled
    assert exercises.check_mode_temperature(..., cinn, task).status == "not answered yet"
    assert exercises.check_mode_temperature(truth, cinn, task, n=1000).correct
    far = exercises.check_mode_temperature(truth + 0.5, cinn, task, n=1000)
    assert not far.correct and "lower" in far.message
    assert "number" in exercises.check_mode_temperature("warm", cinn, task).message


def test_the_prompt_check_reads_the_images_with_the_classifier():
    from n2nlib import zoo

    translator = zoo.load("sbert-to-shapes", device="cpu")
    classifier = zoo.load("shapes-attributes-v1", device="cpu")
    wanted = {"shape": "star", "color": "red"}
    assert exercises.check_prompt(..., translator, classifier, wanted).status == \
        "not answered yet"
    assert exercises.check_prompt("a large red star", translator, classifier, wanted).correct
    wrong = exercises.check_prompt("a small blue circle", translator, classifier, wanted)
    assert wrong.status == "not yet" and "shape star" in wrong.message
    with pytest.raises(ValueError, match="do not exist"):
        exercises.check_prompt("x", translator, classifier, {"shape": "dragon"})
