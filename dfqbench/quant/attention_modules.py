"""Explicit attention modules that hold timm's weights and expose both matmuls.

They follow timm's own order of operations (``q * scale``, then ``@ k^T``,
then bias and mask, then softmax, then ``@ v``), so that with every quantizer
OFF the output equals timm's non-fused path exactly. timm itself is never
patched: the wrapper swaps these modules in on a copy of the model.

Quantized operands: ``q`` (after scaling) and ``k`` for ``q @ k^T``; the
softmax probabilities and ``v`` for ``attn @ v``. Each module calls
``self.tap`` (set by :class:`dfqbench.kit.attention.AttentionTaps`) with the
logits S, the probabilities A (before their quantizer), the per-head outputs
O, and the additive bias/mask.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from timm.layers.attention import maybe_add_mask, resolve_self_attn_mask

from dfqbench.quant.act_quantizer import ActQuantizer
from dfqbench.quant.log2_quantizer import Log2Quantizer
from dfqbench.quant.preset import QuantPreset


def probs_quantizer(preset: QuantPreset, bits: int) -> nn.Module:
    if not preset.quantize_matmuls or preset.softmax_quantizer == "none":
        return nn.Identity()
    if preset.softmax_quantizer == "log2":
        return Log2Quantizer(bits)
    return ActQuantizer(bits, learnable=preset.act_learnable)


def operand_quantizer(preset: QuantPreset, bits: int) -> nn.Module:
    return ActQuantizer(bits, learnable=preset.act_learnable) if preset.quantize_matmuls else nn.Identity()


class MatmulQuantizers(nn.Module):
    """The four operand quantizers of one attention: q, k (for q@k^T), probs, v (for attn@v)."""

    def __init__(self, preset: QuantPreset, bits: int) -> None:
        super().__init__()
        self.q = operand_quantizer(preset, bits)
        self.k = operand_quantizer(preset, bits)
        self.probs = probs_quantizer(preset, bits)
        self.v = operand_quantizer(preset, bits)


class ExplicitAttention(nn.Module):
    """timm's ``Attention`` (ViT, DeiT) with explicit, quantizable matmuls."""

    def __init__(self, attn: nn.Module, preset: QuantPreset, a_bits: int) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.scale = attn.num_heads, attn.head_dim, attn.scale
        self.attn_dim = attn.attn_dim
        self.qkv, self.proj, self.gate = attn.qkv, attn.proj, attn.gate
        self.q_norm, self.k_norm, self.norm = attn.q_norm, attn.k_norm, attn.norm
        self.attn_drop, self.proj_drop = attn.attn_drop, attn.proj_drop
        self.matmul = MatmulQuantizers(preset, a_bits)
        self.tap = None
        self.layout = None  # set by the wrapper: a TokenLayout or a callable returning one

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        B, N, C = x.shape
        gate = self.gate(x).sigmoid() if self.gate is not None else None
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        q = q * self.scale
        logits = self.matmul.q(q) @ self.matmul.k(k).transpose(-2, -1)
        bias = resolve_self_attn_mask(N, logits, attn_mask, is_causal)
        probs = maybe_add_mask(logits, bias).softmax(dim=-1)
        out = self.attn_drop(self.matmul.probs(probs)) @ self.matmul.v(v)
        if self.tap is not None:
            self.tap(self, logits, probs, out, bias)
        x = out.transpose(1, 2).reshape(B, N, self.attn_dim)
        x = self.norm(x)
        if gate is not None:
            x = x * gate
        return self.proj_drop(self.proj(x))


class ExplicitWindowAttention(nn.Module):
    """timm's Swin ``WindowAttention`` with explicit, quantizable matmuls (x: windows*B, N, C)."""

    def __init__(self, attn: nn.Module, preset: QuantPreset, a_bits: int) -> None:
        super().__init__()
        self.num_heads, self.scale = attn.num_heads, attn.scale
        self.window_size, self.window_area = attn.window_size, attn.window_area
        self.relative_position_bias_table = attn.relative_position_bias_table
        self.register_buffer("relative_position_index", attn.relative_position_index.clone(), persistent=False)
        self.qkv, self.proj = attn.qkv, attn.proj
        self.attn_drop, self.proj_drop = attn.attn_drop, attn.proj_drop
        self.matmul = MatmulQuantizers(preset, a_bits)
        self.tap = None
        self.layout = None

    def rel_pos_bias(self) -> torch.Tensor:
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(self.window_area, self.window_area, -1).permute(2, 0, 1).contiguous()
        return bias.unsqueeze(0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.scale
        logits = self.matmul.q(q) @ self.matmul.k(k).transpose(-2, -1)
        bias = self.rel_pos_bias()
        attn = logits + bias
        if mask is not None:
            num_win = mask.shape[0]
            attn = attn.view(-1, num_win, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
            bias = bias + mask.unsqueeze(1)  # (windows, heads, N, N), repeating over images
        probs = attn.softmax(dim=-1)
        out = self.attn_drop(self.matmul.probs(probs)) @ self.matmul.v(v)
        if self.tap is not None:
            self.tap(self, logits, probs, out, bias)
        x = out.transpose(1, 2).reshape(B_, N, -1)
        return self.proj_drop(self.proj(x))
