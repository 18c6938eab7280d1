"""``dfqbench eval``: full-precision top-1 of a registered model."""

from __future__ import annotations


def eval_command() -> None:
    """Evaluate a model."""
