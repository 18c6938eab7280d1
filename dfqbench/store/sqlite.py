"""The results store: one SQLite table ``cells`` with one row per grid cell.

Rules: a cell (one ``cell_id``) is stored at most once; an 'ok' row is never
overwritten; a 'failed' row is replaced by a later row for the same cell, so
a rerun retries failed cells. The database runs in WAL mode and every write is
a ``BEGIN IMMEDIATE`` transaction with a busy timeout, so several processes
can write to one store at once without losing or duplicating a cell. (Stores written before 2026-12-02 may
hold a ``claims`` table of a protocol since replaced by ``--executor ray``; it is left alone.)
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from dfqbench.errors import UserError
from dfqbench.faults import kill_point
from dfqbench.paths import DEFAULT_STORE
from dfqbench.store.schema import COLUMNS, IDENTITY_BY_SCHEME, IDENTITY_V2_EXTRA, cell_id, id_scheme_of

BUSY_TIMEOUT_S = 60.0

INTEGER_COLUMNS = frozenset({"seed", "n_eval", "synthesis_cached", "threads", "id_scheme", "deterministic"})
ADDED_COLUMNS = frozenset(IDENTITY_V2_EXTRA + ("id_scheme", "tuning", "python", "processor", "deterministic")) - {
    "threads"}  # added to older stores
REAL_COLUMNS = frozenset(
    {"top1", "top5", "seconds_synthesis", "seconds_calibration", "seconds_evaluation", "seconds_total",
     "peak_memory_mb"}
)
STATUSES = ("ok", "failed")


def sql_type(column: str) -> str:
    """The SQLite column type of a schema column."""
    if column in INTEGER_COLUMNS:
        return "INTEGER"
    if column in REAL_COLUMNS:
        return "REAL"
    return "TEXT"


def typed_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Give the schema columns of ``frame`` their dtypes: REAL → float64, INTEGER → nullable Int64, TEXT → object.

    Missing text values become ``None``; other columns of ``frame`` are left as they are.
    """
    frame = frame.copy()
    for column in COLUMNS:
        if column not in frame:
            continue
        if column in REAL_COLUMNS:
            frame[column] = frame[column].astype("float64")
        elif column in INTEGER_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _plain(value):
    """NumPy scalars → Python scalars (sqlite3 cannot bind ``numpy.int64``)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def use_wal(conn: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_S) -> None:
    """Switch to WAL. SQLite answers a concurrent switch with "database is locked" at once, without its busy
    timeout (two processes opening one new store together), so this retries until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.01, 0.1))


def normalize_row(row: dict) -> dict:
    """Validate ``row`` and return it with every column: ``cell_id`` computed, ``created_at`` filled.

    Identity fields of the row's scheme are required (text; ``seed`` and ``threads`` ints); measurement and
    provenance columns may be missing or None. Raises ValueError on an unknown column or scheme, a bad identity
    field, a bad status or a wrong cell_id.
    """
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ValueError(f"unknown result columns: {', '.join(unknown)}")
    out = {column: _plain(row.get(column)) for column in COLUMNS}
    scheme = id_scheme_of(out)
    if scheme not in IDENTITY_BY_SCHEME:
        raise ValueError(f"unknown identity scheme {scheme} (known: {', '.join(map(str, IDENTITY_BY_SCHEME))})")
    out["id_scheme"] = scheme
    for column in IDENTITY_BY_SCHEME[scheme]:
        value = out[column]
        expected = int if column in ("seed", "threads") else str
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ValueError(f"identity field {column!r} must be {expected.__name__}, got {value!r}")
    if out["status"] not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {out['status']!r}")
    computed = cell_id(out)
    if out["cell_id"] is not None and out["cell_id"] != computed:
        raise ValueError(f"cell_id {out['cell_id']!r} does not match the identity fields ({computed})")
    out["cell_id"] = computed
    if out["created_at"] is None:
        out["created_at"] = _now()
    return out


class ResultStore:
    """One results store file; use as a context manager or call :meth:`close`.

    ``read_only``: for the commands that only read (tables, exports, figures, the report): the file must exist,
    nothing in it is changed (a store of an older schema is read as it is, the columns it lacks as empty).
    """

    def __init__(self, path: str | Path = DEFAULT_STORE, read_only: bool = False):
        self.path, self.read_only = Path(path), read_only
        self._conn = None
        try:
            if read_only:
                self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                             timeout=BUSY_TIMEOUT_S, isolation_level=None)
                self._check_columns()
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create results store folder: {self.path.parent} ({exc.strerror})") from None
        except sqlite3.OperationalError as exc:
            self.close()
            raise UserError(f"cannot open results store: {self.path} ({exc})") from None
        except sqlite3.DatabaseError as exc:
            self.close()
            raise UserError(f"not a dfqbench results store: {self.path} ({exc})") from None
        except UserError:
            self.close()
            raise
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            use_wal(self._conn)
            self._ensure_table()
        except sqlite3.OperationalError as exc:  # unreadable, locked past the timeout, ...
            self.close()
            raise UserError(f"cannot open results store: {self.path} ({exc})") from None
        except sqlite3.DatabaseError as exc:  # "file is not a database"
            self.close()
            raise UserError(f"not a dfqbench results store: {self.path} ({exc})") from None
        except UserError:
            self.close()
            raise

    def _ensure_table(self) -> None:
        """Create ``cells`` if absent; give a store of an older schema the columns added since (its rows keep
        their identity scheme); a ``cells`` table that lacks other columns is a UserError."""
        present = self._cell_columns()
        if not present:
            columns = ", ".join(f"{c} {sql_type(c)}" + (" NOT NULL UNIQUE" if c == "cell_id" else "") for c in COLUMNS)
            with self._transaction():
                self._conn.execute(f"CREATE TABLE IF NOT EXISTS cells ({columns})")
        elif not_added := [c for c in COLUMNS if c not in present and c not in ADDED_COLUMNS]:
            raise UserError(f"not a dfqbench results store: {self.path} (missing columns: {', '.join(not_added)})")
        elif any(c not in present for c in COLUMNS):
            with self._transaction():  # re-read under the write lock: another process may have added them
                for column in [c for c in COLUMNS if c not in self._cell_columns()]:
                    self._conn.execute(f"ALTER TABLE cells ADD COLUMN {column} {sql_type(column)}")

    def _check_columns(self) -> None:
        """Read-only: the ``cells`` table must be there with every column older schemas had."""
        present = self._cell_columns()
        if not_added := [c for c in COLUMNS if c not in present and c not in ADDED_COLUMNS]:
            raise UserError(f"not a dfqbench results store: {self.path} (missing columns: {', '.join(not_added)})")

    def _cell_columns(self) -> set[str]:
        return {info[1] for info in self._conn.execute("PRAGMA table_info(cells)")}

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """A ``BEGIN IMMEDIATE`` transaction: takes the write lock up front (waiting up to the busy timeout)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            yield
        except BaseException:
            if self._conn.in_transaction:  # not when BEGIN itself failed
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def put(self, row: dict) -> bool:
        """Store one result row; return True if written, False if an 'ok' row for the cell already exists."""
        row = normalize_row(row)
        names = ", ".join(COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "cell_id")
        sql = (
            f"INSERT INTO cells ({names}) VALUES ({marks}) "
            f"ON CONFLICT(cell_id) DO UPDATE SET {updates} WHERE cells.status != 'ok'"
        )
        with self._transaction():
            written = self._conn.execute(sql, [row[c] for c in COLUMNS]).rowcount
            kill_point("mid-store-write")
        return written == 1

    def get(self, cell_id: str) -> dict | None:
        """The row of one cell, or None."""
        found = self.rows(cell_id=cell_id)
        return found[0] if found else None

    def rows(self, **filters) -> list[dict]:
        """Rows matching equality filters (a list value means IN, None means IS NULL), oldest first."""
        clauses, params = [], []
        for column, value in filters.items():
            if column not in COLUMNS:
                raise ValueError(f"unknown result column: {column}")
            if value is None:
                clauses.append(f"{column} IS NULL")
            elif isinstance(value, (list, tuple, set, frozenset)):
                values = [_plain(v) for v in value]
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})" if values else "0")
                params.extend(values)
            else:
                clauses.append(f"{column} = ?")
                params.append(_plain(value))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        present = self._cell_columns() if self.read_only else set(COLUMNS)  # read-only: older schemas as they are
        selected = ", ".join(c if c in present else f"NULL AS {c}" for c in COLUMNS)
        sql = f"SELECT {selected} FROM cells{where} ORDER BY created_at, rowid"
        return [dict(zip(COLUMNS, values, strict=True)) for values in self._conn.execute(sql, params)]

    def to_frame(self, **filters) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame, columns in COLUMNS order (float64 / Int64 / object dtypes)."""
        return typed_frame(pd.DataFrame.from_records(self.rows(**filters), columns=list(COLUMNS)))

    def delete(self, cell_ids: Iterable[str]) -> int:
        """Delete the rows of these cells (a single id is accepted too); return how many were deleted."""
        if isinstance(cell_ids, str):
            cell_ids = [cell_ids]
        with self._transaction():
            return self._conn.executemany("DELETE FROM cells WHERE cell_id = ?", [(i,) for i in cell_ids]).rowcount
