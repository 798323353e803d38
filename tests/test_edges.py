"""Hand-made source experts: Sobel edges, grayscale, label maps, attribute vectors."""

from __future__ import annotations

import pytest
import torch

from n2nlib import ConditionalINN, Net2Net
from n2nlib.experts import IdentityExpert, is_expert, latent_shape
from n2nlib.nets.edges import (
    AttributeVectors,
    Grayscale,
    LabelMaps,
    SobelEdges,
    luminance,
    mask_center,
    sobel,
)


def _square_image(size: int = 16, lo: int = 4, hi: int = 10) -> torch.Tensor:
    img = torch.full((1, 3, size, size), 0.1)
    img[:, :, lo:hi, lo:hi] = torch.tensor([0.9, 0.8, 0.2]).view(1, 3, 1, 1)
    return img


def test_sobel_finds_the_edges_of_a_square_where_they_are():
    lo, hi = 4, 10
    edges = SobelEdges(size=16).encode(_square_image(16, lo, hi))[0, 0]
    strong = edges > 0.5 * float(edges.max())
    # every strong response lies on the square's outline (one pixel either side of it) ...
    rows, cols = torch.nonzero(strong, as_tuple=True)
    near_outline = ((rows >= lo - 1) & (rows <= hi) & (cols >= lo - 1) & (cols <= hi)
                    & ~((rows > lo) & (rows < hi - 1) & (cols > lo) & (cols < hi - 1)))
    assert bool(near_outline.all())
    # ... the inside and the far background are flat
    assert float(edges[lo + 1 : hi - 1, lo + 1 : hi - 1].abs().max()) == pytest.approx(0.0)
    assert float(edges[:lo - 1, :].abs().max()) == pytest.approx(0.0)
    # ... and each side of the square shows up
    assert bool(strong[lo + 2, lo - 1 : lo + 1].any())  # left
    assert bool(strong[lo + 2, hi - 1 : hi + 1].any())  # right
    assert bool(strong[lo - 1 : lo + 1, lo + 2].any())  # top
    assert bool(strong[hi - 1 : hi + 1, lo + 2].any())  # bottom


def test_sobel_scale_and_flat_images():
    step = torch.zeros(1, 1, 5, 8)
    step[..., 4:] = 1.0
    out = sobel(step)[0, 0]
    assert torch.allclose(out[:, 3:5], torch.ones(5, 2))
    assert float(out[:, :3].abs().max()) == 0.0 and float(out[:, 5:].abs().max()) == 0.0
    assert float(sobel(torch.full((2, 3, 6, 6), 0.7)).abs().max()) < 1e-12  # no border edges
    # transposing the image transposes the edge map (x and y treated alike)
    img = torch.rand(1, 1, 7, 7)
    assert torch.allclose(sobel(img.transpose(-1, -2)), sobel(img).transpose(-1, -2))


def test_threshold_and_pool():
    img = _square_image()
    binary = SobelEdges(size=16, threshold=0.3).encode(img)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    pooled = SobelEdges(size=16, pool=4).encode(img)
    assert pooled.shape == (1, 1, 4, 4)
    assert torch.allclose(pooled.mean(), SobelEdges(size=16).encode(img).mean())


def test_grayscale_is_the_luminance():
    img = torch.rand(3, 3, 8, 8)
    g = Grayscale(size=8).encode(img)
    expected = 0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2]
    assert torch.allclose(g[:, 0], expected)
    assert torch.equal(luminance(g), g)


def test_label_maps_one_hot_and_pooled():
    maps = torch.randint(0, 6, (4, 16, 16))
    full = LabelMaps(6, size=16).encode(maps)
    assert full.shape == (4, 6, 16, 16)
    assert torch.equal(full.argmax(1), maps)
    assert torch.allclose(full.sum(1), torch.ones(4, 16, 16))
    pooled = LabelMaps(6, size=16, pool=8).encode(maps)
    assert pooled.shape == (4, 6, 8, 8)
    assert torch.allclose(pooled.sum(1), torch.ones(4, 8, 8))
    with pytest.raises(ValueError, match="labels must be in"):
        LabelMaps(3, size=16).encode(maps)
    with pytest.raises(TypeError, match="integer"):
        LabelMaps(6, size=16).encode(maps.float())
    with pytest.raises(ValueError, match=r"\(B, 16, 16\)"):
        LabelMaps(6, size=16).encode(maps[:, :8])
    with pytest.raises(ValueError, match="divides"):
        LabelMaps(6, size=16, pool=5)


def test_attribute_vectors_round_trip_and_with_value():
    a = AttributeVectors()
    labels = torch.tensor([[0, 1, 0, 4, 1], [4, 7, 1, 8, 0]])
    vec = a.encode(labels)
    assert vec.shape == (2, 26) and torch.equal(vec.sum(1), torch.full((2,), 5.0))
    assert torch.equal(a.decode(vec), labels)
    changed = a.with_value(labels, "color", "red")
    assert changed[:, 1].tolist() == [0, 0] and torch.equal(changed[:, [0, 2, 3, 4]],
                                                            labels[:, [0, 2, 3, 4]])
    with pytest.raises(ValueError, match="out of range"):
        a.encode(torch.tensor([[5, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="columns"):
        a.encode(torch.tensor([[0, 0, 0]]))
    with pytest.raises(ValueError):
        a.with_value(labels, "mood", 0)
    with pytest.raises(ValueError):
        a.with_value(labels, "color", "magenta")


def test_image_sources_check_their_inputs():
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        SobelEdges(size=16).encode(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Grayscale(size=8).encode(torch.rand(2, 3, 8, 8) * 255)


def test_mask_center():
    out = mask_center(torch.ones(2, 3, 8, 8), fraction=0.5, fill=0.0)
    assert float(out[..., 2:6, 2:6].abs().max()) == 0.0 and float(out.sum()) == 2 * 3 * 48


@pytest.mark.parametrize("expert", [SobelEdges(size=8), Grayscale(size=8, pool=4),
                                    LabelMaps(3, size=8, pool=4), AttributeVectors()])
def test_experts_plug_into_net2net(expert):
    assert is_expert(expert)
    shape = latent_shape(expert)
    n2n = Net2Net(expert, IdentityExpert(4), device="cpu", n_blocks=2, hidden_dim=16)
    assert tuple(n2n.cinn.cond_shape) == shape
    if isinstance(expert, AttributeVectors):
        x = torch.tensor([[0, 1, 0, 2, 1], [1, 0, 1, 3, 0]])
    elif isinstance(expert, LabelMaps):
        x = torch.randint(0, 3, (2, 8, 8))
    else:
        x = torch.rand(2, 3, 8, 8)
    out = n2n.translate(x, n_samples=3)
    assert out.shape == (6, 4)
    assert isinstance(n2n.cinn, ConditionalINN)
