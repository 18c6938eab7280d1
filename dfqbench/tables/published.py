"""The leaderboard of long-format rows, with the numbers the papers published beside them when asked."""

from __future__ import annotations

import pandas as pd

from dfqbench.errors import UserError
from dfqbench.paths import REPORTED
from dfqbench.tables.leaderboard import Leaderboard, build_leaderboard


def leaderboard_of(frame: pd.DataFrame, methods=None, bits=None, models=None, reported: bool = False) -> Leaderboard:
    """``build_leaderboard`` of ``frame``; ``reported``: with the published numbers (tables/reported.csv)."""
    published = None
    if reported:
        if not REPORTED.is_file():
            raise UserError(f"published numbers not found: {REPORTED}")
        published = pd.read_csv(REPORTED)
    return build_leaderboard(frame, methods=methods, bits=bits, models=models, reported=published)
