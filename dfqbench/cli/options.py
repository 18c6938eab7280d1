"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.cli.path_kinds import READ_FILE, READ_FOLDER, STORE, WRITE_FILE, WRITE_FOLDER, PathKind, checked
from dfqbench.paths import DEFAULT_CACHE, DEFAULT_CHECKPOINTS, DEFAULT_STORE

DATA_DIR_HELP = "Fashion-MNIST folder (default: $DFQBENCH_DATA, else Debian's)."


def path_option(default, *decls: str, kind: PathKind, help: str):
    """A path option of ``kind`` (checked where it enters; its help says what it wants)."""
    return typer.Option(default, *decls, help=f"{help.rstrip('.')} ({kind.describe()}).", callback=checked(kind))


def path_argument(default, kind: PathKind, help: str):
    return typer.Argument(default, help=f"{help.rstrip('.')} ({kind.describe()}).", callback=checked(kind))


def data_dir_option():
    return path_option(None, "--data-dir", kind=READ_FOLDER, help=DATA_DIR_HELP)


def store_option(help: str = "SQLite results store.", kind: PathKind = STORE) -> Path:
    """The store: written by commands that compute or import (``STORE``), read by the others (``READ_FILE``)."""
    return path_option(DEFAULT_STORE, "--store", kind=kind, help=help)


def cache_dir_option(help: str = "Synthetic-set cache.", kind: PathKind = WRITE_FOLDER) -> Path:
    return path_option(DEFAULT_CACHE, "--cache-dir", kind=kind, help=help)


def device_option() -> str:
    return typer.Option("cpu", help="cpu or cuda.")


def checkpoint_dir_option() -> Path:
    return path_option(DEFAULT_CHECKPOINTS, "--checkpoint-dir", kind=WRITE_FOLDER,
                       help="Checkpoints of cells in flight: a stopped run resumes each cell "
                                                  "from its last one; removed when the cell is stored.")


def split(text: str | None) -> list[str] | None:
    """A comma-separated option's values (None when not given)."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def figure_option() -> Path:
    return path_option(..., "-o", "--out", kind=WRITE_FILE, help="Figure file: .png or .svg")


def results_from_option() -> list[Path]:
    return path_option(None, "--from", kind=READ_FILE,
                       help="Long-format results CSV (repeatable; default: the store)")
