"""Parity (dfqbench/PROTOCOL.md): with every quantizer OFF the wrapped model is the timm model, exactly
when timm's fused attention is off and to float32 rounding when it is on; and the wrapper quantizes what the
protocol says, with the first/last-8-bit switch and the psaq preset."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from timm.layers.attention import Attention
from timm.models.swin_transformer import WindowAttention

from dfqbench.quant import ActQuantizer, QuantState, WeightQuantizer, get_preset, quantizers, wrap_model
from dfqbench.quant.attention_modules import ExplicitAttention, ExplicitWindowAttention
from dfqbench.quant.layers import QuantConv2d, QuantLinear
from dfqbench.quant.log2_quantizer import Log2Quantizer

ZOO = ("fmnist_vit", "fmnist_deit", "fmnist_swin")
TIMM = {
    "deit_tiny_patch16_224": dict(img_size=64, num_classes=10),
    "deit_tiny_distilled_patch16_224": dict(img_size=64, num_classes=10),
    "vit_tiny_patch16_224": dict(img_size=64, num_classes=10),
    # 96 px, patch 4: stage grids 24, 12, 6, 3; 24 and 12 are not multiples of the window (7), so timm pads
    "swin_tiny_patch4_window7_224": dict(img_size=(96, 96), num_classes=10),
}


@pytest.fixture
def build(zoo_model, timm_model):
    def make(name: str) -> nn.Module:
        return zoo_model(name) if name in ZOO else timm_model(name, **TIMM[name])

    return make


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


@pytest.mark.parametrize("name", ZOO + tuple(TIMM))
def test_parity_with_quantizers_off(name, build, images, set_fused):
    model = build(name)
    x = images(model)
    wrapped = wrap_model(model, get_preset("standard"), "4w4a")
    assert all(q.state is QuantState.OFF for q in quantizers(wrapped))
    with torch.no_grad():
        set_fused(model, False)
        exact = model(x)
        out = wrapped(x)
        assert out.shape == (2, 10)
        assert torch.equal(out, exact), f"max |diff| {(out - exact).abs().max().item():.3g}"

        set_fused(model, True)
        fused = model(x)
        assert relative_error(out, fused) <= 1e-4
        assert torch.equal(wrapped(x), out)  # the wrapped model never depends on timm's fused flag


@pytest.mark.parametrize("name", ZOO + tuple(TIMM))
def test_wrap_leaves_the_original_model_alone(name, build, images, set_fused):
    model = set_fused(build(name), False)
    x = images(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        reference = model(x)
        wrapped = wrap_model(model, get_preset("standard"), "4w4a")
        wrapped(x)
    # the copy shares no parameter with the original and timm's modules are untouched
    assert not ({p.data_ptr() for p in model.parameters()} & {p.data_ptr() for p in wrapped.parameters()})
    assert not any(isinstance(m, (ExplicitAttention, ExplicitWindowAttention, QuantLinear)) for m in model.modules())
    assert any(isinstance(m, (Attention, WindowAttention)) for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    with torch.no_grad():
        assert torch.equal(model(x), reference)


@pytest.mark.parametrize("name", ZOO + tuple(TIMM))
def test_everything_the_protocol_quantizes_is_wrapped(name, build):
    model = build(name)
    num_attention = sum(isinstance(m, (Attention, WindowAttention)) for m in model.modules())
    linear_names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    wrapped = wrap_model(model, get_preset("standard"), "4w4a")
    modules = dict(wrapped.named_modules())
    # every Linear (qkv, proj, fc1, fc2, heads, Swin's patch-merging reduction) is a QuantLinear at 4 bits
    assert not any(isinstance(m, nn.Linear) for m in wrapped.modules())
    for n in linear_names:
        assert isinstance(modules[n], QuantLinear), n
        assert modules[n].weight_quantizer.bits == 4 and modules[n].input_quantizer.bits == 4
    if "swin" in name:
        assert any(n.endswith("downsample.reduction") for n in linear_names)
    # explicit attention in place of timm's, with all four matmul operands quantized
    explicit = [m for m in wrapped.modules() if isinstance(m, (ExplicitAttention, ExplicitWindowAttention))]
    assert len(explicit) == num_attention > 0
    assert not any(isinstance(m, (Attention, WindowAttention)) for m in wrapped.modules())
    for attn in explicit:
        for operand in ("q", "k", "probs", "v"):
            quantizer = getattr(attn.matmul, operand)
            assert isinstance(quantizer, ActQuantizer) and quantizer.bits == 4 and quantizer.step.requires_grad
    # the patch embedding's weights are quantized, the image entering it is not
    patch = wrapped.patch_embed.proj
    assert isinstance(patch, QuantConv2d) and patch.weight_quantizer.bits == 4
    assert not any(isinstance(m, ActQuantizer) for m in wrapped.patch_embed.modules())
    # counts: one input and one weight quantizer per Linear, four per attention, one weight quantizer for the conv
    acts = [q for q in quantizers(wrapped) if isinstance(q, ActQuantizer)]
    weights = [q for q in quantizers(wrapped) if isinstance(q, WeightQuantizer)]
    assert len(acts) == len(linear_names) + 4 * num_attention
    assert len(weights) == len(linear_names) + 1
    assert wrapped.dfq_preset == get_preset("standard") and str(wrapped.dfq_bits) == "4w4a"


def test_distilled_deit_has_two_quantized_heads(build, images):
    model = build("deit_tiny_distilled_patch16_224")
    x = images(model)
    wrapped = wrap_model(model, get_preset("standard"), "W4/A8")
    assert isinstance(wrapped.head, QuantLinear) and isinstance(wrapped.head_dist, QuantLinear)
    for head in (wrapped.head, wrapped.head_dist):
        assert head.weight_quantizer.bits == 4 and head.input_quantizer.bits == 8
    with torch.no_grad():
        features = wrapped.forward_features(x)
        cls_logits, dist_logits = wrapped.head(features[:, 0]), wrapped.head_dist(features[:, 1])
        assert torch.equal(wrapped(x), (cls_logits + dist_logits) / 2)  # eval: the mean of both heads


HEADS = {
    "fmnist_vit": {"head"}, "fmnist_deit": {"head", "head_dist"}, "fmnist_swin": {"head.fc"},
    "deit_tiny_distilled_patch16_224": {"head", "head_dist"}, "swin_tiny_patch4_window7_224": {"head.fc"},
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_first_last_8bit_switch(name, build, images):
    model = build(name)
    heads = HEADS[name]
    off = wrap_model(model, get_preset("standard"), "4w4a")
    on = wrap_model(model, get_preset("standard", first_last_8bit=True), "4w4a")
    for head in heads:
        assert off.get_submodule(head).weight_quantizer.bits == 4
        assert on.get_submodule(head).weight_quantizer.bits == 8
        assert on.get_submodule(head).input_quantizer.bits == 8
    assert off.patch_embed.proj.weight_quantizer.bits == 4
    assert on.patch_embed.proj.weight_quantizer.bits == 8
    edge = {id(on.get_submodule(h)) for h in heads} | {id(on.patch_embed.proj)}
    for module in on.modules():  # everything else stays at 4 bits
        if isinstance(module, (QuantLinear, QuantConv2d)) and id(module) not in edge:
            assert module.weight_quantizer.bits == 4
            if isinstance(module, QuantLinear):
                assert module.input_quantizer.bits == 4
    # the switch changes the quantized model, not the FP one
    x = images(model)
    with torch.no_grad():
        assert torch.equal(on(x), off(x))
        for wrapped in (on, off):
            for q in quantizers(wrapped):
                q.state = QuantState.QUANTIZE  # weights only; activations stay OFF
                if isinstance(q, ActQuantizer):
                    q.state = QuantState.OFF
        assert not torch.equal(on(x), off(x))
        weight = on.get_submodule(sorted(heads)[0])
        wq = weight.weight_quantizer(weight.weight)
        levels = (wq / weight.weight_quantizer.scale(weight.weight)).round().unique()
        assert levels.numel() > 16  # an 8-bit grid, not a 4-bit one


@pytest.mark.parametrize("name", ["fmnist_vit", "fmnist_swin", "deit_tiny_distilled_patch16_224"])
def test_psaq_preset(name, build, images):
    model = build(name)
    wrapped = wrap_model(model, get_preset("psaq"), "4w4a")
    explicit = [m for m in wrapped.modules() if isinstance(m, (ExplicitAttention, ExplicitWindowAttention))]
    assert explicit
    for attn in explicit:
        assert isinstance(attn.matmul.probs, nn.Identity)  # softmax output stays in floating point
        for operand in ("q", "k", "v"):
            assert isinstance(getattr(attn.matmul, operand), ActQuantizer)
    acts = [q for q in quantizers(wrapped) if isinstance(q, ActQuantizer)]
    assert acts and all(not q.step.requires_grad and not q.zero_point.requires_grad for q in acts)
    assert not any(isinstance(q, Log2Quantizer) for q in quantizers(wrapped))
    x = images(model)
    with torch.no_grad():
        assert torch.equal(wrapped(x), wrap_model(model, get_preset("standard"), "4w4a")(x))


def test_log2_softmax_switch(build):
    wrapped = wrap_model(build("fmnist_vit"), get_preset("standard", softmax_quantizer="log2"), "4w4a")
    explicit = [m for m in wrapped.modules() if isinstance(m, ExplicitAttention)]
    assert explicit and all(isinstance(m.matmul.probs, Log2Quantizer) for m in explicit)
    assert all(m.matmul.probs.bits == 4 for m in explicit)


def test_bit_widths_reach_the_quantizers(build):
    wrapped = wrap_model(build("fmnist_swin"), get_preset("standard"), "W3/A6")
    for q in quantizers(wrapped):
        assert q.bits == (3 if isinstance(q, WeightQuantizer) else 6)
