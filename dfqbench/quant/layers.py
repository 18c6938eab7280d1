"""Fake-quantized Linear and Conv2d holding the original module's weights."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from dfqbench.quant.act_quantizer import ActQuantizer
from dfqbench.quant.weight_quantizer import WeightQuantizer


class QuantLinear(nn.Module):
    """``linear(Q_a(x), Q_w(W), b)``: the input and the weight are quantized, the bias is not."""

    def __init__(self, linear: nn.Linear, w_bits: int, a_bits: int, act_learnable: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.input_quantizer = ActQuantizer(a_bits, learnable=act_learnable)
        self.weight_quantizer = WeightQuantizer(w_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.input_quantizer(x), self.weight_quantizer(self.weight), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class QuantConv2d(nn.Module):
    """A Conv2d (the patch embedding) with quantized weights; its input, the image, stays in floating point."""

    def __init__(self, conv: nn.Conv2d, w_bits: int) -> None:
        super().__init__()
        self.conv = conv
        self.weight_quantizer = WeightQuantizer(w_bits)

    @property
    def weight(self) -> nn.Parameter:
        return self.conv.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv._conv_forward(x, self.weight_quantizer(self.conv.weight), self.conv.bias)
