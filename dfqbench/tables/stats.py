"""The statistics of the tables, over seeds: t-intervals, Welch's and the paired t-test, Holm's correction, the
minimum detectable difference (between two rows, and of a paired difference) and a bootstrap over seeds.

Notation: a sample ``x_1 .. x_n`` (top-1 of one row at n seeds), its mean ``m`` and sample standard deviation
``s = sqrt(sum (x_i - m)^2 / (n - 1))``; ``t_{q,df}`` is the q-quantile of Student's t distribution with df
degrees of freedom. Every test needs n >= 2 per sample: with one seed there is no spread to test against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

ALPHA = 0.05
POWER = 0.8
LEVEL = 0.95
ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class TTest:
    """A t-test of a difference: the estimate, its standard error, degrees of freedom and p-value.

    ``alternative`` is the hypothesis against ``difference = 0``: ``two-sided``, ``greater`` (difference > 0) or
    ``less``.
    """

    difference: float
    se: float
    df: float
    p: float
    alternative: str

    @property
    def t(self) -> float:
        return _t_statistic(self.difference, self.se)

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        """``difference ± t_{(1+level)/2, df} * se`` (two-sided)."""
        half = t_quantile(0.5 + level / 2, self.df) * self.se
        return self.difference - half, self.difference + half


def t_quantile(q: float, df: float) -> float:
    """``t_{q,df}``."""
    return float(scipy_stats.t.ppf(q, df))


def _t_statistic(difference: float, se: float) -> float:
    """``difference / se``; with ``se = 0`` (no spread at all) +-inf, or nan for a zero difference."""
    if se > 0:
        return difference / se
    return math.copysign(math.inf, difference) if difference else math.nan


def t_p_value(t: float, df: float, alternative: str) -> float:
    """p of the statistic ``t`` under ``t_df``: ``2 P(T >= |t|)``, ``P(T >= t)`` (greater) or ``P(T <= t)`` (less).

    A nan statistic (zero difference, zero spread) has p = 1: nothing speaks against the null.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    if math.isnan(t):
        return 1.0
    if alternative == "greater":
        return float(scipy_stats.t.sf(t, df))
    if alternative == "less":
        return float(scipy_stats.t.cdf(t, df))
    return float(min(1.0, 2 * scipy_stats.t.sf(abs(t), df)))


def _moments(values: Sequence[float]) -> tuple[int, float, float]:
    """n, mean and sample variance ``s^2`` (n - 1 in the denominator); ValueError below two values."""
    n = len(values)
    if n < 2:
        raise ValueError(f"a t-test needs at least 2 values per sample, got {n}")
    mean = math.fsum(values) / n
    return n, mean, math.fsum((v - mean) ** 2 for v in values) / (n - 1)


def welch_t_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> TTest:
    """Welch's unequal-variance t-test of ``mean(a) - mean(b)`` (see :func:`welch_from_moments`)."""
    n_a, m_a, var_a = _moments(a)
    n_b, m_b, var_b = _moments(b)
    return welch_from_moments((m_a, var_a, n_a), (m_b, var_b, n_b), alternative)


def welch_from_moments(a: tuple[float, float, int], b: tuple[float, float, int],
                       alternative: str = "two-sided") -> TTest:
    """Welch's unequal-variance t-test of ``m_a - m_b`` from each sample's (mean, variance ``s^2``, n)::

        d  = m_a - m_b
        se = sqrt(s_a^2 / n_a + s_b^2 / n_b)
        t  = d / se
        df = se^4 / ((s_a^2 / n_a)^2 / (n_a - 1) + (s_b^2 / n_b)^2 / (n_b - 1))     (Welch-Satterthwaite)

    p from ``t_df`` (see :func:`t_p_value`). When neither sample varies (se = 0), df is taken as
    ``n_a + n_b - 2`` and t is +-inf (p = 0 in the difference's direction) or nan for d = 0 (p = 1).
    """
    (m_a, var_a, n_a), (m_b, var_b, n_b) = a, b
    if min(n_a, n_b) < 2:
        raise ValueError(f"a t-test needs at least 2 values per sample, got {min(n_a, n_b)}")
    u_a, u_b = var_a / n_a, var_b / n_b
    se = math.sqrt(u_a + u_b)
    df = (u_a + u_b) ** 2 / (u_a ** 2 / (n_a - 1) + u_b ** 2 / (n_b - 1)) if se > 0 else float(n_a + n_b - 2)
    difference = m_a - m_b
    return TTest(difference, se, df, t_p_value(_t_statistic(difference, se), df, alternative), alternative)


def paired_t_test(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> TTest:
    """The paired t-test of ``mean(a_i - b_i)``, ``a_i`` and ``b_i`` measured at the same seed i::

        d_i = a_i - b_i,   d = mean(d_i),   se = s_d / sqrt(n),   t = d / se,   df = n - 1

    with ``s_d`` the sample standard deviation of the d_i. p from ``t_df`` (see :func:`t_p_value`); se = 0 as in
    :func:`welch_t_test`.
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    n, difference, var_d = _moments([x - y for x, y in zip(a, b, strict=True)])
    se = math.sqrt(var_d / n)
    df = float(n - 1)
    return TTest(difference, se, df, t_p_value(_t_statistic(difference, se), df, alternative), alternative)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    With the m p-values sorted ascending, ``p_(1) <= ... <= p_(m)``::

        p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))

    Rejecting where ``p~ < alpha`` controls the family-wise error rate at alpha.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):  # rank = j - 1
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def mean_interval(mean: float, std: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The t-interval of a mean over n seeds: ``m ± t_{(1+level)/2, n-1} * s / sqrt(n)`` (n >= 2)."""
    if n < 2:
        raise ValueError(f"an interval needs at least 2 values, got {n}")
    half = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


@dataclass(frozen=True)
class PooledStd:
    """The pooled standard deviation of several samples and its degrees of freedom."""

    s: float
    df: int


def pooled_std(samples: Sequence[tuple[float, int]]) -> PooledStd:
    """``s_p = sqrt(sum_k (n_k - 1) s_k^2 / sum_k (n_k - 1))``, ``df = sum_k (n_k - 1)``, over ``(s_k, n_k)`` pairs
    (samples with n_k < 2 carry no spread and are left out). ValueError when none is left."""
    usable = [(s, n) for s, n in samples if n >= 2]
    df = sum(n - 1 for _, n in usable)
    if df == 0:
        raise ValueError("no sample has 2 or more values")
    return PooledStd(math.sqrt(math.fsum((n - 1) * s * s for s, n in usable) / df), df)


def minimum_detectable_difference(s: float, df: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The difference between two rows of n seeds each that a two-sided test at ``alpha`` detects with ``power``::

        MDE = (t_{1-alpha/2, df} + t_{power, df}) * s * sqrt(2 / n)

    with s a (pooled) seed standard deviation and df its degrees of freedom.
    """
    return (t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * s * math.sqrt(2 / n)


def paired_minimum_detectable_difference(s_d: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The mean per-seed difference that a two-sided paired t-test over n seeds (df = n - 1) at ``alpha`` detects
    with ``power``::

        MDE = (t_{1-alpha/2, n-1} + t_{power, n-1}) * s_d / sqrt(n)

    with s_d a (pooled) standard deviation of the per-seed differences.
    """
    if n < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {n}")
    return (t_quantile(1 - alpha / 2, n - 1) + t_quantile(power, n - 1)) * s_d / math.sqrt(n)


def bootstrap_means(samples: Sequence[Sequence[float]], resamples: int, seed: int) -> np.ndarray:
    """Bootstrap over seeds: ``resamples`` x len(samples) means, each sample resampled with replacement
    independently (``x*_1 .. x*_n`` drawn uniformly from ``x_1 .. x_n``), from ``numpy.random.default_rng(seed)``
    (the same draws for the same inputs)."""
    rng = np.random.default_rng(seed)
    columns = []
    for values in samples:
        data = np.asarray(values, dtype=float)
        index = rng.integers(0, len(data), size=(resamples, len(data)))
        columns.append(data[index].mean(axis=1))
    return np.stack(columns, axis=1)


def percentile_interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile interval of bootstrap draws: their ``(1-level)/2`` and ``(1+level)/2`` quantiles."""
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
