"""``percentile``: the range between the (100-p)th and pth percentiles (p = 99.99 by default)."""

from __future__ import annotations

import torch

from dfqbench.quant.observers.base import SampleObserver, affine_from_range


class PercentileObserver(SampleObserver):
    def __init__(self, percentile: float = 99.99) -> None:
        super().__init__()
        self.percentile = percentile

    def compute(self, qmin: int, qmax: int) -> tuple[float, float]:
        values = self.values()
        q = torch.tensor([1 - self.percentile / 100, self.percentile / 100])
        low, high = torch.quantile(values, q).tolist()
        return affine_from_range(low, high, qmin, qmax)
