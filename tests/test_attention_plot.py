"""``dfqbench plot attention`` and ``dfqbench students pack``: maps on every family, the figure's structure, the
packed students, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from cli_helpers import assert_one_line_error, run_cli, run_ok
from matplotlib.patches import Rectangle
from safetensors.torch import load_file, save_file

from dfqbench.methods.maskaq import top_count
from dfqbench.plots.attention_maps import fp_model, load_student, score, top_patches
from dfqbench.quant.preset import get_preset
from dfqbench.quant.state import QuantState, set_quant_state
from dfqbench.quant.wrap import wrap_model
from dfqbench.zoo.backbones import load_backbone


def patch_grid(backbone) -> tuple[int, int]:
    """The finest patch grid of the model: the ViT's/DeiT's grid, Swin's first stage."""
    size, patch = backbone.data_config["input_size"][-1], backbone.model.patch_embed.patch_size[0]
    return size // patch, size // patch


@pytest.mark.parametrize("name", ["canvas56a_vit", "canvas56a_deit", "canvas56a_swin"])
def test_the_score_map_lies_on_the_patch_grid_and_the_mask_keeps_k_patches(name):
    backbone = load_backbone(name)
    images = torch.randn(3, *backbone.data_config["input_size"], generator=torch.Generator().manual_seed(0))
    quantized = wrap_model(backbone.model, get_preset("standard"), "4w4a").eval()
    set_quant_state(quantized, QuantState.QUANTIZE)  # ranges set on this first batch
    maps = [score(model, images) for model in (quantized, fp_model_of(backbone))]
    grid = patch_grid(backbone)
    assert all(m.shape == (3, *grid) and torch.isfinite(m).all() for m in maps)
    assert not torch.equal(maps[0], maps[1])  # 4-bit attention is not the FP attention
    mask = top_patches(maps[1], 0.1)
    assert mask.flatten(1).sum(1).tolist() == [top_count(grid[0] * grid[1], 0.1)] * 3
    top = maps[1].flatten(1).argmax(1)
    assert mask.flatten(1).gather(1, top[:, None]).all()  # the FP map's peak is in the region


def fp_model_of(backbone):
    wrapped = wrap_model(backbone.model, get_preset("standard"), "4w4a").eval()
    set_quant_state(wrapped, QuantState.OFF)
    return wrapped


@pytest.fixture(scope="module")
def students(tmp_path_factory):
    """MaskAQ and MimiQ students of the canvas ViT at the smoke profile, and the cache holding MaskAQ's set."""
    folder = tmp_path_factory.mktemp("students")
    run_ok(["--threads", "1", "run", "--methods", "maskaq,mimiq", "--no-references", "--models", "canvas56a_vit",
            "--profile", "smoke",
            "--limit", "20", "--store", str(folder / "s.sqlite"), "--cache-dir", str(folder / "cache"),
            "--save-models", str(folder / "models"), "--out", str(folder / "out")])
    return folder


def draw(args, students, capsys, monkeypatch):
    import dfqbench.plots.style as style

    figures = []
    monkeypatch.setattr(style, "save", lambda fig, path: figures.append(fig) or path)
    code, out, err = run_cli(["plot", "attention", *args, "--profile", "smoke", "--fallback", "smoke",
                              "--cache-dir", str(students / "cache"), "-o", str(students / "a.png")],
                             capsys, monkeypatch)
    assert code == 0, err
    return figures[0]


def test_attention_has_a_row_per_image_and_a_column_per_model(students, capsys, monkeypatch):
    fig = draw([str(students / "models"), "--images", "2"], students, capsys, monkeypatch)
    columns = 4  # image, FP, maskaq, mimiq
    assert len(fig.axes) == 4 * columns  # 2 real + 2 synthetic images
    assert [ax.get_title() for ax in fig.axes[:columns]] == ["image", "FP", "maskaq (seed 0)", "mimiq (seed 0)"]
    captions = [ax.get_ylabel() for ax in fig.axes[::columns]]
    assert [c.split(":")[0] for c in captions] == ["real", "real", "maskaq (smoke)", "maskaq (smoke)"]
    k = top_count(7 * 7, 0.1)
    assert all(sum(isinstance(p, Rectangle) for p in ax.patches) == k for ax in fig.axes)  # the region outlined
    assert "canvas56-a · canvas56a_vit · 4w4a · profile smoke · preset standard" in fig._suptitle.get_text()


def test_packed_students_are_half_the_size_and_draw_the_same_rows(students, tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["students", "pack", str(students / "models"), "--to", str(tmp_path / "packed")],
                             capsys, monkeypatch)
    assert code == 0, err
    packed = sorted(p.name for p in (tmp_path / "packed").iterdir())
    assert packed == ["maskaq_canvas56a_vit_4w4a_seed0.safetensors", "mimiq_canvas56a_vit_4w4a_seed0.safetensors"]
    original = next(p for p in (students / "models").iterdir() if load_student(p, load_backbone(
        "canvas56a_vit")).method == "maskaq")
    half = tmp_path / "packed" / packed[0]
    assert half.stat().st_size < 0.55 * original.stat().st_size
    a, b = load_file(str(original)), load_file(str(half))
    assert a.keys() == b.keys()
    assert all(b[k].dtype == (torch.float16 if a[k].is_floating_point() else a[k].dtype) for k in a)
    backbone = load_backbone("canvas56a_vit")
    images = torch.randn(4, *backbone.data_config["input_size"], generator=torch.Generator().manual_seed(1))
    full, packed_student = load_student(original, backbone), load_student(half, backbone)
    agree = (full.module(images).argmax(-1) == packed_student.module(images).argmax(-1)).float().mean()
    assert agree >= 0.75
    assert fp_model(backbone, packed_student) is not None
    fig = draw([str(tmp_path / "packed"), "--synthetic", "none"], students, capsys, monkeypatch)
    assert len(fig.axes) == 3 * 4  # three real images, no synthetic ones


def test_bad_students_are_one_line(students, tmp_path, capsys, monkeypatch):
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    other = tmp_path / "other"
    other.mkdir()
    (model_file,) = [p for p in (students / "models").iterdir()][:1]
    state = load_file(str(model_file))
    save_file(state, str(other / "deit.safetensors"), metadata={"cell": json.dumps(
        {"method": "maskaq", "model": "canvas56a_deit", "bits": "4w4a", "seed": 0})})
    (tmp_path / "empty").mkdir()
    cases = [
        ([str(tmp_path / "plain.safetensors")], "no cell in its metadata"),
        ([str(tmp_path / "junk.safetensors")], "not a safetensors file"),
        ([str(tmp_path / "missing")], "students: no file or folder at"),
        ([str(tmp_path / "empty")], "no .safetensors files"),
        ([str(model_file), str(other / "deit.safetensors")], "several models"),
        ([str(other / "deit.safetensors")], "do not fit canvas56a_deit"),
        ([str(model_file), "--mask-ratio", "0"], "--mask-ratio must be in (0, 1]"),
    ]
    for args, pattern in cases:
        code, _, err = run_cli(["plot", "attention", *args, "--synthetic", "none", "-o",
                                str(tmp_path / "a.png")], capsys, monkeypatch)
        assert_one_line_error(code, err, pattern)
    code, _, err = run_cli(["students", "pack", str(model_file), "--to", str(tmp_path / "p"), "--dtype", "int8"],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, "--dtype must be one of")
