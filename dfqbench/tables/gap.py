"""The same-calibrator view: how much of the way from noise to real images a method's images go, with the
method's own calibrator.

For a method row ``S+C`` (a data-free method whose synthesizer is S and calibrator is C, as recorded in its rows)::

    gap closed = (S+C - noise+C) / (real+C - noise+C)

where ``noise+C`` and ``real+C`` are the reference rows whose synthesizer is noise / real and whose calibrator is
C (the plain ``noise`` and ``real`` rows for ``kd``). 0 means the images calibrate no better than noise, 1 as well
as real images. The interval is a bootstrap over seeds: each of the three rows' seeds resampled with replacement,
independently, ``RESAMPLES`` times from a fixed generator (``SEED``), so the output is deterministic. With few
seeds this interval understates the uncertainty: n values have only C(2n-1, n) distinct resamples (10 for n = 3),
the bootstrap variance of a mean is (n-1)/n * s^2/n, without t tails; the cells show the rows' seed counts.
The ratio is ``undefined`` unless the bootstrap interval of its denominator lies wholly above 0 (real images must be
measurably better than noise under C: with PTQ on this zoo they are worse).

Declared reference calibrators: a calibrator without noise/real rows of its own may borrow those of the
calibrator it extends. ``masked-hsad`` (MaskAQ) is HSAD with token weights (the tokens the teacher's attention
output ranks highest count twice), so its references are the ``hsad`` rows; the table says so in the column's
title.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from rich.table import Table
from rich.text import Text

from dfqbench.api import LOWER_REFERENCE, ORACLE
from dfqbench.errors import UserError
from dfqbench.tables.leaderboard import Column, Entry, Leaderboard, Row, variant_of
from dfqbench.tables.render import EMPTY, caption, column_title, md_table, sectioned_markdown
from dfqbench.tables.stats import LEVEL, bootstrap_means, percentile_interval

REFERENCE_CALIBRATOR = {"masked-hsad": "hsad"}  # calibrator -> the calibrator whose noise/real rows it borrows
WHY_BORROWED = {"masked-hsad": "MaskAQ's masked-HSAD is HSAD with token weights"}
RESAMPLES = 10_000
SEED = 0
LOW, HIGH = LOWER_REFERENCE, ORACLE
UNDEFINED = "undefined"
NO_REFERENCES = "no references"
DENOMINATOR = "real+C − noise+C"


def gap_closed(method: float, noise: float, real: float) -> float:
    """``(method - noise) / (real - noise)``."""
    return (method - noise) / (real - noise)


@dataclass(frozen=True)
class Gap:
    """The gap a method row closes in one column.

    ``status``: ``ok``; ``undefined`` (the denominator's interval is not above 0); ``untested`` (a row has one
    seed: the point value without an interval); ``no references`` (no noise/real rows with the calibrator).
    """

    label: str
    synthesizer: str
    calibrator: str
    reference_calibrator: str
    status: str
    value: float | None = None
    interval: tuple[float, float] | None = None
    denominator: float | None = None
    denominator_interval: tuple[float, float] | None = None
    n: tuple[int, int, int] | None = None  # seeds of the method, noise+C and real+C rows


@dataclass
class GapTable:
    """Gaps per (synthesizer, calibrator, bits, model); the rows and columns in the leaderboard's order."""

    columns: list[Column]
    synthesizers: list[str]
    calibrators: list[str]
    gaps: dict[tuple[str, str, str, str], Gap]
    references: dict[str, str]  # calibrator -> the calibrator whose reference rows were used
    board: Leaderboard

    def gap(self, synthesizer: str, calibrator: str, bits: str, model: str) -> Gap | None:
        return self.gaps.get((synthesizer, calibrator, bits, model))


def bootstrap_gap(method: Entry, noise: Entry, real: Entry) -> tuple[tuple[float, float], tuple[float, float]]:
    """The percentile intervals of the gap closed and of its denominator ``real - noise`` over the same
    bootstrap draws of the three rows' seeds (see the module docstring). A draw with a zero denominator
    gives an infinite or nan ratio; an interval that reaches one is not finite."""
    means = bootstrap_means([method.values, noise.values, real.values], RESAMPLES, SEED)
    denominators = means[:, 2] - means[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = (means[:, 0] - means[:, 1]) / denominators
    return percentile_interval(ratios), percentile_interval(denominators)


def _references(board: Leaderboard) -> dict[tuple[str, str], Row]:
    """(noise|real, calibrator) -> the first reference row of that synthesizer and calibrator (no variants)."""
    refs: dict[tuple[str, str], Row] = {}
    for row in board.rows:
        if row.kind == "reference" and row.synthesizer in (LOW, HIGH) and variant_of(row.label) is None:
            refs.setdefault((row.synthesizer, row.calibrator), row)
    return refs


def reference_calibrator(calibrator: str, refs: Mapping[tuple[str, str], Row]) -> str:
    """The calibrator whose noise/real rows are ``calibrator``'s references: its own when both exist, else the
    declared one of :data:`REFERENCE_CALIBRATOR`, else its own (missing)."""
    if (LOW, calibrator) in refs and (HIGH, calibrator) in refs:
        return calibrator
    return REFERENCE_CALIBRATOR.get(calibrator, calibrator)


def column_gap(row: Row, reference: str, cells: tuple[Entry | None, Entry | None, Entry | None]) -> Gap:
    """The gap of ``row`` from its cell and its references' cells (method, noise+C, real+C) in one column."""
    method, noise, real = cells
    base = dict(label=row.label, synthesizer=row.synthesizer, calibrator=row.calibrator,
                reference_calibrator=reference)
    if noise is None or real is None:
        return Gap(status=NO_REFERENCES, **base)
    base["n"] = (method.n, noise.n, real.n)
    value, denominator = gap_closed(method.mean, noise.mean, real.mean), real.mean - noise.mean
    if not all(c.tested for c in cells):
        return Gap(status="untested", value=value, denominator=denominator, **base)
    interval, denominator_interval = bootstrap_gap(method, noise, real)
    defined = denominator_interval[0] > 0 and all(np.isfinite(interval))
    return Gap(status="ok" if defined else UNDEFINED, value=value if defined else None,
               interval=interval if defined else None, denominator=denominator,
               denominator_interval=denominator_interval, **base)


def build_gap_table(board: Leaderboard) -> GapTable:
    """Every data-free method row (not a variant) against the references of its calibrator, per column.
    UserError when the board has no such row."""
    methods = [r for r in board.rows if r.is_data_free_method and variant_of(r.label) is None and r.calibrator]
    if not methods:
        raise UserError("no method rows with a synthesizer and a calibrator to place between noise+C and real+C "
                        f"(rows: {', '.join(board.labels)})")
    refs = _references(board)
    references = {r.calibrator: reference_calibrator(r.calibrator, refs) for r in methods}
    gaps: dict[tuple[str, str, str, str], Gap] = {}
    for row in methods:
        key = (row.synthesizer, row.calibrator)
        reference = references[row.calibrator]
        low, high = refs.get((LOW, reference)), refs.get((HIGH, reference))
        for b, m in board.columns:
            method = board.cell(row.label, b, m)
            if method is None or (*key, b, m) in gaps:
                continue  # a second row of the same S+C: the first one counts
            cells = (method, *(board.cell(r.label, b, m) if r else None for r in (low, high)))
            gaps[(*key, b, m)] = column_gap(row, reference, cells)
    return GapTable(board.columns, list(dict.fromkeys(r.synthesizer for r in methods)),
                    list(dict.fromkeys(r.calibrator for r in methods)), gaps, references, board)


# --- render ----------------------------------------------------------------------------------------------------------


def _interval_text(value: float, interval: tuple[float, float] | None) -> str:
    return f"{value:.2f}" if interval is None else f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _n_text(n: tuple[int, int, int]) -> str:
    """'n=3' when the three rows have as many seeds, else 'n=3, 3, 2' (method, noise+C, real+C)."""
    return f"n={n[0]}" if len(set(n)) == 1 else f"n={', '.join(map(str, n))}"


def format_gap(gap: Gap | None) -> str:
    """'0.47 [0.31, 0.62] (n=3)', '0.47 (n=1: untested)', 'undefined', 'no references' or '–'."""
    if gap is None:
        return EMPTY
    if gap.status == "ok":
        return f"{_interval_text(gap.value, gap.interval)} ({_n_text(gap.n)})"
    if gap.status == "untested":
        return f"{gap.value:.2f} (n=1: untested)"
    return gap.status


def _calibrator_title(table: GapTable, calibrator: str) -> str:
    reference = table.references[calibrator]
    return calibrator if reference == calibrator else f"{calibrator} (references: {reference})"


def _denominator_text(table: GapTable, calibrator: str, bits: str, model: str) -> str:
    gaps = [g for (s, c, b, m), g in table.gaps.items() if (c, b, m) == (calibrator, bits, model)]
    shown = [g for g in gaps if g.denominator is not None]
    return _interval_text(shown[0].denominator, shown[0].denominator_interval) if shown else EMPTY


def _grid(table: GapTable, bits: str, model: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one column's synthesizer x calibrator grid, the denominators in the last row."""
    header = ["synthesizer"] + [_calibrator_title(table, c) for c in table.calibrators]
    rows = [[s] + [format_gap(table.gap(s, c, bits, model)) for c in table.calibrators] for s in table.synthesizers]
    rows.append([DENOMINATOR] + [_denominator_text(table, c, bits, model) for c in table.calibrators])
    return header, rows


def _fewest_seeds(table: GapTable) -> int | None:
    """The smallest seed count of a row behind an interval of the table; None without intervals."""
    counts = [min(g.n) for g in table.gaps.values() if g.n is not None and g.denominator_interval is not None]
    return min(counts) if counts else None


def gap_notes(table: GapTable) -> list[str]:
    declared = [f"{c} uses the noise+{r} and real+{r} rows ({WHY_BORROWED.get(c, 'declared')})"
                for c, r in table.references.items() if c != r]
    n = _fewest_seeds(table)
    few = (f" With n = {n} seeds per row the bootstrap interval understates the uncertainty: {n} values have "
           f"only {math.comb(2 * n - 1, n)} distinct resamples, and a percentile interval of their means is "
           f"narrower than their t-interval (it takes the variance of a mean as (n − 1)/n · s²/n, without the t "
           f"distribution's tails); read it as a description of the seeds, not as a test. (n=k): each of the "
           f"three rows has k seeds; (n=a, b, c): the method, noise+C and real+C rows have a, b and c."
           if n is not None else "")
    return [f"Gap closed = (S+C − noise+C) / (real+C − noise+C): 0 calibrates like noise, 1 like real images, "
            f"each with the method's own calibrator C. Intervals: {LEVEL:.0%} percentile bootstrap over seeds "
            f"({RESAMPLES} resamples of each row's seeds, independently per row, generator seed {SEED}).{few} "
            f"{UNDEFINED}: the interval of {DENOMINATOR} (last row) is not above 0, so no gap is there to close."
            + (f" Declared references: {'; '.join(declared)}." if declared else "")]


def gap_markdown(table: GapTable) -> str:
    """The caption, then per column a title line and the synthesizer x calibrator grid, then the notes."""
    sections = []
    for b, m in table.columns:
        header, rows = _grid(table, b, m)
        sections.append((f"Gap closed · {column_title(b, m)}",
                         md_table(header, rows, [":---"] + ["---:"] * (len(header) - 1))))
    return sectioned_markdown(table.board, sections, gap_notes(table))


GAP_CSV_FIELDS = ("bits", "model", "synthesizer", "calibrator", "reference_calibrator", "method", "status", "gap",
                  "gap_low", "gap_high", "denominator", "denominator_low", "denominator_high", "n_method", "n_noise",
                  "n_real")


def _round(value: float | None) -> str:
    return "" if value is None else str(round(value, 6))


def gap_csv(table: GapTable) -> str:
    """Long CSV: one line per (column, method row), GAP_CSV_FIELDS."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GAP_CSV_FIELDS)
    for (s, c, b, m), g in table.gaps.items():
        low_high = g.interval or (None, None)
        den_low_high = g.denominator_interval or (None, None)
        writer.writerow([b, m, s, c, g.reference_calibrator, g.label, g.status, _round(g.value),
                         *map(_round, low_high), _round(g.denominator), *map(_round, den_low_high),
                         *(g.n or ("", "", ""))])
    return out.getvalue()


def gap_rich(table: GapTable) -> list[Table]:
    """One rich table per column, the caption and the notes under the last."""
    tables = []
    for i, (b, m) in enumerate(table.columns):
        last = i == len(table.columns) - 1
        below = "\n".join([caption(table.board), *gap_notes(table)]) if last else None
        header, rows = _grid(table, b, m)
        out = Table(title=f"Gap closed · {column_title(b, m)}", caption=Text(below) if below else None,
                    caption_justify="left")
        for j, title in enumerate(header):
            out.add_column(title, justify="left" if j == 0 else "right", no_wrap=j == 0)
        for k, row in enumerate(rows):
            out.add_row(*(Text(v) for v in row), end_section=k == len(rows) - 2)
        tables.append(out)
    return tables
