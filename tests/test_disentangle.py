"""Notebook 05's experiment code (n2nlib.course.disentangle): pairs, transfer layout, the
measurement, and the mechanism itself on vectors (source = target expert, deformed input)."""

from __future__ import annotations

import math

import pytest
import torch

from n2nlib import Net2Net
from n2nlib.cache import LatentPairs
from n2nlib.course import disentangle
from n2nlib.data import FACTOR_NAMES
from n2nlib.experts import IdentityExpert

pytestmark = pytest.mark.usefixtures("float32", "one_thread")


def test_held_out_pairs_differ_in_every_factor_and_are_seeded():
    pairs = disentangle.held_out_pairs(30, seed=2)
    assert len(pairs) == 30 and pairs.xs.shape == (30, 3, 32, 32)
    assert bool((pairs.y_factors != pairs.x_factors).all())
    sizes = torch.tensor([5, 8, 2, 9, 2])
    assert bool((pairs.x_factors >= 0).all()) and bool((pairs.x_factors < sizes).all())
    again = disentangle.held_out_pairs(30, seed=2)
    assert torch.equal(again.ys, pairs.ys) and torch.equal(again.x_factors, pairs.x_factors)


def test_training_pairs_are_deformations_of_their_originals():
    images = torch.rand(4, 3, 16, 16)
    deformed, originals = disentangle.make_training_pairs(images, seed=0, copies=3)
    assert deformed.shape == (12, 3, 16, 16) and torch.equal(originals[4:8], images)
    assert float(deformed.min()) >= 0 and float(deformed.max()) <= 1
    assert not torch.allclose(deformed, originals)
    d = disentangle.default_deformation()
    assert d.flip_p == 0.5 and d.tps_strength > 0
    with pytest.raises(ValueError):
        disentangle.make_training_pairs(images, copies=0)


class _SwapN2N:
    """A stand-in translator whose transfer returns (y's first half, x's second half)."""

    class _Target:
        @staticmethod
        def encode(images):
            return images

        @staticmethod
        def decode(z):
            return z

    target = _Target()

    def transfer(self, y, x_new):
        out = x_new.clone()
        out[:, :, :, :4] = y[:, :, :, :4]
        return out


def test_transfer_grid_layout():
    ys = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 1, 1, 8).clone()
    xs = 10 + torch.arange(3.0).view(3, 1, 1, 1).expand(3, 1, 1, 8).clone()
    grid = disentangle.transfer_grid(_SwapN2N(), ys, xs)
    assert grid.shape == (6, 1, 1, 8)
    # row r, column c: y_r on the left half, x_c on the right half
    assert grid[:, 0, 0, 0].tolist() == [0, 0, 0, 1, 1, 1]
    assert grid[:, 0, 0, 7].tolist() == [10, 11, 12, 10, 11, 12]
    with pytest.raises(ValueError, match="pair up"):
        disentangle.transfer(_SwapN2N(), ys, xs)


class _FactorClassifier:
    """Reads the factor labels written in pixel row 0 (first five columns are y's, last x's)."""

    def predict(self, images):
        codes = images[:, 0, 0, :].round().long()
        shape_part = codes[:, :5]
        appearance_part = codes[:, -5:]
        table = torch.cat([shape_part[:, [0]], appearance_part[:, [1]], shape_part[:, [2, 3]],
                           appearance_part[:, [4]]], dim=1)
        return {name: table[:, j] for j, name in enumerate(FACTOR_NAMES)}


def test_evaluate_scores_each_factor_from_the_right_source():
    fy = torch.tensor([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    fx = torch.tensor([[1, 1, 1, 1, 1], [2, 2, 0, 2, 0]])
    ys = torch.zeros(2, 1, 1, 10)
    ys[:, 0, 0, :5] = fy.float()
    xs = torch.zeros(2, 1, 1, 10)
    xs[:, 0, 0, 5:] = fx.float()
    # the stand-in translator takes y's left half and x's right half, and the stand-in
    # classifier reads shape/size/position from the left and colour/background from the right
    pairs = disentangle.HeldOutPairs(ys, xs, fy, fx)
    scores = disentangle.evaluate(_SwapN2N(), _FactorClassifier(), pairs)
    assert scores.from_y == {"shape": 1.0, "color": 0.0, "size": 1.0, "position": 1.0,
                             "background": 0.0}
    assert scores.from_x["color"] == 1.0 and scores.from_x["background"] == 1.0
    assert all(scores.met().values())
    rows = {r[0]: r for r in scores.rows()}
    assert rows["shape"][1] == "y" and rows["color"][1] == "x"
    # a translator that ignores x gets the appearance wrong
    ignore_x = disentangle.evaluate(_SwapN2N(), _FactorClassifier(), pairs, transfers=ys)
    assert ignore_x.from_x["color"] == 0.0 and not ignore_x.met()["color"]
    # given reconstructions are used for the ceiling (here: perfect ones, the sources themselves)
    given = disentangle.evaluate(None, _FactorClassifier(), pairs, transfers=ys,
                                 reconstructions=(ys, xs))
    assert given.ceiling == {f: 1.0 for f in FACTOR_NAMES}


def test_same_expert_with_deformed_source_puts_what_d_destroys_into_v():
    """Vectors y = (appearance a, shape s). The "deformation" keeps a and replaces s by noise, so
    the cINN can only read a from Θ(d(y)); s must go into v. Transfer then combines y's shape
    with x's appearance. (The target codes carry a little noise, as an autoencoder's posterior
    does, so that p(a | condition) is not a delta.)"""
    gen = torch.Generator().manual_seed(0)
    n = 3000
    y = torch.randn(n, 4, generator=gen)
    deformed = torch.cat([y[:, :2], torch.randn(n, 2, generator=gen)], dim=1)
    expert = IdentityExpert(4)
    n2n = Net2Net(expert, expert, device="cpu", n_blocks=3, hidden_dim=32, embedder="identity")
    pairs = LatentPairs(y, deformed, target_logvar=torch.full_like(y, 2 * math.log(0.1)))
    n2n.fit(pairs, steps=300, batch_size=128, lr=3e-3, progress=False)
    ys, xs = torch.randn(300, 4, generator=gen), torch.randn(300, 4, generator=gen)
    out = n2n.transfer(ys, xs)
    err_appearance = (out[:, :2] - xs[:, :2]).abs().mean()
    corr_shape = [float(torch.corrcoef(torch.stack([out[:, k], ys[:, k]]))[0, 1]) for k in (2, 3)]
    assert float(err_appearance) < 0.15  # x's appearance (unrelated pairs: about 1.1)
    assert min(corr_shape) > 0.9  # y's shape


def test_fit_disentangler_runs_end_to_end_on_a_tiny_autoencoder():
    from n2nlib.experts import as_expert
    from n2nlib.nets.autoencoder import Autoencoder

    ae = as_expert(Autoencoder(size=16, dim=6, width=4, max_width=8, n_pseudo_classes=4,
                               embed_dim=4, attention=False))
    images = torch.rand(12, 3, 16, 16)
    trained = disentangle.fit_disentangler(ae, images, steps=3, copies=2, batch_size=8,
                                           cinn_kwargs={"n_blocks": 2, "hidden_dim": 8},
                                           device="cpu", progress=False,
                                           eval_images=torch.rand(5, 3, 16, 16))
    assert len(trained.history.loss) == 3 and trained.seconds > 0
    assert len(trained.history.eval_nll) >= 1  # the held-out curve of the deformed pairs
    out = disentangle.transfer(trained.n2n, images[:3], images[3:6])
    assert out.shape == (3, 3, 16, 16)


class _LinearCodes:
    """An 'autoencoder' whose code is the image's pixel row 0 (4 numbers): z = (a, s)."""

    dim = 4

    @staticmethod
    def encode(images):
        return images[:, 0, 0, :4].clone()

    @staticmethod
    def decode(z):
        out = torch.zeros(z.shape[0], 1, 1, 4)
        out[:, 0, 0, :] = z
        return out


def test_linear_baseline_swaps_what_the_condition_predicts():
    """If the condition reveals a (the first two numbers) exactly and s not at all, the linear
    model learns W = diag(1, 1, 0, 0): the transfer takes a from x and s from y."""
    gen = torch.Generator().manual_seed(0)
    codes = torch.rand(500, 4, generator=gen)  # in [0, 1]: the training pairs are clamped
    images = torch.zeros(500, 1, 1, 4)
    images[:, 0, 0, :] = codes

    class _Shuffle:  # keeps a, replaces s by noise (the "deformation")
        @staticmethod
        def __call__(x, seed=0):
            g = torch.Generator().manual_seed(seed)
            out = x.clone()
            out[:, 0, 0, 2:] = torch.rand(x.shape[0], 2, generator=g)
            return out

    base = disentangle.fit_linear_baseline(_LinearCodes(), images, deformation=_Shuffle(),
                                           progress=False)
    assert base.weight.shape == (4, 4) and 0.3 < base.r2 < 0.7 and base.seconds >= 0
    assert torch.allclose(base.weight, torch.diag(torch.tensor([1.0, 1, 0, 0])), atol=0.1)
    ys, xs = images[:10], images[10:20]
    out = base.transfer(_LinearCodes(), ys, xs)[:, 0, 0, :]
    assert torch.allclose(out[:, :2], codes[10:20, :2], atol=0.1)
    assert torch.allclose(out[:, 2:], codes[:10, 2:], atol=0.1)
    with pytest.raises(ValueError, match="pair up"):
        base.transfer(_LinearCodes(), ys, xs[:3])
    # deformed conditions: a still comes from x (the shuffle keeps it), s from y
    deformed = base.transfer(_LinearCodes(), ys, xs, deformation=_Shuffle(), seed=3)[:, 0, 0, :]
    assert torch.allclose(deformed[:, :2], codes[10:20, :2], atol=0.1)
    assert torch.allclose(deformed[:, 2:], codes[:10, 2:], atol=0.15)


def test_condition_probe_reads_what_the_deformation_leaves():
    from n2nlib.data import render_shapes, sample_factors

    class _Codes:  # a stand-in autoencoder whose code is the 8×8-average image
        dim = 192

        @staticmethod
        def encode(images):
            return torch.nn.functional.avg_pool2d(images, 4).flatten(1)

    factors = sample_factors(400, 0, background="mixed")
    images, _ = render_shapes(factors, 32, 0, world="v2")
    plain = disentangle.condition_probe(_Codes(), images, factors, None)
    shuffled = disentangle.condition_probe(_Codes(), images, factors,
                                           disentangle.default_deformation(), seed=1)
    # the layout is gone (position: chance 1/9), the colours stay
    assert plain["position"] > shuffled["position"] + 0.25 and shuffled["position"] < 0.3
    assert shuffled["background"] > 0.8 and shuffled["color"] > 0.2  # colour: chance 1/8


def test_border_agreement_reads_the_frame_only():
    ys, xs = torch.zeros(4, 3, 8, 8), torch.ones(4, 3, 8, 8)
    images = xs.clone()
    images[:, :, 2:-2, 2:-2] = 0.0  # the middle like y, the frame like x
    assert disentangle.border_agreement(images, ys, xs) == 1.0
    images[:2] = 0.0  # two images like y everywhere
    assert disentangle.border_agreement(images, ys, xs) == 0.5
    with pytest.raises(ValueError, match="same shape"):
        disentangle.border_agreement(images[:3], ys, xs)


def test_grid_with_sources_layout():
    ys = torch.full((2, 3, 4, 4), 0.2)
    xs = torch.full((3, 3, 4, 4), 0.7)
    transfers = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 3, 4, 4) / 10
    out = disentangle.grid_with_sources(ys, xs, transfers)
    assert out.shape == (12, 3, 4, 4)
    corner, top, left = out[0], out[1:4], out[[4, 8]]
    assert float(corner.min()) == 1.0 and bool((top == 0.7).all()) and bool((left == 0.2).all())
    # row r (after the header), column c (after the sources): transfer r * 3 + c
    assert out[5, 0, 0, 0].item() == pytest.approx(0.0) and out[11, 0, 0, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="transfers"):
        disentangle.grid_with_sources(ys, xs, transfers[:5])


@pytest.mark.usefixtures("float32")
def test_truth_draws_the_geometry_of_y_in_the_appearance_of_x():
    from n2nlib import zoo

    pairs = disentangle.held_out_pairs(60, seed=3)
    truth = pairs.truth()
    assert truth.shape == pairs.xs.shape
    read = zoo.load(disentangle.CLASSIFIER).predict(truth)
    for k, name in enumerate(FACTOR_NAMES):
        source = pairs.y_factors if name in disentangle.SHAPE_FACTORS else pairs.x_factors
        other = pairs.x_factors if name in disentangle.SHAPE_FACTORS else pairs.y_factors
        assert float((read[name] == source[:, k]).float().mean()) >= 0.9, name
        assert float((read[name] == other[:, k]).float().mean()) <= 0.1, name
    # drawn from x's random stream: away from both shapes, the background is x's own
    same = (truth == pairs.xs).all(dim=1).float().mean(dim=(1, 2))
    assert float(same.median()) > 0.6
