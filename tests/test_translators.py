"""The Translator protocol: Net2Net takes any model of p(z_Θ | z_Φ) with nll and sample."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from n2nlib import ConditionalINN, GroupedCINN, Net2Net
from n2nlib.experts import as_expert
from n2nlib.translators import (
    EmbeddingMLP,
    is_invertible,
    is_translator,
    translator_from_config,
)

pytestmark = pytest.mark.usefixtures("one_thread")


class AffineGaussian(nn.Module):
    """A researcher's own translator: z_Θ ~ N(A z_Φ + b, diag(σ²)) (no residual map)."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.dim, self.cond_shape = dim, (cond_dim,)
        self.mean = nn.Linear(cond_dim, dim)
        self.log_std = nn.Parameter(torch.zeros(dim))

    def nll(self, x, c):
        z = (x - self.mean(c)) / self.log_std.exp()
        return (0.5 * z.pow(2) + self.log_std + 0.5 * math.log(2 * math.pi)).sum(1)

    def sample(self, c, temperature=1.0, *, generator=None):
        noise = torch.randn(c.shape[0], self.dim, generator=generator, dtype=c.dtype)
        return self.mean(c) + temperature * self.log_std.exp() * noise


def _experts():
    source = as_expert(lambda x: x[:, :2], dim=2, name="first two")
    target = as_expert(lambda y: y[:, 2:], dim=2, decode=lambda z: z, name="last two")
    return source, target


def _data(n=512):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = 2 * x + 0.5 * torch.randn(n, 2, generator=g)      # z_Θ = 2 z_Φ + noise (σ = 0.5)
    return torch.cat([x, y], 1)


def test_a_translator_of_ones_own_plugs_into_net2net():
    source, target = _experts()
    tau = AffineGaussian(2, 2)
    assert is_translator(tau) and not is_invertible(tau)
    n2n = Net2Net(source, target, tau, device="cpu")
    data = _data()
    n2n.fit((data, data), steps=400, batch_size=128, lr=0.03, progress=False)
    assert torch.allclose(tau.mean.weight, 2 * torch.eye(2), atol=0.15)
    assert torch.allclose(tau.log_std.exp(), torch.full((2,), 0.5), atol=0.08)
    out = n2n.translate(data[:3], n_samples=4, generator=torch.Generator().manual_seed(1))
    assert out.shape == (12, 2) and out.view(3, 4, 2).std(1).min() > 0   # samples differ
    assert n2n.log_prob(data[:5], data[:5]).shape == (5,)
    with pytest.raises(TypeError, match="needs an invertible translator"):
        n2n.residual(data[:2], data[:2])
    with pytest.raises(TypeError, match="needs an invertible translator"):
        n2n.transfer(data[:2], data[:2])
    with pytest.raises(ValueError, match="cannot be saved by name"):
        n2n.get_config()


def test_every_shipped_translator_saves_and_loads_by_name(tmp_path):
    source, target = _experts()
    data = _data(64)
    from n2nlib.translators import ConditionalGaussian, ProcrustesTranslator, RidgeTranslator

    for i, tau in enumerate((ConditionalINN(2, 2, n_blocks=2, hidden_dim=8),
                             GroupedCINN([1, 1], 2, n_blocks=2, hidden_dim=8),
                             EmbeddingMLP(2, 2, hidden=8, n_layers=2),
                             ConditionalGaussian(2, 2), RidgeTranslator(2, 2, alpha=0.1),
                             ProcrustesTranslator(2, 2))):
        n2n = Net2Net(source, target, tau, device="cpu")
        n2n.fit((data, data), steps=3, batch_size=32, progress=False)
        n2n.save(tmp_path / str(i))
        back = Net2Net.load(tmp_path / str(i), source=source, target=target, device="cpu")
        assert type(back.translator) is type(tau)
        z = n2n.encode_source(data[:4])
        assert torch.allclose(back.translator.nll(data[:4, 2:], z), tau.nll(data[:4, 2:], z))


def test_a_config_can_name_only_allow_listed_translators(tmp_path):
    with pytest.raises(ValueError, match="not one of"):
        translator_from_config({"dim": 2}, "os:system")
    source, target = _experts()
    n2n = Net2Net(source, target, EmbeddingMLP(2, 2, hidden=8, n_layers=2), device="cpu")
    n2n.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["config"]["translator"] = "subprocess:call"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'subprocess:call', which is not one of"):
        Net2Net.load(tmp_path, source=source, target=target)


def test_net2net_refuses_what_is_not_a_translator():
    source, target = _experts()
    with pytest.raises(TypeError, match="cinn must be a translator"):
        Net2Net(source, target, nn.Linear(2, 2))


def test_closed_form_translators_fit_on_the_latent_cache():
    from n2nlib.translators import ConditionalGaussian, ProcrustesTranslator, RidgeTranslator

    source, target = _experts()
    data = _data(4000)
    held = _data(500) + 0.0
    results = {}
    for tau in (ConditionalGaussian(2, 2), RidgeTranslator(2, 2), ProcrustesTranslator(2, 2)):
        n2n = Net2Net(source, target, tau, device="cpu")
        history = n2n.fit((data, data), eval_data=(held, held), progress=False)
        assert len(history.loss) == 0 and len(history.eval_nll) == 1   # solved, not stepped
        results[type(tau).__name__] = history.eval_nll[0]
    # z_Θ = 2 z_Φ + N(0, 0.25 I): the Gaussian's NLL is the truth's, 2·(½ log 2π + log 0.5 + ½)
    truth = 2 * (0.5 * math.log(2 * math.pi) + math.log(0.5) + 0.5)
    assert results["ConditionalGaussian"] == pytest.approx(truth, abs=0.05)
    assert results["RidgeTranslator"] == pytest.approx(truth, abs=0.05)   # isotropic here
    # standardised codes related by the identity: a rotation does (almost) as well
    assert results["ConditionalGaussian"] - 0.01 <= results["ProcrustesTranslator"] < truth + 0.1
    # ... but not when the relation is a shear, which a rotation cannot express
    g = torch.Generator().manual_seed(1)
    c = torch.randn(4000, 2, generator=g)
    x = torch.stack([c[:, 0] + c[:, 1], c[:, 1]], 1) + 0.1 * torch.randn(4000, 2, generator=g)
    gauss = ConditionalGaussian(2, 2).fit_closed_form(x, c)
    rot = ProcrustesTranslator(2, 2).fit_closed_form(x, c)
    assert rot.nll(x, c).mean() > gauss.nll(x, c).mean() + 1.0


def test_the_conditional_gaussian_is_an_exact_invertible_flow():
    from n2nlib.translators import ConditionalGaussian

    torch.manual_seed(0)
    tau = ConditionalGaussian(3, 2).double()
    with torch.no_grad():      # parameters away from their initial values
        tau.weight.normal_()
        tau.bias.normal_()
        tau.scale_tril.copy_(torch.tril(torch.randn(3, 3)) + 2 * torch.eye(3))
    tau.fitted.fill_(True)
    x, c = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    v, logdet = tau(x, c)
    back, logdet_inv = tau.inverse(v, c)
    assert torch.allclose(back, x, atol=1e-12) and torch.allclose(logdet_inv, -logdet)
    for i in range(4):
        cond = c[i:i + 1]
        jac = torch.autograd.functional.jacobian(
            lambda row, cond=cond: tau(row[None], cond)[0][0], x[i])
        assert torch.allclose(torch.linalg.slogdet(jac)[1], logdet[i], atol=1e-10)
    nll = tau.nll(x, c)
    dist = torch.distributions.MultivariateNormal(c @ tau.weight.T + tau.bias,
                                                  scale_tril=torch.tril(tau.scale_tril))
    assert torch.allclose(nll, -dist.log_prob(x), atol=1e-10)
    with pytest.raises(RuntimeError, match="not fitted"):
        ConditionalGaussian(3, 2).sample(torch.zeros(1, 2))
