"""Net2Net: construction checks, translate/residual/transfer shapes and round trips, a paired
toy translation learned to a stated held-out NLL, frozen experts, unpaired and stochastic
targets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from n2nlib import ConditionalINN, Net2Net
from n2nlib.cache import LatentPairs
from n2nlib.experts import IdentityExpert, Labelator, as_expert, is_frozen
from n2nlib.net2net import unpaired
from n2nlib.testing import perturb_parameters

pytestmark = pytest.mark.usefixtures("float32", "one_thread")


def _toy(n: int, gen: torch.Generator):
    """x ~ N(0, I₄); y = (2x₀ + 0.1ε₀, x₁ − x₀ + 0.1ε₁, ε₂): x fixes two directions of y."""
    x = torch.randn(n, 4, generator=gen)
    eps = torch.randn(n, 3, generator=gen)
    y = torch.stack([2 * x[:, 0] + 0.1 * eps[:, 0], x[:, 1] - x[:, 0] + 0.1 * eps[:, 1],
                     eps[:, 2]], 1)
    return x, y


# the conditional entropy of z_Θ = R y given x (R a rotation): 2 (½ log 2πe + log 0.1) + ½ log 2πe
TOY_ENTROPY = 3 * 0.5 * math.log(2 * math.pi * math.e) + 2 * math.log(0.1)  # ≈ -0.348 nats


def _experts(seed: int = 0):
    """A linear source expert (first two features) and a rotation autoencoder as target."""
    gen = torch.Generator().manual_seed(seed)
    phi = nn.Linear(4, 2, bias=False)
    rot = torch.linalg.qr(torch.randn(3, 3, generator=gen))[0]
    theta, lam = nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        phi.weight.copy_(torch.eye(4)[:2])
        theta.weight.copy_(rot.T)
        lam.weight.copy_(rot)
    return as_expert(phi, dim=2), as_expert(theta, dim=3, decode=lam)


def _n2n(perturb: bool = False, **cinn):
    source, target = _experts()
    torch.manual_seed(0)
    cinn = ConditionalINN(3, 2, **{"n_blocks": 2, "hidden_dim": 16, **cinn})
    if perturb:  # leave the identity initialisation, so that the condition matters
        cinn(torch.randn(64, 3), torch.randn(64, 2))
        perturb_parameters(cinn, 0.3, torch.Generator().manual_seed(0))
    return Net2Net(source, target, cinn, device="cpu")


# -- construction -----------------------------------------------------------------------------


def test_cinn_sizes_are_checked_against_the_experts():
    source, target = _experts()
    with pytest.raises(ValueError, match=r"cINN's dim is 5 but the target expert .* encodes to 3"
                                         r".*ConditionalINN\(dim=3, cond_dim=2"):
        Net2Net(source, target, ConditionalINN(5, 2, n_blocks=1))
    with pytest.raises(ValueError, match=r"cond_dim is 7 but the source expert .* encodes to 2"):
        Net2Net(source, target, ConditionalINN(3, 7, n_blocks=1))
    with pytest.raises(TypeError, match="as_expert"):
        Net2Net(lambda x: x, target, ConditionalINN(3, 2, n_blocks=1))
    with pytest.raises(TypeError, match="encode"):
        Net2Net(None, target)
    with pytest.raises(TypeError, match="only used when no cinn is given"):
        Net2Net(source, target, ConditionalINN(3, 2, n_blocks=1), n_blocks=3)
    default = Net2Net(source, target, n_blocks=3, hidden_dim=8, device="cpu")
    assert default.cinn.dim == 3 and default.cinn.cond_dim == 2 and default.cinn.n_blocks == 3
    assert default.device == torch.device("cpu")


# -- translate / residual / transfer ----------------------------------------------------------


def test_translate_shapes_and_layout():
    n2n = _n2n(perturb=True)
    x = torch.randn(5, 4)
    out = n2n.translate(x, n_samples=3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (15, 3)
    # rows i*n .. i*n+n-1 belong to input i: at temperature 0 they are identical
    cold = n2n.translate(x, n_samples=3, temperature=0.0).view(5, 3, 3)
    torch.testing.assert_close(cold, cold[:, :1].expand(-1, 3, -1))
    assert not torch.allclose(cold[0, 0], cold[1, 0])
    assert n2n.translate(x, n_samples=1).shape == (5, 3)
    codes = n2n.translate(x, n_samples=2, decode=False)
    assert codes.shape == (10, 3) and not codes.requires_grad
    z = n2n.translate_latent(n2n.encode_source(x), n_samples=4)
    assert z.shape == (20, 3)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(n2n.translate(x, 2, generator=g1), n2n.translate(x, 2, generator=g2))
    with pytest.raises(ValueError, match="n_samples must be a positive int, got 0"):
        n2n.translate(x, n_samples=0)
    with pytest.raises(ValueError, match="temperature must be a number >= 0, got -1"):
        n2n.translate(x, temperature=-1)


def test_residual_round_trip_and_transfer():
    n2n = _n2n(perturb=True)
    x, y = _toy(6, torch.Generator().manual_seed(2))
    v = n2n.residual(y, x)
    assert v.shape == (6, 3)
    z_back = n2n.translate_latent(n2n.encode_source(x), v=v)
    torch.testing.assert_close(z_back, n2n.encode_target(y), atol=1e-4, rtol=0)
    # Eq. (6): residual of y, condition of x_new; with x_new = x it gives y back
    torch.testing.assert_close(n2n.transfer(y, x, x=x), y, atol=1e-4, rtol=1e-4)
    moved = n2n.transfer(y, x.flip(0), x=x)
    assert moved.shape == (6, 3) and not torch.allclose(moved, y, atol=1e-2)
    assert n2n.transfer(y, x[:1], x=x).shape == (6, 3)  # one new condition for all
    assert n2n.transfer(y[:1], x, x=x[:1], decode=False).shape == (6, 3)
    with pytest.raises(ValueError, match="same batch size"):
        n2n.transfer(y[:4], x[:3], x=x[:4])
    with pytest.raises(TypeError, match=r"pass x=<the source inputs that go with y>"):
        n2n.transfer(y, x)  # Φ(y) is not defined for this source expert
    with pytest.raises(ValueError, match="same size"):
        n2n.residual(y[:3], x)
    lp = n2n.log_prob(y, x)
    torch.testing.assert_close(lp, -n2n.cinn.nll(n2n.encode_target(y), n2n.encode_source(x)))


def test_translating_puts_a_training_translator_in_eval_mode():
    n2n = _n2n(perturb=True)
    x, y = _toy(6, torch.Generator().manual_seed(2))
    z_source = n2n.encode_source(x)
    n2n.cinn.train()
    v = n2n.residual(y, x)
    assert not any(m.training for m in n2n.cinn.modules())
    n2n.cinn.train()
    z = n2n.translate_latent(z_source, v=v)
    assert not any(m.training for m in n2n.cinn.modules())
    torch.testing.assert_close(z, n2n.encode_target(y), atol=1e-4, rtol=0)
    n2n.cinn.train()
    n2n.log_prob(y, x)
    assert not any(m.training for m in n2n.cinn.modules())


def test_transfer_defaults_to_the_source_expert_applied_to_y():
    """Exemplar-guided / disentangling setting: Φ and Θ take the same inputs."""
    torch.manual_seed(0)
    n2n = Net2Net(as_expert(lambda y: y[:, :1], dim=1), IdentityExpert(2),
                  ConditionalINN(2, 1, n_blocks=2, hidden_dim=8), device="cpu")
    y, y_new = torch.randn(4, 2), torch.randn(4, 2)
    expected = n2n.transfer(y, y_new, x=y)
    torch.testing.assert_close(n2n.transfer(y, y_new), expected)


def test_paired_toy_translation_is_learned_and_experts_stay_frozen():
    """The held-out NLL comes within 0.25 nats of the true conditional entropy (≈ −0.35)."""
    n2n = _n2n(n_blocks=4, hidden_dim=64, n_hidden=2)
    frozen = {k: v.clone() for k, v in n2n.source.state_dict().items()}
    frozen.update({f"t.{k}": v.clone() for k, v in n2n.target.state_dict().items()})
    train, test = _toy(8192, torch.Generator().manual_seed(3)), _toy(2048,
                                                                      torch.Generator().manual_seed(4))
    with torch.no_grad():
        before = float(-n2n.log_prob(test[1], test[0]).mean())
    history = n2n.fit(train, steps=400, batch_size=256, lr=3e-3, warmup=20, eval_data=test,
                      eval_every=200, progress=False)
    assert n2n.history is history and history.eval_step == [200, 400]
    assert history.final_eval_nll < TOY_ENTROPY + 0.25, (history.final_eval_nll, TOY_ENTROPY)
    assert history.final_eval_nll < before - 2.0
    after = dict(n2n.source.state_dict())
    after.update({f"t.{k}": v for k, v in n2n.target.state_dict().items()})
    assert frozen.keys() == after.keys()
    for k in frozen:
        assert torch.equal(frozen[k], after[k]), k
    assert is_frozen(n2n.source) and is_frozen(n2n.target)
    assert not n2n.source.training and not n2n.target.training
    # at temperature 0 the translation lands near E[y | x] = (2x₀, x₁ − x₀, 0)
    x = test[0][:64]
    mode = n2n.translate(x, n_samples=1, temperature=0.0)
    mean = torch.stack([2 * x[:, 0], x[:, 1] - x[:, 0], torch.zeros(64)], 1)
    assert float((mode - mean).abs().mean()) < 0.15


def test_unpaired_transfer_with_a_label_expert():
    """Two domains that differ by a shift: transfer moves a sample by that shift."""
    gen = torch.Generator().manual_seed(5)
    y0 = torch.randn(1024, 2, generator=gen) * 0.5
    y1 = torch.randn(1024, 2, generator=gen) * 0.5 + torch.tensor([3.0, 0.0])
    labels, ys = unpaired(y0, y1)
    assert labels.tolist()[:1] + labels.tolist()[-1:] == [0, 1] and ys.shape == (2048, 2)
    torch.manual_seed(0)
    n2n = Net2Net(Labelator(["left", "right"]), IdentityExpert(2),
                  ConditionalINN(2, 2, n_blocks=3, hidden_dim=32), device="cpu")
    n2n.fit((labels, ys), steps=300, batch_size=128, lr=3e-3, progress=False)
    moved = n2n.transfer(y0[:200], ["right"], x=["left"] * 200)
    assert moved.shape == (200, 2)
    shift = (moved - y0[:200]).mean(0)
    assert abs(float(shift[0]) - 3.0) < 0.4 and abs(float(shift[1])) < 0.3
    samples = n2n.translate(["left", "right"], n_samples=200).view(2, 200, 2).mean(1)
    torch.testing.assert_close(samples, torch.tensor([[0.0, 0.0], [3.0, 0.0]]), atol=0.3,
                               rtol=0)
    with pytest.raises(ValueError, match="two or more"):
        unpaired(y0)


def test_stochastic_target_is_cached_as_mean_and_logvar():
    class NoisyEncoder:
        """A VAE-like target: q(z | y) = N(y, 0.2²)."""

        dim = 2

        def encode(self, y):
            return y

        def encode_distribution(self, y):
            return y, torch.full_like(y, 2 * math.log(0.2))

        def decode(self, z):
            return z

    torch.manual_seed(0)
    n2n = Net2Net(Labelator(2), NoisyEncoder(), ConditionalINN(2, 2, n_blocks=2, hidden_dim=16),
                  device="cpu")
    labels = torch.randint(0, 2, (256,))
    ys = torch.randn(256, 2)
    pairs = n2n.encode_data((labels, ys), progress=False)
    assert isinstance(pairs, LatentPairs) and pairs.stochastic
    assert torch.equal(pairs.target, ys)
    forced = n2n.encode_data((labels, ys), stochastic=False, progress=False)
    assert not forced.stochastic
    history = n2n.fit((labels, ys), steps=10, batch_size=64, progress=False)
    assert len(history.loss) == 10


def test_decode_is_needed_only_to_decode():
    n2n = Net2Net(Labelator(2), as_expert(lambda y: y, dim=2),
                  ConditionalINN(2, 2, n_blocks=1, hidden_dim=8), device="cpu")
    assert n2n.translate([0, 1], n_samples=2, decode=False).shape == (4, 2)
    with pytest.raises(TypeError, match="has no decode"):
        n2n.translate([0, 1])
