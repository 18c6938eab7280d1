"""Options shared by several commands."""

from __future__ import annotations

import typer

DATA_DIR_HELP = "Fashion-MNIST folder (default: $DFQBENCH_DATA, else Debian's)."


def data_dir_option():
    return typer.Option(None, "--data-dir", help=DATA_DIR_HELP)
