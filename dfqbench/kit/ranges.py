"""The quantizers a calibration touches: range initialisation on calibration batches, readiness, trainable
parameters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn as nn

from dfqbench.quant.act_quantizer import ActQuantizer
from dfqbench.quant.layers import QuantConv2d, QuantLinear
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


def quantizers_ready(model: nn.Module) -> bool:
    """Whether every activation quantizer of ``model`` has its range."""
    return all(m.is_initialised for m in model.modules() if isinstance(m, ActQuantizer))


def trainable_quant_params(modules: Sequence[nn.Module], weights: bool, act: bool,
                           zero_points: bool = False) -> list[nn.Parameter]:
    """Under ``modules``: the quantized layers' weights, the activation quantizers' step sizes and
    (``zero_points``) zero points, each once, those that require grad, in module order."""
    found: dict[int, nn.Parameter] = {}
    for module in modules:
        for m in module.modules():
            if weights and isinstance(m, (QuantLinear, QuantConv2d)) and m.weight.requires_grad:
                found[id(m.weight)] = m.weight
            if act and isinstance(m, ActQuantizer):
                trained = (m.step, m.zero_point) if zero_points else (m.step,)
                found.update({id(p): p for p in trained if p.requires_grad})
    return list(found.values())
