"""What one leaderboard column can resolve: which data-free methods are not significantly below the best one,
how each variant differs from its own method, and the smallest difference the column's seeds can detect.

- **Marks**: the best data-free method of the column (highest mean among the rows with n >= 2) and every other
  such row whose Welch t-test against it (two-sided, over seeds) is not significant after Holm's correction over
  the column's comparisons, at alpha = 0.05. Rows with n < 2 are untested: never marked.
- **Paired**: a variant (``maskaq[se=false]``) against its method (``maskaq``) shares each seed's draws, so it is
  compared by the paired t-test over the seeds both have (two-sided, Holm over the column's variants).
- **MDE**: ``(t_{0.975,df} + t_{0.8,df}) * s * sqrt(2/n)``, s the pooled seed std of the column's data-free
  methods with n >= 2, df its degrees of freedom, n the smallest of their seed counts (the conservative choice
  when they differ).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dfqbench.tables.cell import Cell
from dfqbench.tables.stats import (
    ALPHA,
    TTest,
    holm,
    minimum_detectable_difference,
    paired_t_test,
    pooled_std,
    welch_t_test,
)


@dataclass(frozen=True)
class Comparison:
    """``label`` against ``against`` in one column: the test (difference = label - against) and Holm's p."""

    label: str
    against: str
    test: TTest
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA


@dataclass(frozen=True)
class Detectable:
    """The minimum detectable difference of a column and what it was computed from."""

    value: float
    s: float
    df: int
    n: int


@dataclass(frozen=True)
class ColumnStats:
    best: str | None = None
    marked: frozenset[str] = frozenset()
    versus_best: Mapping[str, Comparison] = field(default_factory=dict)
    untested: frozenset[str] = frozenset()
    mde: Detectable | None = None
    paired: Mapping[str, Comparison] = field(default_factory=dict)


def _holm_comparisons(tests: dict[str, tuple[str, TTest]]) -> dict[str, Comparison]:
    """Comparisons with p Holm-adjusted over ``tests`` (label -> (against, test))."""
    adjusted = holm([test.p for _, test in tests.values()])
    return {label: Comparison(label, against, test, p)
            for (label, (against, test)), p in zip(tests.items(), adjusted, strict=True)}


def versus_best(cells: Mapping[str, Cell]) -> tuple[str | None, dict[str, Comparison]]:
    """The best row of ``cells`` (highest mean among n >= 2; the first on a tie) and every other such row against
    it: Welch, two-sided, Holm over these comparisons."""
    tested = {label: cell for label, cell in cells.items() if cell.tested}
    if not tested:
        return None, {}
    best = max(tested, key=lambda label: tested[label].mean)
    tests = {label: (best, welch_t_test(cell.values, tested[best].values))
             for label, cell in tested.items() if label != best}
    return best, _holm_comparisons(tests)


def paired_with_methods(cells: Mapping[str, Cell], method_of: Mapping[str, str]) -> dict[str, Comparison]:
    """Each variant of ``method_of`` (variant label -> method label) against its method, paired by seed over the
    seeds both rows have (at least 2), two-sided, Holm over the column's variants."""
    tests = {}
    for variant, method in method_of.items():
        if variant not in cells or method not in cells:
            continue
        ours, theirs = cells[variant].by_seed, cells[method].by_seed
        common = [seed for seed in ours if seed in theirs]
        if len(common) >= 2:
            tests[variant] = (method, paired_t_test([ours[s] for s in common], [theirs[s] for s in common]))
    return _holm_comparisons(tests)


def column_mde(cells: Mapping[str, Cell]) -> Detectable | None:
    """The column's minimum detectable difference at 80 % power (module docstring); None below 2 seeds."""
    tested = [cell for cell in cells.values() if cell.tested]
    if not tested:
        return None
    pooled = pooled_std([(cell.std, cell.n) for cell in tested])
    n = min(cell.n for cell in tested)
    return Detectable(minimum_detectable_difference(pooled.s, pooled.df, n), pooled.s, pooled.df, n)


def column_stats(method_cells: Mapping[str, Cell], method_of: Mapping[str, str]) -> ColumnStats:
    """Marks, paired comparisons and MDE of one column from its data-free method cells (label -> cell)."""
    best, comparisons = versus_best(method_cells)
    marked = frozenset(([best] if best else []) + [label for label, c in comparisons.items() if not c.significant])
    untested = frozenset(label for label, cell in method_cells.items() if not cell.tested)
    return ColumnStats(best, marked, comparisons, untested, column_mde(method_cells),
                       paired_with_methods(method_cells, method_of))
