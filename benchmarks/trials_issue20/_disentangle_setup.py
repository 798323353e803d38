"""What the notebook-05 trials share: the notebook's training and held-out images, and its τ
(4 blocks × 256, batch 128, σ floor 0.3, the held-out NLL curve)."""
from typing import Any

from torch import Tensor

from n2nlib.course import disentangle
from n2nlib.data import render_shapes, sample_factors


def images(n_train: int = 12000) -> tuple[Tensor, Tensor]:
    """``n_train`` training images and the 500 held-out images of the NLL curve."""
    factors = sample_factors(n_train, 0, split="train", background="mixed")
    train, _ = render_shapes(factors, 32, 0, "train", world=disentangle.WORLD)
    held_out, _ = render_shapes(sample_factors(500, 3, split="test", background="mixed"), 32,
                                3, "test", world=disentangle.WORLD)
    return train, held_out


def fit(ae: Any, train: Tensor, held_out: Tensor, deformation: Any, steps: int = 3000,
        min_std: float = 0.3) -> Any:
    """The notebook's τ on these images (a ``TrainedTranslator``)."""
    return disentangle.fit_disentangler(
        ae, train, steps=steps, deformation=deformation, seed=0, batch_size=128,
        cinn_kwargs={"n_blocks": 4, "hidden_dim": 256}, min_std=min_std, eval_images=held_out,
        progress=False)
