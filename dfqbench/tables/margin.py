"""Can a test bed rank methods? The window from ``noise`` to ``real`` per model and bit-width, against a bar.

A window is ``real - noise`` for one calibrator: ``kd`` compares the reference rows ``noise`` and ``real`` (each
calibrated with the default logit KD); a calibrator C compares ``noise+C`` and ``real+C``. Two bars are known:

- ``harness`` (the harness issue): at 3w3a and 4w4a the kd window is at least 3 points and larger than twice
  the standard deviation of either row.
- ``test-bed`` (the test-bed issue): the kd window is at least 6.7 points at 4w4a and 15 points at 3w3a, and at
  both larger than twice the standard deviation of either row.

Other bit-widths and same-calibrator windows are informative. A test bed's statistic is the smallest 4w4a kd
window over its models (:func:`smallest_window`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from dfqbench.api import LOWER_REFERENCE, ORACLE
from dfqbench.tables.leaderboard import Entry, build_leaderboard
from dfqbench.tables.render import format_cell
from dfqbench.tables.stats import welch_from_moments

LOW, HIGH = LOWER_REFERENCE, ORACLE
KD = "kd"
DECISION_BITS = "4w4a"
MIN_SEEDS = 3


@dataclass(frozen=True)
class Bar:
    """Minimum kd windows per bit-width, each also above ``std_factor`` times either row's std."""

    name: str
    points: Mapping[str, float]
    std_factor: float = 2.0

    def describe(self) -> str:
        floors = ", ".join(f"{bits} ≥ {points:g}" for bits, points in self.points.items())
        return f"bar: {floors} points and > {self.std_factor:g} std of either row"


BARS = {
    "harness": Bar("harness", {"3w3a": 3.0, "4w4a": 3.0}),
    "test-bed": Bar("test-bed", {"4w4a": 6.7, "3w3a": 15.0}),
}


def rows_of(calibrator: str) -> tuple[str, str]:
    """The (low, high) method labels of a window: ``noise``/``real`` for kd, ``noise+C``/``real+C`` otherwise."""
    return (LOW, HIGH) if calibrator == KD else (f"{LOW}+{calibrator}", f"{HIGH}+{calibrator}")


@dataclass(frozen=True)
class Margin:
    bits: str
    low: Entry | None
    high: Entry | None
    model: str = ""
    calibrator: str = KD

    @property
    def value(self) -> float | None:
        return None if self.low is None or self.high is None else self.high.mean - self.low.mean

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% Welch t-interval of ``high - low`` over seeds (None below 2 seeds in either row)."""
        if self.value is None or min(self.low.n, self.high.n) < 2:
            return None
        test = welch_from_moments((self.high.mean, self.high.std ** 2, self.high.n),
                                  (self.low.mean, self.low.std ** 2, self.low.n))
        return test.interval()

    def verdict(self, bar: Bar) -> str:
        if self.value is None:
            return "–"
        if self.calibrator != KD or self.bits not in bar.points:
            return "(informative)"
        if min(self.low.n, self.high.n) < MIN_SEEDS:
            return f"fewer than {MIN_SEEDS} seeds"
        return "met" if self.meets(bar) else "**not met**"

    def meets(self, bar: Bar) -> bool:
        stds = (self.low.std, self.high.std)
        return (self.value is not None and self.value >= bar.points[self.bits]
                and all(s is not None and self.value > bar.std_factor * s for s in stds))


def margins(frame: pd.DataFrame, model: str, calibrator: str = KD) -> list[Margin]:
    """One :class:`Margin` per bit-width of ``model`` in long-format results."""
    low, high = rows_of(calibrator)
    board = build_leaderboard(frame, methods=[low, high], models=[model])
    return [Margin(bits, board.cell(low, bits, model), board.cell(high, bits, model), model, calibrator)
            for bits in board.bits if board.cell(low, bits, model) or board.cell(high, bits, model)]


def all_margins(frame: pd.DataFrame, models: Sequence[str], calibrators: Sequence[str] = (KD,)) -> list[Margin]:
    return [m for model in models for calibrator in calibrators for m in margins(frame, model, calibrator)]


def margin_markdown(frame: pd.DataFrame, models: Sequence[str], calibrators: Sequence[str] = (KD,),
                    bar: Bar = BARS["harness"]) -> str:
    """One Markdown row per model, window and bit-width."""
    lines = [f"| model | window | bits | low (mean ± std, n) | high (mean ± std, n) | high − low [95% Welch interval] "
             f"| {bar.describe()} |", "|---|---|---|---|---|---|---|"]
    for m in all_margins(frame, models, calibrators):
        low, high = rows_of(m.calibrator)
        value = "–" if m.value is None else f"{m.value:.2f}"
        if m.interval is not None:
            value += f" [{m.interval[0]:.2f}, {m.interval[1]:.2f}]"
        lines.append(f"| {m.model} | {high} − {low} | {m.bits} | {format_cell(m.low)} | {format_cell(m.high)} "
                     f"| {value} | {m.verdict(bar)} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TestBedSummary:
    """One test bed (a dataset's models): its smallest 4w4a kd window and whether every model meets the bar."""

    __test__ = False  # not a pytest class

    name: str
    smallest: Margin | None
    meets_bar: bool
    complete: bool


def smallest_window(frame: pd.DataFrame, models: Sequence[str]) -> Margin | None:
    """The decision statistic: the smallest 4w4a kd window over ``models`` (None if any is missing)."""
    found = [m for model in models for m in margins(frame, model) if m.bits == DECISION_BITS]
    if len(found) < len(models) or any(m.value is None for m in found):
        return None
    return min(found, key=lambda m: m.value)


def summarise(frame: pd.DataFrame, test_beds: Mapping[str, Sequence[str]], bar: Bar) -> list[TestBedSummary]:
    summaries = []
    for name, models in test_beds.items():
        checked = [m for m in all_margins(frame, models) if m.bits in bar.points]
        complete = (len(checked) == len(models) * len(bar.points)
                    and all(m.value is not None and min(m.low.n, m.high.n) >= MIN_SEEDS for m in checked))
        summaries.append(TestBedSummary(name, smallest_window(frame, models),
                                        complete and all(m.meets(bar) for m in checked), complete))
    return summaries


def summary_markdown(summaries: Sequence[TestBedSummary], bar: Bar) -> str:
    lines = [f"| test bed | smallest {DECISION_BITS} window (model) | {bar.describe()}, every model |", "|---|---|---|"]
    for s in summaries:
        smallest = "–" if s.smallest is None else f"{s.smallest.value:.2f} ({s.smallest.model})"
        verdict = "incomplete" if not s.complete else "met" if s.meets_bar else "**not met**"
        lines.append(f"| {s.name} | {smallest} | {verdict} |")
    return "\n".join(lines) + "\n"
