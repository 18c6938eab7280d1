"""``lsq``: LSQ's step on the first batch, ``s = 2 mean|x| / sqrt(q_max)``, and a zero point that lifts the grid
to the batch's minimum.

With the integer level ``round(x/s) + z`` clamped to ``[q_min, q_max]``, the lowest value the grid holds is
``(q_min - z) s``. The zero point is the smallest shift that keeps ``min(x)`` on the grid, bounded so that the
grid never moves down and 0 stays on it:

    z = clamp(ceil(q_min - min(x) / s), q_min, 0)

An input whose negative side is short (post-GELU, minimum about -0.17) gets ``z < 0``: its grid starts just
below the minimum instead of spending half its levels on values that never occur. An input whose negative
tail reaches past ``q_min s`` keeps ``z = 0`` (LSQ's symmetric grid), as does an unsigned input whose minimum is
below one step (an unsigned grid always has ``z = 0``). The zero point then learns
(see :mod:`dfqbench.quant.lsq_function`).
"""

from __future__ import annotations

import math

import torch

from dfqbench.quant.observers.base import Observer


class LSQObserver(Observer):
    def __init__(self) -> None:
        self.mean_abs: float | None = None
        self.minimum: float = 0.0

    def observe(self, x: torch.Tensor) -> None:
        if self.mean_abs is None:  # the first batch only
            x = x.detach()
            self.mean_abs, self.minimum = x.abs().mean().item(), x.min().item()

    def compute(self, qmin: int, qmax: int) -> tuple[float, float]:
        step = max(2 * (self.mean_abs or 0.0) / math.sqrt(qmax), 1e-8)
        return step, float(min(max(math.ceil(qmin - self.minimum / step), qmin), 0))
