"""Can the zoo rank methods? The ``real`` minus ``noise`` margin per bit-width, checked against the bar.

The bar (issue "harness"): at 3w3a and 4w4a the margin is at least 3 points and larger than twice the
standard deviation of either row; other bit-widths are informative.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dfqbench.tables.leaderboard import Cell, build_leaderboard
from dfqbench.tables.render import format_cell
from dfqbench.tables.stats import welch_from_moments

BAR_BITS = ("3w3a", "4w4a")
BAR_POINTS = 3.0
LOW, HIGH = "noise", "real"


@dataclass(frozen=True)
class Margin:
    bits: str
    low: Cell | None
    high: Cell | None

    @property
    def value(self) -> float | None:
        return None if self.low is None or self.high is None else self.high.mean - self.low.mean

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% Welch t-interval of ``real - noise`` over seeds (None below 2 seeds in either row)."""
        if self.value is None or min(self.low.n, self.high.n) < 2:
            return None
        test = welch_from_moments((self.high.mean, self.high.std ** 2, self.high.n),
                                  (self.low.mean, self.low.std ** 2, self.low.n))
        return test.interval()

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "–"
        if self.bits not in BAR_BITS:
            return "(informative)"
        stds = [c.std for c in (self.low, self.high)]
        if any(s is None for s in stds) or min(self.low.n, self.high.n) < 3:
            return "fewer than 3 seeds"
        met = self.value >= BAR_POINTS and all(self.value > 2 * s for s in stds)
        return "met" if met else "**not met**"


def margins(frame: pd.DataFrame, model: str) -> list[Margin]:
    """One :class:`Margin` per bit-width of ``model`` in long-format results."""
    board = build_leaderboard(frame, methods=[LOW, HIGH], models=[model])
    return [Margin(bits, board.cell(LOW, bits, model), board.cell(HIGH, bits, model)) for bits in board.bits]


def margin_markdown(frame: pd.DataFrame, model: str) -> str:
    lines = [f"| bits | {LOW} (mean ± std, n) | {HIGH} (mean ± std, n) | {HIGH} − {LOW} [95% Welch interval] | "
             f"bar: ≥ {BAR_POINTS:g} points and > 2 std of either row |", "|---|---|---|---|---|"]
    for m in margins(frame, model):
        value = "–" if m.value is None else f"{m.value:.2f}"
        if m.interval is not None:
            value += f" [{m.interval[0]:.2f}, {m.interval[1]:.2f}]"
        lines.append(f"| {m.bits} | {format_cell(m.low)} | {format_cell(m.high)} | {value} | {m.verdict} |")
    return "\n".join(lines) + "\n"
