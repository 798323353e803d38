"""The Expert protocol, freezing, wrapping of callables, the registry, and the label expert."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from n2nlib.experts import (
    CallableExpert,
    CallableTargetExpert,
    IdentityExpert,
    Labelator,
    as_expert,
    available_experts,
    check_latent,
    create_expert,
    expert_spec,
    freeze,
    is_expert,
    is_frozen,
    is_stochastic_expert,
    is_target_expert,
    latent_shape,
    register_expert,
)
from n2nlib.experts.base import Expert, TargetExpert


def _net():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))


# -- freezing ---------------------------------------------------------------------------------


def test_freeze_is_permanent_eval_without_gradients():
    net = freeze(_net())
    assert not net.training and all(not m.training for m in net.modules())
    assert all(not p.requires_grad for p in net.parameters())
    net.train()
    net[2].train(True)
    assert not net.training and not net[2].training and not net[1].training
    assert is_frozen(net)
    # eval mode really is used: dropout off, batch-norm statistics untouched
    stats = net[1].running_mean.clone()
    x = torch.randn(16, 4)
    torch.testing.assert_close(net(x), net(x))
    assert torch.equal(net[1].running_mean, stats)


def test_frozen_module_inside_a_trainable_parent_stays_frozen():
    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.expert = freeze(_net())
            self.head = nn.Linear(3, 1)

    parent = Parent().train()
    assert parent.training and parent.head.training
    assert not parent.expert.training and not parent.expert[2].training


def test_freeze_survives_deepcopy_and_pickle():
    net = freeze(_net())
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        clone.train()
        assert not clone.training and not clone[2].training
        assert is_frozen(clone)
        torch.testing.assert_close(clone[0].weight, net[0].weight)


def test_freeze_rejects_non_modules():
    with pytest.raises(TypeError, match="nn.Module"):
        freeze(lambda x: x)
    assert not is_frozen(nn.Linear(2, 2)) and not is_frozen("x")


# -- wrapping ---------------------------------------------------------------------------------


def test_as_expert_wraps_a_module_frozen_and_without_gradients():
    net = _net()
    expert = as_expert(net, dim=3)
    assert isinstance(expert, CallableExpert) and is_expert(expert)
    assert not is_target_expert(expert) and not hasattr(expert, "decode")
    x = torch.randn(5, 4, requires_grad=True)
    z = expert.encode(x)
    assert z.shape == (5, 3) and not z.requires_grad
    assert is_frozen(net) and not expert.train().training
    assert isinstance(expert, Expert) and not isinstance(expert, TargetExpert)


def test_as_expert_wraps_functions_and_measures_dim_from_an_example():
    expert = as_expert(lambda x: x.sum(1, keepdim=True).repeat(1, 2), example=torch.ones(1, 3))
    assert expert.dim == 2
    target = as_expert(lambda y: 2 * y, dim=2, decode=lambda z: z / 2)
    assert isinstance(target, CallableTargetExpert) and is_target_expert(target)
    y = torch.randn(3, 2)
    torch.testing.assert_close(target.decode(target.encode(y)), y)
    assert isinstance(target, TargetExpert)


def test_as_expert_passes_experts_through_and_freezes_module_experts():
    class MyAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec, self.dim = nn.Linear(6, 2), nn.Linear(2, 6), 2

        def encode(self, y):
            return self.enc(y)

        def decode(self, z):
            return self.dec(z)

    ae = MyAE()
    assert as_expert(ae) is ae
    assert is_frozen(ae) and not ae.train().training
    z = ae.encode(torch.randn(3, 6, requires_grad=True))
    assert not z.requires_grad and not ae.decode(z).requires_grad
    labels = Labelator(3)
    assert as_expert(labels) is labels
    with pytest.raises(ValueError, match="dim=5 was given but the expert says dim=2"):
        as_expert(MyAE(), dim=5)


def test_non_tensor_inputs_strings_and_labels():
    lengths = as_expert(
        lambda texts: torch.tensor([[float(len(t)), float(t.count(" "))] for t in texts]), dim=2
    )
    assert lengths.encode(["a b", "abc"]).tolist() == [[3.0, 1.0], [3.0, 0.0]]
    labels = Labelator(["cat", "dog"])
    assert labels.encode(["dog", 0, torch.tensor(1)]).argmax(1).tolist() == [1, 0, 1]


def test_wrapping_errors_are_clear():
    with pytest.raises(ValueError, match="needs dim=D, or example="):
        as_expert(lambda x: x)
    with pytest.raises(TypeError, match="encode.*or must be a callable"):
        as_expert(42)
    with pytest.raises(ValueError, match="dim must be a positive int"):
        CallableExpert(lambda x: x, dim=0)
    bad = as_expert(lambda x: x[:, :, None, None], dim=3)
    with pytest.raises(ValueError, match=r"\(B, 3\).*got \(2, 3, 1, 1\).*flatten"):
        bad.encode(torch.zeros(2, 3))
    wrong = as_expert(lambda x: x, dim=4)
    with pytest.raises(ValueError, match=r"must have shape \(B, 4\), got \(2, 3\)"):
        wrong.encode(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="floating point"):
        check_latent(torch.zeros(2, 3, dtype=torch.int64), 3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_latent([1, 2], 2)


def test_protocol_predicates_and_latent_shape():
    class Stochastic:
        dim = 2

        def encode(self, y):
            return y

        def encode_distribution(self, y):
            return y, torch.zeros_like(y)

    assert is_stochastic_expert(Stochastic()) and not is_target_expert(Stochastic())
    assert not is_expert(object()) and not is_expert(type("E", (), {"dim": True, "encode": id}))
    assert latent_shape(Stochastic()) == (2,)

    class Spatial(Stochastic):
        latent_shape = (4, 2, 2)

    assert latent_shape(Spatial()) == (4, 2, 2)
    check_latent(torch.zeros(3, 4, 2, 2), (4, 2, 2))


def test_identity_expert():
    e = IdentityExpert(3)
    z = e.encode([[1, 2, 3]])
    assert z.dtype == torch.get_default_dtype() and e.decode(z).shape == (1, 3)
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        e.encode(torch.zeros(2, 4))


# -- registry ---------------------------------------------------------------------------------


def test_registry_builds_named_experts_and_remembers_how():
    assert {"sentence-bert", "bert", "labels", "identity"} <= set(available_experts())
    labels = create_expert("labels", classes=["a", "b"])
    assert isinstance(labels, Labelator) and labels.dim == 2
    assert expert_spec(labels) == {"name": "labels", "kwargs": {"classes": ["a", "b"]}}
    assert expert_spec(Labelator(4)) == {"name": "labels", "kwargs": {"classes": 4}}
    assert expert_spec(IdentityExpert(5)) == {"name": "identity", "kwargs": {"dim": 5}}
    assert expert_spec(as_expert(lambda x: x, dim=1)) is None


def test_register_expert_as_decorator_and_errors():
    @register_expert("test-twice", overwrite=True)
    def make(scale: float = 2.0):
        return as_expert(lambda x: scale * x, dim=1)

    e = create_expert("test-twice", scale=3.0)
    assert e.encode(torch.ones(1, 1)).item() == 3.0
    assert expert_spec(e) == {"name": "test-twice", "kwargs": {"scale": 3.0}}
    with pytest.raises(ValueError, match="already registered"):
        register_expert("test-twice", make)
    with pytest.raises(ValueError, match="without spaces"):
        register_expert("two words", make)
    with pytest.raises(ValueError, match="unknown expert 'nope'.*registered experts: .*labels"):
        create_expert("nope")


# -- Labelator --------------------------------------------------------------------------------


def test_labelator_encodes_ints_names_tensors_and_decodes():
    lab = Labelator(["human", "animal"], device="cpu")
    assert lab.dim == lab.n_classes == 2
    z = lab.encode(["animal", 0, 1])
    assert z.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    assert z.dtype == torch.get_default_dtype()
    assert lab.encode(torch.tensor([1, 0])).argmax(1).tolist() == [1, 0]
    import numpy as np

    assert lab.encode(np.array([1])).tolist() == [[0.0, 1.0]]
    assert lab.decode(z).tolist() == [1, 0, 1]
    assert lab.decode_names(z) == ["animal", "human", "animal"]
    assert lab.get_config() == {"classes": ["human", "animal"]}


def test_labelator_errors_name_what_was_expected():
    lab = Labelator(3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\], got \[3\]"):
        lab.encode([0, 3])
    with pytest.raises(ValueError, match="empty"):
        lab.encode([])
    with pytest.raises(TypeError, match="batch"):
        lab.encode(1)
    with pytest.raises(TypeError, match="class name 'cat' but this Labelator has no names"):
        lab.encode(["cat"])
    with pytest.raises(TypeError, match="1-d integer"):
        lab.encode(torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="int or a class name"):
        lab.encode([1.5])
    with pytest.raises(ValueError, match="unknown class name 'cow'"):
        Labelator(["cat", "dog"]).encode(["cow"])
    with pytest.raises(ValueError, match="unique"):
        Labelator(["a", "a"])
    with pytest.raises(ValueError, match=">= 1"):
        Labelator(0)
    with pytest.raises(ValueError, match=r"decode takes \(B, 3\)"):
        lab.decode(torch.zeros(2, 2))


def test_expert_sources_resolve_prefixed_names_and_refuse_bad_ones():
    from n2nlib.experts import create_expert, register_expert_source

    made = []

    def loader(name, **kwargs):
        made.append((name, kwargs))
        return as_expert(lambda x: x, dim=int(kwargs.get("dim", 2)))

    register_expert_source("doc-src", loader)
    expert = create_expert("doc-src:thing", dim=3)
    assert expert.dim == 3 and made == [("thing", {"dim": 3})]
    assert expert.n2n_spec == {"name": "doc-src:thing", "kwargs": {"dim": 3}}
    with pytest.raises(ValueError, match="prefix"):
        register_expert_source("a:b", loader)
    with pytest.raises(TypeError, match="callable"):
        register_expert_source("doc-src2", "not a function")
    with pytest.raises(ValueError, match="unknown expert"):
        create_expert("nosuchsource:thing")
