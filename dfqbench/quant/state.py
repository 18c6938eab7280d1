"""Explicit quantizer states for the whole model (MQBench style)."""

from __future__ import annotations

import enum

import torch.nn as nn


class QuantState(enum.Enum):
    """OFF: exact floating point. CALIBRATE: floating point, observers collect
    activation statistics. QUANTIZE: fake quantization."""

    OFF = "off"
    CALIBRATE = "calibrate"
    QUANTIZE = "quantize"


class Quantizer(nn.Module):
    """Base of every weight and activation quantizer: holds its bits and its state."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits
        self.state = QuantState.OFF
        self.frozen_reads: dict | None = None  # see dfqbench/quant/frozen.py

    def forget_reads(self) -> None:
        """Called by a quantizer that changes its own tensors: a frozen scope reads them again."""
        if self.frozen_reads is not None:
            self.frozen_reads.clear()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, state={self.state.value}"


def quantizers(model: nn.Module) -> list[Quantizer]:
    return [m for m in model.modules() if isinstance(m, Quantizer)]


def set_quant_state(model: nn.Module, state: QuantState | str) -> None:
    """Put every quantizer of ``model`` into ``state``; leaving CALIBRATE finalises the observers."""
    state = QuantState(state)
    for quantizer in quantizers(model):
        if quantizer.state is QuantState.CALIBRATE and state is not QuantState.CALIBRATE:
            finish = getattr(quantizer, "finish_calibration", None)
            if finish is not None:
                finish()
        quantizer.state = state
