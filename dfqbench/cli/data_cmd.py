"""``dfqbench data``: fetch datasets for users not on Debian."""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Datasets.", no_args_is_help=True)
