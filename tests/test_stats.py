"""The tables' statistics against scipy and against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dfqbench.tables.stats import (
    bootstrap_means,
    holm,
    mean_interval,
    minimum_detectable_difference,
    paired_minimum_detectable_difference,
    paired_t_test,
    percentile_interval,
    pooled_std,
    t_p_value,
    welch_t_test,
)

A = [84.62, 84.24, 84.63]
B = [83.81, 84.20, 83.87]
ALTERNATIVES = ("two-sided", "greater", "less")


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_welch_matches_scipy(alternative):
    ours = welch_t_test(A, B, alternative)
    theirs = scipy_stats.ttest_ind(A, B, equal_var=False, alternative=alternative)
    assert ours.t == pytest.approx(theirs.statistic)
    assert ours.p == pytest.approx(theirs.pvalue)
    assert ours.df == pytest.approx(theirs.df)


def test_welch_by_hand():
    """a = 1, 2, 3 (m 2, s^2 1), b = 2, 4, 6, 8 (m 5, s^2 20/3): se^2 = 1/3 + 5/3 = 2, t = -3/sqrt(2),
    df = 4 / ((1/3)^2 / 2 + (5/3)^2 / 3) = 4 / (1/18 + 25/27) = 216 / 53."""
    test = welch_t_test([1, 2, 3], [2, 4, 6, 8])
    assert test.difference == pytest.approx(-3.0)
    assert test.se == pytest.approx(math.sqrt(2))
    assert test.df == pytest.approx(216 / 53)
    assert test.p == pytest.approx(2 * scipy_stats.t.cdf(-3 / math.sqrt(2), 216 / 53))
    low, high = test.interval()
    assert (high - low) / 2 == pytest.approx(scipy_stats.t.ppf(0.975, 216 / 53) * math.sqrt(2))


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_paired_matches_scipy(alternative):
    ours = paired_t_test(A, B, alternative)
    theirs = scipy_stats.ttest_rel(A, B, alternative=alternative)
    assert ours.t == pytest.approx(theirs.statistic)
    assert ours.p == pytest.approx(theirs.pvalue)
    assert ours.df == len(A) - 1


def test_paired_by_hand():
    """d = 1, 2, 3: mean 2, s_d = 1, se = 1/sqrt(3), t = 2 sqrt(3), df = 2; with 2 df
    P(T > t) = 1/2 - t / (2 sqrt(t^2 + 2)) = 1/2 - 2 sqrt(3) / (2 sqrt(14))."""
    test = paired_t_test([11, 12, 13], [10, 10, 10], "greater")
    assert (test.difference, test.df) == (2.0, 2.0)
    assert test.se == pytest.approx(1 / math.sqrt(3))
    assert test.p == pytest.approx(0.5 - math.sqrt(3) / math.sqrt(14))


def test_the_paired_test_sees_what_welch_cannot():
    """A shift of 1 at every seed hidden in a seed spread of 2: significant paired, not with Welch."""
    a = [80.0, 82.0, 78.0]
    b = [x - 1 for x in a[:2]] + [a[2] - 1.1]
    assert paired_t_test(a, b).p < 0.01 < 0.5 < welch_t_test(a, b).p


def test_one_sided_p_values_add_up_and_halve_the_two_sided():
    greater, less, two = (welch_t_test(A, B, alt).p for alt in ALTERNATIVES[1:] + ALTERNATIVES[:1])
    assert greater + less == pytest.approx(1.0)
    assert two == pytest.approx(2 * min(greater, less))


def test_no_spread_at_all():
    """Both samples constant: the difference is exact (p = 0 in its direction), or no evidence when zero."""
    assert welch_t_test([2, 2, 2], [1, 1, 1]).p == 0.0
    assert welch_t_test([2, 2, 2], [1, 1, 1], "less").p == 1.0
    assert welch_t_test([1, 1], [1, 1, 1]).p == 1.0
    assert paired_t_test([2, 3, 4], [1, 2, 3], "greater").p == 0.0
    assert welch_t_test([2, 2, 2], [1, 1, 1]).interval() == (1.0, 1.0)


def test_fewer_than_two_values_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        welch_t_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        paired_t_test([1.0], [2.0])
    with pytest.raises(ValueError, match="differ in length"):
        paired_t_test([1.0, 2.0], [2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="alternative"):
        t_p_value(1.0, 3, "bigger")


def test_holm_by_hand():
    """p = 0.01, 0.04, 0.03, 0.005 (m = 4): sorted 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06,
    0.04 x 1 = 0.04 -> max(0.06, 0.04) = 0.06."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.2]) == [0.2]
    assert holm([]) == []


def test_holm_is_never_below_the_raw_p_nor_benjamini_hochberg():
    false_discovery = getattr(scipy_stats, "false_discovery_control", None)
    p = [0.001, 0.02, 0.03, 0.2, 0.04]
    adjusted = holm(p)
    assert all(a >= raw for a, raw in zip(adjusted, p, strict=True))
    if false_discovery is not None:  # Benjamini-Hochberg is never more conservative than Holm
        assert all(bh <= h + 1e-12 for bh, h in zip(false_discovery(p), adjusted, strict=True))


def test_mean_interval_matches_scipy():
    mean, std = float(np.mean(A)), float(np.std(A, ddof=1))
    expected = scipy_stats.t.interval(0.95, len(A) - 1, loc=mean, scale=std / math.sqrt(len(A)))
    assert mean_interval(mean, std, len(A)) == pytest.approx(expected)
    with pytest.raises(ValueError):
        mean_interval(1.0, 0.0, 1)


def test_pooled_std_by_hand():
    """s = 1 (n 3) and s = 2 (n 5): s_p^2 = (2 * 1 + 4 * 4) / 6 = 3, df 6; a single seed adds nothing."""
    pooled = pooled_std([(1.0, 3), (2.0, 5), (7.0, 1)])
    assert pooled.s == pytest.approx(math.sqrt(3)) and pooled.df == 6
    with pytest.raises(ValueError):
        pooled_std([(1.0, 1)])


def test_minimum_detectable_difference_by_hand():
    """df 10, n 3, s 0.2: t_0.975,10 = 2.228139, t_0.8,10 = 0.879058; MDE = 3.107197 * 0.2 * sqrt(2/3)."""
    assert minimum_detectable_difference(0.2, 10, 3) == pytest.approx(3.107197 * 0.2 * math.sqrt(2 / 3), rel=1e-6)
    # with many degrees of freedom it tends to the normal one: (1.959964 + 0.841621) s sqrt(2/n)
    assert minimum_detectable_difference(1.0, 10**7, 2) == pytest.approx(2.801585, rel=1e-5)


def test_paired_minimum_detectable_difference_by_hand():
    """n 3 (df 2), s_d 0.3: t_0.975,2 = 4.302653, t_0.8,2 = 0.6 / sqrt(0.32) = 1.060660; MDE = 5.363313 * 0.3 / sqrt(3);
    with many pairs it tends to the normal one, (1.959964 + 0.841621) s_d / sqrt(n)."""
    assert paired_minimum_detectable_difference(0.3, 3) == pytest.approx(5.363313 * 0.3 / math.sqrt(3), rel=1e-6)
    assert paired_minimum_detectable_difference(1.0, 10**7) * math.sqrt(10**7) == pytest.approx(2.801585, rel=1e-5)
    with pytest.raises(ValueError):
        paired_minimum_detectable_difference(0.3, 1)


def test_bootstrap_is_deterministic_and_resamples_each_sample_alone():
    draws = bootstrap_means([[0.0, 1.0], [5.0, 5.0, 5.0]], resamples=20000, seed=0)
    assert draws.shape == (20000, 2)
    assert np.array_equal(draws, bootstrap_means([[0.0, 1.0], [5.0, 5.0, 5.0]], resamples=20000, seed=0))
    assert not np.array_equal(draws, bootstrap_means([[0.0, 1.0], [5.0, 5.0, 5.0]], resamples=20000, seed=1))
    # two values resampled twice: mean 0, 0.5 or 1 with probability 1/4, 1/2, 1/4
    freq = [np.mean(draws[:, 0] == v) for v in (0.0, 0.5, 1.0)]
    assert freq == pytest.approx([0.25, 0.5, 0.25], abs=0.01)
    assert set(draws[:, 1]) == {5.0}
    assert percentile_interval(draws[:, 0]) == (0.0, 1.0)
    assert percentile_interval(np.arange(101.0), level=0.9) == pytest.approx((5.0, 95.0))
