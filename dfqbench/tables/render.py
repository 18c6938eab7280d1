"""Render a Leaderboard as Markdown, wide CSV or a rich table.

Cells read ``71.23 ± 0.45 (n=3)`` (mean ± sample std over n seeds) or, with ``interval='ci'``,
``71.23 [70.11, 72.35] (n=3)`` (the 95 % t-interval of the mean); ``71.23 (n=1)`` for one seed (a data-free
method's: ``(n=1: untested)``), a bare ``72.01`` for a published number and ``–`` when empty. Bold marks the
data-free methods not significantly below their column's best (see :mod:`dfqbench.tables.marks`; never a variant,
and nothing in a column of one method and its own variants); published rows are italic. A table with variants of
a method gets one more column per column: the variant's paired difference from its method, with the Bonferroni
interval of the method's variants and Holm's p. Notes under the table say what the marks mean and what each column
can resolve.
"""

from __future__ import annotations

import csv
import io

from rich.table import Table
from rich.text import Text

from dfqbench.tables.leaderboard import Entry, Leaderboard, Row, variant_of
from dfqbench.tables.marks import Comparison
from dfqbench.tables.stats import ALPHA, LEVEL, POWER

EMPTY = "–"
SEPARATOR = " · "
INTERVALS = ("std", "ci")
UNTESTED = "untested"
PAIRED_TITLE = "variant − method, paired (Bonferroni CI, Holm p)"


def format_cell(cell: Entry | None, interval: str = "std", untested: bool = False) -> str:
    """Two decimals: 'mean ± std (n=N)' or 'mean [low, high] (n=N)' (``interval='ci'``), 'mean (n=1)' ('mean
    (n=1: untested)' with ``untested``), 'value' for a published number, '–' for none."""
    if cell is None:
        return EMPTY
    if cell.n is None:
        return f"{cell.mean:.2f}"
    if not cell.tested:
        return f"{cell.mean:.2f} (n={cell.n}{': ' + UNTESTED if untested else ''})"
    if interval == "ci":
        low, high = cell.interval()
        return f"{cell.mean:.2f} [{low:.2f}, {high:.2f}] (n={cell.n})"
    return f"{cell.mean:.2f} ± {cell.std:.2f} (n={cell.n})"


def format_p(p: float) -> str:
    """'p = 0.012', 'p < 0.001'."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def format_level(level: float) -> str:
    """'95%', '98.75%', '99.72%' (four significant digits)."""
    return f"{100 * level:.4g}%"


def format_paired(comparison: Comparison | None) -> str:
    """'-0.43 [-0.88, 0.02], p = 0.059' (difference, its Bonferroni interval over the method's variants,
    Holm-adjusted p); '' for none."""
    if comparison is None:
        return ""
    low, high = comparison.interval()
    return f"{comparison.test.difference:.2f} [{low:.2f}, {high:.2f}], {format_p(comparison.p_holm)}"


def caption(lb: Leaderboard) -> str:
    """'profile: bench · preset: standard · seeds: 0, 1, 2 · failed: 1 (not shown)'; '' when there is nothing."""
    parts = [f"{name}: {', '.join(values)}" for name, values in lb.caption.items()]
    if lb.n_failed:
        parts.append(f"failed: {lb.n_failed} (not shown)")
    absent = missing_references(lb)
    if absent and lb.rows:
        parts.append(f"without {', '.join(absent)} (not in these rows: the table cannot be read against them)")
    return SEPARATOR.join(parts)


def missing_references(lb: Leaderboard) -> list[str]:
    """Which of the rows every leaderboard should carry (fp, noise, real) the table lacks."""
    from dfqbench.api import FP, REFERENCE_ROWS

    return [name for name in (FP, *REFERENCE_ROWS) if name not in lb.labels]


def sectioned_markdown(board, sections: list[tuple[str, list[str]]], notes: list[str]) -> str:
    """The caption, then per column a title line and its table lines, then the notes (gap and claims views)."""
    lines = [caption(board), ""] if caption(board) else []
    for title, table in sections:
        lines += [title, "", *table, ""]
    return "\n".join(lines + paragraphs(notes)) + "\n"


def column_title(bits: str, model: str, sep: str = SEPARATOR) -> str:
    return f"{bits}{sep}{model}"


def _mde_text(lb: Leaderboard) -> str:
    parts = []
    for b, m in lb.columns:
        mde = lb.column_stats(b, m).mde
        if mde is not None:
            parts.append(f"{column_title(b, m)} {mde.value:.2f} (s = {mde.s:.2f}, df = {mde.df}, n = {mde.n})")
    return "; ".join(parts)


def _paired_mde_text(lb: Leaderboard) -> str:
    parts = []
    for b, m in lb.columns:
        mde = lb.column_stats(b, m).paired_mde
        if mde is not None:
            over = f"{mde.pooled_over} variant{'s' if mde.pooled_over != 1 else ''}"
            parts.append(f"{column_title(b, m)} {mde.value:.2f} (s_d = {mde.s:.2f} over {over}, n = {mde.n})")
    return "; ".join(parts)


def _paired_levels(lb: Leaderboard) -> str:
    """'m = 4: 98.75%' for each family size of the paired comparisons, smallest first."""
    sizes = sorted({c.family_size for s in lb.stats.values() for c in s.paired.values()})
    return ", ".join(f"m = {m}: {format_level(1 - ALPHA / m)}" for m in sizes)


def notes(lb: Leaderboard, interval: str = "std") -> list[str]:
    """What the cells, the marks and the paired column mean, and each column's minimum detectable difference."""
    if not any(row.is_data_free_method for row in lb.rows):
        return []
    cells = (f"mean [{LEVEL:.0%} t-interval of the mean over seeds] (n seeds)" if interval == "ci" else
             "mean ± sample std over seeds (n seeds)")
    untested = any(s.untested for s in lb.stats.values())
    ablations = [column_title(b, m) for b, m in lb.columns if lb.column_stats(b, m).ablation_of]
    n1 = f" n=1: {UNTESTED} (one seed has no spread to test against)." if untested else ""
    if ablations and len(ablations) == len(lb.columns):
        out = [f"Cells: {cells}. Nothing is bold: the data-free rows are a method and its own variants, each "
               f"compared with the method in the paired column only." + n1]
    else:
        out = [f"Cells: {cells}. Bold: the best data-free method of each column and every method not significantly "
               f"below it (Welch's t-test over seeds, two-sided, Holm-corrected over the column's comparisons, "
               f"α = {ALPHA:g}); reference rows (fp, noise, real and their crossings) are never marked."
               + (f" Nothing is bold in {', '.join(ablations)}: its data-free rows are a method and its own "
                  "variants." if ablations else "") + n1]
    mde = _mde_text(lb)
    if mde:
        out.append(f"Smallest difference each column resolves (MDE = (t_0.975,df + t_0.8,df) · s · √(2/n) at "
                   f"{POWER:.0%} power, s the pooled seed std of its data-free methods): {mde}.")
    paired_mde = _paired_mde_text(lb)
    if paired_mde:
        out.append(f"Smallest paired difference each column resolves (paired MDE = (t_0.975,n−1 + t_0.8,n−1) · "
                   f"s_d / √n at {POWER:.0%} power and α = {ALPHA:g} before Holm, n − 1 the paired t-test's df, "
                   f"s_d the pooled std of the per-seed differences of the column's variants from their method): "
                   f"{paired_mde}.")
    if lb.has_paired:
        out.append(f"{PAIRED_TITLE}: each variant's difference from its method over the seeds both have, its "
                   f"Bonferroni interval at 1 − α/m over the method's m variants in the column ({_paired_levels(lb)}; "
                   f"simultaneous {LEVEL:.0%} coverage) and the paired t-test's p (two-sided, Holm-corrected over "
                   f"the same m variants). The interval excludes 0 exactly when the unadjusted p is below α/m, and "
                   f"then Holm's p is below α too; Holm's step-down may also resolve a difference whose interval "
                   f"holds 0. Variants are never bold: each is compared with its own method only.")
    return out


def _marked_text(lb: Leaderboard, row: Row, bits: str, model: str, interval: str) -> tuple[str, str]:
    """A cell's text and its emphasis: 'bold' (marked), 'italic' (published) or ''."""
    untested = row.is_data_free_method and lb.is_untested(row.label, bits, model)
    text = format_cell(lb.cell(row.label, bits, model), interval, untested)
    if text == EMPTY:
        return text, ""
    if row.kind == "reported":
        return text, "italic"
    return text, "bold" if lb.is_marked(row.label, bits, model) else ""


def _paired(lb: Leaderboard, row: Row, bits: str, model: str) -> Comparison | None:
    return lb.column_stats(bits, model).paired.get(row.label)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_row(cells: list[str]) -> str:
    """'| a | b |', an empty cell as '| |'."""
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def md_table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    """The lines of a Markdown table; ``align`` per column: ':---' (left) or '---:' (right). Cells are escaped."""
    lines = [_md_row([_md_escape(h) for h in header]), "|" + "|".join(align) + "|"]
    return lines + [_md_row([_md_escape(c) for c in row]) for row in rows]


def paragraphs(lines: list[str]) -> list[str]:
    """Lines separated by blank lines."""
    return [part for line in lines for part in ("", line)][1:]


def _md_cell(lb: Leaderboard, row: Row, bits: str, model: str, interval: str) -> str:
    text, style = _marked_text(lb, row, bits, model, interval)
    text = _md_escape(text)
    return f"**{text}**" if style == "bold" else f"*{text}*" if style == "italic" else text


def to_markdown(lb: Leaderboard, interval: str = "std") -> str:
    """A caption line (when there is one), one table with headers '4w4a · model' (and, for variants, '4w4a · model:
    variant − method, paired'), then the notes; ends with a newline."""
    lines = []
    cap = caption(lb)
    if cap:
        lines += [cap, ""]
    paired = lb.has_paired
    header = ["method"] + [column_title(b, m) for b, m in lb.columns]
    header += [f"{column_title(b, m)}: {PAIRED_TITLE}" for b, m in lb.columns] if paired else []
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in lb.rows:
        label = _md_escape(row.label)
        if row.kind == "reported":
            label = f"*{label}*"
        cells = [_md_cell(lb, row, b, m, interval) for b, m in lb.columns]
        cells += [format_paired(_paired(lb, row, b, m)) for b, m in lb.columns] if paired else []
        lines.append(_md_row([label] + cells))
    note_lines = notes(lb, interval)
    if note_lines:
        lines += ["", *paragraphs(note_lines)]
    return "\n".join(lines) + "\n"


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return str(round(value, 6))


CSV_FIELDS = ("mean", "std", "n", "ci_low", "ci_high", "marked", "p_vs_best", "paired_difference", "paired_low",
              "paired_high", "paired_p")


def _csv_values(lb: Leaderboard, row: Row, bits: str, model: str) -> list[str]:
    """The CSV_FIELDS of one cell: 'marked' is 1/0 for tested data-free methods that can be marked (no variants,
    nothing in a column of a method and its own variants), '' otherwise; 'p_vs_best' is Holm's p against the
    column's best; the paired fields are a variant's against its method (Bonferroni interval, Holm's p)."""
    cell = lb.cell(row.label, bits, model)
    if cell is None:
        return [""] * len(CSV_FIELDS)
    low_high = cell.interval() or (None, None)
    stats = lb.column_stats(bits, model)
    tested = (row.is_data_free_method and cell.tested and variant_of(row.label) is None
              and stats.ablation_of is None)
    versus = stats.versus_best.get(row.label)
    paired = stats.paired.get(row.label)
    paired_values = [paired.test.difference, *paired.interval(), paired.p_holm] if paired else [None] * 4
    return [_number(v) for v in (cell.mean, cell.std, cell.n, *low_high)] + [
        str(int(lb.is_marked(row.label, bits, model))) if tested else "",
        _number(versus.p_holm) if versus else "",
    ] + [_number(v) for v in paired_values]


def to_csv(lb: Leaderboard) -> str:
    """Wide CSV: 'method', then '<bits>/<model>/<field>' for each of CSV_FIELDS per column (blank when empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["method"] + [f"{b}/{m}/{name}" for b, m in lb.columns for name in CSV_FIELDS])
    for row in lb.rows:
        writer.writerow([row.label] + [v for b, m in lb.columns for v in _csv_values(lb, row, b, m)])
    return out.getvalue()


def to_rich(lb: Leaderboard, title: str | None = None, interval: str = "std") -> Table:
    """A rich Table for the terminal: bold marked cells, italic published rows, the caption and the notes below."""
    below = "\n".join(part for part in [caption(lb), *notes(lb, interval)] if part)
    table = Table(title=title, caption=Text(below) if below else None, caption_justify="left", show_lines=False)
    table.add_column("method", no_wrap=True)
    paired = lb.has_paired
    for b, m in lb.columns:
        table.add_column(column_title(b, m, "\n"), justify="right")
    for b, m in lb.columns if paired else []:
        table.add_column(f"{column_title(b, m, chr(10))}\n{PAIRED_TITLE}", justify="right")
    for i, row in enumerate(lb.rows):  # a line between fp, references, methods and published rows
        cells = [Text(row.label, style="italic" if row.kind == "reported" else "")]
        cells += [Text(*_marked_text(lb, row, b, m, interval)) for b, m in lb.columns]
        cells += [Text(format_paired(_paired(lb, row, b, m))) for b, m in lb.columns] if paired else []
        next_kind = lb.rows[i + 1].kind if i + 1 < len(lb.rows) else row.kind
        table.add_row(*cells, end_section=next_kind != row.kind)
    return table
