"""Leaderboard tables: build from long-format results, render as Markdown, wide CSV or a rich table."""

from dfqbench.tables.leaderboard import Cell, Leaderboard, Row, build_leaderboard
from dfqbench.tables.render import format_cell, to_csv, to_markdown, to_rich

__all__ = ["Cell", "Leaderboard", "Row", "build_leaderboard", "format_cell", "to_csv", "to_markdown", "to_rich"]
