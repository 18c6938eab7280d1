"""``lsq``: LSQ's initialisation on the first batch, ``step = 2 mean|x| / sqrt(q_max)``, zero point 0."""

from __future__ import annotations

import math

import torch

from dfqbench.quant.observers.base import Observer


class LSQObserver(Observer):
    def __init__(self) -> None:
        self.mean_abs: float | None = None

    def observe(self, x: torch.Tensor) -> None:
        if self.mean_abs is None:  # the first batch only
            self.mean_abs = x.detach().abs().mean().item()

    def compute(self, qmin: int, qmax: int) -> tuple[float, float]:
        return max(2 * (self.mean_abs or 0.0) / math.sqrt(qmax), 1e-8), 0.0
