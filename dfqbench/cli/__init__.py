"""The ``dfqbench`` command line (typer)."""

from dfqbench.cli.app import app, main

__all__ = ["app", "main"]
