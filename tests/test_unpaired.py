"""Unpaired transfer (notebook 04): content preservation and linear-probe metrics, the unpaired
domain data, and a tiny end-to-end unpaired translation on fake latents that keeps the shared
content and changes the domain, where the mean-shift baseline cannot."""

from __future__ import annotations

import pytest
import torch

from n2nlib import ConditionalINN, Net2Net, metrics
from n2nlib.course import unpaired
from n2nlib.data import FACTOR_NAMES, PHOTO_NAMES, TEST_PHOTOS
from n2nlib.experts import Labelator, as_expert

pytestmark = pytest.mark.usefixtures("float32", "one_thread")


# -- metrics ------------------------------------------------------------------------------------


def test_content_preservation_per_factor_and_jointly():
    ref = torch.tensor([[0, 1, 0, 4, 0], [2, 3, 1, 5, 0], [4, 7, 1, 8, 0], [1, 1, 1, 1, 0]])
    pred = {name: ref[:, j].clone() for j, name in enumerate(FACTOR_NAMES)}
    out = metrics.content_preservation(pred, ref)
    assert out == {"shape": 1.0, "color": 1.0, "size": 1.0, "position": 1.0, "all": 1.0}
    pred["color"][0] = 0  # one colour wrong
    pred["position"][1] = 0  # one position wrong, in another image
    out = metrics.content_preservation(pred, ref)
    assert out["color"] == 0.75 and out["position"] == 0.75 and out["all"] == 0.5
    # a dict reference and a subset of factors
    assert metrics.content_preservation(pred, pred, names=("shape",)) == {"shape": 1.0,
                                                                          "all": 1.0}
    with pytest.raises(ValueError, match="missing"):
        metrics.content_preservation({"shape": pred["shape"]}, ref)
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        metrics.content_preservation(pred, ref[:, :3])
    with pytest.raises(ValueError, match="same"):
        metrics.content_preservation({"shape": torch.zeros(3)}, {"shape": torch.zeros(4)},
                                     names=("shape",))


def test_linear_probe_is_at_chance_for_independent_features():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (600,), generator=g)
    informative = torch.randn(600, 4, generator=g) + 2.0 * labels[:, None]
    independent = torch.randn(600, 4, generator=g)
    assert metrics.linear_probe_accuracy(informative, labels) > 0.9
    assert abs(metrics.linear_probe_accuracy(independent, labels) - 0.5) < 0.1
    with pytest.raises(ValueError, match="rows"):
        metrics.linear_probe_accuracy(independent, labels[:10])


def test_linear_probe_transfers_to_a_separate_test_set():
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 2, (400,), generator=g)
    sign = 2.0 * labels[:, None] - 1.0
    train = torch.randn(400, 3, generator=g) + 3.0 * sign
    same = torch.randn(200, 3, generator=g) + 3.0 * sign[:200]
    flipped = torch.randn(200, 3, generator=g) - 3.0 * sign[:200]  # the classes swapped
    assert metrics.linear_probe_accuracy(train, labels, test_features=same,
                                         test_labels=labels[:200]) > 0.9
    assert metrics.linear_probe_accuracy(train, labels, test_features=flipped,
                                         test_labels=labels[:200]) < 0.2
    with pytest.raises(ValueError, match="together"):
        metrics.linear_probe_accuracy(train, labels, test_features=same)
    with pytest.raises(ValueError, match="test_features must be"):
        metrics.linear_probe_accuracy(train, labels, test_features=same[:, :2],
                                      test_labels=labels[:200])


# -- data ---------------------------------------------------------------------------------------


def test_make_domains_is_unpaired_with_the_right_backgrounds():
    data = unpaired.make_domains(40, split="test", seed=3)
    assert len(data) == 80 and data.images.shape == (80, 3, 32, 32)
    assert data.labels.tolist() == [0] * 40 + [1] * 40
    # the domain is the background factor
    assert torch.equal(data.factors[:, FACTOR_NAMES.index("background")], data.labels)
    # the two domains drew their factors independently: not the same rows
    (_, f0), (_, f1) = data.domain(0), data.domain(1)
    assert not torch.equal(f0[:, :4], f1[:, :4])
    # deterministic, and train differs from test
    again = unpaired.make_domains(40, split="test", seed=3)
    assert torch.equal(again.images, data.images)
    assert not torch.equal(unpaired.make_domains(40, split="train", seed=3).images, data.images)


def test_held_out_photo_backgrounds_come_from_held_out_photographs():
    from n2nlib.data import render_shapes_full

    data = unpaired.make_domains(8, split="test", seed=0)
    _, f1 = data.domain(1)
    render = render_shapes_full(f1, 32, 1, "test")
    assert all(PHOTO_NAMES[int(s)] in TEST_PHOTOS for s in render.background_sources)


# -- a tiny unpaired translation on fake latents --------------------------------------------------


def _fake_domains(n: int, gen: torch.Generator):
    """Codes (content, style): content ~ N(0, 1) is shared, style is the domain's offset ±2 with
    a little noise. Domain 1 also scales its content by 1.5, which a mean shift cannot undo."""
    labels = torch.arange(2).repeat_interleave(n)
    content = torch.randn(2 * n, 1, generator=gen)
    style = 4.0 * labels[:, None] - 2.0 + 0.3 * torch.randn(2 * n, 1, generator=gen)
    scale = torch.where(labels[:, None] == 1, 1.5, 1.0)
    return labels, torch.cat([scale * content, style], dim=1), content


class _Reader:
    """A 'classifier' of the fake codes: domain from the style, content from the first code
    after undoing the domain's scale (binned into 4 classes)."""

    def predict(self, codes):
        domain = (codes[:, 1] > 0).long()
        content = codes[:, 0] / torch.where(domain == 1, 1.5, 1.0)
        zeros = torch.zeros_like(domain)
        return {"background": domain, "color": zeros, "size": zeros, "position": zeros,
                "shape": torch.bucketize(content, torch.tensor([-0.7, 0.0, 0.7]))}


def test_unpaired_transfer_keeps_content_and_changes_the_domain():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    labels, codes, _ = _fake_domains(1500, g)
    target = as_expert(lambda y: y, dim=2, decode=lambda z: z)
    n2n = Net2Net(Labelator(list(unpaired.DOMAINS), device="cpu"), target,
                  ConditionalINN(2, 2, n_blocks=4, hidden_dim=32), device="cpu")
    n2n.fit((labels, codes), steps=400, batch_size=128, lr=3e-3, progress=False)

    t_labels, t_codes, t_content = _fake_domains(200, g)
    y0, c0 = t_codes[t_labels == 0], t_content[t_labels == 0]
    moved = unpaired.translate(n2n, y0, source=0, target=1)
    assert moved.shape == y0.shape
    assert float((moved[:, 1] > 0).double().mean()) > 0.95  # in domain 1 now
    # the shared content is kept: domain 1 shows it scaled by 1.5
    assert float((moved[:, 0] - 1.5 * c0[:, 0]).abs().mean()) < 0.3
    # and back again
    back = unpaired.translate(n2n, moved, source=1, target=0)
    assert float((back - y0).abs().max()) < 1e-3

    # a temperature scales the kept residual: T = 0 sends every input to the target's mode
    mode = unpaired.translate(n2n, y0, source=0, target=1, temperature=0.0)
    assert float((mode - mode[:1]).abs().max()) < 1e-5
    assert float((mode - moved).abs().mean()) > 0.3
    half = unpaired.translate(n2n, y0, source=0, target=1, temperature=0.5, batch_size=64)
    v = n2n.residual(y0, [0] * len(y0))
    expected = n2n.translate_latent(n2n.encode_source([1] * len(y0)), v=0.5 * v)
    assert torch.allclose(half, expected, atol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        unpaired.translate(n2n, y0, source=0, target=1, temperature=-1.0)

    # the residual carries no domain: a linear probe is at chance on v, perfect on the codes
    v = n2n.residual(t_codes, t_labels)
    assert metrics.linear_probe_accuracy(t_codes, t_labels) > 0.95
    assert metrics.linear_probe_accuracy(v, t_labels) < 0.7

    # measured the notebook's way, with a reader of the fake codes
    factors = torch.zeros(len(y0), 5, dtype=torch.long)
    factors[:, 0] = torch.bucketize(c0[:, 0], torch.tensor([-0.7, 0.0, 0.7]))
    got = unpaired.evaluate_transfer(_Reader(), moved, factors, target=1)
    assert got["target_accuracy"] > 0.95 and got["shape"] > 0.8
    assert got["color"] == 1.0 and got["content"] == got["shape"]

    # the mean-shift baseline moves the domain but not the content's scale
    means = unpaired.domain_means(target, codes, labels)
    assert means.shape == (2, 2)
    shifted = unpaired.mean_shift(target, y0, means, 0, 1)
    assert torch.allclose(shifted, y0 - means[0] + means[1], atol=1e-6)
    assert float((shifted[:, 0] - 1.5 * c0[:, 0]).abs().mean()) > 0.3


def test_evaluate_transfer_reads_the_background_head():
    class Fixed:
        def predict(self, images):
            n = len(images)
            return {"shape": torch.zeros(n, dtype=torch.long),
                    "color": torch.ones(n, dtype=torch.long),
                    "size": torch.zeros(n, dtype=torch.long),
                    "position": torch.arange(n),
                    "background": torch.tensor([1, 1, 0, 1])}

    factors = torch.tensor([[0, 1, 0, 0, 0], [0, 1, 0, 1, 0], [0, 2, 0, 2, 0], [1, 1, 0, 3, 0]])
    out = unpaired.evaluate_transfer(Fixed(), torch.zeros(4, 3, 8, 8), factors, target=1)
    assert out["target_accuracy"] == 0.75
    assert out["shape"] == 0.75 and out["color"] == 0.75 and out["position"] == 1.0
    assert out["content"] == 0.5
    assert out["content_csp"] == 0.75  # only image 2 (colour) fails; image 3 fails on shape


def test_decoded_domain_classifier_reads_reconstructions():
    """A toy 'autoencoder' that blurs: the classifier is fitted on its reconstructions and
    tells bright-background images from dark ones."""
    import torch.nn.functional as F

    def encode(y):
        return F.avg_pool2d(y, 8).flatten(1)

    def decode(z):
        return F.interpolate(z.view(-1, 3, 2, 2), size=(16, 16), mode="bilinear",
                             align_corners=False)

    ae = as_expert(encode, dim=12, decode=decode)
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat_interleave(100)
    images = (0.2 + 0.5 * labels[:, None, None, None]
              + 0.1 * torch.rand(200, 3, 16, 16, generator=g)).clamp(0, 1)
    probe = unpaired.fit_domain_classifier(ae, images, labels)
    assert torch.equal(probe.predict(unpaired.reconstruct(ae, images)), labels)
    assert probe.features(images[:3]).shape == (3, 12 + 3 * 64)
    with pytest.raises(ValueError, match="same length"):
        unpaired.fit_domain_classifier(ae, images, labels[:5])
    out = unpaired.evaluate_transfer(_Reader(), torch.zeros(4, 2), torch.zeros(4, 5).long(), 1,
                                     domain_classifier=_Constant(1))
    assert out["target_accuracy_decoded"] == 1.0


class _Constant:
    def __init__(self, value):
        self.value = value

    def predict(self, images):
        return torch.full((len(images),), self.value)


def test_counterparts_redraw_the_scene_in_the_other_domain():
    """The truth of a translation: the same factors, the other background. With the source
    domain as target it is the source image exactly; with the other domain every fully
    covered shape pixel is unchanged and the background is not."""
    from n2nlib.data import render_shapes_full

    domains = unpaired.make_domains(12, "test", seed=3)
    for source in (0, 1):
        images, factors = domains.domain(source)
        assert torch.equal(unpaired.counterparts(factors, source, source, seed=3), images)
        other = unpaired.counterparts(factors, source, 1 - source, seed=3)
        cover = render_shapes_full(factors, 32, 2 * 3 + source, "test",
                                   world=unpaired.WORLD).coverage
        inside = (cover == 1.0)[:, None].expand_as(images)
        outside = (cover == 0.0)[:, None].expand_as(images)
        torch.testing.assert_close(other[inside], images[inside])
        assert (other[outside] - images[outside]).abs().mean() > 0.05
    with pytest.raises(ValueError, match="target must be a domain index"):
        unpaired.counterparts(factors, 0, 2, seed=3)
    with pytest.raises(ValueError, match="factors must be"):
        unpaired.counterparts(factors[:, :4], 0, 1, seed=3)
