"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.paths import DEFAULT_CACHE, DEFAULT_CHECKPOINTS, DEFAULT_STORE

DATA_DIR_HELP = "Fashion-MNIST folder (default: $DFQBENCH_DATA, else Debian's)."


def data_dir_option():
    return typer.Option(None, "--data-dir", help=DATA_DIR_HELP)


def store_option(help: str = "SQLite results store.") -> Path:
    return typer.Option(DEFAULT_STORE, help=help)


def cache_dir_option(help: str = "Synthetic-set cache.") -> Path:
    return typer.Option(DEFAULT_CACHE, help=help)


def device_option() -> str:
    return typer.Option("cpu", help="cpu or cuda.")


def checkpoint_dir_option() -> Path:
    return typer.Option(DEFAULT_CHECKPOINTS, help="Checkpoints of cells in flight: a stopped run resumes each cell "
                                                  "from its last one; removed when the cell is stored.")


def split(text: str | None) -> list[str] | None:
    """A comma-separated option's values (None when not given)."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def figure_option() -> Path:
    return typer.Option(..., "-o", "--out", help="Figure file: .png or .svg.")


def results_from_option() -> list[Path]:
    return typer.Option(None, "--from", help="Long-format results CSV (repeatable; default: the store).")
