"""``kd``: QAT with logit distillation from the FP teacher."""

from __future__ import annotations

from dfqbench.api import register_calibrator
from dfqbench.kit.qat import QATCalibrator


@register_calibrator("kd")
class LogitKD(QATCalibrator):
    """``L = T^2 KL(softmax(z_T/T) || softmax(z_Q/T))``, T = 5; SGD-Nesterov, cosine lr; LSQ range init."""

    version = 1
    paper = "logit-KD QAT (MimiQ's calibration without HSAD)"
