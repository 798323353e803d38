"""The public ConditionalINN: API contract, errors, sampling, configuration, learning."""

from __future__ import annotations

import math
import random

import pytest
import torch

from n2nlib import ConditionalINN
from n2nlib.flows import ConvEmbedder, IdentityEmbedder, MLPEmbedder
from n2nlib.testing import check_invertible, check_logdet, perturb_parameters


def small(dim=3, cond_dim=2, **kw):
    kw = {"n_blocks": 2, "hidden_dim": 8, **kw}
    return ConditionalINN(dim, cond_dim, **kw)


def test_paper_defaults():
    cinn = ConditionalINN(dim=16, cond_dim=10)
    assert cinn.n_blocks == 20 and len(cinn.blocks) == 20
    assert cinn.hidden_dim == 8 * 16
    assert isinstance(cinn.embedder, MLPEmbedder) and cinn.embedder.out_features == 16
    # the default layout fuses s and t (one batched matmul per layer); either net is Table
    # S3a's MLP: FC->8d, 2x FC->8d, FC->d  (input = half of z plus h), LeakyReLU 0.01
    pair = cinn.blocks[0].coupling.st1
    assert [tuple(w.shape) for w in pair.weights] == [(2, 24, 128), (2, 128, 128),
                                                     (2, 128, 128), (2, 128, 8)]
    assert pair.slope == 0.01 and pair.n_hidden == 3
    separate = ConditionalINN(dim=16, cond_dim=10, fused_subnets=False)
    s1 = separate.blocks[0].coupling.s1
    linears = [m for m in s1.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [128, 128, 128, 8]
    assert linears[0].in_features == 8 + 16
    acts = [m for m in s1.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert all(a.negative_slope == 0.01 for a in acts) and len(acts) == 3
    assert isinstance(ConditionalINN(4, (3, 16, 16), n_blocks=1).embedder, ConvEmbedder)
    assert isinstance(ConditionalINN(4, 3, n_blocks=1, embedder="identity").embedder,
                      IdentityEmbedder)
    assert ConditionalINN(4, 0, n_blocks=1).embedder is None


def test_shapes_of_the_contract():
    cinn = small(5, 4)
    x, c = torch.randn(7, 5), torch.randn(7, 4)
    v, logdet = cinn(x, c)
    assert v.shape == (7, 5) and logdet.shape == (7,)
    x2, logdet_inv = cinn.inverse(v, c)
    assert x2.shape == (7, 5) and logdet_inv.shape == (7,)
    assert cinn.nll(x, c).shape == (7,)
    assert cinn.sample(c).shape == (7, 5)
    assert cinn.bits_per_dim(x, c).shape == (7,)


def test_nll_is_the_gaussian_change_of_variables_in_nats():
    cinn = perturb_parameters(small(4, 2), 0.2)
    x, c = torch.randn(5, 4), torch.randn(5, 2)
    v, logdet = cinn(x, c)
    normal = torch.distributions.Normal(0.0, 1.0)
    expected = -(normal.log_prob(v).sum(1) + logdet)
    torch.testing.assert_close(cinn.nll(x, c), expected)
    torch.testing.assert_close(cinn.log_prob(x, c), -expected)
    torch.testing.assert_close(cinn.bits_per_dim(x, c), expected / (4 * math.log(2)))


def test_sample_temperature_and_generator():
    cinn = perturb_parameters(small(3, 2), 0.2)
    c = torch.randn(4, 2)
    a = cinn.sample(c, generator=torch.Generator().manual_seed(1))
    b = cinn.sample(c, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    mode = cinn.sample(c, temperature=0.0)
    torch.testing.assert_close(mode, cinn.inverse(torch.zeros(4, 3), c)[0])
    assert not torch.allclose(a, cinn.sample(c, generator=torch.Generator().manual_seed(2)))
    # lower temperature: samples closer to the mode
    cs = c[:1].expand(400, 2)
    hot = (cinn.sample(cs, 1.0) - mode[:1]).pow(2).sum(1).mean()
    cold = (cinn.sample(cs, 0.3) - mode[:1]).pow(2).sum(1).mean()
    assert cold < hot
    with pytest.raises(ValueError, match="temperature"):
        cinn.sample(c, temperature=-1.0)
    with pytest.raises(ValueError, match="needs the condition"):
        cinn.sample()
    unconditional = small(3, 0)
    assert unconditional.sample(n=5).shape == (5, 3)
    with pytest.raises(ValueError, match="n >= 1"):
        unconditional.sample()


def test_sampling_follows_the_model_density():
    """Samples pushed back through forward() must look standard normal."""
    cinn = small(2, 1)
    cinn(torch.randn(64, 2) * 3, torch.randn(64, 1))  # data-dependent ActNorm init first
    perturb_parameters(cinn, 0.3)
    c = torch.randn(1, 1).expand(4000, 1)
    x = cinn.sample(c, generator=torch.Generator().manual_seed(0))
    v, _ = cinn(x, c)
    torch.testing.assert_close(v.mean(0), torch.zeros(2), atol=0.06, rtol=0)
    torch.testing.assert_close(v.std(0), torch.ones(2), atol=0.06, rtol=0)


def test_config_round_trip():
    cinn = ConditionalINN(6, (3, 8, 8), n_blocks=2, hidden_dim=12, clamp=1.5,
                          clamp_activation="atan", leaky_relu=0.9, seed=5)
    rebuilt = ConditionalINN.from_config(cinn.get_config())
    rebuilt.load_state_dict(cinn.state_dict())
    x, c = torch.randn(3, 6), torch.randn(3, 3, 8, 8)
    torch.testing.assert_close(cinn(x, c)[0], rebuilt(x, c)[0])
    import json

    assert json.loads(json.dumps(cinn.get_config())) == cinn.get_config()
    custom = ConditionalINN(3, 2, n_blocks=1, embedder=IdentityEmbedder(2))
    with pytest.raises(ValueError, match="custom embedder"):
        custom.get_config()


# -- bad input --------------------------------------------------------------------------------


@pytest.fixture
def cinn():
    return small(3, 2)


def test_error_wrong_rank(cinn):
    with pytest.raises(ValueError, match=r"must have shape \(B, 3\), got \(3,\)"):
        cinn(torch.randn(3), torch.randn(3, 2))


def test_error_wrong_dim(cinn):
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3\), got \(4, 5\)"):
        cinn(torch.randn(4, 5), torch.randn(4, 2))


def test_error_four_dimensional_latent_gets_a_hint(cinn):
    with pytest.raises(ValueError, match="not \\(B, D, 1, 1\\)"):
        cinn(torch.randn(4, 3, 1, 1), torch.randn(4, 2))


def test_error_wrong_condition_dim(cinn):
    with pytest.raises(ValueError, match=r"condition c must have shape \(B, 2\), got \(4, 7\)"):
        cinn(torch.randn(4, 3), torch.randn(4, 7))


def test_error_wrong_spatial_condition():
    model = ConditionalINN(3, (1, 8, 8), n_blocks=1, hidden_dim=8)
    with pytest.raises(ValueError, match=r"\(B, 1, 8, 8\), got \(2, 1, 8, 9\)"):
        model(torch.randn(2, 3), torch.randn(2, 1, 8, 9))


def test_error_batch_mismatch(cinn):
    with pytest.raises(ValueError, match="same batch size, got 4 and 5"):
        cinn(torch.randn(4, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match="same batch size"):
        cinn.inverse(torch.randn(4, 3), torch.randn(5, 2))


def test_error_integer_input(cinn):
    with pytest.raises(TypeError, match="floating-point"):
        cinn(torch.ones(4, 3, dtype=torch.long), torch.randn(4, 2))


def test_error_dtype_mismatch(cinn):
    with pytest.raises(TypeError, match="float32.*float64"):
        cinn(torch.randn(4, 3, dtype=torch.float32), torch.randn(4, 2))


def test_error_not_a_tensor(cinn):
    with pytest.raises(TypeError, match="must be a torch.Tensor, got list"):
        cinn([[0.0, 1.0, 2.0]], torch.randn(1, 2))


def test_error_nan_input(cinn):
    x = torch.randn(4, 3)
    x[1, 2] = float("nan")
    with pytest.raises(ValueError, match="1 NaN"):
        cinn(x, torch.randn(4, 2))
    c = torch.randn(4, 2)
    c[0, 0] = float("inf")
    with pytest.raises(ValueError, match="condition c contains 0 NaN and 1 infinite"):
        cinn(torch.randn(4, 3), c)


def test_error_missing_or_unexpected_condition(cinn):
    with pytest.raises(ValueError, match="needs a condition"):
        cinn(torch.randn(4, 3))
    with pytest.raises(ValueError, match="unconditional"):
        small(3, 0)(torch.randn(4, 3), torch.randn(4, 2))


def test_error_bad_constructor_arguments():
    with pytest.raises(ValueError, match="dim must be a positive int"):
        ConditionalINN(0, 2)
    with pytest.raises(ValueError, match="n_blocks"):
        ConditionalINN(3, 2, n_blocks=0)
    with pytest.raises(ValueError, match="cond_dim"):
        ConditionalINN(3, (3, 4))
    with pytest.raises(ValueError, match="embedder"):
        ConditionalINN(3, 2, embedder="transformer")
    with pytest.raises(ValueError, match="conv"):
        ConditionalINN(3, 2, embedder="conv")


# -- configurations nobody named ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_random_configurations_are_exact(seed):
    """Dims, conditions and options drawn at random: the checks hold beyond the named cases."""
    rng = random.Random(seed)
    dim = rng.randint(1, 24)
    kind = rng.choice(["none", "vector", "identity", "spatial"])
    if kind == "spatial":
        cond_dim = (rng.randint(1, 3), rng.randint(1, 11), rng.randint(1, 11))
    elif kind == "none":
        cond_dim = 0
    else:
        cond_dim = rng.randint(1, 17)
    model = ConditionalINN(
        dim,
        cond_dim,
        n_blocks=rng.randint(1, 4),
        hidden_dim=rng.choice([4, 9, 16]),
        n_hidden=rng.randint(1, 3),
        embed_dim=rng.randint(1, 7),
        embedder="identity" if kind == "identity" else "mlp",
        clamp=rng.uniform(0.5, 3.0),
        clamp_activation=rng.choice(["tanh", "atan"]),
        leaky_relu=rng.choice([None, 0.5]),
        seed=seed,
    )
    batch = rng.randint(2, 5)
    c = None if kind == "none" else torch.randn(batch, *model.cond_shape)
    x = torch.randn(batch, dim) * 2
    with torch.no_grad():
        model(x, c) if c is not None else model(x)
    perturb_parameters(model, 0.2, torch.Generator().manual_seed(seed))
    x = torch.randn(batch, dim)
    assert check_invertible(model, x, c, atol=1e-8).max_error <= 1e-8
    assert check_logdet(model, x, c, atol=1e-8).max_error <= 1e-8


# -- it learns --------------------------------------------------------------------------------


def test_tiny_cinn_learns_a_conditional_gaussian():
    """x | c ~ N(A c + b, L Lᵀ): the held-out NLL must come within 0.05 nat of the entropy."""
    torch.set_default_dtype(torch.float32)
    gen = torch.Generator().manual_seed(0)
    A = torch.tensor([[1.0, -0.5], [0.3, 2.0], [0.0, 1.0]])
    b = torch.tensor([0.5, -1.0, 2.0])
    L = torch.tensor([[0.5, 0.0, 0.0], [0.4, 0.3, 0.0], [-0.2, 0.1, 0.2]])

    def draw(n):
        c = torch.randn(n, 2, generator=gen)
        return c @ A.T + b + torch.randn(n, 3, generator=gen) @ L.T, c

    analytic = 0.5 * 3 * math.log(2 * math.pi * math.e) + torch.log(torch.diag(L)).sum().item()
    torch.manual_seed(0)
    model = ConditionalINN(3, 2, n_blocks=4, hidden_dim=32, n_hidden=2)
    x_test, c_test = draw(20000)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1500)
    for _ in range(1500):
        x, c = draw(256)
        loss = model.nll(x, c).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        held_out = model.nll(x_test, c_test).mean().item()
    assert held_out == pytest.approx(analytic, abs=0.05)
