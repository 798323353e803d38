"""The image experts' models: shapes, input checks, losses (Eqs. 14-18), taps, the expert loop."""

from __future__ import annotations

import math

import pytest
import torch

from n2nlib.experts import as_expert, is_frozen, is_stochastic_expert, is_target_expert
from n2nlib.metrics import downsample
from n2nlib.nets.autoencoder import (
    Autoencoder,
    PatchDiscriminator,
    adaptive_gan_weight,
    discriminator_loss,
    kl_to_standard_normal,
    reconstruction_nll,
    vae_loss,
)
from n2nlib.nets.blocks import check_images
from n2nlib.nets.classifiers import AttributeClassifier, DigitsClassifier, Segmenter
from n2nlib.zoo.data import (
    augment_flip_shapes,
    augment_flip_swap,
    augment_shift,
    composite,
    swap_shapes_data,
)
from n2nlib.zoo.objectives import (
    AutoencoderObjective,
    CrossEntropyObjective,
    FeatureDistance,
    SwapAutoencoderObjective,
)
from n2nlib.zoo.training import fit_expert

pytestmark = pytest.mark.usefixtures("float32")


# -- autoencoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size,channels", [(8, 1), (8, 3), (16, 3), (32, 3)])
def test_autoencoder_shapes_and_range(size, channels):
    ae = Autoencoder(size=size, channels=channels, dim=6, width=8, max_width=16)
    x = torch.rand(3, channels, size, size)
    mean, logvar = ae.encode_distribution(x)
    assert mean.shape == logvar.shape == (3, 6)
    assert torch.equal(ae.encode(x), mean)
    y = ae.decode(torch.randn(3, 6) * 5)
    assert y.shape == x.shape
    assert float(y.detach().min()) >= 0.0 and float(y.detach().max()) <= 1.0
    recon, m, lv = ae(x, sample=False)
    assert torch.allclose(recon, ae.decode(m))


def test_autoencoder_is_a_stochastic_target_expert_and_freezes():
    ae = as_expert(Autoencoder(size=8, dim=4, width=8))
    assert is_target_expert(ae) and is_stochastic_expert(ae) and is_frozen(ae)
    z = ae.encode(torch.rand(2, 3, 8, 8))
    assert not z.requires_grad
    assert ae.decode(z).shape == (2, 3, 8, 8)


def test_autoencoder_attention_at_16x16():
    ae = Autoencoder(size=32, dim=4, width=4, max_width=8)
    assert ae.decoder.attention.out.in_channels == 4  # 8 channels at 16x16, halved
    assert not hasattr(Autoencoder(size=8, dim=4, width=4).decoder, "attention")


def _cbn_formula(norm, x, cond, training):
    """Conditional batch norm by its textbook formula: batch statistics in training, running
    statistics in eval."""
    import torch.nn.functional as F

    bn = norm.bn
    normed = (F.batch_norm(x, None, None, training=True) if training else
              (x - bn.running_mean[:, None, None]) / (bn.running_var[:, None, None]
                                                      + bn.eps).sqrt())
    return normed * (1 + norm.gain(cond))[:, :, None, None] + norm.bias(cond)[:, :, None, None]


def test_decoder_layers_compute_their_formulas_on_both_layouts():
    """Conditional batch norm (eval: folded into one x·a + b; training: batch statistics) and
    the non-local block (one fused projection) against their textbook formulas, float64."""
    import torch.nn.functional as F

    from n2nlib.nets.autoencoder import ConditionalBatchNorm2d, SelfAttention

    torch.manual_seed(0)
    x, cond = torch.randn(3, 16, 8, 8, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    cbn = ConditionalBatchNorm2d(16, cond_dim=5).double()
    attn = SelfAttention(16).double()
    with torch.no_grad():
        for p in [*cbn.parameters(), *attn.parameters()]:
            p.add_(0.3 * torch.randn_like(p))  # away from the zero gains and scale of init
        cbn.bn.running_mean.normal_()
        cbn.bn.running_var.uniform_(0.5, 2.0)

    def textbook_cbn(training: bool) -> torch.Tensor:
        return _cbn_formula(cbn, x, cond, training)

    def textbook_attention() -> torch.Tensor:
        theta = torch.einsum("oc,bchw->bohw", attn.theta.weight[:, :, 0, 0], x).flatten(2)
        phi = F.max_pool2d(torch.einsum("oc,bchw->bohw", attn.phi.weight[:, :, 0, 0], x), 2)
        g = F.max_pool2d(torch.einsum("oc,bchw->bohw", attn.g.weight[:, :, 0, 0], x), 2)
        weights = torch.softmax(torch.einsum("bci,bcj->bij", theta, phi.flatten(2)), dim=-1)
        o = torch.einsum("bcj,bij->bci", g.flatten(2), weights).view(3, -1, 8, 8)
        return x + attn.scale * torch.einsum("oc,bchw->bohw", attn.out.weight[:, :, 0, 0], o)

    with torch.no_grad():
        for layout in (torch.contiguous_format, torch.channels_last):
            xl = x.contiguous(memory_format=layout)
            cbn.eval()
            out = cbn(xl, cond)
            torch.testing.assert_close(out, textbook_cbn(False), rtol=1e-12, atol=1e-12)
            assert out.is_contiguous(memory_format=layout)
            cbn.train()
            torch.testing.assert_close(cbn(xl, cond), textbook_cbn(True), rtol=1e-10, atol=1e-10)
            out = attn(xl)
            torch.testing.assert_close(out, textbook_attention(), rtol=1e-12, atol=1e-12)
            assert out.is_contiguous(memory_format=layout)
            assert (out - xl).abs().max() > 0.1  # the block did something


def _trunk_by_the_layers(decoder, x, cond):
    """The trunk with every conditional batch norm computed by its own textbook formula."""
    import torch.nn.functional as F

    def cbn(norm, h):
        return _cbn_formula(norm, h, cond, training=False)

    def up(h):
        return F.interpolate(h, scale_factor=2.0, mode="nearest")

    for i, block in enumerate(decoder.blocks):
        h = block.conv1(up(torch.relu(cbn(block.bn1, x))))
        x = block.conv2(torch.relu(cbn(block.bn2, h))) + up(block.skip(x))
        if i == decoder.attention_after:
            x = decoder.attention(x)
    return decoder.out_conv(torch.relu(decoder.out_bn(x)))


def test_trunk_computes_its_conditional_norms_together_and_follows_their_changes():
    """In eval mode ``run_up_trunk`` computes every conditional batch norm's ``x·a + b`` at
    once (``eval_affines``); the result equals the layers' own formulas, also after a
    training-mode pass (which updates the running statistics inside its kernel, without a
    version bump), a fused Adam step taken in eval mode, a ``.data`` write and loading other
    weights; gradients reach the condition and the layers' parameters (float64)."""
    from n2nlib.nets.autoencoder import Decoder
    from n2nlib.nets.trunk import run_up_trunk

    torch.manual_seed(0)
    decoder = Decoder(size=16, channels=3, dim=4, width=4, max_width=8).double().eval()
    norms = [n for block in decoder.blocks for n in (block.bn1, block.bn2)]
    with torch.no_grad():
        for p in decoder.parameters():
            p.add_(0.3 * torch.randn_like(p))  # away from the zero gains of init
        for norm in norms:
            norm.bn.running_mean.normal_()
            norm.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, decoder.c0, 4, 4, dtype=torch.float64)
    cond = torch.randn(3, 4 + 64, dtype=torch.float64)

    def check(tol=1e-10):  # relative to the largest output
        with torch.no_grad():
            expected = _trunk_by_the_layers(decoder, x.to(cond), cond)
            got = run_up_trunk(decoder, x.to(cond), cond)
            assert (got - expected).abs().max() <= tol * expected.abs().max()
        return got

    first = check()
    decoder.train()
    with torch.no_grad():
        run_up_trunk(decoder, x, cond)  # moves the running statistics
    decoder.eval()
    second = check()
    assert not torch.allclose(first, second)
    opt = torch.optim.Adam(decoder.parameters(), lr=0.1, fused=True)
    run_up_trunk(decoder, x, cond).square().mean().backward()  # in eval mode
    opt.step()
    third = check()
    assert not torch.allclose(second, third)
    norms[1].gain.weight.data.mul_(-2.0)
    check()
    other = Decoder(size=16, channels=3, dim=4, width=4, max_width=8).double().eval()
    decoder.load_state_dict(other.state_dict())
    check()
    with torch.no_grad():
        for p in decoder.parameters():
            p.add_(0.3 * torch.randn_like(p))
    decoder.zero_grad()
    cond_grad = cond.clone().requires_grad_(True)
    run_up_trunk(decoder, x, cond_grad).sum().backward()
    folded = norms[3].gain.weight.grad.clone()
    decoder.zero_grad()
    expected = cond.clone().requires_grad_(True)
    _trunk_by_the_layers(decoder, x, expected).sum().backward()
    torch.testing.assert_close(cond_grad.grad, expected.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(folded, norms[3].gain.weight.grad, rtol=1e-9, atol=1e-10)
    assert folded.abs().max() > 0
    decoder.float()
    cond = cond.float()
    check(tol=1e-5)


@pytest.mark.parametrize("size", [4, 12, 33, "32"])
def test_autoencoder_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match="size"):
        Autoencoder(size=size)


def test_autoencoder_input_errors():
    ae = Autoencoder(size=8, dim=4, width=8)
    with pytest.raises(ValueError, match=r"\(B, 3, 8, 8\)"):
        ae.encode(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="images\\[None\\]"):
        ae.encode(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="permute"):
        ae.encode(torch.rand(2, 8, 8, 3))
    with pytest.raises(TypeError, match="uint8"):
        ae.encode((torch.rand(2, 3, 8, 8) * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="divide by 255"):
        ae.encode(torch.rand(2, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match=r"\(x \+ 1\) / 2"):
        ae.encode(torch.rand(2, 3, 8, 8) * 2 - 1)
    with pytest.raises(TypeError, match="torch.Tensor"):
        ae.encode([[0.0]])
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        ae.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"\(B, D, 1, 1\)"):
        ae.decode(torch.zeros(2, 4, 1, 1))


def test_check_images_moves_to_dtype():
    out = check_images(torch.rand(1, 1, 8, 8, dtype=torch.float32), 1, 8, dtype=torch.float64)
    assert out.dtype == torch.float64


def test_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    z = mean + (0.5 * logvar).exp() * torch.randn(200000, 2, generator=g)
    log_q = torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    mc = float((log_q - log_p).mean())
    assert abs(float(kl_to_standard_normal(mean, logvar)) - mc) < 0.02


def test_reconstruction_nll_is_eq_18_and_gamma_optimum():
    y, r = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    log_gamma = torch.tensor(-1.3)
    expected = ((y - r).abs() / math.exp(-1.3) - 1.3).flatten(1).sum(1)
    assert torch.allclose(reconstruction_nll(y, r, log_gamma, "l1"), expected)
    l2 = reconstruction_nll(y, r, torch.zeros(()), "l2")
    assert torch.allclose(l2, (y - r).pow(2).flatten(1).sum(1))
    # the learnable gamma settles at the mean absolute error (minimum of |r|/g + log g)
    lg = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([lg], lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        reconstruction_nll(y, r, lg).mean().backward()
        opt.step()
    assert abs(float(lg.detach().exp()) - float((y - r).abs().mean())) < 2e-3
    with pytest.raises(ValueError, match="pixel"):
        reconstruction_nll(y, r, log_gamma, "vgg")


def test_vae_loss_trains_gamma_and_both_networks():
    ae = Autoencoder(size=8, dim=4, width=8)
    x = torch.rand(4, 3, 8, 8)
    recon, mean, logvar = ae(x)
    out = vae_loss(x, recon, mean, logvar, ae.log_gamma, kl_weight=0.5)
    assert torch.allclose(out["loss"], out["nll"] + 0.5 * out["kl"])
    out["loss"].backward()
    assert ae.log_gamma.grad is not None
    assert ae.encoder.head.weight.grad.abs().sum() > 0
    assert ae.decoder.out_conv.weight.grad.abs().sum() > 0


def test_perceptual_distance_is_added_per_pixel_and_has_gradients():
    y, r = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    extra = torch.tensor([0.5, 0.0])
    with_extra = reconstruction_nll(y, r, torch.zeros(()), "l2", extra)
    assert torch.allclose(with_extra - reconstruction_nll(y, r, torch.zeros(()), "l2"),
                          torch.tensor([0.5 * 48, 0.0]))
    seg = as_expert(Segmenter(width=4))
    distance = FeatureDistance(seg, ["enc1", "bottleneck"])
    x = torch.rand(3, 3, 32, 32)
    recon = torch.rand(3, 3, 32, 32, requires_grad=True)
    d = distance(x, recon)
    assert d.shape == (3,) and bool((d > 0).all())
    assert torch.allclose(distance(x, x), torch.zeros(3), atol=1e-6)
    d.sum().backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0
    assert seg.features_at(x, ["enc2", "enc1"])["enc2"].shape == (3, 8, 16, 16)


def test_adaptive_weight_balances_gradients_eq_17():
    w = torch.randn(5, requires_grad=True)
    rec, gan = (3.0 * w).sum(), (w**2).sum()
    lam = adaptive_gan_weight(rec, gan, w, delta=0.0)
    g_rec = torch.full((5,), 3.0)
    assert torch.allclose(lam, g_rec.norm() / (2 * w.detach()).norm())
    assert not lam.requires_grad


def test_patch_discriminator_and_loss():
    d = PatchDiscriminator(3, width=8, n_layers=2)
    logits = d(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 1, 6, 6)
    assert float(discriminator_loss(torch.full((1,), 10.0), torch.full((1,), -10.0))) < 1e-3


def test_autoencoder_objective_with_gan_trains_the_discriminator():
    ae = Autoencoder(size=16, dim=4, width=8, max_width=16)
    objective = AutoencoderObjective(kl_weight=1.0, gan_weight=1.0, gan_start=1, disc_width=8)
    data = {"image": torch.rand(16, 3, 16, 16)}
    history = fit_expert(ae, objective, data, steps=3, batch_size=8, warmup=0, progress=False)
    assert objective.discriminator is not None
    assert "lambda" in history.logs and "d" in history.logs and math.isfinite(history.loss[-1])
    assert not ae.training


def test_combine_takes_appearance_first_and_geometry_last():
    ae = Autoencoder(size=8, dim=6, width=8, appearance_dim=2)
    assert ae.config["appearance_dim"] == 2
    geometry, appearance = torch.randn(3, 6), torch.randn(3, 6)
    z = ae.combine(geometry, appearance)
    assert torch.equal(z[:, :2], appearance[:, :2]) and torch.equal(z[:, 2:], geometry[:, 2:])
    assert "appearance_dim" not in Autoencoder(size=8, dim=6, width=8).config
    with pytest.raises(ValueError, match="undivided"):
        Autoencoder(size=8, dim=6, width=8).combine(geometry, appearance)
    with pytest.raises(ValueError, match="appearance_dim"):
        Autoencoder(size=8, dim=6, width=8, appearance_dim=6)
    with pytest.raises(ValueError):
        ae.combine(geometry[:, :5], appearance)


def test_swap_data_composes_exactly_and_flips_together():
    data = swap_shapes_data(48, seed=5, split="test")
    assert torch.equal(composite(data["background"], data["coverage"], data["color"]),
                       data["image"])
    out = augment_flip_swap(data, torch.Generator().manual_seed(0))
    flipped = [i for i in range(48) if not torch.equal(out["image"][i], data["image"][i])]
    assert 0 < len(flipped) < 48
    for i in flipped:
        assert torch.equal(out["background"][i], data["background"][i].flip(-1))
        assert torch.equal(out["coverage"][i], data["coverage"][i].flip(-1))
    assert torch.allclose(composite(out["background"], out["coverage"], out["color"]),
                          out["image"])


def _disc_scenes(textured: bool, n: int = 64,
                 size: int = 16) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Discs of random colour and place on dark backgrounds (flat or noise), as swap data;
    with each scene's partner (its neighbour) and the scene in the partner's look."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.randint(4, 12, (n, 2))
    coverage = (((yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2)
                <= 9).float()
    color = torch.rand(n, 3)
    background = (torch.rand(n, 3, size, size) if textured
                  else torch.rand(n, 3, 1, 1).expand(n, 3, size, size).contiguous()) * 0.3
    data = {"image": composite(background, coverage, color), "background": background,
            "coverage": coverage, "color": color}
    partner = torch.roll(torch.arange(n), 1)
    return data, partner, composite(background[partner], coverage, color[partner])


def test_swap_objective_learns_to_draw_one_shape_in_anothers_colour():
    data, partner, truth = _disc_scenes(textured=False)
    ae = Autoencoder(size=16, dim=8, width=8, max_width=16, appearance_dim=4, attention=False)
    objective = SwapAutoencoderObjective(kl_weight=0.01)
    history = fit_expert(ae, objective, data, steps=250, batch_size=32, warmup=0,
                         progress=False)
    assert {"rec", "swap", "kl", "gamma"} <= set(history.logs)
    with torch.no_grad():
        z = ae.encode(data["image"])
        swapped = ae.decode(ae.combine(z, z[partner]))
        unchanged = ae.decode(z)
    # the swapped code draws the partner's colours on this image's disc, closer than the
    # image's own reconstruction is to that scene
    assert (swapped - truth).abs().mean() < 0.65 * (unchanged - truth).abs().mean()
    with pytest.raises(ValueError, match="appearance_dim"):
        SwapAutoencoderObjective()(Autoencoder(size=8, dim=4, width=8), data, 0)
    with pytest.raises(ValueError, match="coverage"):
        SwapAutoencoderObjective()(ae, {"image": data["image"]}, 0)


def test_the_invariance_term_makes_each_part_of_the_code_ignore_the_other_parts_factors():
    # a geometry part that still tells the backgrounds apart is what a translator's residual
    # keeps (issue 20): with invariance_weight, the swapped scene encodes to i's geometry and
    # j's appearance, measured against the same training without it
    data, partner, truth = _disc_scenes(textured=True)
    gaps = {}
    for weight in (0.0, 100.0):
        torch.manual_seed(1)
        ae = Autoencoder(size=16, dim=8, width=8, max_width=16, appearance_dim=4,
                         attention=False)
        objective = SwapAutoencoderObjective(kl_weight=0.01, invariance_weight=weight)
        history = fit_expert(ae, objective, data, steps=150, batch_size=32, warmup=0,
                             progress=False)
        assert ("inv" in history.logs) == (weight > 0)
        with torch.no_grad():
            z, z_truth = ae.encode(data["image"]), ae.encode(truth)
        wanted = ae.combine(z, z[partner])
        gaps[weight] = float((z_truth - wanted).pow(2).sum(1).mean() / z.var(0).sum())
    assert gaps[100.0] < 0.5 * gaps[0.0], gaps

# -- classifiers and segmenter -------------------------------------------------------------


def test_attribute_classifier_heads_and_predict():
    clf = AttributeClassifier(width=4, hidden=16)
    x = torch.rand(5, 3, 32, 32)
    logits = clf(x)
    assert [tuple(v.shape) for v in logits.values()] == [(5, 5), (5, 8), (5, 2), (5, 9), (5, 2)]
    labels = clf.predict(x, batch_size=2)
    assert all(v.dtype == torch.long and v.shape == (5,) for v in labels.values())
    assert clf.predict_factors(x).shape == (5, 5)
    assert clf.encode(x).shape == (5, clf.dim) == (5, 16)
    custom = AttributeClassifier({"a": ["x", "y"]}, size=16, width=4, hidden=8)
    assert set(custom(torch.rand(1, 3, 16, 16))) == {"a"}
    with pytest.raises(ValueError, match="two values"):
        AttributeClassifier({"a": ["x"]})


def test_segmenter_taps():
    seg = Segmenter(width=4)
    x = torch.rand(2, 3, 32, 32)
    expected = {"enc1": (4, 32, 32), "enc2": (8, 16, 16), "enc3": (16, 8, 8),
                "bottleneck": (16, 4, 4), "dec3": (16, 8, 8), "dec2": (8, 16, 16),
                "dec1": (4, 32, 32), "logits": (6, 32, 32)}
    for layer, shape in expected.items():
        assert seg.tap_shape(layer) == shape
        assert seg.features(x, layer, flatten=False).shape == (2, *shape)
        assert seg.features(x, layer).shape == (2, math.prod(shape))
    assert seg.features(x, "enc1", pool=4).shape == (2, 4 * 16)
    assert seg.tap_dims()["bottleneck"] == seg.dim == 256
    assert torch.allclose(seg.encode(x), seg.features(x, "bottleneck"))
    assert seg.predict_masks(x).shape == (2, 32, 32)
    expert = seg.tap_expert("enc3", pool=2)
    assert expert.dim == 64 and expert.encode(x).shape == (2, 64)
    with pytest.raises(ValueError, match="layer must be one of"):
        seg.features(x, "conv9")


def test_digits_classifier_taps_and_predict():
    clf = DigitsClassifier(width=4, hidden=8)
    x = torch.rand(3, 1, 8, 8)
    assert clf.tap_dims() == {"conv1": 256, "conv2": 128, "conv3": 128, "fc": 8, "logits": 10}
    assert clf(x).shape == (3, 10) and clf.predict(x).shape == (3,)
    assert clf.encode(x).shape == (3, 8)
    frozen = as_expert(clf)
    assert is_frozen(frozen) and frozen.train().training is False


# -- the expert training loop and its helpers ------------------------------------------------


def test_fit_expert_learns_a_separable_problem():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (128,), generator=g)
    x = torch.rand(128, 1, 8, 8, generator=g) * 0.5 + 0.5 * labels[:, None, None, None]
    clf = DigitsClassifier(n_classes=2, width=4, hidden=8, dropout=0.0)
    history = fit_expert(clf, CrossEntropyObjective(), {"image": x, "label": labels},
                         steps=30, batch_size=32, lr=1e-2, warmup=0, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert float((clf.predict(x) == labels).float().mean()) > 0.8


def test_fit_expert_errors():
    net = DigitsClassifier(width=4, hidden=8)
    good = {"image": torch.rand(8, 1, 8, 8), "label": torch.zeros(8, dtype=torch.long)}
    with pytest.raises(ValueError, match="steps"):
        fit_expert(net, CrossEntropyObjective(), good, steps=0)
    with pytest.raises(ValueError, match="one non-zero length"):
        fit_expert(net, CrossEntropyObjective(),
                   {"image": torch.rand(8, 1, 8, 8), "label": torch.zeros(7, dtype=torch.long)},
                   steps=1)
    with pytest.raises(TypeError, match="dict"):
        fit_expert(net, CrossEntropyObjective(), torch.rand(8, 1, 8, 8), steps=1)


def test_flip_augmentation_mirrors_images_masks_and_positions():
    from n2nlib.data import make_factors, render_shapes

    factors = make_factors("heart", "red", position=list(range(9)))
    images, masks = render_shapes(factors)
    batch = {"image": images, "mask": masks, "factors": factors}
    g = torch.Generator().manual_seed(1)
    out = augment_flip_shapes(batch, g)
    flipped = (out["factors"][:, 3] != factors[:, 3]) | (factors[:, 3] % 3 == 1)
    for i in range(9):
        was_flipped = not torch.equal(out["image"][i], images[i])
        if was_flipped:
            assert torch.equal(out["mask"][i], masks[i].flip(-1))
            col = int(factors[i, 3]) % 3
            assert int(out["factors"][i, 3]) == int(factors[i, 3]) - col + (2 - col)
            # the mirrored mask's centroid lies in the mirrored column
            xs = out["mask"][i].nonzero()[:, 1].float().mean()
            assert int(xs // (32 / 3)) == 2 - col
    assert bool(flipped.any())


def test_shift_and_lowres():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0
    out = augment_shift({"image": x.repeat(20, 1, 1, 1)}, torch.Generator().manual_seed(0))
    assert out["image"].shape == (20, 1, 5, 5)
    assert torch.allclose(out["image"].sum((1, 2, 3)), torch.ones(20))
    assert downsample(torch.ones(2, 3, 32, 32), 8).shape == (2, 3, 8, 8)


# -- metrics used by the zoo ---------------------------------------------------------------


def test_image_metrics():
    from n2nlib import metrics

    a = torch.rand(4, 3, 8, 8)
    assert metrics.psnr(a, a) == pytest.approx(100.0)
    assert metrics.psnr(torch.zeros(1, 4), torch.full((1, 4), 0.01)) == pytest.approx(40.0)
    assert metrics.accuracy(torch.tensor([1, 2]), torch.tensor([1, 1])) == 0.5
    pred = torch.tensor([[0, 1], [2, 2]])
    acc = metrics.accuracy_per_factor(pred, torch.tensor([[0, 1], [2, 0]]), names=["a", "b"])
    assert acc == {"a": 1.0, "b": 0.5}
    masks = torch.randint(0, 3, (2, 8, 8))
    assert metrics.miou(masks, masks, 3) == 1.0
    assert metrics.miou(torch.zeros_like(masks), masks, 3) < 0.5
    with pytest.raises(ValueError):
        metrics.psnr(torch.zeros(2, 3), torch.zeros(3, 2))


def test_flip_augmentation_negates_the_generators_known_centre():
    """The generator's known noise must follow the flip. Its column 0 is the horizontal
    centre x mapped through the data's CDF and the inverse normal CDF; positions are
    symmetric in distribution, so the value of the mirrored centre 32 − x is −value."""
    from n2nlib.data.factors import sample_factors
    from n2nlib.data.render import render_shapes_full
    from n2nlib.nets.generator import known_noise

    n = 2000
    factors = sample_factors(n, 3, background="mixed")
    r = render_shapes_full(factors, 32, 3)
    known = known_noise(r.centers, r.radii, r.colors, factors,
                        generator=torch.Generator().manual_seed(0))
    out = augment_flip_shapes({"image": r.images, "factors": factors, "known": known},
                              torch.Generator().manual_seed(1))
    flipped = (out["image"] != r.images).flatten(1).any(1)
    assert 0.4 < float(flipped.float().mean()) < 0.6
    # the value the data's own CDF gives the mirrored centre
    x = r.centers[:, 0].float()
    below = (x[None, :] < (32 - x)[:, None]).float().sum(1)
    mirrored = torch.distributions.Normal(0.0, 1.0).icdf((below.clamp(max=n - 1) + 0.5) / n)
    expected = torch.where(flipped, mirrored, known[:, 0])
    assert float((out["known"][:, 0] - expected).abs().mean()) < 0.08
    assert float((known[flipped, 0] - mirrored[flipped]).abs().mean()) > 0.3  # flip matters
    torch.testing.assert_close(out["known"][:, 1:], known[:, 1:])


def test_channels_last_inside_the_usual_layout_outside_and_the_same_function(monkeypatch):
    """The image networks run channels-last (nets.blocks.CHANNELS_LAST); what they hand back
    is contiguous and equals an NCHW run of the same weights."""
    import n2nlib.nets.autoencoder as autoencoder_module
    import n2nlib.nets.blocks as blocks_module
    from n2nlib.nets.generator import ShapesGenerator

    torch.manual_seed(0)
    ae = Autoencoder(size=16, channels=3, dim=6, width=8, max_width=16).eval()
    seg, clf = Segmenter(width=4).eval(), AttributeClassifier().eval()
    gen = ShapesGenerator().eval()
    x, x32, z = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 32, 32), torch.randn(3, 6)
    zg = torch.randn(3, gen.dim)

    def run() -> list[torch.Tensor]:
        with torch.no_grad():
            return [ae.encode(x), ae.decode(z), seg(x32), *seg.features_at(x32, ["enc2"]).values(),
                    seg.features(x32, "dec2", flatten=False), clf(x32)["shape"], gen.decode(zg),
                    gen.layers(zg)["background"]]

    fast = run()
    for out in fast:
        assert out.ndim == 2 or out.is_contiguous()  # maps come back in the usual layout
    for module in (autoencoder_module, blocks_module):  # where the layout is applied
        monkeypatch.setattr(module, "CHANNELS_LAST", torch.contiguous_format)
    for got, want in zip(fast, run(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
