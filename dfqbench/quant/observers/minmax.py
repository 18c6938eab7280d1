"""``minmax``: the exact minimum and maximum over every calibration batch."""

from __future__ import annotations

import torch

from dfqbench.quant.observers.base import Observer, affine_from_range


class MinMaxObserver(Observer):
    def __init__(self) -> None:
        self.low, self.high = float("inf"), float("-inf")

    def observe(self, x: torch.Tensor) -> None:
        self.low = min(self.low, x.detach().min().item())
        self.high = max(self.high, x.detach().max().item())

    def compute(self, qmin: int, qmax: int) -> tuple[float, float]:
        return affine_from_range(self.low, self.high, qmin, qmax)
