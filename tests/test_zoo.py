"""The zoo registry, weight verification, checkpoint loading and the resumable trainer."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import timm
import torch
from safetensors.torch import save_file

import dfqbench.zoo.train as train_mod
from dfqbench.data.fashion_mnist import FashionMNIST
from dfqbench.errors import UserError
from dfqbench.zoo import registry
from dfqbench.zoo.backbones import load_backbone, load_timm, read_checkpoint
from dfqbench.zoo.recipe import TrainRecipe
from dfqbench.zoo.registry import get_zoo_model, zoo_models

ZOO = ("fmnist_deit", "fmnist_swin", "fmnist_vit")


def test_zoo_lists_three_families_with_wildcards():
    assert tuple(zoo_models()) == ZOO
    assert {get_zoo_model(n).family for n in ZOO} == {"vit", "deit", "swin"}
    assert zoo_models("*swin*") == ["fmnist_swin"]


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
    if name != "fmnist_swin":
        assert len(model.blocks) >= 6
    else:
        shifts = [b.shift_size for layer in model.layers for b in layer.blocks]
        assert any(any(s) for s in shifts), "Swin must really use shifted windows in some stage"


@pytest.mark.parametrize("name", ZOO)
def test_committed_weights_load_and_verify(name):
    record = get_zoo_model(name).record
    assert record is not None, f"{name} has no manifest entry"
    assert record["top1"] >= 88.0
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


def test_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """Two epochs straight equal one epoch, a stop, and a resume (same seed, same data order)."""
    monkeypatch.setattr(train_mod, "load_fashion_mnist", lambda split, data_dir=None: tiny_split())
    entry = get_zoo_model("fmnist_vit")
    recipe = dataclasses.replace(entry.recipe, epochs=2, batch_size=32)
    cfg = entry.build().pretrained_cfg

    def train(ckpt, epochs_now):
        torch.manual_seed(0)
        model = entry.build()
        loss = train_mod.make_loss(recipe, None)
        train_mod.train_loop(model, dataclasses.replace(recipe, epochs=2), epochs_now, ckpt, lambda m: None, cfg,
                             loss)
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
