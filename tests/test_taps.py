"""Attention taps and token layouts: shapes, special tokens, Swin windows/shift/pad tokens, recomputing the
probabilities from the logits, gradients to the pixels, and TokenLayout.to_grid."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.swin_transformer import SwinTransformerBlock, window_partition

from dfqbench.kit.attention import AttentionTaps
from dfqbench.layout import TokenLayout, global_layout, window_layout
from dfqbench.quant import get_preset, set_quant_state, wrap_model

BATCH = 2


def wrapped_zoo(zoo_model, name: str, preset: str = "standard") -> nn.Module:
    return wrap_model(zoo_model(name), get_preset(preset), "4w4a")


def tap(model: nn.Module, x: torch.Tensor, **kwargs) -> tuple[torch.Tensor, list]:
    with AttentionTaps(model, **kwargs) as taps:
        out = model(x)
    return out, taps.records


def by_name(records: list) -> dict:
    return {rec.name: rec for rec in records}


# --- shapes and layouts of the three zoo families -----------------------------------------------------------------


@pytest.mark.parametrize("name, special", [("fmnist_vit", ("cls",)), ("fmnist_deit", ("cls", "dist"))])
def test_global_attention_records(name, special, zoo_model, images):
    model = wrapped_zoo(zoo_model, name)
    x = images(model, BATCH)
    with torch.no_grad():
        _, records = tap(model, x)
    tokens = 49 + len(special)
    assert [rec.name for rec in records] == [f"blocks.{i}.attn" for i in range(6)]
    assert [rec.index for rec in records] == list(range(6))
    for rec in records:
        assert rec.logits.shape == rec.probs.shape == (BATCH, 3, tokens, tokens)
        assert rec.outputs.shape == (BATCH, 3, tokens, 32)
        assert rec.additive is None
        assert rec.images == BATCH
        layout = rec.layout
        assert layout.special_tokens == special and layout.num_special == len(special)
        assert layout.grid == (7, 7) and layout.window is None and layout.shift == (0, 0)
        assert layout.num_windows == 1 and layout.num_tokens == tokens
        assert torch.equal(layout.positions[0, :len(special)], torch.full((len(special),), -1))
        assert torch.equal(layout.positions[0, len(special):], torch.arange(49))
        assert layout.patch_mask.sum().item() == 49 and not layout.has_pad
        torch.testing.assert_close(rec.probs.sum(-1), torch.ones(BATCH, 3, tokens))


def test_swin_window_records(zoo_model, images):
    model = wrapped_zoo(zoo_model, "fmnist_swin")
    x = images(model, BATCH)
    with torch.no_grad():
        _, records = tap(model, x)
    names = [rec.name for rec in records]
    assert names == [f"layers.{s}.blocks.{b}.attn" for s in (0, 1) for b in (0, 1)]
    recs = by_name(records)
    for block in (0, 1):  # stage 1: 14x14 grid, four 7x7 windows per image
        rec = recs[f"layers.0.blocks.{block}.attn"]
        layout = rec.layout
        assert layout.grid == (14, 14) and layout.window == (7, 7) and layout.padded_grid == (14, 14)
        assert layout.shift == ((3, 3) if block == 1 else (0, 0))
        assert layout.num_windows == 4 and layout.num_tokens == 49
        assert layout.special_tokens == () and not layout.has_pad
        assert rec.logits.shape == rec.probs.shape == (BATCH * 4, 3, 49, 49)
        assert rec.outputs.shape == (BATCH * 4, 3, 49, 16)
        assert rec.images == BATCH
        assert rec.per_image(rec.logits).shape == (BATCH, 4, 3, 49, 49)
        assert rec.additive.shape == ((4, 3, 49, 49) if block == 1 else (1, 3, 49, 49))  # mask only when shifted
        assert sorted(layout.positions.flatten().tolist()) == list(range(196))
    for block in (0, 1):  # stage 2: 7x7 grid, one window, no shift (the window covers the grid)
        rec = recs[f"layers.1.blocks.{block}.attn"]
        layout = rec.layout
        assert layout.grid == (7, 7) and layout.window == (7, 7) and layout.shift == (0, 0)
        assert layout.num_windows == 1 and layout.num_tokens == 49 and not layout.has_pad
        assert torch.equal(layout.positions[0], torch.arange(49))
        assert rec.logits.shape == (BATCH, 6, 49, 49) and rec.outputs.shape == (BATCH, 6, 49, 16)
        assert rec.images == BATCH


def test_swin_shifted_window_positions(zoo_model, images):
    """layers.0.blocks.1 rolls the 14x14 grid by (-3, -3): its first window starts at grid position (3, 3)."""
    model = wrapped_zoo(zoo_model, "fmnist_swin")
    with torch.no_grad():
        _, records = tap(model, images(model, 1))
    layout = by_name(records)["layers.0.blocks.1.attn"].layout
    first = layout.positions[0].view(7, 7)
    assert first[0, 0].item() == 3 * 14 + 3
    assert first[-1, -1].item() == 9 * 14 + 9
    last = layout.positions[3].view(7, 7)  # bottom-right window wraps around to row/col 0..2
    assert last[-1, -1].item() == 2 * 14 + 2


# --- probabilities from logits ------------------------------------------------------------------------------------


def timm_attention_probs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The unwrapped timm model's own softmax outputs (non-fused path: the input of attn_drop), in call order."""
    captured: list[torch.Tensor] = []
    hooks = [m.attn_drop.register_forward_hook(lambda mod, args, out: captured.append(args[0]))
             for m in model.modules() if hasattr(m, "attn_drop") and hasattr(m, "qkv")]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return captured


@pytest.mark.parametrize("name", ["fmnist_vit", "fmnist_deit", "fmnist_swin"])
def test_probs_from_logits_and_timm_attention_off(name, zoo_model, images):
    model = zoo_model(name)
    x = images(model, BATCH)
    expected = timm_attention_probs(model, x)
    wrapped = wrap_model(model, get_preset("standard"), "4w4a")
    with torch.no_grad():
        _, records = tap(wrapped, x)
    assert len(records) == len(expected)
    for rec, probs in zip(records, expected, strict=True):
        torch.testing.assert_close(rec.probs_from_logits(), rec.probs, rtol=1e-5, atol=1e-6)
        assert torch.equal(rec.probs, probs), rec.name


@pytest.mark.parametrize("name", ["fmnist_vit", "fmnist_deit", "fmnist_swin"])
def test_taps_on_the_quantized_model(name, zoo_model, images):
    model = wrapped_zoo(zoo_model, name)
    x = images(model, BATCH)
    with torch.no_grad():
        fp_out, fp_records = tap(model, x)
        set_quant_state(model, "calibrate")
        model(x)
        set_quant_state(model, "quantize")
        q_out, q_records = tap(model, x)
        assert torch.equal(q_out, model(x))  # tapping does not change the output
    assert [r.name for r in q_records] == [r.name for r in fp_records]
    assert not torch.allclose(q_out, fp_out, atol=1e-3)
    for rec, fp in zip(q_records, fp_records, strict=True):
        assert rec.logits.shape == fp.logits.shape and rec.outputs.shape == fp.outputs.shape
        assert rec.layout is fp.layout or torch.equal(rec.layout.positions, fp.layout.positions)
        torch.testing.assert_close(rec.probs_from_logits(), rec.probs, rtol=1e-5, atol=1e-6)
        assert torch.isfinite(rec.logits).all() and torch.isfinite(rec.outputs).all()
    assert any(not torch.allclose(r.logits, f.logits) for r, f in zip(q_records, fp_records, strict=True))


# --- gradients, keep, detach --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fmnist_vit", "fmnist_deit", "fmnist_swin"])
@pytest.mark.parametrize("quantized", [False, True])
def test_gradients_flow_from_tapped_logits_to_pixels(name, quantized, zoo_model, images):
    model = wrapped_zoo(zoo_model, name)
    x = images(model, BATCH)
    if quantized:
        with torch.no_grad():
            set_quant_state(model, "calibrate")
            model(x)
        set_quant_state(model, "quantize")
    for block in (0, -1):
        pixels = x.clone().requires_grad_()
        _, records = tap(model, pixels, keep=("logits",))
        assert records[block].logits.requires_grad
        records[block].logits.pow(2).mean().backward()
        assert pixels.grad is not None and torch.isfinite(pixels.grad).all()
        assert pixels.grad.abs().sum().item() > 0


def test_keep_only_logits_and_detach(zoo_model, images):
    model = wrapped_zoo(zoo_model, "fmnist_swin")
    pixels = images(model, BATCH).requires_grad_()
    _, records = tap(model, pixels, keep=("logits",))
    assert records and all(r.logits is not None and r.probs is None and r.outputs is None for r in records)
    assert all(r.images == BATCH for r in records)
    _, records = tap(model, pixels, keep=("probs", "outputs"), detach=True)
    assert all(r.logits is None and r.probs is not None and r.outputs is not None for r in records)
    assert not any(r.probs.requires_grad or r.outputs.requires_grad for r in records)
    with pytest.raises(ValueError, match="attn"):
        AttentionTaps(model, keep=("attn",))


def test_taps_are_removed_on_exit_and_cannot_nest(zoo_model, images):
    model = wrapped_zoo(zoo_model, "fmnist_vit")
    x = images(model, 1)
    with torch.no_grad(), AttentionTaps(model) as taps:
        model(x)
        assert len(taps.records) == 6
        with pytest.raises(RuntimeError, match="already tapped"):
            AttentionTaps(model).__enter__()
        taps.clear()
        assert taps.records == []
    with torch.no_grad():
        model(x)
    assert taps.records == []
    assert all(getattr(m, "tap", None) is None for m in model.modules())
    with pytest.raises(ValueError, match="wrap_model"):
        AttentionTaps(zoo_model("fmnist_vit"))


# --- window_layout against timm's roll / pad / partition ----------------------------------------------------------

WINDOW_CASES = [
    ((5, 5), (4, 4), (2, 2)),
    ((5, 5), (4, 4), (0, 0)),
    ((7, 9), (3, 4), (1, 2)),
    ((14, 14), (7, 7), (3, 3)),
    ((24, 24), (7, 7), (3, 3)),
    ((12, 12), (7, 7), (3, 3)),
    ((6, 6), (6, 6), (0, 0)),
    ((3, 10), (3, 4), (0, 2)),
]


def timm_window_positions(grid, window, shift) -> torch.Tensor:
    """Grid indices through timm's own steps: roll by -shift, pad bottom/right with -1, window_partition."""
    height, width = grid
    index = torch.arange(height * width).view(1, height, width, 1)
    if any(shift):
        index = torch.roll(index, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    pad_h, pad_w = (-height) % window[0], (-width) % window[1]
    index = F.pad(index, (0, 0, 0, pad_w, 0, pad_h), value=-1)
    return window_partition(index, window).reshape(-1, window[0] * window[1])


@pytest.mark.parametrize("grid, window, shift", WINDOW_CASES)
def test_window_layout_matches_timm(grid, window, shift):
    layout = window_layout(grid, window, shift)
    height, width = grid
    hp, wp = -(-height // window[0]) * window[0], -(-width // window[1]) * window[1]
    assert layout.padded_grid == (hp, wp) and layout.grid == grid
    assert layout.window == window and layout.shift == shift and layout.special_tokens == ()
    assert layout.positions.shape == ((hp // window[0]) * (wp // window[1]), window[0] * window[1])
    assert torch.equal(layout.positions, timm_window_positions(grid, window, shift))
    # every real position exactly once, -1 exactly for the pad tokens
    real = layout.positions[layout.patch_mask]
    assert sorted(real.tolist()) == list(range(height * width))
    assert (~layout.patch_mask).sum().item() == hp * wp - height * width
    assert layout.has_pad == (hp * wp > height * width)


def test_window_layout_pad_tokens_5x5_window_4_shift_2():
    layout = window_layout((5, 5), (4, 4), (2, 2))
    assert layout.padded_grid == (8, 8) and layout.num_windows == 4 and layout.num_tokens == 16
    assert layout.has_pad and (layout.positions == -1).sum().item() == 64 - 25
    # in the padded, shifted 8x8 grid, the pad tokens are exactly rows >= 5 or cols >= 5
    padded = layout.positions.view(2, 2, 4, 4).permute(0, 2, 1, 3).reshape(8, 8)
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    assert torch.equal(padded == -1, (rows >= 5) | (cols >= 5))
    # and the real part is torch.roll of the grid of indices by -shift, as timm does it
    rolled = torch.roll(torch.arange(25).view(5, 5), shifts=(-2, -2), dims=(0, 1))
    assert torch.equal(padded[:5, :5], rolled)


def test_window_layout_matches_a_real_timm_block(timm_model):
    """Run timm's own SwinTransformerBlock._attn on a grid of indices with an attention that records its input."""

    class Recorder(nn.Module):
        def forward(self, x, mask=None):
            self.seen = x
            return x

    model = timm_model("swin_tiny_patch4_window7_224", img_size=(96, 96), num_classes=10)
    for name in ("layers.0.blocks.1", "layers.1.blocks.1", "layers.2.blocks.0"):
        block = model.get_submodule(name)
        assert isinstance(block, SwinTransformerBlock)
        height, width = block.input_resolution
        block.attn = Recorder()
        index = (torch.arange(height * width, dtype=torch.float32) + 1).view(1, height, width, 1)
        assert torch.equal(block._attn(index), index)
        positions = block.attn.seen[..., 0].long() - 1  # timm pads with zeros: pad tokens become -1
        layout = window_layout((height, width), tuple(block.window_size), tuple(block.shift_size))
        assert torch.equal(layout.positions, positions), name


# --- TokenLayout.to_grid ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", [
    window_layout((5, 5), (4, 4), (2, 2)), window_layout((14, 14), (7, 7), (3, 3)),
    window_layout((7, 9), (3, 4), (1, 2)), global_layout(("cls", "dist"), (7, 7)), global_layout(("cls",), (4, 6)),
], ids=["pad-shift", "swin-shift", "rect", "deit", "vit-rect"])
def test_to_grid_scatters_positions_back_to_the_unshifted_grid(layout):
    height, width = layout.grid
    grid = torch.arange(height * width, dtype=torch.float32).view(height, width)
    assert torch.equal(layout.to_grid(layout.positions.float()), grid)
    # leading dimensions are kept
    values = layout.positions.float().expand(2, 3, *layout.positions.shape) + torch.arange(3).view(1, 3, 1, 1) * 1000
    out = layout.to_grid(values)
    assert out.shape == (2, 3, height, width)
    assert torch.equal(out[1, 2], grid + 2000)


def test_to_grid_of_swin_attention_outputs_matches_timm_reverse(timm_model, images):
    """Per-token outputs of a padded, shifted Swin block mapped by to_grid equal timm's own window_reverse + roll."""
    model = timm_model("swin_tiny_patch4_window7_224", img_size=(96, 96), num_classes=10)
    wrapped = wrap_model(model, get_preset("standard"), "4w4a")
    block = wrapped.get_submodule("layers.0.blocks.1")
    inputs = {}
    handle = block.register_forward_pre_hook(lambda mod, args: inputs.setdefault("x", args[0]))
    x = images(model, BATCH)
    with torch.no_grad():
        _, records = tap(wrapped, x, keep=("outputs",))
        handle.remove()
        rec = by_name(records)["layers.0.blocks.1.attn"]
        assert rec.layout.has_pad and rec.layout.shift == (3, 3)
        attn = block.attn
        merged = rec.outputs.transpose(1, 2).reshape(rec.outputs.shape[0], rec.layout.num_tokens, -1)
        per_token = attn.proj(merged)  # (B * windows, N, C)
        per_token = rec.per_image(per_token).permute(0, 3, 1, 2)  # (B, C, windows, N)
        on_grid = rec.layout.to_grid(per_token)  # (B, C, H, W)
        expected = block._attn(block.norm1(inputs["x"])).permute(0, 3, 1, 2)
    assert on_grid.shape == expected.shape == (BATCH, 96, 24, 24)
    torch.testing.assert_close(on_grid, expected, rtol=1e-5, atol=1e-6)


# --- timm Swin with pad tokens ------------------------------------------------------------------------------------


def test_taps_on_timm_swin_with_pad_tokens(timm_model, images):
    model = timm_model("swin_tiny_patch4_window7_224", img_size=(96, 96), num_classes=10)
    wrapped = wrap_model(model, get_preset("standard"), "4w4a")
    x = images(model, BATCH)
    with torch.no_grad():
        _, records = tap(wrapped, x)
    assert len(records) == 2 + 2 + 6 + 2
    expected = {  # stage: (grid, window, padded grid, windows, has_pad)
        0: ((24, 24), (7, 7), (28, 28), 16, True),
        1: ((12, 12), (7, 7), (14, 14), 4, True),
        2: ((6, 6), (6, 6), (6, 6), 1, False),
        3: ((3, 3), (3, 3), (3, 3), 1, False),
    }
    for rec in records:
        stage, block = int(rec.name.split(".")[1]), int(rec.name.split(".")[3])
        grid, window, padded, windows, has_pad = expected[stage]
        layout = rec.layout
        assert (layout.grid, layout.window, layout.padded_grid, layout.num_windows) == (grid, window, padded, windows)
        assert layout.has_pad is has_pad, rec.name
        assert layout.shift == ((3, 3) if stage < 2 and block % 2 else (0, 0))
        assert rec.images == BATCH and rec.logits.shape[0] == BATCH * windows
        assert sorted(layout.positions[layout.patch_mask].tolist()) == list(range(grid[0] * grid[1]))
        torch.testing.assert_close(rec.probs_from_logits(), rec.probs, rtol=1e-5, atol=1e-6)


def test_token_layout_properties():
    layout = TokenLayout(special_tokens=("cls",), grid=(2, 2), positions=torch.tensor([[-1, 0, 1, 2, 3]]))
    assert layout.num_special == 1 and layout.num_windows == 1 and layout.num_tokens == 5
    assert torch.equal(layout.patch_mask, torch.tensor([[False, True, True, True, True]]))
    assert not layout.has_pad  # special tokens are not pad tokens


def test_shared_patch_index_per_layout():
    from dfqbench.layout import global_layout, window_layout

    deit = global_layout(("cls", "dist"), (3, 3))
    assert deit.shared_patch_index.tolist() == list(range(2, 11))
    assert window_layout((4, 4), (2, 2), (0, 0)).shared_patch_index.tolist() == [0, 1, 2, 3]
    assert window_layout((3, 3), (2, 2), (0, 0)).shared_patch_index is None  # pad tokens in some windows only
