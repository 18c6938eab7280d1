"""Wrap a timm ViT / DeiT / Swin into a fake-quantizable copy (quantizers start OFF).

Only module instances of a *copy* are swapped: timm's classes are untouched.
"""

from __future__ import annotations

import copy

import torch.nn as nn
from timm.layers.attention import Attention
from timm.models.swin_transformer import SwinTransformerBlock, WindowAttention

from dfqbench.errors import UserError
from dfqbench.layout import TokenLayout, global_layout, window_layout
from dfqbench.quant.attention_modules import ExplicitAttention, ExplicitWindowAttention
from dfqbench.quant.bits import BitWidth
from dfqbench.quant.layers import QuantConv2d, QuantLinear
from dfqbench.quant.preset import QuantPreset
from dfqbench.quant.state import QuantState, set_quant_state

FIRST_LAST_BITS = 8


def classifier_names(model: nn.Module) -> set[str]:
    """Names of the Linear modules that produce logits (``head``, ``head_dist``, ``head.fc``)."""
    names = {name for name, m in model.named_modules() if isinstance(m, (nn.Linear, QuantLinear))}
    heads = {n for n in names if n in ("head", "head_dist", "head.fc", "fc", "classifier")}
    if not heads:
        raise ValueError("cannot find the classifier head of this model")
    return heads


def special_token_names(model: nn.Module) -> tuple[str, ...]:
    names: list[str] = []
    if getattr(model, "cls_token", None) is not None:
        names.append("cls")
    names += [f"reg{i}" for i in range(getattr(model, "num_reg_tokens", 0) or 0)]
    if getattr(model, "dist_token", None) is not None:
        names.append("dist")
    if len(names) != getattr(model, "num_prefix_tokens", len(names)):
        raise ValueError("cannot tell this model's special tokens apart")
    return tuple(names)


class GlobalLayoutOf:
    """Computes a ViT/DeiT attention call's layout from its token count (cached per count)."""

    def __init__(self, model: nn.Module) -> None:
        self.special = special_token_names(model)
        self.grid = tuple(model.patch_embed.grid_size)
        self.cache: dict[int, TokenLayout] = {}

    def __call__(self, num_tokens: int) -> TokenLayout:
        if num_tokens not in self.cache:
            patches = num_tokens - len(self.special)
            grid = self.grid
            if grid[0] * grid[1] != patches:
                side = round(patches ** 0.5)
                if side * side != patches:
                    raise ValueError(f"cannot infer the patch grid of {patches} tokens")
                grid = (side, side)
            self.cache[num_tokens] = global_layout(self.special, grid)
        return self.cache[num_tokens]


def _swin_layout_hook(block: SwinTransformerBlock, args: tuple) -> None:
    """Before a Swin block runs, give its attention the layout of this call's grid."""
    _, height, width, _ = args[0].shape
    key = (height, width, tuple(block.window_size), tuple(block.shift_size))
    cached = getattr(block.attn, "_layout_key", None)
    if cached != key:
        block.attn.layout = window_layout((height, width), tuple(block.window_size), tuple(block.shift_size))
        block.attn._layout_key = key


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, new)


SUPPORTED_ATTENTION = (Attention, WindowAttention)


def unsupported_attention(model: nn.Module) -> list[str]:
    """The attention classes in ``model`` that the shared quantizer cannot make explicit (their matmuls would stay
    in floating point): any module named like an attention that is not timm's ViT/DeiT ``Attention`` or Swin's
    (v1) ``WindowAttention``. SwinV2's ``WindowAttention`` is another class and is listed."""
    found = set()
    for module in model.modules():
        name = type(module).__name__
        if isinstance(module, SUPPORTED_ATTENTION + (ExplicitAttention, ExplicitWindowAttention)):
            continue
        if "attention" in name.lower() or name.lower().endswith("attn"):
            found.add(f"{type(module).__module__.removeprefix('timm.models.').removeprefix('timm.layers.')}.{name}")
    return sorted(found)


def check_supported(model: nn.Module, name: str | None = None) -> None:
    """UserError naming what is unsupported when ``model`` holds attention the quantizer cannot quantize fully."""
    missing = unsupported_attention(model)
    if missing:
        raise UserError(f"{name or type(model).__name__}: the shared quantizer does not support {', '.join(missing)} "
                        "(its attention would stay in floating point); supported: timm's ViT/DeiT Attention and "
                        "Swin (v1) WindowAttention")


def wrap_model(model: nn.Module, preset: QuantPreset, bits: BitWidth | str) -> nn.Module:
    """A copy of ``model`` with explicit attention and fake-quant layers, every quantizer OFF. A model with
    attention it cannot make explicit is refused (:func:`check_supported`), never quantized half-way."""
    bits = BitWidth.parse(bits) if isinstance(bits, str) else bits
    if hasattr(model, "dfq_preset"):
        raise ValueError("this model is already wrapped; wrap the FP model instead")
    check_supported(model)
    wrapped = copy.deepcopy(model)
    layout_of = GlobalLayoutOf(wrapped) if hasattr(wrapped, "num_prefix_tokens") else None
    for name, module in list(wrapped.named_modules()):
        if isinstance(module, Attention):
            if layout_of is None:
                raise ValueError("global attention outside a VisionTransformer is not supported")
            explicit = ExplicitAttention(module, preset, bits.activation)
            explicit.layout = layout_of
            _replace(wrapped, name, explicit)
        elif isinstance(module, WindowAttention):
            _replace(wrapped, name, ExplicitWindowAttention(module, preset, bits.activation))
    for module in wrapped.modules():
        if isinstance(module, SwinTransformerBlock):
            module.register_forward_pre_hook(_swin_layout_hook)
    heads = classifier_names(wrapped)
    first = wrapped.patch_embed.proj
    for name, module in list(wrapped.named_modules()):
        if isinstance(module, nn.Linear):
            edge = preset.first_last_8bit and name in heads
            w, a = (FIRST_LAST_BITS, FIRST_LAST_BITS) if edge else (bits.weight, bits.activation)
            _replace(wrapped, name, QuantLinear(module, w, a, act_learnable=preset.act_learnable))
        elif module is first and isinstance(module, nn.Conv2d):
            w = FIRST_LAST_BITS if preset.first_last_8bit else bits.weight
            _replace(wrapped, name, QuantConv2d(module, w))
    wrapped.dfq_preset, wrapped.dfq_bits = preset, bits
    set_quant_state(wrapped, QuantState.OFF)
    return wrapped
