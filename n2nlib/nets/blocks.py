"""Building blocks shared by the image experts: input checks, residual blocks, layer taps.

>>> import torch
>>> block = ResBlock(8, 16, down=True)
>>> block(torch.randn(2, 8, 16, 16)).shape
torch.Size([2, 16, 8, 8])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib._batched import batched
from n2nlib.experts.base import CallableExpert

__all__ = [
    "check_images",
    "model_device_dtype",
    "ResBlock",
    "conv_bn_relu",
    "TappedMixin",
    "n_parameters",
]


# The feature-map layout of the image networks here: on the CPU, oneDNN runs their small
# convolutions on channels-last maps without reordering every input, 1.4-1.6× faster
# (benchmarks/RESULTS.md, session 17). Images and spatial outputs handed back are contiguous.
CHANNELS_LAST = torch.channels_last


def model_device_dtype(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of ``module``'s first parameter."""
    p = next(module.parameters())
    return p.device, p.dtype


def check_images(
    images: object,
    channels: int,
    size: int,
    *,
    name: str = "images",
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Check a batch of images ``(B, channels, size, size)`` in [0, 1]; move it to the model.

    Arguments:
        images: what the caller passed.
        channels: the expected number of channels.
        size: the expected height and width.
        name: how to call the input in messages.
        device: move the batch there (the model's device).
        dtype: convert the batch to this floating dtype (the model's).

    Returns:
        The batch on ``device`` with ``dtype``.

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: wrong shape, or values clearly outside [0, 1] (e.g. 0…255 or −1…1).

    >>> check_images(torch.rand(2, 3, 8, 8), 3, 8).shape
    torch.Size([2, 3, 8, 8])
    >>> check_images(torch.rand(2, 8, 8), 3, 8)
    Traceback (most recent call last):
    ...
    ValueError: images must have shape (B, 3, 8, 8), got (2, 8, 8)
    """
    if not isinstance(images, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor (B, {channels}, {size}, {size}) in [0, 1], "
            f"got {type(images).__name__}"
        )
    if not images.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor in [0, 1], got dtype {images.dtype}; "
            f"for uint8 images use images.float() / 255"
        )
    if images.ndim != 4 or tuple(images.shape[1:]) != (channels, size, size):
        hint = ""
        if images.ndim == 3 and tuple(images.shape) == (channels, size, size):
            hint = "; for one image use images[None]"
        elif images.ndim == 4 and images.shape[-1] == channels and images.shape[1] == size:
            hint = "; channels come first: use images.permute(0, 3, 1, 2)"
        raise ValueError(
            f"{name} must have shape (B, {channels}, {size}, {size}), "
            f"got {tuple(images.shape)}{hint}"
        )
    if images.numel():
        lo, hi = float(images.detach().min()), float(images.detach().max())
        if lo != lo or hi != hi or lo < -0.05 or hi > 1.05:
            raise ValueError(
                f"{name} must hold values in [0, 1], got values in [{lo:.3g}, {hi:.3g}]"
                + ("; divide by 255" if hi > 1.05 and lo >= 0 else "")
                + ("; map [-1, 1] to [0, 1] with (x + 1) / 2" if lo < -0.05 and hi <= 1.05 else "")
            )
    return images.to(device=device, dtype=dtype)


def network_input(module: nn.Module, images: object, channels: int, size: int) -> Tensor:
    """:func:`check_images` on ``module``'s device and dtype, in the image networks' layout
    (:data:`CHANNELS_LAST`)."""
    device, dtype = model_device_dtype(module)
    images = check_images(images, channels, size, device=device, dtype=dtype)
    return images.contiguous(memory_format=CHANNELS_LAST)


def n_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module``.

    >>> n_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in module.parameters())


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """``Conv3×3 → BatchNorm → ReLU``.

    >>> conv_bn_relu(3, 8, stride=2)(torch.randn(1, 3, 8, 8)).shape
    torch.Size([1, 8, 4, 4])
    """
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ResBlock(nn.Module):
    """A ResNet basic block: ``ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x))``.

    Arguments:
        c_in: input channels.
        c_out: output channels.
        down: halve the resolution (stride-2 first convolution; the shortcut averages 2×2).
    """

    def __init__(self, c_in: int, c_out: int, down: bool = False) -> None:
        super().__init__()
        stride = 2 if down else 1
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        nn.init.zeros_(self.bn2.weight)  # start as the identity (shortcut) path
        shortcut: list[nn.Module] = []
        if down:
            shortcut.append(nn.AvgPool2d(2))
        if c_in != c_out:
            shortcut += [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return torch.relu(h + self.shortcut(x))


def argmax_in_eval(model: nn.Module, images: Tensor, batch_size: int) -> Any:
    """The argmax over dimension 1 of ``model(images)`` (of each entry, when the model returns a
    dict of logits): in eval mode, without gradients, ``batch_size`` images at a time, on the
    CPU. The model's training mode is restored afterwards.

    >>> net = nn.Conv2d(3, 4, 1)
    >>> argmax_in_eval(net, torch.rand(5, 3, 2, 2), batch_size=2).shape
    torch.Size([5, 2, 2])
    """
    def labels(batch: Tensor) -> Any:
        out = model(batch)
        if isinstance(out, dict):
            return {name: logits.argmax(dim=1) for name, logits in out.items()}
        return out.argmax(dim=1)

    was_training = model.training
    model.eval()
    try:
        if len(images) == 0:  # batched() refuses empty inputs; the model knows its output shape
            with torch.no_grad():
                out = labels(images)
            return {k: v.cpu() for k, v in out.items()} if isinstance(out, dict) else out.cpu()
        return batched(labels, images, batch_size=batch_size)
    finally:
        model.train(was_training)


def run_steps(steps: Sequence[tuple[str, Callable[[dict[str, Tensor]], Tensor]]],
              until: str) -> dict[str, Tensor]:
    """Run named layers in order, each reading the earlier outputs, and stop after ``until``.

    Arguments:
        steps: ``(name, fn)`` pairs; ``fn(outputs so far) -> this layer's output``.
        until: the last name to compute.

    Returns:
        ``{name: output}`` of every layer up to ``until``.

    >>> run_steps([("a", lambda o: torch.ones(1)), ("b", lambda o: o["a"] + 1)], "a")
    {'a': tensor([1.])}
    """
    out: dict[str, Tensor] = {}
    for name, fn in steps:
        out[name] = fn(out)
        if name == until:
            break
    return out


class TappedMixin:
    """Layer taps for an image model: named intermediate representations.

    A class using it defines ``taps`` (names, input to output), ``channels``, ``size`` and
    ``_run(images, until) -> dict name -> Tensor`` that computes the taps up to ``until``.
    """

    taps: tuple[str, ...]
    channels: int
    size: int
    default_tap: str

    def _run(self, images: Tensor, until: str) -> dict[str, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _check_tap(self, layer: str) -> str:
        if layer not in self.taps:
            raise ValueError(f"layer must be one of {list(self.taps)}, got {layer!r}")
        return layer

    def _prepare(self, images: object) -> Tensor:
        return network_input(self, images, self.channels, self.size)  # type: ignore[arg-type]

    def features_at(self, images: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Several taps in one pass: ``{layer: (B, C, H, W) or (B, D)}``, unflattened.

        Arguments:
            images: ``(B, C, S, S)`` in [0, 1].
            layers: names from ``taps``.
        """
        layers = [self._check_tap(layer) for layer in layers]
        deepest = max(layers, key=self.taps.index)
        out = self._run(self._prepare(images), until=deepest)
        return {layer: out[layer].contiguous() for layer in layers}

    def features(
        self, images: Tensor, layer: str | None = None, *, flatten: bool = True,
        pool: int | None = None,
    ) -> Tensor:
        """The representation of ``images`` at one tap.

        Arguments:
            images: ``(B, C, S, S)`` in [0, 1].
            layer: a name from ``taps`` (default ``default_tap``).
            flatten: return ``(B, D)`` (as an expert's ``encode``); else spatial taps stay
                ``(B, C, H, W)``.
            pool: average-pool spatial taps to ``pool × pool`` first (smaller ``D``).

        Returns:
            A tensor, with gradients if called outside ``torch.no_grad()``.
        """
        layer = self._check_tap(layer or self.default_tap)
        out = self._run(self._prepare(images), until=layer)[layer]
        if pool is not None and out.ndim == 4 and out.shape[-1] > pool:
            out = nn.functional.adaptive_avg_pool2d(out, pool)
        return out.flatten(1) if flatten else out.contiguous()

    def tap_shape(self, layer: str, pool: int | None = None) -> tuple[int, ...]:
        """The shape of one tap for a single image, e.g. ``(32, 16, 16)`` or ``(64,)``."""
        self._check_tap(layer)
        device, dtype = model_device_dtype(self)  # type: ignore[arg-type]
        probe = torch.zeros(1, self.channels, self.size, self.size, device=device, dtype=dtype)
        was_training = self.training  # type: ignore[attr-defined]
        self.eval()  # type: ignore[attr-defined]
        with torch.no_grad():
            out = self.features(probe, layer, flatten=False, pool=pool)
        self.train(was_training)  # type: ignore[attr-defined]
        return tuple(out.shape[1:])

    def tap_dims(self, pool: int | None = None) -> dict[str, int]:
        """Flattened size ``D`` of every tap."""
        dims = {}
        for layer in self.taps:
            n = 1
            for s in self.tap_shape(layer, pool):
                n *= s
            dims[layer] = n
        return dims

    def tap_expert(self, layer: str, pool: int | None = None) -> CallableExpert:
        """A frozen source expert whose ``encode`` is :meth:`features` at ``layer`` (flattened).

        Arguments:
            layer: a name from ``taps``.
            pool: average-pool spatial taps to ``pool × pool`` first.

        Returns:
            A :class:`~n2nlib.experts.CallableExpert` with ``dim`` = the flattened tap size.
        """
        shape = self.tap_shape(layer, pool)
        dim = 1
        for s in shape:
            dim *= s

        def encode(images: Tensor) -> Tensor:
            return self.features(images, layer, pool=pool)

        encode.__name__ = f"{type(self).__name__}[{layer}]"
        return CallableExpert(encode, dim, name=encode.__name__)

