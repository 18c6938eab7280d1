"""Leaderboard tables: build from long-format results, render as Markdown, wide CSV or a rich table.

Other views of the same leaderboard: :mod:`dfqbench.tables.gap` (each method between noise+C and real+C of its
calibrator) and :mod:`dfqbench.tables.claims` (the papers' claims tested); the statistics are in
:mod:`dfqbench.tables.stats`.
"""

from dfqbench.tables.leaderboard import Entry, Leaderboard, Row, build_leaderboard
from dfqbench.tables.render import format_cell, to_csv, to_markdown, to_rich

__all__ = ["Entry", "Leaderboard", "Row", "build_leaderboard", "format_cell", "to_csv", "to_markdown", "to_rich"]
