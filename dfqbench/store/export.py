"""Long-format CSV export of the results store (one row per cell, columns in COLUMNS order) and its reader."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dfqbench.atomic import atomic_path
from dfqbench.errors import UserError
from dfqbench.store.schema import COLUMNS, IDENTITY_V1
from dfqbench.store.sqlite import INTEGER_COLUMNS, REAL_COLUMNS, ResultStore, normalize_row, typed_frame

REQUIRED_COLUMNS = ("method", "model", "bits", "seed", "top1", "status")


def export_csv(store: ResultStore, path: str | Path, **filters) -> int:
    """Write the rows matching ``filters`` (see :meth:`ResultStore.rows`) to ``path``; return the row count.

    The file is written to a temporary file beside ``path`` and renamed over
    it, so a reader never sees a half-written CSV.
    """
    frame = store.to_frame(**filters)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return len(frame)


def _numeric(series: pd.Series, path: Path) -> pd.Series:
    """Text → numbers; a value that is not a number is a UserError naming the column."""
    try:
        return pd.to_numeric(series)
    except (ValueError, TypeError):
        raise UserError(f"bad results CSV: {path}: column {series.name!r} has a non-numeric value") from None


def read_results_csv(path: str | Path) -> pd.DataFrame:
    """Read a long-format results CSV written by :func:`export_csv`.

    The required columns must be present; extra columns are kept (after the
    schema columns); schema columns an older file lacks are added as missing
    values. Numbers come back as numbers (float64, or nullable Int64 for
    integer columns); empty cells are missing (None), except in the text
    identity columns, where '' is a value.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UserError(f"results CSV not found: {path}") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        reason = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserError(f"bad results CSV: {path} ({reason})") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in raw]
    if missing:
        raise UserError(f"bad results CSV: {path}: missing columns: {', '.join(missing)}")

    frame = raw.astype(object)
    for column in frame.columns:
        if column not in IDENTITY_V1:  # '' is a real identity value (the fp row's synthesizer); elsewhere missing
            frame[column] = frame[column].where(frame[column] != "", None)
        if column in REAL_COLUMNS or column in INTEGER_COLUMNS:
            frame[column] = _numeric(frame[column], path)
            if column in INTEGER_COLUMNS and not frame[column].dropna().mod(1).eq(0).all():
                raise UserError(f"bad results CSV: {path}: column {column!r} has a non-integer value")
        elif column not in COLUMNS:
            try:  # extra columns: numbers if they all parse, text otherwise
                frame[column] = pd.to_numeric(frame[column])
            except (ValueError, TypeError):
                pass
    for column in COLUMNS:
        if column not in frame:
            frame[column] = None
    extras = [column for column in frame.columns if column not in COLUMNS]
    return typed_frame(frame[list(COLUMNS) + extras])


def checked_rows(path: str | Path) -> list[dict]:
    """The rows of an exported CSV, each normalised and checked; a bad row is a UserError naming its line."""
    frame = read_results_csv(path)
    rows = []
    for line, record in enumerate(frame[list(COLUMNS)].to_dict("records"), start=2):  # line 1 is the header
        row = {k: (None if pd.isna(v) else v) for k, v in record.items()}
        try:
            rows.append(normalize_row(row))
        except ValueError as exc:
            raise UserError(f"cannot import {path}: line {line}: {exc}") from None
    return rows


def import_rows(store: ResultStore, rows: list[dict]) -> int:
    """Write checked rows into ``store``; finished cells already there are kept. Returns how many were new."""
    return sum(bool(store.put(row)) for row in rows)


def import_csv(store: ResultStore, path: str | Path) -> tuple[int, int]:
    """Load an exported CSV into ``store`` (to resume a grid from committed results); return (written, rows).

    Finished cells already in the store are kept; the CSV's cells keep their ids, rows of an older identity
    scheme included (they are never computed again). Every row is checked before any is written: a bad row is
    a UserError naming its line, and the store is left as it was.
    """
    rows = checked_rows(path)
    return import_rows(store, rows), len(rows)
