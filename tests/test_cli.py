"""The command line through its entry point: output, exit status 2 on bad input, help examples."""

from __future__ import annotations

import pytest
import timm
import torch
from cli_helpers import assert_one_line_error, run_cli
from PIL import Image
from safetensors.torch import save_file


def test_zoo_list_shows_three_models_with_top1(capsys, monkeypatch):
    code, out, _ = run_cli(["zoo", "list"], capsys, monkeypatch)
    assert code == 0
    for name, family in (("fmnist_vit", "vit"), ("fmnist_deit", "deit"), ("fmnist_swin", "swin")):
        line = next(line for line in out.splitlines() if name in line)
        assert family in line and "not trained" not in line


def test_eval_limit_on_zoo_model(capsys, monkeypatch):
    code, out, _ = run_cli(["--threads", "1", "eval", "--model", "fmnist_vit", "--limit", "300"], capsys, monkeypatch)
    assert code == 0
    assert "top-1" in out and "on 300 images" in out and "1 threads" in out
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize(("args", "pattern"), [
    (["eval", "--model", "fmnist_vt"], "did you mean: fmnist_vit"),
    (["eval", "--model", "nothing*"], "no zoo model matches"),
    (["eval", "--model", "fmnist_vit", "--limit", "0"], "--limit must be at least 1"),
    (["eval", "--model", "fmnist_vit", "--data-dir", "/nonexistent-dfqbench"],
     "--data-dir: no folder at"),
    (["eval", "--model", "deit_tiny_patch16_224", "--checkpoint", "/nonexistent.safetensors"],
     "--checkpoint: no file at"),
    (["eval", "--model", "fmnist_vit", "--checkpoint", __file__], "zoo model"),
    (["zoo", "train", "fmnist_swim"], "did you mean: fmnist_swin"),
    (["--threads", "-3", "zoo", "list"], "--threads"),
])
def test_bad_input_is_one_line_and_exit_2(args, pattern, capsys, monkeypatch):
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert_one_line_error(code, err, pattern)


def test_unknown_option_exits_2(capsys, monkeypatch):
    code, _, _ = run_cli(["eval", "--no-such-option"], capsys, monkeypatch)
    assert code == 2


@pytest.mark.parametrize("command", [["zoo", "list"], ["zoo", "train"], ["eval"], ["data", "fetch"]])
def test_help_has_examples(command, capsys, monkeypatch):
    code, out, _ = run_cli([*command, "--help"], capsys, monkeypatch)
    assert code == 0
    assert "dfqbench " in out and ("Example" in out or "example" in out)


def test_eval_timm_checkpoint_on_imagefolder(tmp_path, capsys, monkeypatch):
    """A random-init timm DeiT from a safetensors checkpoint, evaluated on a generated val folder."""
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=2)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "deit.safetensors"))
    for cls in ("a", "b"):
        folder = tmp_path / "imagenet" / "val" / cls
        folder.mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40, 36), (80 * i, 40, 200 if cls == "a" else 10)).save(folder / f"{i}.png")
    args = ["eval", "--model", "deit_tiny_patch16_224", "--checkpoint", str(tmp_path / "deit.safetensors"),
            "--img-size", "32", "--imagenet", str(tmp_path / "imagenet")]
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    assert "deit" in out and "on 6 images" in out and "top-5" not in out
