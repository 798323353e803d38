"""The offline BigGAN stand-in (ShapesGenerator) and the dequantisation VAE of Eq. (24)."""

from __future__ import annotations

import pytest
import torch

from n2nlib import zoo
from n2nlib.experts import as_expert, is_frozen, is_target_expert
from n2nlib.nets.dequant import (
    DequantizationObjective,
    DequantizationVAE,
    DequantizedGenerator,
)
from n2nlib.nets.generator import (
    N_CLASSES,
    GeneratorObjective,
    ShapesGenerator,
    class_factors,
    class_index,
    class_names,
    known_noise,
    truncated_noise,
)

pytestmark = pytest.mark.usefixtures("float32")


def tiny_generator() -> ShapesGenerator:
    torch.manual_seed(0)
    return ShapesGenerator(z_dim=9, embed_dim=6, width=4, max_width=8, encoder_width=4)


def test_classes_are_shape_times_color():
    names = class_names()
    assert len(names) == N_CLASSES == 40 and len(set(names)) == 40
    labels = torch.arange(40)
    shape, color = class_factors(labels)
    assert torch.equal(class_index(shape, color), labels)
    assert names[class_index("star", "red")] == "red star"
    with pytest.raises(ValueError, match="shape must be one of"):
        class_index("hexagon", "red")


def test_truncated_noise_is_bounded_and_seeded():
    a = truncated_noise(500, 3, 0.7, torch.Generator().manual_seed(1))
    b = truncated_noise(500, 3, 0.7, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and float(a.abs().max()) <= 1.4 and a.shape == (500, 3)
    with pytest.raises(ValueError, match="truncation"):
        truncated_noise(2, 3, 0.0)


def test_biggan_interface():
    g = tiny_generator().eval()
    w = g.class_embedding_matrix
    assert w.shape == (6, 40) and g.dim == 15
    noise = g.sample_noise(3)
    labels = torch.tensor([0, 17, 39])
    z = g.latent(noise, labels)
    assert torch.allclose(z[:, 9:], w[:, labels].T)                       # Eq. 23: h = W c
    inputs = torch.cat([noise, g.one_hot(labels)], dim=1)
    assert torch.allclose(g.encode(inputs), z) and torch.allclose(g.encode((noise, labels)), z)
    assert torch.allclose(g.embed(["red circle"]), w[:, 0][None])
    images = g.decode(z)
    lo, hi = float(images.detach().min()), float(images.detach().max())
    assert images.shape == (3, 3, 32, 32) and 0 <= lo <= hi <= 1
    assert torch.allclose(g.generate(noise, labels), images)
    assert [t.shape for t in g.noise_distribution(images)] == [(3, 2), (3, 2)]


def test_plain_layer_switches_the_background_on_the_photo_flag():
    g = tiny_generator().eval()
    noise = g.sample_noise(6, generator=torch.Generator().manual_seed(0))
    noise[:3, 6], noise[3:, 6] = -1.0, 1.0                   # KNOWN_NOISE[6] is the photo flag
    z = g.latent(noise, torch.arange(6))
    before = g.layers(z)["background"]
    with torch.no_grad():                                     # move the background trunk only
        for p in g.background_layer.parameters():
            p.add_(0.5 * torch.randn_like(p))
    after = g.layers(z)["background"]
    assert torch.equal(before[:3], after[:3])                 # plain: the plain layer alone
    assert (before[3:] - after[3:]).abs().amax() > 1e-2       # photo: the trunk
    plain = before[:3] - g.pixel_noise                        # smooth: bicubic from 4×4
    step = (plain[..., 1:] - plain[..., :-1]).abs().amax()
    lo, hi = float(before.detach().min()), float(before.detach().max())
    assert step < 0.2 and 0.0 <= lo <= hi <= 1.0
    # prior draws carry the renderer's blotches (σ = 0.03 per 4×4 cell, bicubic) whatever the
    # learned part does: they come from a fixed projection of the free noise
    free = torch.randn(2000, g.z_dim - g.known_dims, generator=torch.Generator().manual_seed(1))
    flat = g._plain(free).detach()
    spread = (flat - flat.mean(dim=(2, 3), keepdim=True)).std(dim=(2, 3)).mean()
    assert 0.01 < float(spread) < 0.08
    level = flat.mean(dim=(1, 2, 3))
    assert 0.0 < float(level.min()) and float(level.max()) < 0.35     # dark, as plain is
    off = ShapesGenerator(z_dim=9, embed_dim=6, width=4, max_width=8, encoder_width=4,
                          plain_layer=False)
    assert not off.plain_layer and not hasattr(off, "plain_background")
    assert not hasattr(off, "decoder") and hasattr(g, "shape_layer")  # still layered
    flat = ShapesGenerator(z_dim=9, embed_dim=6, width=4, max_width=8, encoder_width=4,
                           composite=False)
    assert hasattr(flat, "decoder") and not flat.plain_layer
    assert off.config["plain_layer"] is False


def test_plain_layer_blotches_are_the_bicubic_upsampling_of_the_fixed_pattern():
    """The blotch maps are derived from plain_blotches (not saved): one product equals
    upsampling the 3×4×4 pattern 0.03 · R z̃_free, and a loaded R brings its own maps."""
    import torch.nn.functional as F

    g = tiny_generator()
    free = torch.randn(5, g.z_dim - g.known_dims)

    def bicubic(model: ShapesGenerator) -> torch.Tensor:
        coarse = 0.03 * (free @ model.plain_blotches.T).view(-1, 3, 4, 4)
        return F.interpolate(coarse, size=model.size, mode="bicubic", align_corners=False)

    torch.testing.assert_close((free @ g.blotch_maps).view(5, 3, 32, 32), bicubic(g))
    assert "blotch_maps" not in g.state_dict()
    other = tiny_generator()
    state = g.state_dict()
    state["plain_blotches"] = torch.randn_like(state["plain_blotches"])
    other.load_state_dict(state)
    torch.testing.assert_close((free @ other.blotch_maps).view(5, 3, 32, 32), bicubic(other))
    assert (other.blotch_maps - g.blotch_maps).abs().max() > 1e-3


def test_eval_runs_the_background_trunk_on_photo_rows_only_with_the_same_images():
    g = tiny_generator()
    with torch.no_grad():
        for p in g.parameters():                              # a trunk that draws something
            p.add_(0.3 * torch.randn_like(p))
    g.eval()
    noise = g.sample_noise(6, generator=torch.Generator().manual_seed(0))
    noise[:, 6] = torch.tensor([-1.0, 1.0, -1.0, 1.0, 1.0, -1.0])  # mixed plain and photo
    photo = noise[:, 6] > 0
    calls = []
    hook = g.background_layer.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    with torch.no_grad():
        background = g.layers(g.latent(noise, torch.arange(6)))["background"]
        free = noise[:, g._bg_start:]
        trunk = (torch.tanh(g.background_layer(free)) + 1.0) / 2.0   # every row
        plain = (g._plain(noise[:, g.known_dims:]) + g.pixel_noise).clamp(0.0, 1.0)
        noise[:, 6] = -1.0
        g.layers(g.latent(noise, torch.arange(6)))           # all plain: no trunk at all
    hook.remove()
    assert calls == [3, 6]
    torch.testing.assert_close(background[photo], trunk[photo].clamp(0.0, 1.0))
    torch.testing.assert_close(background[~photo], plain[~photo])
    assert (trunk[photo] - plain[photo]).abs().amax() > 1e-2  # the two layers differ


def test_generator_checks_inputs():
    g = tiny_generator()
    with pytest.raises(ValueError, match=r"\[0, 39\]"):
        g.embed(torch.tensor([40]))
    with pytest.raises(ValueError, match="unknown class names"):
        g.embed(["pink circle"])
    with pytest.raises(ValueError, match=r"\(B, 15\)"):
        g.decode(torch.zeros(2, 14))
    with pytest.raises(ValueError, match="known must be"):
        g(torch.rand(2, 3, 32, 32), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="power of two"):
        ShapesGenerator(size=24)


def test_as_expert_freezes_it():
    g = as_expert(tiny_generator())
    assert is_target_expert(g) and is_frozen(g) and not g.train().training


def test_objective_trains_the_conditional_vae():
    from n2nlib.data.factors import sample_factors
    from n2nlib.data.render import render_shapes_full
    from n2nlib.zoo.training import fit_expert

    torch.set_num_threads(1)
    factors = sample_factors(64, 0, background="mixed")
    r = render_shapes_full(factors)
    data = {"image": r.images, "factors": factors, "mask": r.masks,
            "known": known_noise(r.centers, r.radii, r.colors, factors)}
    g = tiny_generator()
    history = fit_expert(g, GeneratorObjective(mask_weight=1.0), data, steps=12, batch_size=32,
                         lr=3e-3, warmup=1, progress=False)
    assert all(torch.isfinite(torch.tensor(history.loss)))
    assert history.loss[-1] < history.loss[0]
    assert {"rec", "kl", "gamma", "mask"} <= set(history.logs)


def test_dequantization_vae_separates_a_few_classes():
    from n2nlib.zoo.training import fit_expert

    torch.manual_seed(0)
    w = torch.randn(5, 6) * 3.0
    vae = DequantizationVAE(6, hidden=32, n_layers=1, min_std=0.05)
    fit_expert(vae, DequantizationObjective(embeddings=w, kl_warmup=30), {"h": w.repeat(40, 1)},
               steps=300, batch_size=50, lr=1e-2, warmup=10, progress=False)
    assert torch.allclose(vae.shift, w.mean(0)) and torch.allclose(vae.scale, w.std(0))
    vae.eval()
    labels = torch.arange(200) % 5
    h_hat = vae.dequantize(w[labels], generator=torch.Generator().manual_seed(0))
    assert (torch.cdist(h_hat, w).argmin(1) == labels).float().mean() > 0.95
    assert not torch.equal(h_hat[0], h_hat[5])             # stochastic: a spread, not a point
    assert vae.output_std >= 0.05 and vae.encode(w).shape == (5, 6)
    assert vae.decode(vae.encode(w)).shape == (5, 6)


def test_dequantized_generator_is_eq24():
    g = tiny_generator().eval()
    vae = DequantizationVAE(6, hidden=8, n_layers=1)
    vae.set_normalization(g.class_embedding_matrix.detach().T)
    target = DequantizedGenerator(g, vae)
    noise, labels = g.sample_noise(4), torch.tensor([1, 2, 3, 4])
    z1 = target.encode((noise, labels))
    z2 = target.encode(torch.cat([noise, g.one_hot(labels)], 1))
    assert z1.shape == (4, 15) and torch.equal(z1[:, :9], noise) and torch.equal(z2[:, :9], noise)
    assert not torch.equal(z1[:, 9:], z2[:, 9:])          # a fresh ĥ each time
    assert target.decode(z1).shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="class embedding"):
        DequantizedGenerator(g, DequantizationVAE(5, hidden=8, n_layers=1))


# -- the shipped weights (in the zoo: python -m n2nlib.zoo train all) ---------------


def test_shipped_generator_meets_its_card():
    card = zoo.card("shapes-generator")
    assert card.quality["class_agreement"] >= 0.95
    for factor in ("size", "position"):
        assert card.quality[f"entropy/{factor}"] >= 0.7
        assert card.quality[f"noise_controls/{factor}"] >= 0.7
    g = zoo.load("shapes-generator", device="cpu")
    images = g.generate(g.sample_noise(8), torch.arange(8))
    assert images.shape == (8, 3, 32, 32)


def test_shipped_generator_noise_varies_the_background():
    card = zoo.card("shapes-generator")
    assert card.quality["entropy/background"] >= 0.7
    assert card.quality["noise_controls/background"] >= 0.7


def test_shipped_generator_photo_flag_decides_the_background():
    """The known photo dimension of z̃ sets plain vs photo as the classifier reads it (the plain
    layer), for random noise and every class."""
    from n2nlib.nets.generator import KNOWN_NOISE

    g = zoo.load("shapes-generator", device="cpu").eval()
    clf = zoo.load("shapes-attributes-v1", device="cpu").eval()
    noise = g.sample_noise(80, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(80) % 40
    flag = KNOWN_NOISE.index("photo")
    with torch.no_grad():
        for value, photo in ((-1.0, 0), (1.0, 1)):
            noise[:, flag] = value
            read = clf.predict_factors(g.generate(noise, labels))[:, 4]
            assert (read == photo).float().mean() >= 0.9


@pytest.mark.slow
def test_shipped_generator_reduced_measurement():
    from n2nlib.course.text2image import evaluate_generator

    torch.set_num_threads(2)
    quality = evaluate_generator(zoo.load("shapes-generator", device="cpu"), n=320)
    card = zoo.card("shapes-generator").quality
    assert quality["class_agreement"] >= card["class_agreement"] - 0.05


def test_shipped_dequantizer_meets_its_card():
    quality = zoo.card("shapes-generator-dequant").quality
    assert quality["nearest_class"] >= 0.95 and quality["class_agreement"] >= 0.9
