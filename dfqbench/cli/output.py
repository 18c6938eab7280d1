"""Leaderboards from long-format rows: built (with the published numbers when asked), printed and written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dfqbench.cli.console import console
from dfqbench.errors import UserError
from dfqbench.tables.published import leaderboard_of


def print_and_write(frame: pd.DataFrame, out: Path | None, title: str | None = None) -> None:
    """Print the leaderboard of ``frame``; with ``out``, write leaderboard.md/.csv and the long results.csv."""
    from dfqbench.tables import to_csv, to_markdown, to_rich

    board = leaderboard_of(frame)
    console.print(to_rich(board, title=title))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "leaderboard.md").write_text(to_markdown(board))
        (out / "leaderboard.csv").write_text(to_csv(board))
        frame.to_csv(out / "results.csv", index=False)
        console.print(f"wrote {out / 'leaderboard.md'}, {out / 'leaderboard.csv'} and {out / 'results.csv'}",
                      highlight=False)


def results_frame(from_: list[Path] | None, store: Path):
    """The long-format rows of ``--from`` CSVs (several are concatenated), else of the store."""
    import pandas as pd

    from dfqbench.store.export import read_results_csv
    from dfqbench.store.sqlite import ResultStore

    if from_:
        return pd.concat([read_results_csv(path) for path in from_], ignore_index=True)
    if not Path(store).is_file():
        raise UserError(f"no results store at {store} (run 'dfqbench run' first, or give --from CSV)")
    with ResultStore(store, read_only=True) as results:
        return results.to_frame()
