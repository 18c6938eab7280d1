"""dfqbench: a benchmark suite for data-free quantization of Vision Transformers.

The layout follows the pipeline: ``data`` and ``zoo`` provide images and
full-precision models, ``quant`` is the one shared quantizer, ``attention``
exposes what every method taps (logits, probabilities, per-head outputs),
``evaluate`` measures top-1/top-5, ``cli`` is the command line.
"""

__version__ = "0.1.0"
