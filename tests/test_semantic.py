"""Notebook 08's experiment code (n2nlib.course.semantic): data, shared target codes,
measurements of segmentation, factors, edges and attribute modification; a tiny end-to-end run
with a label-map source."""

from __future__ import annotations

import math

import pytest
import torch

from n2nlib import ConditionalINN, Net2Net, metrics
from n2nlib.course import semantic
from n2nlib.course.common import ridge_regression
from n2nlib.data import FACTOR_NAMES
from n2nlib.experts import IdentityExpert
from n2nlib.nets.edges import AttributeVectors, LabelMaps

pytestmark = pytest.mark.usefixtures("float32", "one_thread")


class _TableClassifier:
    """A stand-in attribute classifier: reads factor labels stored in pixel (0, 0) of channel 0."""

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        codes = images[:, 0, 0, :5].round().long()
        return {name: codes[:, j] for j, name in enumerate(FACTOR_NAMES)}


def _images_with_labels(labels: torch.Tensor) -> torch.Tensor:
    images = torch.zeros(labels.shape[0], 3, 8, 8)
    images[:, 0, 0, :5] = labels.float()
    return images


class _ArgmaxSegmenter:
    """A stand-in segmenter: the label is the channel-0 value rounded (0..5)."""

    n_classes = 6

    def predict_masks(self, images: torch.Tensor) -> torch.Tensor:
        return images[:, 0].round().long().clamp(0, 5)


def test_make_data_and_segment_once():
    data = semantic.make_data(6, split="test", seed=0)
    assert len(data) == 6 and data.labels is None
    calls = []

    class Seg:
        def predict_masks(self, images, batch_size=512):
            calls.append(1)
            return torch.zeros(images.shape[0], 32, 32, dtype=torch.long)

    data.segment(Seg())
    data.segment(Seg())
    assert len(calls) == 1 and data.labels.shape == (6, 32, 32)
    assert set(data.factors[:, 4].tolist()) <= {0, 1}


def test_change_one_factor_changes_exactly_one_to_a_valid_other_value():
    factors = semantic.make_data(40, split="test", seed=1).factors
    new, which = semantic.change_one_factor(factors, seed=3)
    diff = new != factors
    assert bool((diff.sum(1) == 1).all())
    assert torch.equal(diff.float().argmax(1), which)
    sizes = torch.tensor([5, 8, 2, 9, 2])
    assert bool((new >= 0).all()) and bool((new < sizes).all())
    assert torch.equal(which, torch.arange(40) % 5)
    only_color, w = semantic.change_one_factor(factors, seed=0, which=torch.full((40,), 1))
    assert bool((w == 1).all()) and bool((only_color[:, 1] != factors[:, 1]).all())


def test_modification_scores_count_flips_and_keeps():
    original = torch.tensor([[0, 0, 0, 0, 0]] * 4)
    new, which = semantic.change_one_factor(original, seed=0, which=[1, 1, 3, 3])
    # image 0: perfect; 1: colour not flipped; 2: perfect; 3: flipped, but size changed too
    produced = new.clone()
    produced[1, 1] = 0
    produced[3, 2] = 1
    scores = semantic.modification_scores(_TableClassifier(), _images_with_labels(produced),
                                          original, new, which)
    assert scores.flipped == pytest.approx(0.75)
    assert scores.flipped_by_factor == {"color": 0.5, "position": 1.0}
    assert scores.kept == pytest.approx(15 / 16)
    assert scores.all_kept == pytest.approx(0.75)
    assert scores.kept_by_factor["size"] == pytest.approx(0.75)
    assert scores.kept_by_factor["shape"] == 1.0


def test_factor_agreement_and_distinct_values():
    labels = torch.tensor([[1, 2, 0, 3, 1], [4, 7, 1, 8, 0]])
    images = _images_with_labels(labels).repeat_interleave(2, dim=0)
    images[1, 0, 0, 1] = 5.0  # the second sample of input 0 has another colour
    agree = semantic.factor_agreement(_TableClassifier(), images, labels, n_samples=2)
    assert agree["color"] == pytest.approx(0.75) and agree["shape"] == 1.0
    only = semantic.factor_agreement(_TableClassifier(), images, labels, 2, names=["shape"])
    assert list(only) == ["shape"]
    assert semantic.distinct_values(_TableClassifier(), images, 2, "color") == pytest.approx(1.5)


def test_segmentation_miou_against_the_source_maps():
    maps = torch.randint(0, 6, (3, 8, 8))
    perfect = maps[:, None].float().expand(-1, 3, -1, -1).repeat_interleave(2, dim=0)
    assert semantic.segmentation_miou(_ArgmaxSegmenter(), perfect, maps, n_samples=2) == 1.0
    wrong = perfect.clone()
    wrong[:, 0] = (wrong[:, 0] + 1) % 6
    assert semantic.segmentation_miou(_ArgmaxSegmenter(), wrong, maps, n_samples=2) < 0.1


def test_edge_agreement():
    img = torch.zeros(2, 3, 16, 16)
    img[:, :, 4:10, 4:10] = 1.0
    assert semantic.edge_agreement(img, img) == pytest.approx(1.0)
    moved = torch.zeros_like(img)
    moved[:, :, 9:15, 1:7] = 1.0
    assert semantic.edge_agreement(moved, img) < 0.3


def test_label_maps_to_codes_end_to_end():
    """A tiny Net2Net from one-hot label maps to a code that the map determines (class areas)
    plus noise: translations must recover the areas, and exemplar transfer must keep the
    exemplar's residual (the noise coordinate)."""
    gen = torch.Generator().manual_seed(0)
    n, size = 1500, 8
    maps = torch.zeros(n, size, size, dtype=torch.long)
    side = torch.randint(2, 7, (n,), generator=gen)
    for i in range(n):
        maps[i, : side[i], : side[i]] = 1
    area = (maps == 1).float().mean(dim=(1, 2))
    style = torch.randn(n, generator=gen)
    codes = torch.stack([4 * area - 1, style], dim=1)  # z_Θ = (area, free residual)
    source = LabelMaps(2, size=size, pool=4)
    cond = source.encode(maps)
    pairs = semantic.latent_pairs((codes, torch.full_like(codes, -12.0)), cond)
    cinn = ConditionalINN(2, (2, 4, 4), n_blocks=3, hidden_dim=32, embedder="conv")
    n2n = Net2Net(source, IdentityExpert(2), cinn, device="cpu")
    n2n.fit(pairs, steps=300, batch_size=128, lr=3e-3, progress=False)
    out = semantic.translate(n2n, maps[:200], n_samples=2, temperature=0.0, seed=0)
    assert out.shape == (400, 2)
    err = (out[:, 0] - codes[:200, 0].repeat_interleave(2)).abs().mean()
    assert float(err) < 0.15
    # exemplar-guided: residual of exemplar i (its style) with the map of exemplar i + 1
    moved = semantic.exemplar_transfer(n2n, codes[:200], maps[:200], maps[1:201])
    assert float((moved[:, 0] - codes[1:201, 0]).abs().mean()) < 0.15
    corr = torch.corrcoef(torch.stack([moved[:, 1], codes[:200, 1]]))[0, 1]
    assert float(corr) > 0.9


def test_attribute_vectors_as_source_end_to_end():
    """Attribute modification on codes: z_Θ = (colour as a number, free style); changing the
    colour attribute must move the first coordinate and keep the second."""
    gen = torch.Generator().manual_seed(1)
    n = 1500
    factors = torch.stack([torch.randint(0, k, (n,), generator=gen) for k in (5, 8, 2, 9, 2)], 1)
    style = torch.randn(n, generator=gen)
    codes = torch.stack([factors[:, 1].float() / 4 - 1, style], dim=1)
    source = AttributeVectors()
    pairs = semantic.latent_pairs((codes, torch.full_like(codes, -12.0)), source.encode(factors))
    n2n = Net2Net(source, IdentityExpert(2), device="cpu", n_blocks=3, hidden_dim=32)
    n2n.fit(pairs, steps=300, batch_size=128, lr=3e-3, progress=False)
    new, _ = semantic.change_one_factor(factors[:200], seed=0, which=torch.ones(200))
    out = semantic.exemplar_transfer(n2n, codes[:200], factors[:200], new)
    assert float((out[:, 0] - (new[:, 1].float() / 4 - 1)).abs().mean()) < 0.1
    assert float(torch.corrcoef(torch.stack([out[:, 1], style[:200]]))[0, 1]) > 0.9


def test_fit_translator_with_a_spatial_source_and_a_stochastic_target():
    from n2nlib.experts import as_expert
    from n2nlib.nets.autoencoder import Autoencoder

    ae = as_expert(Autoencoder(size=16, dim=6, width=4, max_width=8, n_pseudo_classes=4,
                               embed_dim=4, attention=False))
    images = torch.rand(10, 3, 16, 16)
    targets = semantic.encode_targets(ae, images, progress=False)
    assert targets[0].shape == (10, 6) and targets[1].shape == (10, 6)
    maps = torch.randint(0, 6, (10, 16, 16))
    trained = semantic.fit_translator(LabelMaps(6, size=16, pool=8), ae, targets, maps, steps=3,
                                      batch_size=4, cinn_kwargs={"n_blocks": 2, "hidden_dim": 8},
                                      device="cpu", progress=False,
                                      eval_targets=(targets[0][:4], targets[1][:4]),
                                      eval_inputs=maps[:4])
    assert tuple(trained.n2n.cinn.cond_shape) == (6, 8, 8)
    assert len(trained.history.loss) == 3 and trained.seconds >= trained.train_seconds
    assert len(trained.history.eval_nll) >= 1  # the held-out curve
    samples = semantic.translate(trained.n2n, maps[:2], n_samples=2)
    assert samples.shape == (4, 3, 16, 16)


def test_latent_pairs_min_std_widens_narrow_posteriors_only():
    mean = torch.zeros(3, 2)
    logvar = torch.tensor([[-10.0, 0.0], [-10.0, 0.0], [-10.0, 0.0]])
    pairs = semantic.latent_pairs((mean, logvar), torch.zeros(3, 1), min_std=0.5)
    assert torch.allclose(torch.as_tensor(pairs.target_logvar[:, 0]),
                          torch.full((3,), 2 * math.log(0.5)))
    assert torch.equal(torch.as_tensor(pairs.target_logvar[:, 1]), torch.zeros(3))
    assert torch.equal(torch.as_tensor(semantic.latent_pairs((mean, logvar),
                                                             torch.zeros(3, 1)).target_logvar),
                       logvar)


def test_modification_scores_judge_only_named_factors():
    original = torch.tensor([[0, 0, 0, 0, 0]] * 4)
    new, which = semantic.change_one_factor(original, seed=0, which=[1, 1, 3, 3])
    produced = new.clone()
    produced[:, 0] = 1  # the shape is never kept ...
    produced[3, 2] = 1  # ... and image 3 changed its size too
    images = _images_with_labels(produced)
    every = semantic.modification_scores(_TableClassifier(), images, original, new, which)
    assert every.all_kept == 0.0 and every.kept_by_factor["shape"] == 0.0
    judged = semantic.modification_scores(_TableClassifier(), images, original, new, which,
                                          judged=["color", "size", "position"])
    assert set(judged.kept_by_factor) == {"color", "size", "position"}
    assert judged.kept == pytest.approx(7 / 8)  # two judged others per image, one miss
    assert judged.all_kept == pytest.approx(0.75)
    assert judged.flipped == every.flipped == 1.0
    with pytest.raises(ValueError, match="judged"):
        semantic.modification_scores(_TableClassifier(), images, original, new, which,
                                     judged=["colour"])


def test_foreground_iou_ignores_which_shape():
    maps = torch.zeros(2, 8, 8, dtype=torch.long)
    maps[:, 2:6, 2:6] = 3
    wrong_class = maps[:, None].float().expand(-1, 3, -1, -1).clone()
    wrong_class[wrong_class > 0] = 1.0  # right place, wrong shape class
    assert semantic.segmentation_miou(_ArgmaxSegmenter(), wrong_class, maps) < 0.6
    assert semantic.foreground_iou(_ArgmaxSegmenter(), wrong_class, maps) == 1.0
    empty = torch.zeros(4, 3, 8, 8)
    assert semantic.foreground_iou(_ArgmaxSegmenter(), empty, maps, n_samples=2) < 0.5


def test_pixel_diversity():
    same = torch.rand(3, 3, 4, 4).repeat_interleave(4, dim=0)
    assert semantic.pixel_diversity(same, 4) == pytest.approx(0.0, abs=1e-7)
    noisy = torch.rand(12, 3, 4, 4)
    assert semantic.pixel_diversity(noisy, 4) > 0.2
    with pytest.raises(ValueError):
        semantic.pixel_diversity(noisy, 5)
    with pytest.raises(ValueError):
        semantic.pixel_diversity(noisy, 1)


def test_factor_means_average_the_codes_of_each_value():
    factors = torch.tensor([[0, 1, 0, 0, 0], [0, 2, 1, 0, 1], [1, 1, 1, 0, 1]])
    codes = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    means = semantic.factor_means(codes, factors)
    assert [m.shape[0] for m in means] == [5, 8, 2, 9, 2]  # every value of the shapes factors
    assert torch.equal(means[0][0], torch.tensor([2.0, 1.0]))  # shape 0: rows 0 and 1
    assert torch.equal(means[1][1], torch.tensor([3.0, 2.0]))  # colour 1: rows 0 and 2
    assert torch.equal(means[0][4], codes.mean(0))  # an unseen value: the overall mean
    with pytest.raises(ValueError, match="pair up"):
        semantic.factor_means(codes[:2], factors)


def test_mean_shift_edit_moves_the_code_by_the_class_mean_difference():
    """With an identity autoencoder the edit is exactly z + μ[new] − μ[old]."""

    class Identity(torch.nn.Module):
        dim = 4

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def encode(self, x):
            return x.flatten(1)

        def decode(self, z):
            return z.view(-1, 1, 2, 2)

    factors = torch.tensor([[0, 0, 0, 0, 0], [0, 3, 0, 0, 0]])
    means = semantic.factor_means(torch.tensor([[0.1, 0, 0, 0], [0.5, 0, 0, 0]]), factors)
    images = torch.full((2, 1, 2, 2), 0.2)
    new = factors.clone()
    new[0, 1] = 3  # row 0 takes colour 3: +0.4 on the first pixel
    out = semantic.mean_shift_edit(Identity(), images, factors, new, means)
    assert torch.allclose(out[0].flatten(), torch.tensor([0.6, 0.2, 0.2, 0.2]))
    assert torch.allclose(out[1], images[1])  # unchanged factors: unchanged image
    with pytest.raises(ValueError, match="must match"):
        semantic.mean_shift_edit(Identity(), images, factors, new[:, :4], means)


def test_inpainting_holes_and_measures():
    from n2nlib.course import inpainting

    holes = inpainting.random_holes(6, size=16, side=5, seed=2)
    assert bool((holes.flatten(1).sum(1) == 25).all())
    assert torch.equal(holes, inpainting.random_holes(6, size=16, side=5, seed=2))
    truth = _images_with_labels(torch.tensor([[k % 5, 1, 0, 2, 1] for k in range(6)]))
    truth = torch.nn.functional.interpolate(truth, size=16, mode="nearest")
    holed = inpainting.cut_holes(truth, holes)
    outside = ~holes[:, None].expand_as(holed)
    assert torch.equal(holed[outside], truth[outside])
    assert bool((holed.permute(0, 2, 3, 1)[holes] == inpainting.FILL).all())
    # samples equal to the truth outside the hole, two different fills inside
    samples = truth.repeat_interleave(2, 0).clone()
    inside = holes.repeat_interleave(2, 0)[:, None].expand_as(samples)
    fills = torch.tensor([0.2, 0.8]).repeat(6)[:, None, None, None].expand_as(samples)
    samples[inside] = fills[inside]
    factors = torch.zeros(6, 5).long()
    got = inpainting.evaluate(_TableClassifier(), samples, holed, truth, holes, factors, 2)
    assert got.psnr_outside == 100.0 and got.spread_outside == 0.0
    assert got.spread_inside > 0.2 and got.psnr_inside < 30
    with pytest.raises(ValueError, match="n_samples"):
        inpainting.evaluate(_TableClassifier(), samples, holed, truth, holes, factors, 3)
    with pytest.raises(ValueError, match="holes must be"):
        inpainting.cut_holes(truth, holes[:, :8])


def test_linear_code_recovers_a_linear_target_and_decodes():
    """The linear baseline: ridge regression of the codes on the flattened source codes.
    Where the code is an affine function of the label map it is recovered (R² ≈ 1), the
    decode goes through the target's ``decode``, and a bad shape is refused."""
    from n2nlib.experts import as_expert

    g = torch.Generator().manual_seed(0)
    maps = torch.randint(0, 3, (300, 4, 4), generator=g)
    source = LabelMaps(3, size=4)
    c = source.encode(maps).flatten(1)
    w = torch.randn(c.shape[1], 5, generator=g)
    z = c @ w + 1.5
    target = as_expert(lambda y: y, dim=5, decode=lambda z: 2 * z)
    base = semantic.fit_linear_code(source, (z, torch.zeros_like(z)), maps, ridge=1e-8)
    assert base.r2 > 0.999
    out = base.translate(target, maps[:7], batch_size=3)
    assert out.shape == (7, 5)
    torch.testing.assert_close(out, 2 * z[:7], atol=1e-3, rtol=1e-3)
    moved = base.transfer(target, z[:7], maps[:7], maps[7:14], batch_size=3)
    torch.testing.assert_close(moved, 2 * z[7:14], atol=1e-3, rtol=1e-3)
    noisy = semantic.fit_linear_code(source, z + 5 * torch.randn(z.shape, generator=g), maps)
    assert noisy.r2 < 0.9
    with pytest.raises(ValueError, match="same N"):
        ridge_regression(torch.zeros(4, 2), torch.zeros(5, 2))


def test_factor_probes_fit_on_the_first_half_and_score_the_second():
    g = torch.Generator().manual_seed(1)
    factors = torch.stack([torch.randint(0, 2, (200,), generator=g)] * 5, dim=1)
    features = torch.randn(200, 4, generator=g)
    features[:, 0] += 5.0 * factors[:, 0]
    got = semantic.factor_probes(features, factors, names=["shape", "background"])
    assert list(got) == ["shape", "background"]
    expected = metrics.linear_probe_accuracy(features[:100], factors[:100, 0],
                                             test_features=features[100:],
                                             test_labels=factors[100:, 0])
    assert got["shape"] == expected > 0.95
    assert len(semantic.factor_probes(torch.randn(200, 4, generator=g), factors)) == 5
