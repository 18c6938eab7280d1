"""Render a Leaderboard as Markdown, wide CSV or a rich table.

Cells read ``71.23 ± 0.45 (n=3)`` (mean ± sample std over n seeds), ``71.23 (n=1)`` for one seed, a bare
``72.01`` for a published number and ``–`` when empty. The best data-free cell per column is bold; published
rows are italic.
"""

from __future__ import annotations

import csv
import io

from rich.table import Table
from rich.text import Text

from dfqbench.tables.leaderboard import Cell, Leaderboard, Row

EMPTY = "–"
SEPARATOR = " · "


def format_cell(cell: Cell | None) -> str:
    """Two decimals: 'mean ± std (n=N)', 'mean (n=1)', 'value' for a published number, '–' for none."""
    if cell is None:
        return EMPTY
    if cell.n is None:
        return f"{cell.mean:.2f}"
    if cell.std is None:
        return f"{cell.mean:.2f} (n={cell.n})"
    return f"{cell.mean:.2f} ± {cell.std:.2f} (n={cell.n})"


def caption(lb: Leaderboard) -> str:
    """'profile: bench · preset: standard · seeds: 0, 1, 2 · failed: 1 (not shown)'; '' when there is nothing."""
    parts = [f"{name}: {', '.join(values)}" for name, values in lb.caption.items()]
    if lb.n_failed:
        parts.append(f"failed: {lb.n_failed} (not shown)")
    return SEPARATOR.join(parts)


def column_title(bits: str, model: str, sep: str = SEPARATOR) -> str:
    return f"{bits}{sep}{model}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_cell(lb: Leaderboard, row: Row, bits: str, model: str) -> str:
    cell = lb.cell(row.label, bits, model)
    text = _md_escape(format_cell(cell))
    if cell is None:
        return text
    if row.kind == "reported":
        return f"*{text}*"
    if lb.is_best(row.label, bits, model):
        return f"**{text}**"
    return text


def to_markdown(lb: Leaderboard) -> str:
    """A caption line (when there is one), then one table with headers '4w4a · model'; ends with a newline."""
    lines = []
    cap = caption(lb)
    if cap:
        lines += [cap, ""]
    header = ["method"] + [column_title(b, m) for b, m in lb.columns]
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * len(lb.columns)) + "|")
    for row in lb.rows:
        label = _md_escape(row.label)
        if row.kind == "reported":
            label = f"*{label}*"
        cells = [_md_cell(lb, row, b, m) for b, m in lb.columns]
        lines.append("| " + " | ".join([label] + cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return str(round(value, 6))


def to_csv(lb: Leaderboard) -> str:
    """Wide CSV: 'method', then '<bits>/<model>/mean', '.../std', '.../n' per column (blank when empty)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["method"]
    for b, m in lb.columns:
        header += [f"{b}/{m}/mean", f"{b}/{m}/std", f"{b}/{m}/n"]
    writer.writerow(header)
    for row in lb.rows:
        values: list[str] = [row.label]
        for b, m in lb.columns:
            cell = lb.cell(row.label, b, m)
            values += ["", "", ""] if cell is None else [_number(cell.mean), _number(cell.std), _number(cell.n)]
        writer.writerow(values)
    return out.getvalue()


def to_rich(lb: Leaderboard, title: str | None = None) -> Table:
    """A rich Table for the terminal: bold best data-free cells, italic published rows, the caption below."""
    table = Table(title=title, caption=caption(lb) or None, show_lines=False)
    table.add_column("method", no_wrap=True)
    for b, m in lb.columns:
        table.add_column(column_title(b, m, "\n"), justify="right")
    for i, row in enumerate(lb.rows):  # a line between fp, references, methods and published rows
        reported = row.kind == "reported"
        cells = [Text(row.label, style="italic" if reported else "")]
        for b, m in lb.columns:
            style = "italic" if reported else "bold" if lb.is_best(row.label, b, m) else ""
            cells.append(Text(format_cell(lb.cell(row.label, b, m)), style=style))
        next_kind = lb.rows[i + 1].kind if i + 1 < len(lb.rows) else row.kind
        table.add_row(*cells, end_section=next_kind != row.kind)
    return table
