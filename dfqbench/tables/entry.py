"""One table entry: top-1 of one (row, bits, model) over seeds (a grid cell, aggregated)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from dfqbench.tables.stats import LEVEL, mean_interval


@dataclass(frozen=True)
class Entry:
    """Top-1 of one (row, bits, model): mean, sample std (None for one value) and n (None for a published number).

    ``values`` and ``seeds`` keep the per-seed numbers for the tests (not part of equality).
    """

    mean: float
    std: float | None
    n: int | None
    values: tuple[float, ...] = field(default=(), compare=False, repr=False)
    seeds: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, values: Sequence[float], seeds: Sequence[str] = ()) -> Entry:
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        return cls(mean, std, n, tuple(values), tuple(seeds))

    @property
    def tested(self) -> bool:
        """Whether a test over seeds can use this cell (n >= 2)."""
        return (self.n or 0) >= 2

    @property
    def by_seed(self) -> dict[str, float]:
        """Top-1 per seed ({} when the results had no seed column)."""
        return dict(zip(self.seeds, self.values, strict=True)) if self.seeds else {}

    def interval(self, level: float = LEVEL) -> tuple[float, float] | None:
        """The t-interval of the mean over seeds (see :func:`stats.mean_interval`); None below 2 seeds."""
        return mean_interval(self.mean, self.std, self.n, level) if self.tested else None
