"""Exactness checks for invertible models, shared by the test suite and notebook 01.

A flow is only as good as its two promises: ``inverse`` undoes ``forward``, and the
log-determinant it reports is the log-determinant of its Jacobian. These functions measure
both against ground truth (the autograd Jacobian) and raise ``AssertionError`` when a
promise is broken, so they can be used in tests and printed in notebooks alike.

>>> import torch
>>> from n2nlib import ConditionalINN
>>> cinn = ConditionalINN(dim=3, cond_dim=2, n_blocks=2, hidden_dim=16).double()
>>> x, c = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
>>> check_invertible(cinn, x, c).max_error < 1e-10
True
>>> check_logdet(cinn, x, c).max_error < 1e-8
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = [
    "InvertibilityReport",
    "LogdetReport",
    "check_invertible",
    "check_logdet",
    "default_atol",
    "perturb_parameters",
]


def default_atol(dtype: torch.dtype) -> float:
    """The tolerance the project holds flows to: 1e-8 in float64, 1e-4 in float32."""
    return 1e-8 if dtype == torch.float64 else 1e-4


@dataclass(frozen=True)
class InvertibilityReport:
    """Result of :func:`check_invertible`.

    Attributes:
        max_error: ``max |inverse(forward(x)) - x|`` over all entries.
        max_logdet_error: ``max |logdet + logdet_inv|`` (the inverse's log-det must be the
            negative of the forward's at the same point).
        max_forward_error: ``max |forward(inverse(v)) - v|`` for ``v = forward(x)``.
    """

    max_error: float
    max_logdet_error: float
    max_forward_error: float


@dataclass(frozen=True)
class LogdetReport:
    """Result of :func:`check_logdet`.

    Attributes:
        max_error: largest ``|logdet - log|det J||`` over the batch, with ``J`` the autograd
            Jacobian of one sample's output with respect to its input.
        max_cross_term: largest entry of the Jacobian between *different* samples (must be
            0: one sample's output may not depend on another's input).
        reported: the log-determinants the model returned, ``(B,)``.
        autograd: the log-determinants of the autograd Jacobians, ``(B,)``.
    """

    max_error: float
    max_cross_term: float
    reported: Tensor
    autograd: Tensor


def _call(model: nn.Module, x: Tensor, c: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
    fn = model.inverse if inverse else model.forward
    return fn(x) if c is None else fn(x, c)


def check_invertible(
    model: nn.Module,
    x: Tensor,
    c: Tensor | None = None,
    *,
    atol: float | None = None,
) -> InvertibilityReport:
    """Check that ``model.inverse`` undoes ``model.forward`` on ``x`` (and the converse).

    Arguments:
        model: anything with ``forward(x[, c]) -> (y, logdet)`` and
            ``inverse(y[, c]) -> (x, logdet)``.
        x: inputs ``(B, dim)``.
        c: the condition, if the model takes one.
        atol: tolerance; default :func:`default_atol` of ``x.dtype``.

    Returns:
        An :class:`InvertibilityReport` with the measured errors.

    Raises:
        AssertionError: if any error exceeds ``atol``.
    """
    atol = default_atol(x.dtype) if atol is None else atol
    with torch.no_grad():
        v, logdet = _call(model, x, c, inverse=False)
        x_rec, logdet_inv = _call(model, v, c, inverse=True)
        v_rec, _ = _call(model, x_rec, c, inverse=False)
    report = InvertibilityReport(
        max_error=float((x_rec - x).abs().max()),
        max_logdet_error=float((logdet + logdet_inv).abs().max()),
        max_forward_error=float((v_rec - v).abs().max()),
    )
    scale = max(1.0, float(logdet.abs().max()))
    if report.max_error > atol or report.max_forward_error > atol * max(1.0, float(v.abs().max())):
        raise AssertionError(f"inverse does not undo forward within {atol:g}: {report}")
    if report.max_logdet_error > atol * scale:
        raise AssertionError(f"inverse log-det is not -forward log-det within {atol:g}: {report}")
    return report


def check_logdet(
    model: nn.Module,
    x: Tensor,
    c: Tensor | None = None,
    *,
    inverse: bool = False,
    atol: float | None = None,
) -> LogdetReport:
    """Compare the reported log-determinant with ``log|det J|`` of the autograd Jacobian.

    The Jacobian of the whole batch is taken with :func:`torch.autograd.functional.jacobian`
    (so it also proves that samples do not leak into each other: the cross-sample blocks
    must vanish). Use float64 for a tight check.

    Arguments:
        model: as in :func:`check_invertible`.
        x: inputs ``(B, dim)`` (for ``inverse=True``: latents ``v``).
        c: the condition, if any; it is held fixed.
        inverse: check ``model.inverse`` instead of ``model.forward``.
        atol: tolerance on the log-determinant (relative to its size when it is large).

    Returns:
        A :class:`LogdetReport`.

    Raises:
        AssertionError: if the log-determinants disagree or samples interact.
    """
    if x.ndim != 2:
        raise ValueError(f"check_logdet takes vector inputs (B, dim), got {tuple(x.shape)}")
    atol = default_atol(x.dtype) if atol is None else atol
    with torch.no_grad():
        _, reported = _call(model, x, c, inverse)  # also runs any data-dependent init

    def f(inp: Tensor) -> Tensor:
        return _call(model, inp, c, inverse)[0]

    jac = torch.autograd.functional.jacobian(f, x.detach())  # (B, D, B, D)
    batch = x.shape[0]
    idx = torch.arange(batch)
    blocks = jac[idx, :, idx, :]  # (B, D, D): each sample's own Jacobian
    cross = jac.clone()
    cross[idx, :, idx, :] = 0
    autograd = torch.linalg.slogdet(blocks).logabsdet
    report = LogdetReport(
        max_error=float((reported.detach() - autograd).abs().max()),
        max_cross_term=float(cross.abs().max()) if batch > 1 else 0.0,
        reported=reported.detach(),
        autograd=autograd,
    )
    scale = max(1.0, float(autograd.abs().max()))
    if report.max_error > atol * scale:
        raise AssertionError(f"log-det differs from the autograd Jacobian: {report.max_error:g}")
    if report.max_cross_term > atol:
        raise AssertionError(
            f"samples interact: cross-sample Jacobian entry {report.max_cross_term:g}"
        )
    return report


@torch.no_grad()
def perturb_parameters(
    model: nn.Module, scale: float = 0.1, generator: torch.Generator | None = None
) -> nn.Module:
    """Move every parameter away from its initial value by Gaussian noise of std ``scale``.

    Freshly built couplings start as the identity (their last layers are zero), which would
    hide most mistakes; checks are only meaningful after this. Returns ``model``.
    """
    for p in model.parameters():
        noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        p.add_(noise.to(p.device) * scale)
    return model
