"""Reference rows: ``fp`` (no quantization), ``noise`` (Gaussian-noise images) and ``real``
(real training images: the oracle upper bound), the last two calibrated with ``kd``;
the calibrators ``ptq`` (range initialisation only) and ``kd`` (QAT with logit KD).
"""

from dfqbench.api import register_method

register_method("noise", "noise", "kd", paper="lower reference",
                description="Gaussian-noise images, calibrated with logit-KD QAT")
register_method("real", "real", "kd", paper="oracle upper reference",
                description="real training images, calibrated with logit-KD QAT")
