"""What a path option wants, checked where the value enters (before any computation), one line when it is wrong.

A kind says whether the path is a file or a folder, whether it must exist, and whether the command writes there:

- ``READ_FILE`` / ``READ_FOLDER``: must exist and be of that kind;
- ``WRITE_FILE``: a file the command writes (replaced if it exists); not a folder, no file among its parents, and
  its folder writable;
- ``WRITE_FOLDER``: a folder the command writes into (created if missing); not a file, no file among its parents,
  writable;
- ``STORE`` / ``READ_STORE``: the SQLite results store, written in place (created if missing) or only read; an
  existing file must be an SQLite database;
- ``READ_PATH``: an existing file or folder (e.g. students: a file, or a folder of them).

Writability is probed, not read from permission bits (tests run as root, whom permission bits do not stop): a
temporary file is made and removed in the nearest existing folder, an existing file is opened for writing without
changing it. A read-only file system, a full disk or an immutable file then fails here, in one line.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer

from dfqbench.errors import UserError


@dataclass(frozen=True)
class PathKind:
    want: str           # 'file', 'folder' or 'path' (either)
    must_exist: bool
    writes: bool
    sqlite: bool = False

    def describe(self) -> str:
        if self.want == "path":
            return "an existing file or folder"
        if not self.writes:
            return f"an existing {self.want}"
        return "a file, replaced if it exists" if self.want == "file" else "a folder, created if missing"


READ_FILE = PathKind("file", must_exist=True, writes=False)
READ_FOLDER = PathKind("folder", must_exist=True, writes=False)
WRITE_FILE = PathKind("file", must_exist=False, writes=True)
WRITE_FOLDER = PathKind("folder", must_exist=False, writes=True)
STORE = PathKind("file", must_exist=False, writes=True, sqlite=True)
READ_STORE = PathKind("file", must_exist=True, writes=False, sqlite=True)
READ_PATH = PathKind("path", must_exist=True, writes=False)
SQLITE_HEADER = b"SQLite format 3\x00"


def probe_folder(folder: Path) -> None:
    """Make and remove a temporary file in ``folder``; OSError when that cannot be done."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def probe_file(path: Path) -> None:
    """Open an existing file for writing without changing it; OSError when that cannot be done."""
    with open(path, "r+b"):
        pass


def is_sqlite(path: Path) -> bool:
    """An empty file (a store about to be made) or one that starts with SQLite's header."""
    with open(path, "rb") as file:
        head = file.read(len(SQLITE_HEADER))
    return not head or head == SQLITE_HEADER


def nearest_existing(path: Path) -> Path:
    """The path itself or its nearest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_path(path: Path, kind: PathKind, option: str) -> Path:
    """``path`` when it is what ``kind`` wants; UserError naming ``option`` and the fix otherwise."""
    path = Path(path)
    other = "folder" if kind.want == "file" else "file"
    exists_as = "folder" if path.is_dir() else "file" if path.exists() else None
    if exists_as == other and kind.want != "path":
        raise UserError(f"{option} {path} is a {other}; it wants {kind.describe()}")
    if kind.must_exist and exists_as is None:
        raise UserError(f"{option}: no {'file or folder' if kind.want == 'path' else kind.want} at {path}")
    if kind.sqlite and exists_as == "file" and not is_sqlite(path):
        raise UserError(f"{option} {path} is not an SQLite results store (give a new file name, or a store "
                        "written by dfqbench)")
    if not kind.writes:
        return path
    existing = nearest_existing(path)
    if existing != path and not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, so nothing can be created under it")
    try:
        probe_file(path) if exists_as == "file" else probe_folder(existing if existing != path else path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(f"{option} {path}: cannot write there ({reason})") from None
    return path


def checked(kind: PathKind):
    """A typer callback checking every path an option received. Not given: nothing to check; a path to read that
    is the option's default is checked by the command, which may not need it (``table --from`` reads no store)."""
    def callback(ctx: typer.Context, param: typer.CallbackParam, value):
        if value is None or ctx.resilient_parsing:
            return value
        option = max(param.opts, key=len) if param.opts else param.name
        if not kind.writes and value == param.default:
            return value
        for path in value if isinstance(value, (list, tuple)) else [value]:
            check_path(path, kind, option)
        return value
    return callback


__all__ = ["READ_FILE", "READ_FOLDER", "READ_PATH", "READ_STORE", "STORE", "WRITE_FILE", "WRITE_FOLDER", "PathKind",
           "check_path", "checked"]
