"""``dfqbench zoo probe``: the top-10 % attention share on hand-built attention (one-hot, uniform, special tokens,
Swin windows with pad tokens), the concentration and the gradient shares on tiny random ViT/DeiT/Swin models
(positive, finite, CE = 1, deterministic, measuring does not move the trajectory), the tables, the CLI's bad input
and one real run on fmnist_vit."""

from __future__ import annotations

import math

import pytest
import timm
import torch
from cli_helpers import assert_one_line_error, run_cli
from timm.models.deit import VisionTransformerDistilled
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

from dfqbench.data.fashion_mnist import resolve_data_dir
from dfqbench.kit.attention import AttentionRecord
from dfqbench.layout import global_layout, window_layout
from dfqbench.profiles import Profile
from dfqbench.quant import get_preset, wrap_model
from dfqbench.zoo.models import fmnist_data_config
from dfqbench.zoo.probe import (
    REFERENCE,
    TERMS,
    Concentration,
    ProbeRow,
    attention_concentration,
    block_concentration,
    default_synthesizer,
    probe_context,
    seed_shares,
    synthesis_gradient_norms,
    to_csv,
    to_markdown,
    top_count,
    top_share,
)

TINY = Profile("tiny", n_images=4, synth_batch_size=4, synth_steps=4, calib_steps=1, calib_batch_size=4,
               refreshes=1)
needs_data = pytest.mark.skipif(not resolve_data_dir().is_dir(), reason="dataset-fashion-mnist not installed")


def tiny(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if family == "vit":
        model = VisionTransformer(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=24, depth=2,
                                  num_heads=3, mlp_ratio=2.0)
    elif family == "deit":
        model = VisionTransformerDistilled(img_size=28, patch_size=7, in_chans=1, num_classes=7, embed_dim=24,
                                           depth=2, num_heads=3, mlp_ratio=2.0)
    else:
        model = SwinTransformer(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=12, depths=(2,),
                                num_heads=(3,), window_size=4, mlp_ratio=2.0)
    return fmnist_data_config(model).eval()


def record(layout, probs) -> AttentionRecord:
    return AttentionRecord(name="blocks.0.attn", index=0, layout=layout, logits=None, probs=probs, outputs=None,
                           additive=None)


# --- the top-10 % share on hand-built attention --------------------------------------------------------------------


@pytest.mark.parametrize("patches", [1, 9, 10, 16, 49, 70, 196])
def test_top_share_one_hot_and_uniform(patches):
    k = top_count(patches)
    assert k == max(1, math.ceil(patches / 10))
    one_hot = torch.zeros(patches)
    one_hot[patches // 2] = 3.0
    assert top_share(one_hot).item() == pytest.approx(1.0)
    assert top_share(torch.full((patches,), 0.25)).item() == pytest.approx(k / patches)
    mass = torch.rand(5, patches, generator=torch.Generator().manual_seed(patches)) + 1e-3
    share = top_share(mass)
    assert ((share >= k / patches - 1e-6) & (share <= 1 + 1e-6)).all()


@pytest.mark.parametrize("special, grid", [(("cls",), (7, 7)), (("cls", "dist"), (3, 5)),
                                           (("cls", "reg0", "reg1"), (4, 6))])
def test_cls_share_one_hot_uniform_and_special_tokens(special, grid):
    layout = global_layout(special, grid)
    n, patches, s = layout.num_tokens, grid[0] * grid[1], len(special)
    uniform = torch.full((2, 3, n, n), 1.0 / n)              # specials hold mass too: dropped and renormalised
    assert block_concentration([record(layout, uniform)]) / 2 == pytest.approx(top_count(patches) / patches)
    one_hot = torch.zeros(2, 3, n, n)
    one_hot[:, :, :, s + 2] = 0.5                            # half on one patch, half on the CLS token itself
    one_hot[:, :, :, 0] = 0.5
    assert (block_concentration([record(layout, one_hot)]) / 2).item() == pytest.approx(1.0)


def test_cls_share_reads_the_cls_row_only():
    layout = global_layout(("cls",), (4, 5))
    probs = torch.full((1, 2, 21, 21), 1.0 / 21)
    probs[:, :, 0, :] = 0.0
    probs[:, :, 0, 7] = 1.0                                  # CLS on one patch; every other query uniform
    assert block_concentration([record(layout, probs)]).item() == pytest.approx(1.0)


@pytest.mark.parametrize("grid, window, shift", [((10, 10), (5, 5), (0, 0)), ((10, 10), (5, 5), (2, 2)),
                                                 ((5, 5), (4, 4), (2, 2)), ((9, 7), (4, 4), (0, 0))])
def test_received_share_uniform_and_one_hot_on_windows_with_pad_tokens(grid, window, shift):
    layout = window_layout(grid, window, shift)
    windows, n = layout.num_windows, layout.num_tokens
    real = layout.patch_mask.float()                         # (windows, N)
    patches = grid[0] * grid[1]
    # uniform over each window's real keys (pad keys 0); pad queries attend anywhere: they are not counted
    uniform = (real / real.sum(-1, keepdim=True))[:, None, None, :].expand(windows, 2, n, n)
    batch = uniform.repeat(3, 1, 1, 1)
    assert (block_concentration([record(layout, batch)]) / 3).item() == pytest.approx(top_count(patches) / patches)
    # one-hot: every query of a window on the window's first real token: at most `windows` patches hold mass
    one_hot = torch.zeros(windows, 2, n, n)
    for w in range(windows):
        one_hot[w, :, :, int(layout.patch_mask[w].nonzero()[0])] = 1.0
    share = (block_concentration([record(layout, one_hot.repeat(3, 1, 1, 1))]) / 3).item()
    if windows <= top_count(patches):
        assert share == pytest.approx(1.0)
    else:
        assert top_count(patches) / patches < share < 1.0


# --- tiny models ---------------------------------------------------------------------------------------------------


def batches(model: torch.nn.Module, sizes=(3, 4)):
    generator = torch.Generator().manual_seed(1)
    shape = (1, *model.patch_embed.img_size)
    return [(torch.randn(n, *shape, generator=generator), torch.zeros(n, dtype=torch.long)) for n in sizes]


@pytest.mark.parametrize("family, kind, blocks", [("vit", "CLS query", 2), ("deit", "CLS query", 2),
                                                  ("swin", "received", 2)])
def test_attention_concentration_on_tiny_models(family, kind, blocks):
    model = tiny(family)
    fp = wrap_model(model, get_preset("standard"), "4w4a").eval()
    result = attention_concentration(fp, batches(model), limit=5)
    assert isinstance(result, Concentration)
    assert result.images == 5 and result.kind == kind and len(result.by_block) == blocks
    assert all(0.1 < v <= 1.0 + 1e-9 for v in result.by_block)
    assert result.mean == pytest.approx(sum(result.by_block) / blocks)
    again = attention_concentration(fp, batches(model), limit=5)
    assert again == result


@pytest.mark.parametrize("family", ["vit", "deit", "swin"])
def test_gradient_shares_on_tiny_models(family):
    model = tiny(family)
    data_config = timm.data.resolve_data_config(model=model)
    result = seed_shares(model, data_config, model.num_classes, seed=0, steps=(0, 2), profile=TINY)
    assert set(result) == {0, 2}
    for values in result.values():
        assert values[REFERENCE] == 1.0
        for term in TERMS:
            assert math.isfinite(values[term]) and values[term] > 0, (term, values)
        assert values[f"norm:{REFERENCE}"] > 0
    assert seed_shares(model, data_config, model.num_classes, seed=0, steps=(0, 2), profile=TINY) == result
    assert seed_shares(model, data_config, model.num_classes, seed=1, steps=(0, 2), profile=TINY) != result


def test_measuring_does_not_move_the_trajectory():
    model = tiny("vit")
    data_config = {"input_size": (1, 28, 28), "mean": (0.5,), "std": (0.5,)}

    def norms(steps):
        ctx = probe_context(model, data_config, 10, seed=3, profile=TINY)
        return synthesis_gradient_norms(default_synthesizer(), ctx, steps)

    both, last = norms((0, 1, 3)), norms((3,))
    assert both[3] == last[3]
    assert set(both[0]) == {*TERMS, REFERENCE}
    with pytest.raises(ValueError, match="steps"):
        norms((TINY.synth_steps,))


# --- tables and the command ----------------------------------------------------------------------------------------


def fake_row(name: str, seeds=(0, 1)) -> ProbeRow:
    per_seed = [{step: {"se": 0.25 + 0.01 * s, "maa": 0.06, "ssim": 0.02, "tv": 0.0007, "one_hot": 1.0,
                        "norm:one_hot": 0.2} for step in (0, 50)} for s in seeds]
    return ProbeRow(name, "fashion-mnist", tuple(seeds), (0, 50), per_seed,
                    Concentration(0.5, (0.4, 0.6), "CLS query", 512))


def test_markdown_and_csv_tables():
    text = to_markdown([fake_row("a"), fake_row("b")])
    lines = text.splitlines()
    assert lines[0].startswith("| model | dataset | SE / CE @0 (%) | MAA / CE @0 (%)")
    assert "| a | fashion-mnist | 25.5 ± 0.7 | 6.00 ± 0.00 | 2.00 ± 0.00 | 0.0700 ± 0.0000 |" in text
    assert "| 0.500 | CLS query |" in lines[2]
    assert "Mean over blocks, heads and images" in text
    csv_text = to_csv([fake_row("a", seeds=(4,))])
    head, row = csv_text.splitlines()
    cells = dict(zip(head.split(","), row.split(","), strict=True))
    assert cells["se_over_ce_step50_mean"] == "0.29" and cells["se_over_ce_step50_std"] == ""
    assert cells["ce_grad_norm_step0_mean"] == "0.2" and cells["top10_attention_by_block"] == "0.4 0.6"


@pytest.mark.parametrize("args, pattern", [
    (["--models", "fmnist_vti"], "unknown zoo model 'fmnist_vti'"),
    (["--models", "fmnist_vit", "--format", "rich"], "unknown --format 'rich'"),
    (["--models", "fmnist_vit", "--steps", "0,200"], "--steps must lie in [0, 200)"),
    (["--models", "fmnist_vit", "--seeds", "a"], "malformed --seeds"),
])
def test_probe_bad_input_is_one_line(args, pattern, capsys, monkeypatch):
    code, out, err = run_cli(["zoo", "probe", *args], capsys, monkeypatch)
    assert_one_line_error(code, err, pattern)


@needs_data
def test_probe_command_on_fmnist_vit(tmp_path, capsys, monkeypatch):
    target = tmp_path / "probe.md"
    code, out, err = run_cli(["--threads", "1", "zoo", "probe", "--models", "fmnist_vit", "--seeds", "0", "--steps",
                              "0,1", "--images", "64", "-o", str(target)], capsys, monkeypatch)
    assert code == 0, err
    text = target.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| fmnist_vit |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "fashion-mnist" and cells[-1] == "CLS query"
    shares = [float(c) for c in cells[2:-2]]
    assert len(shares) == 2 * len(TERMS)
    assert all(math.isfinite(v) and v > 0 for v in shares)
    assert 0.1 < float(cells[-2]) <= 1.0
    assert "first 64 test images" in text


def test_probe_help_has_examples(capsys, monkeypatch):
    code, out, _ = run_cli(["zoo", "probe", "--help"], capsys, monkeypatch)
    assert code == 0
    assert "dfqbench --threads 1 zoo probe" in out and "Example" in out
