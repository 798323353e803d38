"""The MLP ablation of supplement E: an embedding + fully connected regressor, swappable with
Net2Net, trained by the one loop — and collapsing to the conditional mean where a cINN does not.
"""

from __future__ import annotations

import math

import pytest
import torch

from n2nlib import ConditionalINN, Net2Net
from n2nlib.baselines import EmbeddingMLP, MLPTranslator
from n2nlib.experts import as_expert
from n2nlib.flows.embedders import ConvEmbedder, MLPEmbedder
from n2nlib.train import fit

pytestmark = pytest.mark.usefixtures("one_thread")


def test_embedding_mlp_architecture_follows_supplement_e():
    vec = EmbeddingMLP(dim=6, cond_dim=5)  # NeRF: 8 layers of 256, skip after the 4th
    assert isinstance(vec.embedder, MLPEmbedder)
    assert [layer.out_features for layer in vec.layers] == [256] * 8
    assert vec.layers[4].in_features == 256 + 6  # the embedding h is concatenated again
    assert all(vec.layers[i].in_features == 256 for i in (1, 2, 3, 5, 6, 7))
    spatial = EmbeddingMLP(dim=6, cond_dim=(3, 16, 16), hidden=32, n_layers=2, skip=None)
    assert isinstance(spatial.embedder, ConvEmbedder)
    assert spatial(torch.randn(2, 3, 16, 16)).shape == (2, 6)


def test_nll_is_the_l2_loss_as_a_unit_gaussian_nll():
    net = EmbeddingMLP(dim=3, cond_dim=2, hidden=8, n_layers=2)
    x, c = torch.randn(7, 3), torch.randn(7, 2)
    expected = 0.5 * (x - net(c)).pow(2).sum(1) + 1.5 * math.log(2 * math.pi)
    torch.testing.assert_close(net.nll(x, c), expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 0, "cond_dim": 2}, "dim"),
        ({"dim": 2, "cond_dim": (3, 4)}, "cond_dim"),
        ({"dim": 2, "cond_dim": 2, "n_layers": 3, "skip": 3}, "skip"),
        ({"dim": 2, "cond_dim": 2, "n_layers": 0}, "n_layers"),
        ({"dim": 2, "cond_dim": (3, 4, 4), "cond_norm": True}, "cond_norm"),
    ],
)
def test_embedding_mlp_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EmbeddingMLP(**kwargs)


def test_cond_norm_standardises_the_condition_before_the_embedder():
    net = EmbeddingMLP(dim=2, cond_dim=5, hidden=8, n_layers=2, cond_norm=True)
    c = torch.randn(32, 5) * 0.05 + 3.0
    net(c)  # the first batch sets the standardisation
    out = net.embedder.norm(c)
    torch.testing.assert_close(out.mean(0), torch.zeros(5), atol=1e-5, rtol=0)
    again = EmbeddingMLP.from_config(net.get_config())
    again.load_state_dict(net.state_dict())
    torch.testing.assert_close(again(c[:4]), net(c[:4]))
    assert EmbeddingMLP(dim=2, cond_dim=5, hidden=8, n_layers=2).embedder.norm is None


def test_wrong_condition_shape_is_explained():
    net = EmbeddingMLP(dim=2, cond_dim=(3, 8, 8), hidden=8, n_layers=2)
    with pytest.raises(ValueError, match=r"\(B, 3, 8, 8\)"):
        net(torch.randn(2, 3, 4, 4))


def _bimodal_pairs(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x = (c, ±1 + noise): the condition fixes the first coordinate, not the sign of the
    second — the "last layer" situation of supplement E in two dimensions."""
    c = torch.rand(n, 1, generator=gen) * 2 - 1
    sign = torch.randint(0, 2, (n, 1), generator=gen) * 2 - 1
    x = torch.cat([c, sign + 0.05 * torch.randn(n, 1, generator=gen)], dim=1)
    return x, c


def test_mlp_predicts_the_conditional_mean_where_the_cinn_samples_the_modes():
    gen = torch.Generator().manual_seed(0)
    x, c = _bimodal_pairs(2000, gen)
    x, c = x.float(), c.float()  # float32: fast enough for a few hundred steps
    mlp = EmbeddingMLP(dim=2, cond_dim=1, hidden=32, n_layers=2).float()
    fit(mlp, (x, c), steps=300, batch_size=128, lr=3e-3, progress=False)
    cinn = ConditionalINN(dim=2, cond_dim=1, n_blocks=4, hidden_dim=32).float()
    fit(cinn, (x, c), steps=400, batch_size=128, lr=3e-3, progress=False)
    c_test = torch.linspace(-0.9, 0.9, 200, dtype=torch.float32)[:, None]
    with torch.no_grad():
        pred = mlp(c_test)
        samples = cinn.sample(c_test.repeat(10, 1), generator=torch.Generator().manual_seed(1))
    # the MLP: right where x is determined, the mean (0) where it is ambiguous — far from
    # every real point (each is at distance ~1 from it)
    assert (pred[:, 0] - c_test[:, 0]).abs().mean() < 0.1
    assert pred[:, 1].abs().mean() < 0.2
    # the cINN: samples on both modes, few in between
    second = samples[:, 1]
    assert 0.3 < (second > 0).double().mean() < 0.7
    assert (second.abs() > 0.5).double().mean() > 0.6 > (pred[:, 1].abs() > 0.5).double().mean()


def _experts():
    source = as_expert(lambda x: x[:, :2], dim=2, name="first two")
    target = as_expert(lambda y: y[:, :3] * 2, dim=3, decode=lambda z: z / 2, name="double")
    return source, target


def test_translator_is_called_like_net2net():
    source, target = _experts()
    x = torch.randn(256, 4)
    mlp = MLPTranslator(source, target, hidden=32, n_layers=2, device="cpu")
    n2n = Net2Net(source, target, ConditionalINN(3, 2, n_blocks=2, hidden_dim=16), device="cpu")
    for translator in (mlp, n2n):
        history = translator.fit((x, x), steps=3, batch_size=32, progress=False)
        assert len(history.loss) == 3 and translator.history is history
        y = translator.translate(x[:5], n_samples=3, temperature=0.7,
                                 generator=torch.Generator().manual_seed(0))
        assert y.shape == (15, 3)
        z = translator.translate_latent(translator.encode_source(x[:5]), n_samples=2)
        assert z.shape == (10, 3)
    # deterministic: all samples of an input are the same, whatever the temperature
    y = mlp.translate(x[:5], n_samples=3).view(5, 3, 3)
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])
    torch.testing.assert_close(mlp.translate(x[:5], n_samples=1, temperature=0.0), y[:, 0])


def test_translator_learns_a_determined_translation_and_reuses_net2net_pairs():
    source, target = _experts()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 4, generator=gen)
    x[:, 2] = x[:, 0] - x[:, 1]  # the target (first three coordinates) is determined by the source
    n2n = Net2Net(source, target, ConditionalINN(3, 2, n_blocks=2, hidden_dim=16), device="cpu")
    pairs = n2n.encode_data((x, x), progress=False)  # encode once, train both on the same pairs
    mlp = MLPTranslator(source, target, hidden=64, n_layers=3, device="cpu")
    history = mlp.fit(pairs, steps=600, batch_size=128, lr=3e-3, progress=False,
                      eval_data=(x[:256], x[:256]))
    assert history.eval_nll[-1] < history.eval_nll[0]
    err = (mlp.translate(x[:256], n_samples=1) - x[:256, :3]).abs().mean()
    assert err < 0.1


def test_spatial_source_gets_a_conv_embedder():
    source = as_expert(lambda x: x, dim=3 * 8 * 8)
    source.latent_shape = (3, 8, 8)
    source.encode = lambda x: x  # spatial codes
    target = as_expert(lambda y: y.flatten(1)[:, :4], dim=4, decode=lambda z: z)
    mlp = MLPTranslator(source, target, hidden=16, n_layers=2, device="cpu")
    assert isinstance(mlp.mlp.embedder, ConvEmbedder)
    assert mlp.translate(torch.rand(2, 3, 8, 8), n_samples=2).shape == (4, 4)


def test_translator_checks_its_parts():
    source, target = _experts()
    with pytest.raises(TypeError, match="source expert"):
        MLPTranslator(lambda x: x, target)
    with pytest.raises(ValueError, match=r"maps \(5,\) -> 3"):
        MLPTranslator(source, target, EmbeddingMLP(3, 5, hidden=8, n_layers=2))
    with pytest.raises(TypeError, match="only used when no mlp"):
        MLPTranslator(source, target, EmbeddingMLP(3, 2, hidden=8, n_layers=2), hidden=4)
    mlp = MLPTranslator(source, target, hidden=8, n_layers=2, device="cpu")
    with pytest.raises(ValueError, match="n_samples"):
        mlp.translate(torch.randn(2, 4), n_samples=0)
