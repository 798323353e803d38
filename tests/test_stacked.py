"""The batched copy of a GroupedCINN (n2nlib.flows.stacked) computes what its groups compute."""

from __future__ import annotations

import pickle

import pytest
import torch

from n2nlib.flows import GroupedCINN
from n2nlib.flows.stacked import StackedGroups
from n2nlib.testing import perturb_parameters

# groups of one dimension (no second update), odd sizes, per-group default widths, fused s/t
# (the default) and separate s/t networks, an identity embedder and no condition at all
CONFIGS = {
    "mlp": dict(groups=[2, 1, 3, 1, 9], cond_dim=6, n_blocks=3, hidden_dim=12, embed_dim=5),
    "default-widths": dict(groups=[1, 4, 7], cond_dim=3, n_blocks=2),
    "separate": dict(groups=[3, 5], cond_dim=4, n_blocks=2, hidden_dim=10, fused_subnets=False),
    "identity": dict(groups=[2, 3], cond_dim=4, n_blocks=2, hidden_dim=8, embedder="identity"),
    "atan": dict(groups=[1, 2], cond_dim=2, n_blocks=2, hidden_dim=8, clamp=1.5,
                 clamp_activation="atan"),
    "no-clamp": dict(groups=[2, 3], cond_dim=3, n_blocks=2, hidden_dim=8,
                     clamp_activation="none"),
    "unconditional": dict(groups=[1, 3, 2], cond_dim=0, n_blocks=2, hidden_dim=8),
    "all-ones": dict(groups=[1, 1], cond_dim=2, n_blocks=2, hidden_dim=8),  # no second update
    "cond-norm": dict(groups=[2, 1, 3], cond_dim=5, n_blocks=2, hidden_dim=8, cond_norm=True),
}


def _model(name: str) -> tuple[GroupedCINN, torch.Tensor, torch.Tensor | None]:
    config = dict(CONFIGS[name])
    cinn = GroupedCINN(config.pop("groups"), **config)
    x = torch.randn(7, cinn.dim) * 2 + 0.5
    c = torch.randn(7, config["cond_dim"]) if config["cond_dim"] else None
    with torch.no_grad():
        cinn(x, c)  # ActNorm sees data (per-group path: nothing is stacked before that)
        perturb_parameters(cinn, 0.15)
    return cinn, x, c


def _per_group(cinn: GroupedCINN, direction: str, z: torch.Tensor, c: torch.Tensor | None):
    with torch.enable_grad():  # gradients on: the grouped cINN runs group by group
        out, logdet = getattr(cinn, direction)(z, c)
    return out.detach(), logdet.detach()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_stacked_equals_the_groups_both_ways(name):
    cinn, x, c = _model(name)
    fast = StackedGroups.build(cinn)
    assert fast is not None
    with torch.no_grad():
        v, logdet = fast.forward(x, c)
        v_ref, logdet_ref = _per_group(cinn, "forward", x, c)
        torch.testing.assert_close(v, v_ref, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(logdet, logdet_ref, rtol=1e-10, atol=1e-10)
        assert logdet.abs().max() > 0.1  # the parameters were moved: not the identity
        x_back, logdet_inv = fast.inverse(v, c)
        x_ref, logdet_inv_ref = _per_group(cinn, "inverse", v, c)
        torch.testing.assert_close(x_back, x_ref, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(x_back, x, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(logdet_inv, logdet_inv_ref, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(logdet_inv, -logdet, rtol=1e-9, atol=1e-9)
        x_only, no_logdet = fast.inverse(v, c, logdet=False)  # what sampling runs
        assert no_logdet is None
        torch.testing.assert_close(x_only, x_back, rtol=0, atol=0)
        copy = pickle.loads(pickle.dumps(fast))  # torch.save of a model that holds it
        torch.testing.assert_close(copy.forward(x, c)[0], v, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["mlp", "separate", "unconditional", "all-ones"])
def test_stacked_logdet_matches_the_autograd_jacobian(name):
    cinn, x, c = _model(name)
    fast = StackedGroups.build(cinn)
    for row in range(3):
        ci = None if c is None else c[row:row + 1]
        for direction, z in (("forward", x[row:row + 1]), ("inverse", x[row:row + 1] * 0.5)):
            def f(z, direction=direction, ci=ci):
                return getattr(fast, direction)(z, ci)[0]

            jac = torch.autograd.functional.jacobian(f, z).reshape(cinn.dim, cinn.dim)
            expected = torch.linalg.slogdet(jac).logabsdet
            torch.testing.assert_close(getattr(fast, direction)(z, ci)[1][0], expected,
                                       rtol=1e-9, atol=1e-9)


def test_grouped_cinn_uses_the_stacked_copy_without_gradients_and_rebuilds_it():
    cinn, x, c = _model("mlp")
    with torch.no_grad():
        v, _ = cinn(x, c)
    first = cinn._stacked[1]
    assert isinstance(first, StackedGroups)
    with torch.no_grad():
        cinn(x, c)
        assert cinn._stacked[1] is first  # nothing changed: the copy is reused
        cinn.parts[4].blocks[1].coupling.st2.weights[0].add_(0.5)  # an in-place edit
        v2, _ = cinn(x, c)
    assert cinn._stacked[1] is not first
    torch.testing.assert_close(v2, _per_group(cinn, "forward", x, c)[0])
    assert not torch.allclose(v, v2)
    # load_state_dict copies in place; .float() rebuilds
    other, _, _ = _model("mlp")
    other.load_state_dict(cinn.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(other(x, c)[0], v2)
        other.float()
        v32, _ = other(x.float(), c.float())
    assert v32.dtype == torch.float32
    torch.testing.assert_close(v32, v2.float(), rtol=1e-4, atol=1e-4)
    # assign=True swaps the parameter objects, through a parent module too
    parent = torch.nn.ModuleDict({"cinn": other.double()})
    with torch.no_grad():
        other(x, c)
        moved = {k: t + 0.05 if t.is_floating_point() else t
                 for k, t in parent.state_dict().items()}
        parent.load_state_dict(moved, assign=True)
        torch.testing.assert_close(other(x, c)[0], _per_group(other, "forward", x, c)[0])


@pytest.mark.parametrize("name", ["mlp", "unconditional"])
def test_sampling_runs_the_stacked_copy_and_draws_the_per_group_samples(name, monkeypatch):
    cinn, x, c = _model(name)
    rows = None if c is not None else 7
    eps = torch.randn(7, cinn.dim, generator=torch.Generator().manual_seed(3))
    expected = _per_group(cinn, "inverse", 0.8 * eps, c)[0]
    calls = []
    inverse = StackedGroups.inverse
    monkeypatch.setattr(StackedGroups, "inverse",
                        lambda self, *a, **k: calls.append(k) or inverse(self, *a, **k))
    got = cinn.sample(c, 0.8, n=rows, generator=torch.Generator().manual_seed(3))
    assert calls == [{"logdet": False}]
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_stacked_copy_is_not_built_for_what_it_does_not_cover():
    leaky = GroupedCINN([2, 3], cond_dim=4, n_blocks=2, hidden_dim=8, leaky_relu=0.7)
    with torch.no_grad():
        leaky(torch.randn(5, 5), torch.randn(5, 4))
    assert StackedGroups.build(leaky) is None
    fresh = GroupedCINN([2, 3], cond_dim=4, n_blocks=2, hidden_dim=8)
    assert StackedGroups.build(fresh) is None  # ActNorm has not seen data yet
    conv = GroupedCINN([2, 3], cond_dim=(2, 6, 5), n_blocks=1, hidden_dim=8)
    with torch.no_grad():
        conv(torch.randn(4, 5), torch.randn(4, 2, 6, 5))
    assert StackedGroups.build(conv) is None


def test_grouped_cinn_checks_inputs_on_the_stacked_path():
    cinn, x, c = _model("mlp")
    with torch.no_grad():
        cinn(x, c)
        with pytest.raises(ValueError, match="same batch size"):
            cinn(x, c[:3])
        with pytest.raises(ValueError):
            cinn.inverse(x[:, :4], c)
        with pytest.raises(ValueError, match="needs a condition"):
            cinn(x)
