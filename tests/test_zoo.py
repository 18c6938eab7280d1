"""The zoo registry, weight verification, checkpoint loading and the resumable trainer."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import timm
import torch
from cli_helpers import assert_one_line_error, run_cli
from safetensors.torch import save_file

import dfqbench.zoo.train as train_mod
import dfqbench.zoo.training_data as training_data
from dfqbench.data.fashion_mnist import FashionMNIST
from dfqbench.errors import UserError
from dfqbench.zoo import registry
from dfqbench.zoo.backbones import load_backbone, load_timm, read_checkpoint
from dfqbench.zoo.recipe import TrainRecipe
from dfqbench.zoo.registry import get_zoo_model, zoo_models

FMNIST = ("fmnist_deit", "fmnist_swin", "fmnist_vit")
CANVAS = ("canvas56a_deit", "canvas56a_swin", "canvas56a_vit", "canvas56b_deit", "canvas56b_swin", "canvas56b_vit")
ZOO = CANVAS + FMNIST
TRAINED = tuple(name for name in ZOO if get_zoo_model(name).record is not None)
MIN_TOP1 = {"fashion-mnist": 88.0, "canvas56-a": 77.0}  # floors under the trained models' top-1 (canvas56-b: 70
#                                                        until trained)


def test_zoo_lists_three_families_per_dataset_with_wildcards():
    assert tuple(zoo_models()) == ZOO
    for dataset in ("fashion-mnist", "canvas56-a", "canvas56-b"):
        entries = [get_zoo_model(n) for n in ZOO if get_zoo_model(n).dataset == dataset]
        assert sorted(e.family for e in entries) == ["deit", "swin", "vit"]
    assert zoo_models("*swin*") == ["canvas56a_swin", "canvas56b_swin", "fmnist_swin"]
    assert set(FMNIST) <= set(TRAINED)


def test_unknown_zoo_model_suggests_close_names():
    with pytest.raises(UserError, match="did you mean: fmnist_vit"):
        get_zoo_model("fmnist_vt")


@pytest.mark.parametrize("name", ZOO)
def test_zoo_constraints(name):
    """At least 3 heads per attention layer, a patch grid of at least 7x7, ViT/DeiT at least 6 blocks."""
    model = get_zoo_model(name).build()
    heads = [m.num_heads for m in model.modules() if hasattr(m, "num_heads") and hasattr(m, "qkv")]
    assert heads and min(heads) >= 3
    grid = model.patch_embed.grid_size
    assert grid[0] >= 7 and grid[1] >= 7
    if get_zoo_model(name).family != "swin":
        assert len(model.blocks) >= 6
    else:
        shifts = [b.shift_size for layer in model.layers for b in layer.blocks]
        assert any(any(s) for s in shifts), "Swin must really use shifted windows in some stage"


@pytest.mark.parametrize("name", CANVAS)
def test_canvas_models_keep_the_token_grids_and_widths_of_the_fmnist_models(name):
    """Patch 8 (ViT/DeiT) and patch 4 (Swin) on the 56 px canvas: the fmnist_* grids, so the same cost."""
    entry = get_zoo_model(name)
    model, twin = entry.build(), get_zoo_model(f"fmnist_{entry.family}").build()
    assert model.pretrained_cfg["input_size"] == (1, 56, 56)
    assert model.patch_embed.grid_size == twin.patch_embed.grid_size
    assert model.num_classes == twin.num_classes
    count = sum(p.numel() for p in model.parameters())
    assert count == pytest.approx(sum(p.numel() for p in twin.parameters()), rel=0.1)
    recipe = entry.recipe
    assert recipe.train_split == "train" and recipe.crop_padding == 0 and recipe.resized_crop is None
    assert (recipe.distill == "hard") == (entry.family == "deit")


@pytest.mark.parametrize("name", TRAINED)
def test_committed_weights_load_and_verify(name):
    record = get_zoo_model(name).record
    assert record is not None, f"{name} has no manifest entry"
    assert record["top1"] >= MIN_TOP1.get(get_zoo_model(name).dataset, 70.0)
    assert get_zoo_model(name).weights_path.stat().st_size <= 10 * 2**20
    backbone = load_backbone(name)
    assert backbone.weights_hash == record["sha256"]
    assert backbone.data_config["input_size"] == backbone.model.pretrained_cfg["input_size"]


def test_corrupt_zoo_weights_are_refused(tmp_path, monkeypatch):
    entry = get_zoo_model("fmnist_vit")
    if entry.record is None:
        pytest.fail("fmnist_vit has no manifest entry")
    fake_dir = tmp_path / "weights"
    fake_dir.mkdir()
    (fake_dir / "manifest.json").write_text(registry.MANIFEST.read_text())
    data = bytearray(entry.weights_path.read_bytes())
    data[-1] ^= 0xFF
    (fake_dir / "fmnist_vit.safetensors").write_bytes(bytes(data))
    monkeypatch.setattr(registry, "WEIGHTS_DIR", fake_dir)
    monkeypatch.setattr(registry, "MANIFEST", fake_dir / "manifest.json")
    with pytest.raises(UserError, match="corrupt"):
        load_backbone("fmnist_vit")


def test_untrained_zoo_model_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(registry, "MANIFEST", tmp_path / "manifest.json")
    with pytest.raises(UserError, match="dfqbench zoo train fmnist_swin"):
        load_backbone("fmnist_swin")


def empty_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(registry, "MANIFEST", tmp_path / "manifest.json")


def test_untrained_canvas_model_is_listed_and_refused_in_one_line(tmp_path, capsys, monkeypatch):
    empty_weights(tmp_path, monkeypatch)
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(["zoo", "list", "canvas*"], capsys, monkeypatch)
    assert code == 0
    for name in CANVAS:
        line = next(line for line in out.splitlines() if name in line)
        assert "not trained" in line and get_zoo_model(name).dataset in line
    code, _, err = run_cli(["eval", "--model", "canvas56a_vit"], capsys, monkeypatch)
    assert_one_line_error(code, err, "dfqbench zoo train canvas56a_vit")


def test_canvas_backbone_carries_its_dataset(tmp_path, monkeypatch):
    """Trained weights of a canvas model load as a Backbone of the canvas dataset (what the runner's data follow)."""
    empty_weights(tmp_path, monkeypatch)
    model = get_zoo_model("canvas56b_vit").build()
    path = tmp_path / "canvas56b_vit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    registry.write_manifest_entry("canvas56b_vit", {"sha256": registry.sha256_file(path), "top1": 0.0})
    backbone = load_backbone("canvas56b_vit")
    assert backbone.dataset == "canvas56-b" and backbone.data_config["input_size"] == (1, 56, 56)


def small_timm_state(tmp_path):
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=3)
    return model, {k: v.contiguous() for k, v in model.state_dict().items()}


def test_timm_checkpoint_safetensors_and_weights_only(tmp_path):
    model, state = small_timm_state(tmp_path)
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save({"model": state}, tmp_path / "w.pth")
    for path in (tmp_path / "w.safetensors", tmp_path / "w.pth"):
        loaded = read_checkpoint(path)
        assert set(loaded) == set(state)
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    backbone = load_timm("deit_tiny_patch16_224", tmp_path / "w.safetensors", img_size=32, num_classes=3)
    assert backbone.family == "deit" and backbone.dataset == "imagenet"


class Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_checkpoints_are_never_unpickled(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": Evil()}, fh)
    with pytest.raises(UserError, match="cannot read checkpoint"):
        read_checkpoint(path)
    assert "unpickled!" not in capsys.readouterr().out


def test_bad_checkpoints_give_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_checkpoint(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        read_checkpoint(tmp_path / "junk.safetensors")
    save_file({"x": torch.zeros(2)}, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(UserError, match="does not fit"):
        load_timm("vit_tiny_patch16_224", tmp_path / "wrong.safetensors", img_size=32, num_classes=3)


def test_unknown_timm_name_suggests(tmp_path):
    with pytest.raises(UserError, match="did you mean"):
        load_backbone("swin_tiny_patch4_window7_22")


def tiny_split(n=96):
    gen = torch.Generator().manual_seed(0)
    return FashionMNIST(torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=gen),
                        torch.randint(0, 10, (n,), generator=gen))


@pytest.mark.parametrize("name", ["fmnist_vit", "canvas56a_vit"])
def test_training_resumes_to_the_same_weights(tmp_path, monkeypatch, name):
    """Two epochs straight equal one epoch, a stop, and a resume (same seed, same data order, same canvases)."""
    monkeypatch.setattr(training_data, "load_fashion_mnist", lambda split, data_dir=None: tiny_split())
    entry = get_zoo_model(name)
    recipe = dataclasses.replace(entry.recipe, epochs=2, batch_size=32)
    cfg = entry.build().pretrained_cfg

    def train(ckpt, epochs_now):
        torch.manual_seed(0)
        model = entry.build()
        loss = train_mod.make_loss(recipe, None)
        train_mod.train_loop(model, dataclasses.replace(recipe, epochs=2), epochs_now, ckpt, lambda m: None, cfg,
                             loss, dataset=entry.dataset)
        return model

    straight = train(tmp_path / "a" / "last.pt", 2)
    train(tmp_path / "b" / "last.pt", 1)
    resumed = train(tmp_path / "b" / "last.pt", 2)
    for (k, v), (_, w) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_recipe_round_trips_and_hashes():
    recipe = TrainRecipe(epochs=3)
    assert TrainRecipe.from_json(recipe.to_json()) == recipe
    assert recipe.hash() != TrainRecipe(epochs=4).hash()


def test_training_augmentation_resized_crop_is_seeded_and_in_range():
    from dfqbench.zoo.train import augment

    pixels = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    recipe = TrainRecipe(resized_crop=(0.2, 1.0))
    first = augment(pixels, recipe, torch.Generator().manual_seed(1))
    again = augment(pixels, recipe, torch.Generator().manual_seed(1))
    assert torch.equal(first, again) and first.shape == pixels.shape
    assert first.min() >= 0 and first.max() <= 1 and not torch.equal(first, pixels)
    whole = augment(pixels, TrainRecipe(resized_crop=(1.0, 1.0), hflip=False), torch.Generator().manual_seed(1))
    # area 1 and an aspect ratio near 1: nearly the whole image, never flipped
    assert (whole - pixels).abs().mean() < (first - pixels).abs().mean()


def test_canvas_deit_trains_end_to_end_on_a_tiny_subset(tmp_path, monkeypatch):
    """Teacher, hard distillation, evaluation on the canvas test split, weights and record (here: a tiny stand-in
    for the data, one epoch each)."""
    asked = []

    def tiny(split, data_dir=None):
        asked.append(split)
        return tiny_split(64)

    def tiny_test_batches(dataset, data_config, batch_size, data_dir=None, split="test"):
        asked.append((dataset, split))
        gen = torch.Generator().manual_seed(4)
        return [(torch.randn(16, *data_config["input_size"], generator=gen), torch.arange(16) % 10)]

    monkeypatch.setattr(training_data, "load_fashion_mnist", tiny)
    monkeypatch.setattr(train_mod, "eval_batches", tiny_test_batches)
    entry = get_zoo_model("canvas56a_deit")
    recipe = dataclasses.replace(entry.recipe, epochs=1, teacher_epochs=1, batch_size=16)
    lines = []
    record = train_mod.train_zoo_model(dataclasses.replace(entry, recipe=recipe), tmp_path / "runs", tmp_path / "out",
                                       log=lines.append)
    assert (tmp_path / "out" / "canvas56a_deit.safetensors").is_file()
    assert record["dataset"] == "canvas56-a" and record["recipe"]["teacher"] == "canvas_convnet"
    assert asked == ["train", ("canvas56-a", "test"), "train", ("canvas56-a", "test")]
    assert any("step 1/4" in line for line in lines) and any("teacher canvas_convnet top-1" in line for line in lines)
    assert (tmp_path / "runs" / "canvas56a_deit" / "teacher.pt").is_file()


def test_canvas_training_refuses_crops():
    with pytest.raises(ValueError, match="crops would cut the item out"):
        training_data.CanvasTraining("canvas56-a", tiny_split(4), TrainRecipe(crop_padding=2))
