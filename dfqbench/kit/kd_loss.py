"""Logit knowledge distillation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logit_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 5.0) -> torch.Tensor:
    """``T^2 * KL(softmax(z_T / T) || softmax(z_Q / T))``, batch mean.

    For a distilled DeiT in eval mode timm already averages both heads, so
    the logits here are the model's outputs as evaluated.
    """
    log_q = F.log_softmax(student_logits / temperature, dim=-1)
    log_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    return temperature ** 2 * F.kl_div(log_q, log_t, log_target=True, reduction="batchmean")
