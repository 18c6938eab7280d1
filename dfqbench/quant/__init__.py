"""The shared quantizer: presets, fake-quant layers, explicit attention, model-wide states."""

from dfqbench.quant.act_quantizer import ActQuantizer
from dfqbench.quant.bits import BitWidth, parse_bit_list
from dfqbench.quant.preset import PRESETS, QuantPreset, get_preset
from dfqbench.quant.state import QuantState, quantizers, set_quant_state
from dfqbench.quant.weight_quantizer import WeightQuantizer
from dfqbench.quant.wrap import wrap_model

__all__ = ["ActQuantizer", "BitWidth", "PRESETS", "QuantPreset", "QuantState", "WeightQuantizer",
           "get_preset", "parse_bit_list", "quantizers", "set_quant_state", "wrap_model"]
