"""log2 quantizer for softmax outputs in [0, 1] (FQ-ViT style)."""

from __future__ import annotations

import torch

from dfqbench.quant.state import Quantizer, QuantState


class Log2Quantizer(Quantizer):
    """``x_q = 2^-q`` with ``q = round(-log2 x)``; values with ``q > 2^b - 1`` become 0.

    Straight-through gradient. Needs no calibration.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.state is not QuantState.QUANTIZE:
            return x
        q = torch.round(-torch.log2(x.detach()))  # exact zeros give +inf, hence 0 below
        levels = 2 ** self.bits - 1
        xq = torch.where(q > levels, torch.zeros_like(x), torch.exp2(-q))
        return x + (xq - x).detach()
