"""``mse``: the clipped min/max range whose fake quantization has the least squared error."""

from __future__ import annotations

import torch

from dfqbench.quant.observers.base import SampleObserver, affine_from_range


def fake_quant(x: torch.Tensor, step: float, zero_point: float, qmin: int, qmax: int) -> torch.Tensor:
    return (torch.clamp(torch.round(x / step) + zero_point, qmin, qmax) - zero_point) * step


class MSEObserver(SampleObserver):
    def __init__(self, candidates: int = 80, min_ratio: float = 0.2) -> None:
        super().__init__()
        self.candidates, self.min_ratio = candidates, min_ratio

    def compute(self, qmin: int, qmax: int) -> tuple[float, float]:
        values = self.values()
        low, high = values.min().item(), values.max().item()
        best, best_err = affine_from_range(low, high, qmin, qmax), float("inf")
        for ratio in torch.linspace(self.min_ratio, 1.0, self.candidates).tolist():
            step, zp = affine_from_range(low * ratio, high * ratio, qmin, qmax)
            err = (fake_quant(values, step, zp, qmin, qmax) - values).pow(2).mean().item()
            if err < best_err:
                best, best_err = (step, zp), err
        return best
