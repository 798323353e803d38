"""The Expert protocol: what a source or target model must offer to be translated between.

An expert is a fixed, pretrained network seen through its representation:

* ``encode(inputs) -> Tensor (B, D)`` — the representation :math:`z = \\Phi(x)` (source) or
  :math:`z = \\Theta(y)` (target). ``inputs`` may be anything the expert takes: an image batch,
  a list of strings, integer labels.
* ``dim: int`` — ``D``.
* ``decode(z)`` — only for target experts: :math:`\\Lambda(z)`, back to the expert's output.
* ``encode_distribution(inputs) -> (mean, logvar)`` — optional, for stochastic encoders (a
  VAE's :math:`q(z \\mid y)`); the training loop then caches mean and log-variance and draws a
  fresh :math:`z` every step.

Experts are never trained here. :func:`freeze` makes a module permanently frozen (eval mode that
``.train()`` cannot undo, ``requires_grad=False``) and :func:`as_expert` turns an
``nn.Module`` or a plain function into an expert whose ``encode``/``decode`` run without
gradients. Experts that configs can name are kept in a small registry
(:func:`register_expert`, :func:`create_expert`, :func:`available_experts`).

>>> import torch
>>> from torch import nn
>>> expert = as_expert(nn.Linear(3, 2), dim=2)
>>> expert.encode(torch.randn(5, 3)).shape
torch.Size([5, 2])
>>> expert.module.train().training   # frozen: .train() cannot switch it back
False
>>> is_expert(expert), is_target_expert(expert)
(True, False)
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = [
    "Expert",
    "TargetExpert",
    "StochasticExpert",
    "CallableExpert",
    "CallableTargetExpert",
    "IdentityExpert",
    "freeze",
    "is_frozen",
    "as_expert",
    "is_expert",
    "is_target_expert",
    "is_stochastic_expert",
    "check_latent",
    "latent_shape",
    "register_expert",
    "create_expert",
    "expert_spec",
    "available_experts",
]

M = TypeVar("M", bound=nn.Module)


# -- the protocol ----------------------------------------------------------------------------


@runtime_checkable
class Expert(Protocol):
    """A fixed model seen through its representation: ``encode(inputs) -> (B, dim)``."""

    dim: int

    def encode(self, inputs: Any) -> Tensor:
        """Map a batch of inputs to representations ``(B, dim)``."""
        ...


@runtime_checkable
class TargetExpert(Expert, Protocol):
    """An expert that can also go back: ``decode(z)`` maps ``(B, dim)`` to its outputs."""

    def decode(self, z: Tensor) -> Any:
        """Map representations ``(B, dim)`` back to the expert's output space."""
        ...


@runtime_checkable
class StochasticExpert(Expert, Protocol):
    """An expert whose encoder is a Gaussian ``q(z | inputs)`` (e.g. a VAE's)."""

    def encode_distribution(self, inputs: Any) -> tuple[Tensor, Tensor]:
        """Return ``(mean, logvar)``, each ``(B, dim)``; ``encode`` should return the mean."""
        ...


def is_expert(obj: object) -> bool:
    """Whether ``obj`` has ``encode`` and an int ``dim`` (the :class:`Expert` protocol)."""
    dim = getattr(obj, "dim", None)
    return (
        callable(getattr(obj, "encode", None))
        and isinstance(dim, int)
        and not isinstance(dim, bool)
        and dim > 0
    )


def is_target_expert(obj: object) -> bool:
    """Whether ``obj`` is an :class:`Expert` that also has ``decode``."""
    return is_expert(obj) and callable(getattr(obj, "decode", None))


def is_stochastic_expert(obj: object) -> bool:
    """Whether ``obj`` is an :class:`Expert` with ``encode_distribution``."""
    return is_expert(obj) and callable(getattr(obj, "encode_distribution", None))


def latent_shape(expert: Any) -> tuple[int, ...]:
    """The shape of one code of ``expert``: ``(dim,)``, or its ``latent_shape`` attribute for
    experts with spatial representations ``(C, H, W)`` (usable as sources with a conv
    embedder).

    >>> latent_shape(as_expert(lambda x: x, dim=3))
    (3,)
    """
    shape = getattr(expert, "latent_shape", None)
    return tuple(int(s) for s in shape) if shape is not None else (int(expert.dim),)


def check_latent(
    z: object, dim: int | tuple[int, ...], name: str = "the expert's encoding"
) -> Tensor:
    """Check that an expert returned a floating tensor of shape ``(B, dim)`` (or
    ``(B, *shape)`` when ``dim`` is a shape tuple).

    Arguments:
        z: what ``encode`` returned.
        dim: the expert's declared ``dim`` (or ``latent_shape``).
        name: how to call ``z`` in the message.

    Returns:
        ``z`` unchanged.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: not ``(B, dim)``.

    >>> check_latent(torch.zeros(4, 3), 3).shape
    torch.Size([4, 3])
    """
    shape = (dim,) if isinstance(dim, int) else tuple(dim)
    want = "(B, " + ", ".join(map(str, shape)) + ")"
    if not isinstance(z, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {want}, got {type(z).__name__}")
    if not z.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {z.dtype}")
    if z.ndim != len(shape) + 1 or tuple(z.shape[1:]) != shape:
        hint = ""
        if len(shape) == 1 and z.ndim == 4 and z.shape[2:] == (1, 1):
            hint = "; vector latents are (B, D), not (B, D, 1, 1): flatten them in encode"
        raise ValueError(f"{name} must have shape {want}, got {tuple(z.shape)}{hint}")
    return z


# -- freezing --------------------------------------------------------------------------------


def _frozen_train(module: nn.Module, mode: bool = True) -> nn.Module:
    """Replacement of ``module.train`` for frozen modules: stays in eval mode."""
    nn.Module.train(module, False)
    return module


def freeze(module: M) -> M:
    """Freeze ``module`` for good: eval mode, no gradients, and ``.train()`` has no effect.

    Every submodule is frozen too, so a parent model calling ``.train()`` (as the training loop
    does) cannot switch dropout or batch-norm statistics of an expert back on.

    Arguments:
        module: any ``nn.Module``.

    Returns:
        The same module, frozen in place.

    Raises:
        TypeError: if ``module`` is not an ``nn.Module``.

    >>> net = freeze(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)))
    >>> net.train().training, net[1].training, net[0].weight.requires_grad
    (False, False, False)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"freeze() takes an nn.Module, got {type(module).__name__}")
    for sub in module.modules():
        nn.Module.train(sub, False)
        # an instance attribute shadows nn.Module.train; functools.partial pickles and copies
        object.__setattr__(sub, "train", functools.partial(_frozen_train, sub))
        object.__setattr__(sub, "_n2n_frozen", True)
    module.requires_grad_(False)
    return module


def is_frozen(module: object) -> bool:
    """Whether :func:`freeze` was applied to ``module`` and no parameter requires a gradient."""
    if not isinstance(module, nn.Module):
        return False
    return bool(getattr(module, "_n2n_frozen", False)) and not any(
        p.requires_grad for p in module.parameters()
    )


# -- wrapping callables and modules ----------------------------------------------------------


def _call(fn: Callable[[Any], Any], inputs: Any, what: str) -> Any:
    """``fn(inputs)``; a RuntimeError (a shape or dtype mismatch inside the user's model)
    becomes a ValueError that names the expert and the input's shape."""
    try:
        return fn(inputs)
    except RuntimeError as err:
        shape = (f"shape {tuple(inputs.shape)}" if isinstance(inputs, Tensor)
                 else type(inputs).__name__)
        raise ValueError(f"{what} could not take an input of {shape}: {err}") from err


class CallableExpert(nn.Module):
    """A source expert made from a function: ``encode_fn(inputs) -> (B, dim)``.

    If ``encode_fn`` is an ``nn.Module`` it is frozen and registered as a submodule (so it
    moves with ``.to(device)``). ``encode`` runs under ``torch.no_grad()`` and its output is
    checked. For a target expert use :class:`CallableTargetExpert` (or :func:`as_expert` with
    ``decode=``).

    Arguments:
        encode_fn: inputs → ``(B, dim)`` tensor.
        dim: the size of the representation.
        name: a label for messages and ``repr``.

    >>> e = CallableExpert(lambda x: x[:, :2] * 2, dim=2)
    >>> e.encode(torch.ones(1, 3))
    tensor([[2., 2.]])
    """

    def __init__(self, encode_fn: Callable[[Any], Tensor], dim: int, name: str | None = None):
        super().__init__()
        if not callable(encode_fn):
            raise TypeError(f"encode_fn must be callable, got {type(encode_fn).__name__}")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.name = name or getattr(encode_fn, "__name__", type(encode_fn).__name__)
        self.module = freeze(encode_fn) if isinstance(encode_fn, nn.Module) else None
        self._encode_fn = encode_fn if self.module is None else None
        freeze(self)

    @torch.no_grad()
    def encode(self, inputs: Any) -> Tensor:
        """``encode_fn(inputs)``, checked to be ``(B, dim)``, without gradients."""
        fn = self.module if self.module is not None else self._encode_fn
        return check_latent(_call(fn, inputs, f"{self.name}.encode"), self.dim,
                            f"{self.name}.encode(...)")

    def extra_repr(self) -> str:
        return f"name={self.name!r}, dim={self.dim}"


class CallableTargetExpert(CallableExpert):
    """A target expert made from two functions, ``encode_fn`` and ``decode_fn``.

    Arguments:
        encode_fn: inputs → ``(B, dim)`` tensor.
        decode_fn: ``(B, dim)`` → outputs; frozen too if it is an ``nn.Module``.
        dim: the size of the representation.
        name: a label for messages and ``repr``.

    >>> e = CallableTargetExpert(lambda x: x * 2, lambda z: z / 2, dim=2)
    >>> e.decode(e.encode(torch.ones(1, 2)))
    tensor([[1., 1.]])
    """

    def __init__(
        self,
        encode_fn: Callable[[Any], Tensor],
        decode_fn: Callable[[Tensor], Any],
        dim: int,
        name: str | None = None,
    ) -> None:
        super().__init__(encode_fn, dim, name)
        if not callable(decode_fn):
            raise TypeError(f"decode_fn must be callable, got {type(decode_fn).__name__}")
        self.decoder = freeze(decode_fn) if isinstance(decode_fn, nn.Module) else None
        self._decode_fn = decode_fn if self.decoder is None else None
        freeze(self)

    @torch.no_grad()
    def decode(self, z: Tensor) -> Any:
        """``decode_fn(z)`` without gradients."""
        check_latent(z, self.dim, f"the input of {self.name}.decode")
        fn = self.decoder if self.decoder is not None else self._decode_fn
        return _call(fn, z, f"{self.name}.decode")


class IdentityExpert(nn.Module):
    """Vectors that already are representations: ``encode(x) = x``, ``decode(z) = z``.

    For features exported from a model that cannot run here (saved as arrays), and for tests.

    Arguments:
        dim: the size of the vectors.

    >>> e = IdentityExpert(3)
    >>> e.decode(e.encode(torch.ones(2, 3))).shape
    torch.Size([2, 3])
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.name = f"identity({dim})"

    def encode(self, inputs: Any) -> Tensor:
        """``inputs`` as a floating tensor, checked to be ``(B, dim)``."""
        z = torch.as_tensor(inputs)
        if not z.is_floating_point():
            z = z.to(torch.get_default_dtype())
        return check_latent(z, self.dim, "the input of the identity expert")

    def decode(self, z: Tensor) -> Tensor:
        """``z`` itself (checked)."""
        return check_latent(z, self.dim, "the input of identity.decode")

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert."""
        return {"dim": self.dim}


def _no_grad_method(obj: Any, method: str) -> None:
    fn = getattr(obj, method, None)
    if fn is None or getattr(fn, "_n2n_no_grad", False):
        return
    wrapped = torch.no_grad()(fn)
    wrapped._n2n_no_grad = True  # type: ignore[attr-defined]
    object.__setattr__(obj, method, wrapped)


def as_expert(
    obj: Any,
    dim: int | None = None,
    *,
    decode: Callable[[Tensor], Any] | None = None,
    example: Any = None,
    name: str | None = None,
) -> Any:
    """Make ``obj`` an expert that cannot be trained by accident.

    * An object that already is an :class:`Expert` (``encode`` and ``dim``) is returned as it
      is; if it is an ``nn.Module`` it is :func:`freeze`-d and its ``encode``/``decode``/
      ``encode_distribution`` run without gradients.
    * An ``nn.Module`` with its own ``encode`` (and ``decode``) but no ``dim`` is wrapped
      around those methods, not around ``forward``.
    * Any other callable (a function, or an ``nn.Module`` whose ``forward`` is the encoder) is
      wrapped in a :class:`CallableExpert` (with ``decode``: a :class:`CallableTargetExpert`).

    **What is frozen.** Every ``nn.Module`` involved — ``obj`` itself, a wrapped module, a
    ``decode`` module — is frozen *in place* by :func:`freeze`: eval mode for good (``train()``
    is a no-op) and ``requires_grad=False`` on all its parameters, so the caller's own module
    is changed. Pass a copy (``copy.deepcopy(model)``) to keep the original trainable. A
    wrapper's ``frozen`` attribute names the modules it froze.

    Arguments:
        obj: an expert, an ``nn.Module`` or a function ``inputs -> (B, D)``.
        dim: ``D``; if omitted for a callable, it is read from ``obj(example)``.
        decode: the decoder for a wrapped callable.
        example: a small batch of inputs, used only to infer ``dim``.
        name: a label for messages.

    Returns:
        An expert.

    Raises:
        TypeError: ``obj`` is neither an expert nor callable.
        ValueError: ``dim`` is missing and no ``example`` was given, or disagrees with ``obj``.

    >>> e = as_expert(lambda labels: torch.eye(3)[labels], example=torch.tensor([0]))
    >>> e.dim, e.encode(torch.tensor([2, 0])).tolist()
    (3, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    """
    if is_expert(obj):
        if dim is not None and dim != obj.dim:
            raise ValueError(f"dim={dim} was given but the expert says dim={obj.dim}")
        if decode is not None:
            raise ValueError("decode= is only for wrapping callables; this is already an expert")
        if isinstance(obj, nn.Module):
            freeze(obj)
            for method in ("encode", "decode", "encode_distribution"):
                _no_grad_method(obj, method)
        return obj
    own_encode = isinstance(obj, nn.Module) and callable(getattr(obj, "encode", None))
    if own_encode:
        # a module with its own encode (and maybe decode) but no `dim`: wrap those methods,
        # not forward
        if decode is None and callable(getattr(obj, "decode", None)):
            decode = obj.decode
        module, obj = obj, obj.encode
    if not callable(obj):
        raise TypeError(
            f"an expert needs encode(inputs) -> (B, D) and an int dim, or must be a callable "
            f"to wrap; got {type(obj).__name__}"
        )
    if dim is None:
        if example is None:
            raise ValueError(
                "as_expert() of a callable needs dim=D, or example=<a small input batch> to "
                "measure it"
            )
        with torch.no_grad():
            out = obj(example)
        if not isinstance(out, Tensor) or out.ndim != 2:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"the callable must return a (B, D) tensor, got {got}")
        dim = int(out.shape[1])
    if own_encode:
        name = name or type(module).__name__
        expert = (CallableTargetExpert(obj, decode, dim, name=name) if decode is not None
                  else CallableExpert(obj, dim, name=name))
        expert.owner = freeze(module)  # registered: moves with .to(); frozen like any expert
        expert.frozen = (type(module).__name__,)
        return expert
    expert = (CallableTargetExpert(obj, decode, dim, name=name) if decode is not None
              else CallableExpert(obj, dim, name=name))
    expert.frozen = tuple(type(m).__name__ for m in (obj, decode) if isinstance(m, nn.Module))
    return expert


def reconstruct(expert: Any, images: Tensor, *, batch_size: int = 256,
                progress: bool = False) -> Tensor:
    r"""A target expert's reconstructions :math:`\Lambda(\Theta(y))` of ``images``: in
    float32, clamped to [0, 1], on the CPU, in chunks of ``batch_size``.

    The one definition every notebook uses for an autoencoder's ceiling: a perfect translator
    into the expert's space would produce exactly these.

    >>> ae = as_expert(lambda y: y.flatten(1), dim=4, decode=lambda z: z.view(-1, 1, 2, 2))
    >>> reconstruct(ae, torch.full((3, 1, 2, 2), 2.0), batch_size=2).max().item()
    1.0
    """
    from n2nlib._batched import batched

    if not (callable(getattr(expert, "encode", None))
            and callable(getattr(expert, "decode", None))):
        raise TypeError(f"reconstruct needs a target expert (encode and decode), got "
                        f"{type(expert).__name__}")
    return batched(lambda b: expert.decode(expert.encode(b)).float(), images,
                   batch_size=batch_size, progress=progress,
                   desc="reconstructing").clamp_(0.0, 1.0)


# -- registry of named experts (for configs and the command line) ----------------------------

# name -> factory, or "module:attribute" resolved on first use (so that importing the registry
# never imports transformers).
_REGISTRY: dict[str, Callable[..., Any] | str] = {
    "sentence-bert": "n2nlib.experts.text:SentenceBERT",
    "bert": "n2nlib.experts.text:BERT",
    "labels": "n2nlib.experts.labels:Labelator",
    "identity": "n2nlib.experts.base:IdentityExpert",
}


def register_expert(
    name: str, factory: Callable[..., Any] | None = None, *, overwrite: bool = False
) -> Any:
    """Register a factory under ``name`` so that configs can say ``expert: name``.

    Use as a function, ``register_expert("my-ae", build_my_ae)``, or as a decorator,
    ``@register_expert("my-ae")``.

    Arguments:
        name: the registered name (lower case, no spaces).
        factory: a callable ``**kwargs -> expert``.
        overwrite: replace an existing entry instead of raising.

    Returns:
        ``factory`` (or, without it, a decorator).

    Raises:
        ValueError: the name is taken (and ``overwrite`` is false) or malformed.

    >>> @register_expert("doc-identity-2", overwrite=True)
    ... def identity2():
    ...     return as_expert(lambda x: x, dim=2)
    >>> create_expert("doc-identity-2").dim
    2
    """
    if not isinstance(name, str) or not name or name != name.strip() or " " in name:
        raise ValueError(f"an expert name must be a non-empty string without spaces, got {name!r}")

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError(f"the factory for {name!r} must be callable, got {type(fn).__name__}")
        if name in _REGISTRY and not overwrite:
            raise ValueError(f"an expert named {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return add if factory is None else add(factory)


_SOURCES: dict[str, Callable[..., Any]] = {}
"""Prefix -> loader: ``"<prefix>:<name>"`` resolves to ``loader(name, **kwargs)``."""


def register_expert_source(prefix: str, loader: Callable[..., Any]) -> None:
    """Let names ``"<prefix>:<name>"`` build experts with ``loader(name, **kwargs)``.

    The model zoo registers ``"zoo"`` when :mod:`n2nlib.zoo` is imported (which ``import n2nlib``
    does), so ``create_expert("zoo:shapes-ae")`` is ``zoo.load("shapes-ae")`` without this
    module naming the zoo.

    Arguments:
        prefix: the part before ``":"`` (no spaces, no ``":"``).
        loader: a callable ``(name, **kwargs) -> expert``.
    """
    if not prefix or ":" in prefix or " " in prefix:
        raise ValueError(f"a prefix must be non-empty, without ':' or spaces, got {prefix!r}")
    if not callable(loader):
        raise TypeError(f"the loader for {prefix!r} must be callable")
    _SOURCES[prefix] = loader


def _resolve(name: str) -> Callable[..., Any]:
    prefix, sep, rest = name.partition(":")
    if sep and prefix in _SOURCES:
        return functools.partial(_SOURCES[prefix], rest)
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown expert {name!r}; registered experts: {', '.join(available_experts())} "
            f"(and 'zoo:<name>' for the model zoo)"
        )
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module_name, attr = entry.split(":")
        entry = getattr(importlib.import_module(module_name), attr)
        _REGISTRY[name] = entry
    return entry


def create_expert(name: str, **kwargs: Any) -> Any:
    """Build the registered expert ``name`` with ``kwargs`` and make it frozen.

    ``"zoo:<model>"`` loads ``n2nlib.zoo.load("<model>", **kwargs)``.

    Arguments:
        name: a name from :func:`available_experts`, or ``"zoo:<model>"``.
        **kwargs: passed to the factory.

    Returns:
        The expert, passed through :func:`as_expert`.

    Raises:
        ValueError: unknown name.
    """
    expert = as_expert(_resolve(name)(**kwargs))
    try:
        json.dumps(kwargs)
        spec: dict[str, Any] | None = {"name": name, "kwargs": kwargs}
    except TypeError:
        spec = None  # not describable in a config (e.g. a tensor argument)
    if spec is not None:
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(expert, "n2n_spec", spec)
    return expert


def expert_spec(expert: Any) -> dict[str, Any] | None:
    """How to rebuild ``expert`` with :func:`create_expert`: ``{"name": ..., "kwargs": ...}``.

    Known for experts made by :func:`create_expert`, and for instances of a registered class
    that has ``get_config()``; ``None`` otherwise (then a saved Net2Net needs the expert to be
    passed again when it is loaded).

    >>> from n2nlib.experts import Labelator
    >>> expert_spec(Labelator(3))
    {'name': 'labels', 'kwargs': {'classes': 3}}
    """
    spec = getattr(expert, "n2n_spec", None)
    if spec is not None:
        return dict(spec)
    get_config = getattr(expert, "get_config", None)
    if not callable(get_config):
        return None
    for name in available_experts():
        entry = _REGISTRY[name]
        if isinstance(entry, str):
            module_name, attr = entry.split(":")
            module = sys.modules.get(module_name)
            entry = getattr(module, attr, None) if module is not None else None
        if isinstance(entry, type) and type(expert) is entry:
            return {"name": name, "kwargs": get_config()}
    return None


def available_experts() -> list[str]:
    """The registered expert names, sorted.

    >>> {"bert", "labels", "sentence-bert"} <= set(available_experts())
    True
    """
    return sorted(_REGISTRY)

