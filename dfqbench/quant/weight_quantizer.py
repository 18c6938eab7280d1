"""Per-output-channel symmetric weight quantizer with a straight-through gradient."""

from __future__ import annotations

import torch

from dfqbench.quant.frozen import read_once
from dfqbench.quant.state import Quantizer, QuantState
from dfqbench.quant.ste import round_ste


class WeightQuantizer(Quantizer):
    """``w_q = clamp(round(w / s), -2^(b-1), 2^(b-1)-1) * s``, ``s = max|w_c| / (2^(b-1)-1)`` per channel c.

    The scale is recomputed from the current weight at every call (weights
    train during QAT) and is treated as a constant in the backward pass.
    Inside :func:`~dfqbench.quant.frozen.frozen_quantizers` and without
    autograd (evaluation) it is computed once per scope, not once per batch.
    """

    def scale(self, weight: torch.Tensor) -> torch.Tensor:
        qmax = 2 ** (self.bits - 1) - 1
        max_abs = weight.detach().abs().flatten(1).amax(dim=1).clamp_min(1e-8)
        return (max_abs / qmax).view(-1, *([1] * (weight.dim() - 1)))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.state is not QuantState.QUANTIZE:
            return weight
        if not torch.is_grad_enabled():
            return read_once(self, f"weight/{id(weight)}", lambda: self.quantize(weight))
        return self.quantize(weight)

    def quantize(self, weight: torch.Tensor) -> torch.Tensor:
        # |w / s| <= 2^(b-1) - 1 by construction, so only the round acts (the clamp never binds).
        scale = self.scale(weight)
        return round_ste(weight * (1.0 / scale)) * scale
