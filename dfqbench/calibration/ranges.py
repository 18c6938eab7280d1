"""Initialise the activation quantizers' ranges on calibration batches."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from dfqbench.quant.act_quantizer import ActQuantizer
from dfqbench.quant.state import QuantState, set_quant_state


@torch.no_grad()
def init_activation_ranges(model: nn.Module, batches: Iterable[torch.Tensor], init: str) -> None:
    """Observe ``batches`` with every activation quantizer set to ``init``, then switch to QUANTIZE.

    ``lsq`` looks at the first batch only (pass one batch); ``minmax``,
    ``percentile`` and ``mse`` look at every batch given.
    """
    for module in model.modules():
        if isinstance(module, ActQuantizer):
            module.reset(init)
    set_quant_state(model, QuantState.CALIBRATE)
    for batch in batches:
        model(batch)
    set_quant_state(model, QuantState.QUANTIZE)
