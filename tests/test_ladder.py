"""Notebook 09's ladder: every rung fits on the same pairs and is scored the same way."""

from __future__ import annotations

import math

import pytest
import torch

from n2nlib.course import ladder
from n2nlib.course.toy import RingModes

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def rings():
    task = RingModes()
    x, c = task.sample(3000, torch.Generator().manual_seed(0), dtype=torch.float32)
    xt, ct = task.sample(300, torch.Generator().manual_seed(1), dtype=torch.float32)
    return task, x, c, xt, ct


def test_every_rung_fits_and_deterministic_rungs_have_no_spread(rings):
    task, x, c, xt, ct = rings
    gen = torch.Generator().manual_seed(2)
    scores = {}
    for name in ladder.RUNGS:
        rung = ladder.fit_rung(name, x, c, steps=30, hidden=16)
        scores[name] = ladder.score_rung(rung, xt, ct, n_samples=4,
                                         true_sampler=lambda cc: task.sample_given(cc, gen))
        assert rung.fit_cpu_seconds >= 0 and math.isfinite(scores[name].energy)
    for name in ("Procrustes", "ridge", "MLP"):
        assert scores[name].spread == 0.0
    assert scores["MLP"].nll_per_dim is None  # its loss is no likelihood
    # kNN draws stored targets of nearby conditions: its samples land on the modes, as varied
    # as the truth's, and its pairs are far closer to the true pairs than ridge's means
    assert 0.6 < scores["kNN"].spread < 1.4
    assert scores["kNN"].energy < 0.2 * scores["ridge"].energy
    truth = float(-task.log_prob(xt.double(), ct.double()).mean()) / 2
    assert scores["kNN"].nll_per_dim > truth - 0.05  # no rung beats the true density by much
    md = ladder.table(list(scores.values()), truth_nll=truth)
    assert md.count("\n") == len(ladder.RUNGS) + 2 and "| MLP | — |" in md
    assert scores["kNN"].bits_per_dim == pytest.approx(scores["kNN"].nll_per_dim / math.log(2))
    assert f"{scores['kNN'].nll_per_dim:.3f} ({scores['kNN'].bits_per_dim:.3f})" in md


def test_a_reader_scores_decoded_samples(rings):
    _, x, c, xt, ct = rings
    rung = ladder.fit_rung("ridge", x, c)
    seen = []

    def reader(samples, index):
        seen.append((samples.shape, index.shape))
        return 0.25

    scores = ladder.score_rung(rung, xt, ct, n_samples=3, reader=reader, reader_rows=100)
    assert scores.reader == 0.25 and seen == [((300, 2), (300,))]


def test_data_efficiency_marks_what_cannot_be_fitted(rings):
    task, x, c, xt, ct = rings
    curves = ladder.data_efficiency(["ridge", "kNN"], x, c, xt, ct, [5, 300], n_samples=2)
    assert math.isnan(curves["kNN"][0])  # 5 pairs cannot give 10 neighbours
    assert curves["kNN"][1] < curves["ridge"][1]


def test_unknown_rungs_and_too_few_samples_are_refused(rings):
    _, x, c, xt, ct = rings
    with pytest.raises(ValueError, match="no rung named"):
        ladder.make_rung("transformer", 2, 1)
    with pytest.raises(ValueError, match="at least 2"):
        ladder.score_rung(ladder.fit_rung("ridge", x, c), xt, ct, n_samples=1)


def test_new_scores_tell_a_sampler_from_a_mean_map(rings):
    task, x, c, xt, ct = rings
    gen = torch.Generator().manual_seed(3)
    ridge = ladder.score_rung(ladder.fit_rung("ridge", x, c), xt, ct, n_samples=4,
                              reencode=lambda s: s.norm(dim=1, keepdim=True))
    knn = ladder.score_rung(ladder.fit_rung("kNN", x, c), xt, ct, n_samples=4,
                            reencode=lambda s: s.norm(dim=1, keepdim=True))
    truth = ladder.truth_vendi(xt, ct, lambda cc: task.sample_given(cc, gen), n_samples=4)
    assert ridge.vendi == pytest.approx(1.0)  # one answer per condition
    assert 1.5 < knn.vendi <= 4.0 and abs(knn.vendi - truth) < 0.5
    assert knn.c2st < 0.7 < ridge.c2st  # the k-NN classifier sees ridge's points off the modes
    # the radius of kNN's samples gives back the condition; ridge's means lie inside the ring
    assert knn.reencode > 0.6 > 0.0 > ridge.reencode
    assert "| 0.5 | 1 |" in ladder.table([ridge, knn], truth_vendi=truth)


def test_cycle_and_grouped_rung(rings):
    _, x, c, xt, ct = rings
    forward = ladder.fit_rung("kNN", x, c)
    backward = ladder.fit_rung("kNN", c, x)
    through_mean = ladder.fit_rung("ridge", c, x)  # the radius is no linear function of x
    assert ladder.cycle_r2(forward, backward, ct) > 0.7 > 0.2 > ladder.cycle_r2(forward,
                                                                            through_mean, ct)
    grouped = ladder.fit_rung(ladder.GROUPED, x, c, steps=20, hidden=16, groups=[1, 1])
    dtype = next(grouped.translator.parameters()).dtype
    assert grouped.translator.sample(ct.to(dtype)).shape == xt.shape
    with pytest.raises(ValueError, match="groups"):
        ladder.make_rung(ladder.GROUPED, 2, 1)


def test_data_efficiency_checks_its_arguments(rings):
    _, x, c, xt, ct = rings
    with pytest.raises(ValueError, match="measure"):
        ladder.data_efficiency(["ridge"], x, c, xt, ct, [30], measure="beauty")
    with pytest.raises(ValueError, match="training pairs"):
        ladder.data_efficiency(["ridge"], x, c, xt, ct, [len(x) + 1])
    curves = ladder.data_efficiency(["kNN"], x, c, xt, ct, [30, 3000], measure="reencode",
                                    reencode=lambda s: s.norm(dim=1, keepdim=True))
    assert curves["kNN"][1] > curves["kNN"][0] - 0.02


def test_pair_energy_stays_finite_on_a_dead_dimension():
    g = torch.Generator().manual_seed(4)
    c = torch.randn(600, 2, generator=g)
    x = torch.cat([c + 0.1 * torch.randn(600, 2, generator=g), torch.zeros(600, 1)], 1)
    noisy = x + torch.cat([torch.zeros(600, 2), 1e-3 * torch.randn(600, 1, generator=g)], 1)
    shifted = x + torch.tensor([1.0, 0.0, 0.0])
    # tiny noise where the truth is constant counts no more than a real shift of the target
    assert ladder.pair_energy(x, c, noisy) < ladder.pair_energy(x, c, shifted)
