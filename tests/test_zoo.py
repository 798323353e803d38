"""The model zoo: every shipped expert loads offline, is sha256-checked and meets its card."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from n2nlib import zoo
from n2nlib.experts import is_expert, is_frozen, is_stochastic_expert, is_target_expert
from n2nlib.zoo.recipes import RECIPES
from n2nlib.zoo.retrain import evaluate_expert, train_expert

NAMES = sorted(RECIPES)

# Reduced bar: measured on 256 held-out examples instead of the card's 2000, a metric may
# fall this far below the card's number (about 3 standard errors for the classifiers).
MARGIN = {"psnr_db": 1.0, "accuracy": 0.03, "miou": 0.03, "recon_accuracy": 0.06,
          "joint": 0.04, "background": 0.04, "recon_joint": 0.06, "recon_background": 0.04,
          "recon_miou": 0.04, "swap_psnr_db": 1.0, "swap_accuracy": 0.06}
# biased upwards on small sets: checked on the card
SKIP_AT_256 = {"frechet_efficientnet", "frechet_efficientnet/bicubic_from_8"}
# The targets of the issue, checked on the card's (full-size) numbers.
TARGETS = {"shapes-attributes-v1": ("accuracy/", 0.98), "shapes-segmenter-v1": ("miou", 0.9)}


pytestmark = pytest.mark.usefixtures("float32")


def test_every_recipe_is_registered_with_a_card():
    assert set(NAMES) <= set(zoo.available())
    for name in NAMES:
        card = zoo.card(name)
        assert card.command.startswith(f"python -m n2nlib.zoo train {name}")
        assert card.train_seconds > 0 and card.steps > 0 and card.parameters > 0
        assert card.quality and all(isinstance(v, float) for v in card.quality.values())
        assert "threads" in card.machine and card.data and card.held_out and card.architecture
        assert name in card.to_markdown() and card._repr_markdown_() == card.to_markdown()


def test_shipped_weights_are_small_and_match_their_sha256():
    total = 0
    for name in zoo.available():
        path = zoo.verify(name)
        assert path.parent == zoo.PACKAGE_ROOT / "weights"
        total += path.stat().st_size
    assert total < 50e6


def test_the_drawable_world_meets_its_goals():
    """The goals of the drawable world (held-out, on the cards' 2,000 images)."""
    reader = zoo.card("shapes-attributes").quality
    assert min(v for k, v in reader.items() if k.startswith("accuracy/")) >= 0.99, reader
    ae = zoo.card("shapes-ae").quality
    for domain in ("plain", "photo"):
        assert ae[f"recon_joint/{domain}"] >= 0.95, ae
        assert ae[f"recon_background/{domain}"] >= 0.98, ae
        assert ae[f"recon_miou/{domain}"] >= 0.90, ae
    assert ae["psnr_db"] >= ae["psnr_db/bicubic_from_8"] + 3.0, ae
    assert ae["frechet_efficientnet"] < ae["frechet_efficientnet/bicubic_from_8"], ae


def test_the_swap_autoencoder_draws_one_scene_in_anothers_look():
    """shapes-ae-swap (held-out, the card's 2,000 images): a code made of one image's geometry
    and another's appearance is read as that scene; reconstructions stay recognisable."""
    q = zoo.card("shapes-ae-swap").quality
    assert min(v for k, v in q.items() if k.startswith("swap_accuracy/")) >= 0.95, q
    assert min(q["recon_joint/plain"], q["recon_joint/photo"]) >= 0.90, q
    assert q["psnr_db"] >= q["psnr_db/bicubic_from_8"] + 3.0, q


def test_cards_meet_the_targets():
    for name, (prefix, bar) in TARGETS.items():
        quality = zoo.card(name).quality
        values = [v for k, v in quality.items() if k.startswith(prefix) and k.count("/") <= 1
                  and not k.startswith("miou/")]
        assert values and min(values) >= bar, (name, quality)


@pytest.mark.parametrize("name", NAMES)
def test_expert_loads_frozen_and_meets_its_card(name):
    model = zoo.load(name, device="cpu")
    assert is_expert(model) and is_frozen(model)
    assert next(model.parameters()).dtype == torch.float32
    card = zoo.card(name)
    assert model.dim == card.dim
    if card.kind == "autoencoder":
        assert is_target_expert(model) and is_stochastic_expert(model)
    quality = evaluate_expert(name, model, n=256)
    for key, value in card.quality.items():
        if key.startswith("iou/") or key in SKIP_AT_256:
            continue
        margin = MARGIN[key.split("/")[0]]
        assert quality[key] >= value - margin, (name, key, quality[key], value)


def test_load_errors_say_how_to_retrain(tmp_path):
    name = "digits-classifier"
    entries = {name: zoo.registry()[name]}
    (tmp_path / "weights").mkdir()
    shutil.copy(zoo.weights_path(name), tmp_path / "weights")
    (tmp_path / "registry.json").write_text(json.dumps({"format": 1, "experts": entries}))
    assert zoo.load(name, device="cpu", root=tmp_path).dim == zoo.card(name).dim

    path = tmp_path / entries[name]["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(zoo.ChecksumError, match=f"python -m n2nlib.zoo train {name}"):
        zoo.load(name, root=tmp_path)
    path.unlink()
    with pytest.raises(zoo.WeightsMissingError, match=f"python -m n2nlib.zoo train {name}"):
        zoo.load(name, root=tmp_path)
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError
        zoo.load(name, root=tmp_path)
    with pytest.raises(ValueError, match="no zoo expert named 'nope'"):
        zoo.load("nope")


@pytest.mark.parametrize("name", NAMES)
def test_train_fast_runs_end_to_end(name, tmp_path):
    shipped = zoo.registry()[name]["sha256"]
    result = train_expert(name, fast=True, out=tmp_path, progress=False)
    assert result.root == tmp_path and result.weights.is_file()
    assert zoo.available(root=tmp_path) == [name]
    model = zoo.load(name, device="cpu", root=tmp_path)
    assert model.dim == zoo.card(name).dim
    card = zoo.card(name, root=tmp_path)
    assert set(card.quality) == set(zoo.card(name).quality)
    assert card.command == f"python -m n2nlib.zoo train {name} --fast"
    assert zoo.sha256_file(zoo.weights_path(name)) == shipped  # shipped weights untouched


def test_fast_never_writes_into_the_package():
    with pytest.raises(ValueError, match="never writes into the shipped zoo"):
        train_expert("digits-classifier", fast=True, out=zoo.PACKAGE_ROOT, progress=False)


def test_command_line(tmp_path):
    run = [sys.executable, "-m", "n2nlib.zoo"]
    out = subprocess.run(run + ["train", "digits-ae", "--fast", "--out", str(tmp_path),
                                "--no-progress", "--threads", "1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "weights" / "digits-ae.safetensors").is_file()
    assert "digits-ae" in (tmp_path / "CARDS.md").read_text()
    # a recipe that needs another zoo model (the dequantiser needs the generator)
    t2i = tmp_path / "t2i"
    out = subprocess.run(run + ["train", "shapes-generator-dequant", "--fast", "--out", str(t2i),
                                "--no-progress", "--threads", "1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert zoo.available(root=t2i) == ["shapes-generator-dequant"]
    out = subprocess.run(run + ["train", "nope", "--fast"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "no recipe for 'nope'" in out.stderr
    listing = subprocess.run(run + ["list"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "shapes-ae-32" in listing.stdout
    assert "| `shapes-ae-32` | autoencoder |" in zoo.cards_table()


def test_net2net_with_zoo_experts_reloads_their_trained_weights(tmp_path):
    from n2nlib import ConditionalINN, Net2Net
    from n2nlib.testing import perturb_parameters

    source = zoo.load("digits-classifier", device="cpu")
    target = zoo.load("digits-ae", device="cpu")
    assert source.n2n_spec == {"name": "zoo:digits-classifier", "kwargs": {}}
    cinn = ConditionalINN(dim=target.dim, cond_dim=source.dim, n_blocks=2, hidden_dim=16)
    perturb_parameters(cinn, scale=0.1)
    n2n = Net2Net(source, target, cinn, device="cpu")
    images = torch.rand(4, 1, 8, 8)
    n2n.save(tmp_path / "n2n")
    # no experts passed: both are rebuilt from the zoo, with their trained weights
    loaded = Net2Net.load(tmp_path / "n2n", device="cpu")
    torch.testing.assert_close(loaded.log_prob(images, images), n2n.log_prob(images, images))
    torch.testing.assert_close(loaded.target.decode(torch.zeros(1, target.dim)),
                               target.decode(torch.zeros(1, target.dim)))


def test_text_to_image_experts_have_recipes_for_the_zoo_command_line():
    # `python -m n2nlib.zoo evaluate shapes-generator` needs their recipes, which live in
    # n2nlib.zoo.text2image_recipes; the lookup must find them rather than say "no recipe"
    from n2nlib.zoo import retrain

    for name in ("shapes-generator", "shapes-generator-dequant"):
        assert retrain._recipe(name).name == name
    assert retrain._recipe("shapes-generator-dequant").requires == ("shapes-generator",)
    with pytest.raises(ValueError, match="no recipe for 'nope'"):
        retrain._recipe("nope")


def _hostile_zoo(tmp_path, marker):
    """A zoo folder whose registry names a function that would write ``marker`` if called."""
    name = "digits-classifier"
    entry = dict(zoo.registry()[name])
    (tmp_path / "weights").mkdir()
    shutil.copy(zoo.weights_path(name), tmp_path / "weights")
    entry["class"] = "os:system"
    entry["config"] = {"command": f"touch {marker}"}
    (tmp_path / "registry.json").write_text(
        json.dumps({"format": 1, "experts": {"evil": entry}}))
    return "evil"


def test_a_registry_cannot_make_the_zoo_run_code(tmp_path):
    from n2nlib.experts import create_expert

    marker = tmp_path / "ran"
    name = _hostile_zoo(tmp_path, marker)
    for call in (lambda: zoo.build(name, root=tmp_path),
                 lambda: zoo.load(name, root=tmp_path),
                 lambda: create_expert(f"zoo:{name}", root=str(tmp_path))):
        with pytest.raises(zoo.ZooError, match="'os:system', which is not one of the zoo"):
            call()
    assert not marker.exists()


def test_a_config_cannot_make_the_command_line_run_code(tmp_path):
    marker = tmp_path / "ran"
    name = _hostile_zoo(tmp_path, marker)
    config = tmp_path / "config.yaml"
    np_x = tmp_path / "x.npy"
    import numpy as np

    np.save(np_x, np.zeros((4, 1, 8, 8), dtype=np.float32))
    config.write_text(
        f"source: {{name: 'zoo:{name}', kwargs: {{root: '{tmp_path}'}}}}\n"
        "target: {name: 'zoo:digits-ae'}\n"
        "data: {train: {x: x.npy, y: x.npy}}\n"
        "train: {steps: 1, batch_size: 2}\n")
    out = subprocess.run([sys.executable, "-m", "n2nlib.cli", "train", str(config)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "not one of the zoo's architectures" in out.stderr
    assert not marker.exists()


def test_fit_expert_resumes_from_its_checkpoint(tmp_path):
    from n2nlib.nets.autoencoder import Autoencoder
    from n2nlib.zoo.objectives import AutoencoderObjective
    from n2nlib.zoo.training import fit_expert

    data = {"image": torch.rand(48, 1, 16, 16)}
    config = {"size": 16, "channels": 1, "dim": 4, "width": 8, "max_width": 8,
              "n_pseudo_classes": 4, "embed_dim": 4, "attention": False}

    def run(steps, ckpt):
        torch.manual_seed(0)
        model = Autoencoder(**config)
        objective = AutoencoderObjective(gan_weight=0.5, gan_start=2, disc_width=4)
        history = fit_expert(model, objective, data, steps=steps, batch_size=16, warmup=1,
                             progress=False, checkpoint_dir=ckpt, checkpoint_every=2)
        return model, objective, history

    whole, whole_obj, h_whole = run(6, None)
    run(6, tmp_path)
    # as if killed after step 4: the checkpoints of step 6 never made it to disk
    for folder in (tmp_path, tmp_path / "discriminator"):
        shutil.rmtree(folder / "step-00000006")
        (folder / "latest.json").write_text(json.dumps({"checkpoint": "step-00000004",
                                                        "step": 4}))
    resumed, resumed_obj, h_resumed = run(6, tmp_path)   # continues from step 4
    assert len(h_resumed.loss) == 6
    assert h_resumed.loss == pytest.approx(h_whole.loss, rel=1e-4, abs=1e-5)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)
    for a, b in zip(whole_obj.discriminator.parameters(),
                    resumed_obj.discriminator.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="more than the 3 asked for"):
        run(3, tmp_path)


def test_train_all_covers_every_registry_entry_readers_first():
    from n2nlib.zoo.__main__ import TRANSLATORS
    from n2nlib.zoo.retrain import TRAINING_ORDER, recipe_names

    assert sorted(TRAINING_ORDER) == sorted(zoo.available())
    assert set(TRAINING_ORDER) <= set(recipe_names()) | set(TRANSLATORS)
    order = TRAINING_ORDER.index
    assert order("shapes-attributes") < order("shapes-ae")
    assert order("shapes-segmenter") < order("shapes-ae")
    assert order("shapes-generator") < order("shapes-generator-dequant") < order(
        "sbert-to-shapes")
