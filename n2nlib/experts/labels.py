"""The label expert: class labels as one-hot vectors, the source of unpaired transfer.

When there are no pairs (x, y) — only images from several domains, say — the source expert can
be a *label*: the domain (or class) of each y. The cINN then learns :math:`p(z_\\Theta \\mid
\\text{domain})`, and transfer (Eq. 6) keeps an image's residual while swapping its domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from n2nlib import settings

__all__ = ["Labelator"]


class Labelator:
    """Encode integer labels or class names as one-hot vectors ``(B, n_classes)``.

    Arguments:
        classes: the number of classes, or the class names in index order.
        device: where encodings are put (default :func:`n2nlib.settings.device`).

    Raises:
        ValueError: fewer than 1 class, or duplicate names.
        TypeError: ``classes`` is neither an int nor a sequence of strings.

    >>> lab = Labelator(["cat", "dog", "bird"], device="cpu")
    >>> lab.encode(["dog", 2]).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    >>> lab.decode(torch.tensor([[0.1, 0.7, 0.2]])), lab.decode_names(torch.eye(3)[[0]])
    (tensor([1]), ['cat'])
    """

    def __init__(
        self, classes: int | Sequence[str], device: str | torch.device | None = None
    ) -> None:
        if isinstance(classes, int) and not isinstance(classes, bool):
            if classes < 1:
                raise ValueError(f"the number of classes must be >= 1, got {classes}")
            self.names: list[str] | None = None
            self.dim = classes
        elif isinstance(classes, Sequence) and not isinstance(classes, str) and all(
            isinstance(n, str) for n in classes
        ):
            if len(classes) < 1:
                raise ValueError("classes must name at least one class")
            if len(set(classes)) != len(classes):
                raise ValueError(f"class names must be unique, got {list(classes)}")
            self.names = list(classes)
            self.dim = len(classes)
        else:
            raise TypeError(
                f"classes must be an int or a sequence of class names, got {classes!r}"
            )
        self.device = settings.device(device)
        self._index = {n: i for i, n in enumerate(self.names or [])}

    @property
    def n_classes(self) -> int:
        """The number of classes (= ``dim``)."""
        return self.dim

    def indices(self, labels: Any) -> Tensor:
        """Class indices ``(B,)`` (int64) of ``labels``: ints, names, a tensor or an array.

        Raises:
            TypeError: a label is neither an int nor a string, or a name without names.
            ValueError: an index out of range, an unknown name, or an empty batch.
        """
        if isinstance(labels, str | int) and not isinstance(labels, bool):
            raise TypeError(f"labels must be a batch (a list or a 1-d tensor), got {labels!r}")
        if isinstance(labels, Tensor | np.ndarray):
            arr = torch.as_tensor(labels)
            if arr.ndim != 1 or arr.is_floating_point() or arr.dtype == torch.bool:
                raise TypeError(
                    f"label tensors must be 1-d integer tensors, got shape "
                    f"{tuple(arr.shape)} and dtype {arr.dtype}"
                )
            out = arr.to(torch.int64).cpu()
        else:
            values = []
            for label in labels:
                if isinstance(label, str):
                    if self.names is None:
                        raise TypeError(
                            f"got the class name {label!r} but this Labelator has no names; "
                            f"give Labelator(['name0', 'name1', ...])"
                        )
                    if label not in self._index:
                        raise ValueError(f"unknown class name {label!r}; known: {self.names}")
                    values.append(self._index[label])
                elif isinstance(label, int | np.integer) and not isinstance(label, bool):
                    values.append(int(label))
                elif (
                    isinstance(label, Tensor) and label.ndim == 0 and not label.is_floating_point()
                ):
                    values.append(int(label))
                else:
                    raise TypeError(
                        f"a label must be an int or a class name, got {type(label).__name__} "
                        f"{label!r}"
                    )
            out = torch.tensor(values, dtype=torch.int64)
        if out.numel() == 0:
            raise ValueError("labels is empty; give at least one label")
        bad = (out < 0) | (out >= self.dim)
        if bool(bad.any()):
            raise ValueError(
                f"labels must be in [0, {self.dim - 1}], got {out[bad][:5].tolist()}"
            )
        return out

    def encode(self, labels: Any) -> Tensor:
        """One-hot encodings ``(B, n_classes)`` in the default float dtype."""
        idx = self.indices(labels)
        eye = torch.eye(self.dim, dtype=torch.get_default_dtype())
        return eye[idx].to(self.device)

    def decode(self, z: Tensor) -> Tensor:
        """The most likely class index of each row of ``z`` ``(B, n_classes)``."""
        if not isinstance(z, Tensor) or z.ndim != 2 or z.shape[1] != self.dim:
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"decode takes (B, {self.dim}), got {got}")
        return z.argmax(dim=1)

    def decode_names(self, z: Tensor) -> list[str]:
        """Like :meth:`decode`, as class names (needs names)."""
        if self.names is None:
            raise ValueError("this Labelator has no class names")
        return [self.names[i] for i in self.decode(z).tolist()]

    def get_config(self) -> dict[str, Any]:
        """The arguments that rebuild this expert (used by checkpoints)."""
        return {"classes": self.names if self.names is not None else self.dim}

    def __repr__(self) -> str:
        what = self.names if self.names is not None else self.dim
        return f"Labelator({what!r})"
