"""Per-output-channel symmetric weight quantizer with a straight-through gradient."""

from __future__ import annotations

import torch

from dfqbench.quant.state import Quantizer, QuantState
from dfqbench.quant.ste import round_ste


class WeightQuantizer(Quantizer):
    """``w_q = clamp(round(w / s), -2^(b-1), 2^(b-1)-1) * s``, ``s = max|w_c| / (2^(b-1)-1)`` per channel c.

    The scale is recomputed from the current weight at every call (weights
    train during QAT) and is treated as a constant in the backward pass.
    """

    def __init__(self, bits: int) -> None:
        super().__init__(bits)
        self._cache_key, self._cache = None, None

    def scale(self, weight: torch.Tensor) -> torch.Tensor:
        qmax = 2 ** (self.bits - 1) - 1
        max_abs = weight.detach().abs().flatten(1).amax(dim=1).clamp_min(1e-8)
        return (max_abs / qmax).view(-1, *([1] * (weight.dim() - 1)))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.state is not QuantState.QUANTIZE:
            return weight
        qmin, qmax = -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1
        scale = self.scale(weight)
        if torch.is_grad_enabled():
            return torch.clamp(round_ste(weight * (1.0 / scale)), qmin, qmax) * scale
        key = (weight.data_ptr(), weight._version, weight.device, self.bits)
        if self._cache_key != key:  # weights do not change between no-grad calls: quantize once
            zero = torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)
            self._cache = torch.fake_quantize_per_channel_affine(weight, scale.flatten(), zero, 0, qmin, qmax)
            self._cache_key = key
        return self._cache
