"""Quantizer presets: typed, versioned configs (the quantizer's form, not its calibration)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from dfqbench.config import Config
from dfqbench.errors import UserError
from dfqbench.registry import Registry


@dataclasses.dataclass(frozen=True)
class QuantPreset(Config):
    """What is quantized and how (dfqbench/PROTOCOL.md, "The shared quantizer").

    Version 2: the ``lsq`` range initialisation lifts a grid to its first batch's minimum and activation zero
    points train with an unscaled gradient (see :mod:`dfqbench.quant.observers.lsq` and
    :mod:`dfqbench.quant.lsq_function`). Both presets moved to version 2: ``psaq``'s activations are frozen, but
    a QAT calibrator run with ``--preset psaq`` initialises them with ``lsq`` too.

    - weights: symmetric, per output channel, scale from max |w|;
    - activations: per tensor, uniform; ``act_learnable`` makes step and zero
      point LSQ parameters, otherwise they are frozen after calibration;
    - ``quantize_matmuls``: both operands of both attention matmuls;
    - ``softmax_quantizer``: ``uniform``, ``log2`` or ``none`` (floating point);
    - ``first_last_8bit``: patch embedding and every classifier head at 8 bits.
    """

    CONFIG_VERSION: ClassVar[int] = 2  # 2: lsq zero points lift the grid to the first batch's minimum, train unscaled

    name: str = "standard"
    act_learnable: bool = True
    quantize_matmuls: bool = True
    softmax_quantizer: str = "uniform"
    first_last_8bit: bool = False

    def __post_init__(self) -> None:
        if self.softmax_quantizer not in ("uniform", "log2", "none"):
            raise UserError(f"softmax_quantizer must be uniform, log2 or none, got '{self.softmax_quantizer}'")


PRESETS: Registry[QuantPreset] = Registry("preset")
PRESETS.add("standard", QuantPreset(name="standard"))
PRESETS.add("psaq", QuantPreset(name="psaq", act_learnable=False, softmax_quantizer="none"))


def preset_names(pattern: str | None = None) -> list[str]:
    return PRESETS.names(pattern)


def get_preset(name: str, **overrides) -> QuantPreset:
    """A registered preset, optionally with fields replaced (e.g. ``first_last_8bit=True``)."""
    preset = PRESETS.get(name)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(QuantPreset)}
    if unknown:
        raise UserError(f"unknown preset field(s): {', '.join(sorted(unknown))}")
    return dataclasses.replace(preset, **overrides) if overrides else preset
