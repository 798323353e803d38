"""The BigGAN expert: the real loading code of pytorch-pretrained-biggan on a tiny config saved to a
temporary folder, Eq. (23) and decoding, and clear messages where no weights can be had."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from n2nlib.experts import biggan as bg
from n2nlib.experts import is_frozen, is_target_expert

pbg = pytest.importorskip("pytorch_pretrained_biggan")


pytestmark = pytest.mark.usefixtures("float32")


def tiny_config() -> pbg.BigGANConfig:
    # 32×32 output: 4 → 8 → 16 → 32, attention before the third block
    return pbg.BigGANConfig(
        output_dim=32, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=6,
        layers=[(True, 16, 8), (True, 8, 4), (True, 4, 2), (False, 2, 1)],
        attention_layer_position=2, n_stats=51,
    )


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    torch.manual_seed(0)
    model = pbg.BigGAN(tiny_config())
    # give the batch-norm statistics something other than their defaults
    for name, buf in model.named_buffers():
        if name.endswith("running_vars"):
            buf.uniform_(0.5, 2.0)
    # the package leaves its last (unconditional) batch norm's affine parameters uninitialised
    # (torch.Tensor(n)): the real checkpoints fill them, a random tiny model must do it here
    with torch.no_grad():
        model.generator.bn.weight.fill_(1.0)
        model.generator.bn.bias.zero_()
    folder = tmp_path_factory.mktemp("biggan-tiny")
    bg.save_biggan(model, folder)
    return folder, model


def test_save_writes_what_from_pretrained_reads(tiny_folder):
    folder, _ = tiny_folder
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "pytorch_model.bin"]
    assert json.loads((folder / "config.json").read_text())["z_dim"] == 8
    assert bg.biggan_available(folder) and bg.biggan_available(str(folder))


def test_real_loader_reads_the_folder_exactly(tiny_folder):
    folder, original = tiny_folder
    loaded = bg.load_biggan(folder)
    assert isinstance(loaded, pbg.BigGAN) and not loaded.training
    for (k, a), (_, b) in zip(original.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_expert_encodes_eq23_and_decodes_images(tiny_folder):
    folder, original = tiny_folder
    expert = bg.BigGAN(folder, truncation=0.5, device="cpu")
    assert (expert.z_dim, expert.embed_dim, expert.num_classes, expert.dim) == (8, 8, 6, 16)
    assert is_target_expert(expert) and is_frozen(expert)
    w = expert.class_embedding_matrix
    assert w.shape == (8, 6)
    noise = expert.sample_noise(3, generator=torch.Generator().manual_seed(0))
    assert noise.shape == (3, 8) and float(noise.abs().max()) <= 2 * 0.5
    labels = torch.tensor([0, 3, 5])
    z = expert.latent(noise, labels)
    assert torch.allclose(z[:, 8:], w[:, labels].T)                      # h = W c
    y = torch.cat([noise, expert.one_hot(labels)], 1)                     # generator inputs
    assert torch.allclose(expert.encode(y), z) and torch.allclose(expert.encode((noise, labels)), z)
    images = expert.decode(z)
    assert images.shape == (3, 3, 32, 32) and 0 <= float(images.min()) <= float(images.max()) <= 1
    # the same as the package's own forward pass at the same truncation
    ref = (original.eval()(noise, expert.one_hot(labels), 0.5) + 1) / 2
    assert torch.allclose(images, ref.clamp(0, 1), atol=1e-5)
    # decode takes any h: a dequantised one, too
    assert expert.decode(z + 0.01 * torch.randn_like(z)).shape == (3, 3, 32, 32)


def test_expert_checks_its_inputs(tiny_folder):
    folder, _ = tiny_folder
    expert = bg.BigGAN(folder, device="cpu")
    with pytest.raises(ValueError, match="truncation"):
        bg.BigGAN(folder, truncation=1.5)
    with pytest.raises(ValueError, match=r"\[0, 5\]"):
        expert.embed(torch.tensor([6]))
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        expert.decode(torch.zeros(2, 15))
    with pytest.raises(TypeError, match="BigGAN"):
        bg.BigGAN(torch.nn.Linear(2, 2))


def test_source_comes_from_the_argument_or_the_environment(monkeypatch, tiny_folder):
    folder, _ = tiny_folder
    monkeypatch.delenv(bg.ENV_VAR, raising=False)
    assert bg.biggan_source() == bg.DEFAULT_MODEL
    monkeypatch.setenv(bg.ENV_VAR, str(folder))
    assert bg.biggan_source() == str(folder)
    assert bg.BigGAN(device="cpu").z_dim == 8       # loaded from $N2N_BIGGAN
    assert bg.biggan_source("biggan-deep-256") == "biggan-deep-256"


def test_missing_folder_gives_a_clear_message(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(bg.BigGANUnavailable, match="not a folder with config.json") as info:
        bg.load_biggan(tmp_path)
    assert "N2N_BIGGAN" in str(info.value) and not bg.biggan_available(tmp_path)


def test_offline_name_gives_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTORCH_PRETRAINED_BIGGAN_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    called = []
    monkeypatch.setattr(pbg.BigGAN, "from_pretrained",
                        classmethod(lambda *a, **k: called.append(1)))
    assert not bg.biggan_available("biggan-deep-128")
    with pytest.raises(bg.BigGANUnavailable, match="switched off") as info:
        bg.load_biggan("biggan-deep-128")
    assert "save_biggan" in str(info.value) and not called
    assert "HF_HUB_OFFLINE is set" in str(info.value) and "N2N_OFFLINE" not in str(info.value)


def test_a_refused_download_says_the_caller_refused_it(monkeypatch, tmp_path):
    # notebook 06 asks with allow_download=False: the message must not blame a variable
    monkeypatch.setenv("PYTORCH_PRETRAINED_BIGGAN_CACHE", str(tmp_path))
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "N2N_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(bg.BigGANUnavailable, match="allow_download=False") as info:
        bg.load_biggan("biggan-deep-128", allow_download=False)
    assert "OFFLINE" not in str(info.value)


def test_unreachable_server_gives_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTORCH_PRETRAINED_BIGGAN_CACHE", str(tmp_path))
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "N2N_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(bg, "_reachable", lambda url, timeout=3.0: False)
    with pytest.raises(bg.BigGANUnavailable, match="cannot be reached"):
        bg.load_biggan("biggan-deep-128")


def test_download_errors_become_one_clear_message(monkeypatch, tmp_path):
    import requests

    monkeypatch.setenv("PYTORCH_PRETRAINED_BIGGAN_CACHE", str(tmp_path))
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "N2N_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(bg, "_reachable", lambda url, timeout=3.0: True)

    def fail(cls, name, *args, **kwargs):
        raise requests.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(pbg.BigGAN, "from_pretrained", classmethod(fail))
    with pytest.raises(bg.BigGANUnavailable, match="could not be loaded") as info:
        bg.load_biggan("biggan-deep-128")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_cached_download_counts_as_available(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTORCH_PRETRAINED_BIGGAN_CACHE", str(tmp_path))
    for url in bg._archive_urls("biggan-deep-128"):
        name = hashlib.sha256(url.encode()).hexdigest() + ".etag"
        (tmp_path / name).write_bytes(b"x")
        (tmp_path / (name + ".json")).write_text("{}")
    assert bg.biggan_available("biggan-deep-128")
    assert not bg.biggan_available("biggan-deep-256")
