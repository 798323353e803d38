"""The optimizer of the training loop: fused Adam where available, the same update as the
default kernel, and a divergence guard that still names the offending parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from n2nlib import ConditionalINN
from n2nlib.train import TrainingDiverged, fit, fused_supported, make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n: int = 256, dtype: torch.dtype = torch.float32):
    gen = torch.Generator().manual_seed(0)
    c = torch.randn(n, 2, generator=gen, dtype=dtype)
    x = torch.cat([c, torch.randn(n, 1, generator=gen, dtype=dtype)], 1) * 2 + 1
    return x, c


def _model(dtype: torch.dtype = torch.float32) -> ConditionalINN:
    torch.manual_seed(0)
    return ConditionalINN(dim=3, cond_dim=2, n_blocks=2, hidden_dim=16).to(dtype)


def test_make_optimizer_is_fused_on_cpu_by_default():
    params = [nn.Parameter(torch.zeros(3))]
    assert fused_supported(params)
    assert make_optimizer(params, "adam").defaults["fused"] is True
    assert not make_optimizer(params, "adam", fused=False).defaults["fused"]
    assert isinstance(make_optimizer(params, "adamw", fused=False), torch.optim.AdamW)
    with pytest.raises(ValueError, match="optimizer must be"):
        make_optimizer(params, "sgd")


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_and_default_optimizer_train_to_the_same_weights(optimizer, dtype):
    x, c = _data(dtype=dtype)
    kwargs = dict(steps=30, batch_size=64, lr=3e-3, optimizer=optimizer, weight_decay=1e-3,
                  progress=False)
    fused, plain = _model(dtype), _model(dtype)
    h_fused = fit(fused, (x, c), fused_optimizer=True, **kwargs)
    h_plain = fit(plain, (x, c), fused_optimizer=False, **kwargs)
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(torch.tensor(h_fused.loss), torch.tensor(h_plain.loss),
                               rtol=tol, atol=tol)
    for (name, a), b in zip(fused.state_dict().items(), plain.state_dict().values(),
                            strict=True):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=name)


def test_fused_runs_are_bit_for_bit_reproducible():
    x, c = _data()
    a, b = _model(), _model()
    fit(a, (x, c), steps=10, batch_size=64, progress=False)
    fit(b, (x, c), steps=10, batch_size=64, progress=False)
    for ta, tb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(ta, tb)


def test_clipping_is_exactly_clip_grad_norm():
    """fit clips with the norm its guard computed; the result equals clip_grad_norm_'s."""
    x, c = _data()
    model = _model()
    fit(model, (x, c), steps=1, batch_size=64, progress=False)  # ActNorm initialised
    loss = model.nll(x[:64], c[:64]).mean() * 100
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    total = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()], foreach=True)
    torch.nn.utils.clip_grads_with_norm_(list(model.parameters()), 0.5, total, foreach=True)
    mine = [p.grad.clone() for p in model.parameters()]
    for p, g in zip(model.parameters(), grads, strict=True):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(list(model.parameters()), 0.5)
    for a, p in zip(mine, model.parameters(), strict=True):
        assert torch.equal(a, p.grad)


@pytest.mark.parametrize("clip_grad", [10.0, None])  # the norm, or only its finiteness
def test_guard_names_the_parameter_with_a_nan_gradient(clip_grad):
    x, c = _data()
    model = _model()
    target = model.blocks[1].coupling.st2  # the fused s and t networks of the second update

    def poison(step, history):  # the next backward puts NaN into one gradient
        if step == 1:
            for p in target.parameters():
                p.register_hook(lambda g: g * float("nan"))

    before = None

    def remember(step, history):
        nonlocal before
        poison(step, history)
        before = [t.clone() for t in model.state_dict().values()]

    with pytest.raises(TrainingDiverged, match=r"non-finite gradients at step 2.*st2"):
        fit(model, (x, c), steps=5, batch_size=64, progress=False, callback=remember,
            clip_grad=clip_grad)
    for a, b in zip(before, model.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # the bad step was not applied


def test_the_guards_cheaper_reduction_is_finite_exactly_when_the_norm_is():
    from n2nlib.step import _total_norm

    # one non-contiguous, one in another dtype
    grads = [torch.randn(3, 4), torch.randn(5), torch.randn(2, 3).t(), torch.randn(4).float()]
    norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    torch.testing.assert_close(_total_norm(grads, exact=True), norm, rtol=0, atol=0)
    torch.testing.assert_close(_total_norm(grads, exact=False), norm.double()**2,
                               rtol=1e-6, atol=0)  # the sum of squares
    for bad in (float("inf"), float("-inf"), float("nan")):
        poisoned = [g.clone() for g in grads]
        poisoned[2][1, 0] = bad
        assert not torch.isfinite(_total_norm(poisoned, exact=False))
    poisoned = [g.clone() for g in grads]
    poisoned[0][0, 0], poisoned[1][0] = float("inf"), float("-inf")  # squares cannot cancel
    assert not torch.isfinite(_total_norm(poisoned, exact=False))


def test_the_backward_that_releases_old_gradients_leaves_what_zero_grad_and_backward_leave():
    """Three passes of a network one of whose layers is used only in some of them, with an
    update between passes: each parameter's ``.grad`` equals, bit for bit, what
    ``zero_grad(set_to_none=True)`` and ``backward()`` leave — this pass's gradient, or None
    where this pass gives none, although the parameter had one before — and no hook is left."""
    import copy

    from n2nlib.step import _backward_releasing_grads

    torch.manual_seed(0)
    released = nn.ModuleDict({"a": nn.Linear(3, 4), "b": nn.Linear(4, 2), "c": nn.Linear(3, 2)})
    plain = copy.deepcopy(released)
    x = torch.randn(8, 3)

    def loss(model, uses_c):
        out = model["b"](torch.relu(model["a"](x)))
        return (out + model["c"](x)).pow(2).mean() if uses_c else out.pow(2).mean()

    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (released, plain)]
    for uses_c in (True, False, True):
        _backward_releasing_grads(loss(released, uses_c), list(released.parameters()))
        opts[1].zero_grad(set_to_none=True)
        loss(plain, uses_c).backward()
        for p, q in zip(released.parameters(), plain.parameters(), strict=True):
            assert (p.grad is None) == (q.grad is None)
            if q.grad is not None:
                assert torch.equal(p.grad, q.grad)
        assert (released["c"].weight.grad is None) != uses_c  # dropped when unused
        assert all(not p._backward_hooks for p in released.parameters())
        for opt in opts:
            opt.step()
    for p, q in zip(released.parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, q)
    # a parameter frozen since its last gradient, then a pass that fails half-way: the old
    # gradients are gone, the hooks too
    released["a"].weight.requires_grad_(False)

    def failing(grad):
        raise RuntimeError("stop")

    released["b"].bias.register_hook(failing)
    old = {id(p): p.grad for p in released.parameters()}
    assert all(g is not None for g in old.values())
    with pytest.raises(RuntimeError, match="stop"):
        _backward_releasing_grads(loss(released, True), list(released.parameters()))
    assert released["a"].weight.grad is None
    for p in released.parameters():  # this pass's gradient, or None: never the old one
        assert p.grad is None or p.grad is not old[id(p)]
        assert len(p._backward_hooks or {}) == (p is released["b"].bias)
