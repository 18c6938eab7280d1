"""Image priors shared by the synthesizers: the one-hot label loss and the two TV forms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

PSAQ_TAU_RANGE = (2500.0, 3000.0)
PSAQ_REFERENCE_VALUES = 32 * 3 * 224 * 224  # tau was tuned for a batch of 32 images of 3x224x224


def one_hot_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``L_OH = CE(f_FP(aug(x)), y)``."""
    return F.cross_entropy(logits, labels)


def _differences(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    diag1 = x[..., 1:, 1:] - x[..., :-1, :-1]
    diag2 = x[..., 1:, :-1] - x[..., :-1, 1:]
    return dx, dy, diag1, diag2


def tv_mimiq(x: torch.Tensor) -> torch.Tensor:
    """``TV(x) = ||dx|| + ||dy|| + (||diag1|| + ||diag2||) / sqrt(2)``, Frobenius norms over the whole batch."""
    dx, dy, d1, d2 = _differences(x)
    return dx.norm() + dy.norm() + (d1.norm() + d2.norm()) / math.sqrt(2)


def psaq_tau(x: torch.Tensor, generator: torch.Generator, scaled: bool = True) -> float:
    """PSAQ-ViT's target ``tau ~ U(2500, 3000)``; ``scaled``: times ``sqrt(values / (32*3*224*224))`` so that the
    target fits a batch of another size [choice]."""
    low, high = PSAQ_TAU_RANGE
    tau = low + (high - low) * torch.rand((), generator=generator).item()
    return tau * math.sqrt(x.numel() / PSAQ_REFERENCE_VALUES) if scaled else tau


def tv_psaq(x: torch.Tensor, tau: float) -> torch.Tensor:
    """PSAQ-ViT's ``|R(x) - tau|`` with ``R`` the sum of the four difference norms (diagonals unweighted)."""
    return (sum(d.norm() for d in _differences(x)) - tau).abs()
