"""Straight-through helpers shared by the quantizers."""

from __future__ import annotations

import torch


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity gradient."""
    return x + (torch.round(x) - x).detach()


def grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """x forward, gradient multiplied by ``scale`` (LSQ's step-size gradient scaling)."""
    return (x - x * scale).detach() + x * scale
