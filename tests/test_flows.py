"""Exactness and behaviour of every invertible block and of the whole ConditionalINN."""

from __future__ import annotations

import io

import pytest
import torch
from flow_cases import CASES, IDS, PARAMS, call, condition, make

from n2nlib.flows import ActNorm, AffineCoupling, soft_clamp
from n2nlib.testing import check_invertible, check_logdet


@pytest.mark.parametrize(("case", "dim", "cond"), PARAMS, ids=IDS)
def test_invertible_float64(case, dim, cond):
    model, x, c = make(case, dim, cond)
    report = check_invertible(model, x, c, atol=1e-8)
    assert report.max_error <= 1e-8


@pytest.mark.parametrize(("case", "dim", "cond"), PARAMS, ids=IDS)
def test_invertible_float32(case, dim, cond):
    model, x, c = make(case, dim, cond, dtype=torch.float32)
    assert check_invertible(model, x, c, atol=1e-4).max_error <= 1e-4


@pytest.mark.parametrize(("case", "dim", "cond"), PARAMS, ids=IDS)
def test_logdet_matches_autograd_jacobian(case, dim, cond):
    model, x, c = make(case, dim, cond)
    report = check_logdet(model, x, c, atol=1e-8)
    assert report.max_error <= 1e-8
    # the check is not vacuous: most blocks have a non-zero log-det after perturbation
    if case.name not in ("permutation",):
        assert report.autograd.abs().max() > 1e-3


@pytest.mark.parametrize(("case", "dim", "cond"), PARAMS, ids=IDS)
def test_inverse_logdet_matches_jacobian_and_is_negative(case, dim, cond):
    model, x, c = make(case, dim, cond)
    with torch.no_grad():
        v, logdet = call(model, x, c)
    report = check_logdet(model, v, c, inverse=True, atol=1e-8)
    torch.testing.assert_close(report.reported, -logdet, atol=1e-9, rtol=0)


CONDITIONAL = [p for p in PARAMS if p[2] != "none"]


@pytest.mark.parametrize(("case", "dim", "cond"), CONDITIONAL,
                         ids=[f"{p[0].name}-d{p[1]}-{p[2]}" for p in CONDITIONAL])
def test_condition_changes_output(case, dim, cond):
    model, x, c = make(case, dim, cond)
    other = condition(case, cond, x.shape[0], x.dtype)
    with torch.no_grad():
        v1, ld1 = call(model, x, c)
        v2, ld2 = call(model, x, other)
    assert (v1 - v2).abs().max() > 1e-4
    # and the inverse under the other condition lands elsewhere as well
    with torch.no_grad():
        assert (call(model, v1, other, inverse=True)[0] - x).abs().max() > 1e-4


WITH_PARAMS = [p for p in PARAMS if p[0].name not in ("permutation", "leaky_relu")]


@pytest.mark.parametrize(("case", "dim", "cond"), WITH_PARAMS,
                         ids=[f"{p[0].name}-d{p[1]}-{p[2]}" for p in WITH_PARAMS])
def test_every_parameter_gets_a_gradient(case, dim, cond):
    model, x, c = make(case, dim, cond)
    if case.is_cinn:
        loss = model.nll(x, c).mean()
    else:
        y, logdet = call(model, x, c)
        loss = (0.5 * y.pow(2).sum(1) - logdet).mean()
    loss.backward()
    for name, p in model.named_parameters():
        if p.numel() == 0:  # the 0-feature input layer of a 1-d unconditional coupling
            continue
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().max() > 0, f"{name} has an all-zero gradient"


@pytest.mark.parametrize(("case", "dim", "cond"), PARAMS, ids=IDS)
def test_eval_and_train_mode_agree_after_init(case, dim, cond):
    model, x, c = make(case, dim, cond)
    with torch.no_grad():
        model.train()
        v_train, ld_train = call(model, x, c)
        model.eval()
        v_eval, ld_eval = call(model, x, c)
    torch.testing.assert_close(v_train, v_eval, atol=0, rtol=0)
    torch.testing.assert_close(ld_train, ld_eval, atol=0, rtol=0)


@pytest.mark.parametrize(("case", "dim", "cond"), PARAMS, ids=IDS)
def test_state_dict_round_trip_reproduces_outputs(case, dim, cond):
    model, x, c = make(case, dim, cond)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(999)  # the fresh model starts from different random weights
    fresh = case.build(dim, cond)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    with torch.no_grad():
        v, ld = call(model, x, c)
        v2, ld2 = call(fresh, x, c)
    torch.testing.assert_close(v, v2, atol=0, rtol=0)
    torch.testing.assert_close(ld, ld2, atol=0, rtol=0)


# -- single blocks: specific behaviour -------------------------------------------------------


def test_actnorm_initialises_to_zero_mean_unit_variance():
    norm = ActNorm(3)
    x = torch.randn(500, 3) * torch.tensor([0.1, 3.0, 10.0]) + torch.tensor([5.0, -2.0, 0.0])
    y, logdet = norm(x)
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-10, rtol=0)
    torch.testing.assert_close(y.std(0, correction=0), torch.ones(3), atol=1e-10, rtol=0)
    assert bool(norm.initialized)
    # a second batch does not re-initialise
    loc = norm.loc.clone()
    norm(torch.randn(10, 3))
    torch.testing.assert_close(norm.loc, loc)


def test_actnorm_zero_variance_channel_is_centred_not_divided():
    norm = ActNorm(3)
    x = torch.randn(8, 3)
    x[:, 1] = 4.0  # a constant feature
    y, logdet = norm(x)
    assert torch.isfinite(y).all() and torch.isfinite(logdet).all()
    assert float(norm.log_scale[1].detach()) == 0.0
    torch.testing.assert_close(y[:, 1], torch.zeros(8))
    # new data for that channel passes with scale 1, not 1/eps
    y2, _ = norm(torch.full((2, 3), 5.0))
    torch.testing.assert_close(y2[:, 1], torch.ones(2))


def test_actnorm_batch_of_one_is_safe():
    norm = ActNorm(4)
    y, logdet = norm(torch.randn(1, 4))
    assert torch.isfinite(y).all() and torch.isfinite(logdet).all()
    torch.testing.assert_close(y, torch.zeros(1, 4))


def test_actnorm_spatial_logdet_counts_positions():
    norm = ActNorm(2)
    x = torch.randn(3, 2, 4, 5)
    y, logdet = norm(x)
    torch.testing.assert_close(logdet, norm.log_scale.sum().expand(3) * 20)


def test_soft_clamp_is_bounded_and_identity_near_zero():
    s = torch.linspace(-1e3, 1e3, 101)
    for kind in ("tanh", "atan"):
        out = soft_clamp(s, 2.0, kind)
        assert out.abs().max() <= 2.0
        small = torch.tensor([1e-4, -1e-4])
        torch.testing.assert_close(soft_clamp(small, 2.0, kind), small, atol=1e-10, rtol=1e-6)
    with pytest.raises(ValueError, match="clamp activation"):
        soft_clamp(s, 2.0, "relu")


def test_coupling_updates_both_halves():
    torch.manual_seed(0)
    layer = AffineCoupling(6, 2, hidden=8)
    from n2nlib.testing import perturb_parameters

    perturb_parameters(layer, 0.3)
    x, h = torch.randn(4, 6), torch.randn(4, 2)
    y, _ = layer(x, h)
    assert (y[:, :3] - x[:, :3]).abs().max() > 1e-3
    assert (y[:, 3:] - x[:, 3:]).abs().max() > 1e-3


def test_coupling_subnet_constructor_hook_is_used():
    built = []

    def make(in_features, out_features):
        built.append((in_features, out_features))
        return torch.nn.Linear(in_features, out_features)

    layer = AffineCoupling(5, 3, subnet_constructor=make)
    assert built == [(2 + 3, 3), (2 + 3, 3), (3 + 3, 2), (3 + 3, 2)]
    y, _ = layer(torch.randn(2, 5), torch.randn(2, 3))
    assert y.shape == (2, 5)


def test_coupling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="clamp_activation"):
        AffineCoupling(4, clamp_activation="sigmoid")
    with pytest.raises(ValueError, match="clamp must be positive"):
        AffineCoupling(4, clamp=0.0)
    layer = AffineCoupling(4, 2, hidden=8)
    with pytest.raises(ValueError, match="needs h"):
        layer(torch.randn(3, 4))
    with pytest.raises(ValueError, match="same batch size"):
        layer(torch.randn(3, 4), torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"shape \(B, 4\)"):
        layer(torch.randn(3, 5), torch.randn(3, 2))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_blocks_reject_wrong_feature_count(case):
    model = case.build(4, case.conds[-1])
    c = condition(case, case.conds[-1], 2, torch.float64)
    with pytest.raises(ValueError, match="shape"):
        call(model, torch.randn(2, 5), c)


# -- fused s/t subnetworks ---------------------------------------------------------------------


def test_paired_mlp_maps_to_and_from_separate_mlps_exactly():
    from n2nlib.flows import MLP, PairedMLP
    from n2nlib.testing import perturb_parameters

    torch.manual_seed(0)
    s_net, t_net = MLP(7, 3, hidden=10).double(), MLP(7, 3, hidden=10).double()
    pair = PairedMLP.from_mlps(s_net, t_net)
    assert pair.weights[0].dtype == torch.float64
    x = torch.randn(5, 7, dtype=torch.float64)
    out = pair(x)
    torch.testing.assert_close(out[0], s_net(x), atol=1e-13, rtol=0)
    torch.testing.assert_close(out[1], t_net(x), atol=1e-13, rtol=0)
    perturb_parameters(pair, 0.3, generator=torch.Generator().manual_seed(1))
    s2, t2 = pair.to_mlps()
    out = pair(x)
    torch.testing.assert_close(out[0], s2(x), atol=1e-13, rtol=0)
    torch.testing.assert_close(out[1], t2(x), atol=1e-13, rtol=0)
    with pytest.raises(ValueError, match="one shape"):
        PairedMLP.from_mlps(MLP(7, 3, hidden=10), MLP(7, 3, hidden=12))


def test_paired_mlp_initialisation_matches_nn_linear_bounds():
    from n2nlib.flows import PairedMLP

    torch.manual_seed(0)
    pair = PairedMLP(100, 4, hidden=400)
    for w, fan_in in zip(pair.weights[:-1], (100, 400, 400), strict=True):
        bound = fan_in ** -0.5
        assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound
    zeroed = PairedMLP(5, 4, hidden=8, zero_init=True)
    assert not zeroed.weights[-1].any() and not zeroed.biases[-1].any()


@pytest.mark.parametrize("dim", [1, 5, 8])
def test_fused_coupling_equals_unfused_with_mapped_parameters(dim):
    from n2nlib.flows import PairedMLP
    from n2nlib.testing import perturb_parameters

    torch.manual_seed(dim)
    plain = AffineCoupling(dim, 3, hidden=12).double()
    perturb_parameters(plain, 0.3, generator=torch.Generator().manual_seed(0))
    fused = AffineCoupling(dim, 3, hidden=12, fused=True).double()
    fused.st1 = PairedMLP.from_mlps(plain.s1, plain.t1)
    if plain.s2 is not None:
        fused.st2 = PairedMLP.from_mlps(plain.s2, plain.t2)
    x, h = torch.randn(6, dim, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    y, ld = plain(x, h)
    y2, ld2 = fused(x, h)
    torch.testing.assert_close(y, y2, atol=1e-12, rtol=0)
    torch.testing.assert_close(ld, ld2, atol=1e-12, rtol=0)
    torch.testing.assert_close(plain.inverse(y, h)[0], fused.inverse(y, h)[0], atol=1e-12,
                               rtol=0)


def test_fused_rejects_a_subnet_constructor_and_cinn_config_round_trips():
    from n2nlib.flows import ConditionalINN

    with pytest.raises(ValueError, match="subnet_constructor"):
        AffineCoupling(4, 2, fused=True, subnet_constructor=lambda i, o: torch.nn.Linear(i, o))
    cinn = ConditionalINN(4, 3, n_blocks=2, hidden_dim=8, fused_subnets=True)
    assert cinn.get_config()["fused_subnets"] is True
    again = ConditionalINN.from_config(cinn.get_config())
    assert again.blocks[0].coupling.fused
    # fused is the default, except with custom subnetworks
    assert ConditionalINN(4, 3, n_blocks=1, hidden_dim=8).get_config()["fused_subnets"] is True
    custom = ConditionalINN(4, 3, n_blocks=1, subnet_constructor=lambda i, o: torch.nn.Linear(i, o))
    assert not custom.blocks[0].coupling.fused


def test_cond_norm_standardises_the_first_condition_batch_and_round_trips(tmp_path):
    from n2nlib.flows import ConditionalINN

    cinn = ConditionalINN(3, 6, n_blocks=2, hidden_dim=8, cond_norm=True)
    c = torch.randn(64, 6) * 0.05 + 0.2  # a small-scale code, as Sentence-BERT's
    cinn(torch.randn(64, 3), c)
    norm = cinn.embedder.norm
    standardised = norm(c)
    torch.testing.assert_close(standardised.mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(standardised.std(0, correction=0), torch.ones(6), atol=1e-4,
                               rtol=0)
    assert cinn.get_config()["cond_norm"] is True
    saved = cinn.save(tmp_path / "m")
    again = ConditionalINN.load(saved)
    x = torch.randn(5, 3)
    torch.testing.assert_close(again(x, c[:5])[0], cinn(x, c[:5])[0])
    assert ConditionalINN(3, 6, n_blocks=1).embedder.norm is None  # off by default
    for bad in (dict(cond_dim=(1, 4, 4)), dict(cond_dim=6, embedder="identity")):
        with pytest.raises(ValueError, match="cond_norm"):
            ConditionalINN(3, n_blocks=1, cond_norm=True, **bad)


@pytest.mark.parametrize("dim", [1, 5, 8])
def test_weights_saved_in_the_old_layout_load_into_the_fused_default(dim, tmp_path):
    """A checkpoint of separate s/t networks, saved before fusing was the default (its config
    has no ``fused_subnets``), loads into the fused layout and computes the same function;
    and back."""
    import json

    from n2nlib.flows import ConditionalINN, GroupedCINN
    from n2nlib.testing import perturb_parameters

    torch.manual_seed(dim)
    old = ConditionalINN(dim, 3, n_blocks=2, hidden_dim=12, fused_subnets=False).double()
    perturb_parameters(old, 0.3, generator=torch.Generator().manual_seed(0))
    x, c = torch.randn(6, dim, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    old(x, c)  # ActNorm's data-dependent initialisation happens before the save
    old.save(tmp_path / "old")
    config_file = tmp_path / "old" / "config.json"
    doc = json.loads(config_file.read_text())
    config = doc.get("config", doc)
    assert config.pop("fused_subnets") is False
    config_file.write_text(json.dumps(doc))
    new = ConditionalINN.load(tmp_path / "old")
    assert new.blocks[0].coupling.fused and next(new.parameters()).dtype == torch.float64
    for a, b in zip(old(x, c), new(x, c), strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    back = new.with_fused_subnets(False)
    assert not back.blocks[0].coupling.fused
    assert sorted(back.state_dict()) == sorted(old.state_dict())
    for key, value in old.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value, atol=0, rtol=0)
    grouped_old = GroupedCINN([1, dim], 3, n_blocks=1, hidden_dim=8, fused_subnets=False)
    perturb_parameters(grouped_old, 0.3, generator=torch.Generator().manual_seed(1))
    grouped_new = GroupedCINN([1, dim], 3, n_blocks=1, hidden_dim=8)
    grouped_new.load_state_dict(grouped_old.state_dict())
    xg, cg = torch.randn(4, dim + 1), torch.randn(4, 3)
    torch.testing.assert_close(grouped_old(xg, cg)[0], grouped_new(xg, cg)[0])


def test_grouped_cinn_is_the_product_of_its_groups_and_round_trips(tmp_path):
    from n2nlib import GroupedCINN, Net2Net
    from n2nlib.experts import IdentityExpert
    from n2nlib.flows import cinn_from_config

    torch.manual_seed(0)
    cinn = GroupedCINN([2, 3], cond_dim=4, n_blocks=2, hidden_dim=16).double()
    perturb = __import__("n2nlib.testing", fromlist=["perturb_parameters"]).perturb_parameters
    perturb(cinn, scale=0.2, generator=torch.Generator().manual_seed(1))
    x, c = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    # the NLL is the sum of the groups' NLLs: the groups are independent given c
    parts = cinn.parts[0].nll(x[:, :2], c) + cinn.parts[1].nll(x[:, 2:], c)
    torch.testing.assert_close(cinn.nll(x, c), parts)
    # a group's residual depends on its own dimensions only
    v1, _ = cinn(x, c)
    y = x.clone()
    y[:, 2:] += 1.0
    v2, _ = cinn(y, c)
    torch.testing.assert_close(v1[:, :2], v2[:, :2])
    assert (v1[:, 2:] - v2[:, 2:]).abs().max() > 1e-3
    # config, save/load and Net2Net.load rebuild the same flow
    rebuilt = cinn_from_config(cinn.get_config()).double()
    rebuilt.load_state_dict(cinn.state_dict())
    torch.testing.assert_close(rebuilt.nll(x, c), cinn.nll(x, c))
    loaded = GroupedCINN.load(cinn.save(tmp_path / "g"))
    torch.testing.assert_close(loaded.nll(x, c), cinn.nll(x, c))
    n2n = Net2Net(IdentityExpert(4), IdentityExpert(5), cinn.float())
    again = Net2Net.load(n2n.save(tmp_path / "n2n"))
    assert isinstance(again.cinn, GroupedCINN) and again.cinn.groups == [2, 3]
    torch.testing.assert_close(again.cinn.nll(x.float(), c.float()), cinn.nll(x.float(), c.float()))


def test_grouped_cinn_rejects_bad_groups_and_shapes():
    from n2nlib import GroupedCINN

    for bad in ([], [0, 2], [2.0], "ab"):
        with pytest.raises(ValueError, match="groups"):
            GroupedCINN(bad, 3)
    with pytest.raises(TypeError, match="dim"):
        GroupedCINN([2], 3, dim=2)
    cinn = GroupedCINN([2, 2], 3, n_blocks=1)
    with pytest.raises(ValueError):
        cinn(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="condition"):
        cinn.sample(None)
