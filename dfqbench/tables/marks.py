"""What one leaderboard column can resolve: which data-free methods are not significantly below the best one,
how each variant differs from its own method, and the smallest difference the column's seeds can detect.

- **Marks**: the best data-free method of the column (highest mean among the rows with n >= 2; variants such as
  ``maskaq[se=false]`` excluded: they are compared with their own method only) and every other such row whose
  Welch t-test against it (two-sided, over seeds) is not significant after Holm's correction over the column's
  comparisons, at alpha = 0.05. Rows with n < 2 are untested: never marked. An *ablation column* (its data-free
  rows are one method and its own variants) marks nothing: there the rows do not compete, and only the paired
  comparisons speak.
- **Paired**: a variant (``maskaq[se=false]``) against its method (``maskaq``) shares each seed's draws, so it is
  compared by the paired t-test over the seeds both have (two-sided), Holm-corrected over the method's variants in
  the column: one family per method. Its interval is the Bonferroni interval of that family, at level
  ``1 - alpha/m`` for the method's m variants, so that it excludes 0 exactly when the unadjusted p is below
  ``alpha/m`` (and then Holm's p is below alpha too).
- **MDE**: ``(t_{0.975,df} + t_{0.8,df}) * s * sqrt(2/n)``, s the pooled seed std of the column's data-free
  methods (not variants) with n >= 2, df its degrees of freedom, n the smallest of their seed counts (the
  conservative choice when they differ); none in an ablation column.
- **Paired MDE**: ``(t_{0.975,n-1} + t_{0.8,n-1}) * s_d / sqrt(n)``, s_d the pooled standard deviation of the
  per-seed differences of the column's variants from their methods, n the smallest number of seeds a pair has
  (the paired test's degrees of freedom are n - 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from dfqbench.tables.entry import Entry
from dfqbench.tables.stats import (
    ALPHA,
    TTest,
    holm,
    minimum_detectable_difference,
    paired_minimum_detectable_difference,
    paired_t_test,
    pooled_std,
    welch_t_test,
)


@dataclass(frozen=True)
class Comparison:
    """``label`` against ``against`` in one column: the test (difference = label - against), Holm's p over its
    family and the family's size m (the Bonferroni interval is at level 1 - alpha/m)."""

    label: str
    against: str
    test: TTest
    p_holm: float
    family_size: int = 1

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA

    @property
    def level(self) -> float:
        """The Bonferroni level of the family: ``1 - alpha/m``."""
        return 1 - ALPHA / self.family_size

    def interval(self) -> tuple[float, float]:
        """The difference's two-sided t-interval at :attr:`level` (simultaneous 1 - alpha over the family)."""
        return self.test.interval(self.level)


@dataclass(frozen=True)
class Detectable:
    """The minimum detectable difference of a column and what it was computed from: s (or s_d for a paired MDE),
    the degrees of freedom of its t quantiles, n and, for a paired MDE, how many variants s_d pools."""

    value: float
    s: float
    df: int
    n: int
    pooled_over: int = 0


@dataclass(frozen=True)
class ColumnStats:
    best: str | None = None
    marked: frozenset[str] = frozenset()
    versus_best: Mapping[str, Comparison] = field(default_factory=dict)
    untested: frozenset[str] = frozenset()
    mde: Detectable | None = None
    paired: Mapping[str, Comparison] = field(default_factory=dict)
    paired_mde: Detectable | None = None
    ablation_of: str | None = None  # the method, when the column's data-free rows are it and its own variants


def _holm_comparisons(tests: dict[str, tuple[str, TTest]]) -> dict[str, Comparison]:
    """Comparisons with p Holm-adjusted over ``tests`` (label -> (against, test)), one family."""
    adjusted = holm([test.p for _, test in tests.values()])
    return {label: Comparison(label, against, test, p, len(tests))
            for (label, (against, test)), p in zip(tests.items(), adjusted, strict=True)}


def versus_best(cells: Mapping[str, Entry]) -> tuple[str | None, dict[str, Comparison]]:
    """The best row of ``cells`` (highest mean among n >= 2; the first on a tie) and every other such row against
    it: Welch, two-sided, Holm over these comparisons."""
    tested = {label: cell for label, cell in cells.items() if cell.tested}
    if not tested:
        return None, {}
    best = max(tested, key=lambda label: tested[label].mean)
    tests = {label: (best, welch_t_test(cell.values, tested[best].values))
             for label, cell in tested.items() if label != best}
    return best, _holm_comparisons(tests)


def paired_with_methods(cells: Mapping[str, Entry], method_of: Mapping[str, str]) -> dict[str, Comparison]:
    """Each variant of ``method_of`` (variant label -> method label) against its method, paired by seed over the
    seeds both rows have (at least 2), two-sided, Holm over each method's variants (one family per method)."""
    families: dict[str, dict[str, tuple[str, TTest]]] = {}
    for variant, method in method_of.items():
        if variant not in cells or method not in cells:
            continue
        ours, theirs = cells[variant].by_seed, cells[method].by_seed
        common = [seed for seed in ours if seed in theirs]
        if len(common) >= 2:
            test = paired_t_test([ours[s] for s in common], [theirs[s] for s in common])
            families.setdefault(method, {})[variant] = (method, test)
    out = {label: comparison for tests in families.values() for label, comparison in _holm_comparisons(tests).items()}
    return {variant: out[variant] for variant in method_of if variant in out}


def column_mde(cells: Mapping[str, Entry]) -> Detectable | None:
    """The column's minimum detectable difference at 80 % power (module docstring); None below 2 seeds."""
    tested = [cell for cell in cells.values() if cell.tested]
    if not tested:
        return None
    pooled = pooled_std([(cell.std, cell.n) for cell in tested])
    n = min(cell.n for cell in tested)
    return Detectable(minimum_detectable_difference(pooled.s, pooled.df, n), pooled.s, pooled.df, n)


def paired_mde(paired: Mapping[str, Comparison]) -> Detectable | None:
    """The paired minimum detectable difference at 80 % power over the column's paired comparisons (module
    docstring); None without any."""
    if not paired:
        return None
    samples = [(c.test.se * math.sqrt(c.test.df + 1), int(c.test.df) + 1) for c in paired.values()]
    pooled = pooled_std(samples)
    n = min(n for _, n in samples)
    return Detectable(paired_minimum_detectable_difference(pooled.s, n), pooled.s, n - 1, n, len(samples))


def ablation_method(labels: list[str], method_of: Mapping[str, str]) -> str | None:
    """The method of an ablation column: the one data-free row that is no variant, when every other row is a
    variant of it (and there is one at least); else None."""
    methods = [label for label in labels if label not in method_of]
    variants = [label for label in labels if label in method_of]
    if len(methods) == 1 and variants and all(method_of[v] == methods[0] for v in variants):
        return methods[0]
    return None


def column_stats(method_cells: Mapping[str, Entry], method_of: Mapping[str, str],
                 variants: frozenset[str] = frozenset()) -> ColumnStats:
    """Marks, paired comparisons and MDEs of one column from its data-free method cells (label -> cell).

    ``method_of`` maps each variant whose method is among the rows to that method; ``variants`` lists every
    variant label (with or without its method in the table): variants are never marked nor pooled into the MDE.
    """
    variants = frozenset(variants) | frozenset(method_of)
    untested = frozenset(label for label, cell in method_cells.items() if not cell.tested)
    paired = paired_with_methods(method_cells, method_of)
    ablation = ablation_method(list(method_cells), {v: m for v, m in method_of.items() if v in method_cells})
    if ablation is not None:
        return ColumnStats(untested=untested, paired=paired, paired_mde=paired_mde(paired), ablation_of=ablation)
    methods = {label: cell for label, cell in method_cells.items() if label not in variants}
    best, comparisons = versus_best(methods)
    marked = frozenset(([best] if best else []) + [label for label, c in comparisons.items() if not c.significant])
    return ColumnStats(best, marked, comparisons, untested, column_mde(methods), paired, paired_mde(paired))
