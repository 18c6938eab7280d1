"""The observer interface and the asymmetric range -> (step, zero point) mapping."""

from __future__ import annotations

import math

import torch

SAMPLE_LIMIT = 1 << 18  # values an observer keeps from all batches together


class Observer:
    """Sees activation batches, then proposes ``(step, zero_point)`` for a given integer grid."""

    def observe(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self, qmin: int, qmax: int) -> tuple[float, float]:
        raise NotImplementedError


def affine_from_range(low: float, high: float, qmin: int, qmax: int) -> tuple[float, float]:
    """Step and integer zero point that map [low, high] (widened to contain 0) onto [qmin, qmax]."""
    low, high = min(low, 0.0), max(high, 0.0)
    step = max((high - low) / (qmax - qmin), 1e-8)
    zero_point = float(min(max(qmin - round(low / step), qmin), qmax))
    return step, zero_point


class SampleObserver(Observer):
    """Keeps a deterministic strided sample of the values seen, up to SAMPLE_LIMIT in all."""

    def __init__(self) -> None:
        self.samples: list[torch.Tensor] = []
        self.kept = 0

    def observe(self, x: torch.Tensor) -> None:
        flat = x.detach().flatten().float()
        budget = max(SAMPLE_LIMIT - self.kept, SAMPLE_LIMIT // 16)
        stride = max(1, math.ceil(flat.numel() / budget))
        sample = flat[::stride].cpu()
        self.samples.append(sample)
        self.kept += sample.numel()

    def values(self) -> torch.Tensor:
        return torch.cat(self.samples)
