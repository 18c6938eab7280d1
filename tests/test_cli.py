"""The command line through its entry point: output, exit status 2 on bad input, help examples."""

from __future__ import annotations

import pytest
import timm
import torch
from cli_helpers import assert_one_line_error, run_cli
from PIL import Image
from safetensors.torch import save_file

from dfqbench.errors import UserError
from dfqbench.quant.preset import get_preset


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


def test_run_takes_a_timm_models_weights_from_a_checkpoint_file(tmp_path, capsys, monkeypatch):
    """Offline, a random-init timm DeiT saved to safetensors runs a grid cell with --checkpoint MODEL=PATH; eval
    takes the same MODEL=PATH form; a pair for a model outside --models is one line."""
    model = timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=2)
    weights = tmp_path / "deit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    for split in ("train", "val"):
        for cls in ("a", "b"):
            folder = tmp_path / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (40, 36), (60 * i, 40, 200 if cls == "a" else 10)).save(folder / f"{i}.png")
    common = ["--imagenet", str(tmp_path / "imagenet")]
    args = ["--threads", "1", "run", "--methods", "noise+ptq", "--models", "deit_tiny_patch16_224", "--profile",
            "smoke", "--limit", "4", "--no-references", "--checkpoint", f"deit_tiny_patch16_224={weights}", "--store",
            str(tmp_path / "s.sqlite"), "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), *common]
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    assert "2 cells computed" in out  # fp and noise+ptq
    code, out, err = run_cli(["eval", "--model", "deit_tiny_patch16_224", "--checkpoint",
                              f"deit_tiny_patch16_224={weights}", "--limit", "4", *common], capsys, monkeypatch)
    assert code == 0 and "on 4 images" in out, err
    for bad, pattern in ((f"vit_tiny_patch16_224={weights}", "not in --models"), (str(weights), "expected MODEL=PATH"),
                         ("deit_tiny_patch16_224=/nonexistent.safetensors", "--checkpoint: no file at")):
        code, _, err = run_cli([*args[:args.index("--checkpoint")], "--checkpoint", bad,
                                *args[args.index("--checkpoint") + 2:]], capsys, monkeypatch)
        assert_one_line_error(code, err, pattern)


def test_unsupported_attention_is_refused_in_one_line(capsys, monkeypatch):
    """RelPos ViT, SwinV2, EVA-02 and SigLIP's attention-pool head: their attention is not made explicit, so the
    model is refused at once instead of being quantized half-way."""
    from dfqbench.quant.wrap import unsupported_attention, wrap_model

    for name, expected in (("vit_relpos_small_patch16_224", "RelPosAttention"),
                           ("swinv2_tiny_window8_256", "swin_transformer_v2.WindowAttention"),
                           ("eva02_tiny_patch14_224", "EvaAttention"),
                           ("vit_base_patch16_siglip_224", "AttentionPoolLatent")):
        model = timm.create_model(name, pretrained=False)
        assert any(expected in found for found in unsupported_attention(model)), name
        with pytest.raises(UserError, match="does not support"):
            wrap_model(model, get_preset("standard"), "4w4a")
    for name in ("vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "swin_tiny_patch4_window7_224"):
        assert unsupported_attention(timm.create_model(name, pretrained=False)) == []
    code, _, err = run_cli(["eval", "--model", "vit_relpos_small_patch16_224"], capsys, monkeypatch)
    assert_one_line_error(code, err, "does not support vision_transformer_relpos.RelPosAttention")
