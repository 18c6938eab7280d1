"""``dfqbench table``, ``export``, ``import`` and ``prune``: leaderboards from the store or a CSV (never a re-run),
and moving rows between stores and CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer

from dfqbench.cli.console import console
from dfqbench.cli.options import bit_widths, listed, path_option, plugin_option, split, store_option
from dfqbench.cli.path_kinds import READ_FILE, READ_STORE, WRITE_FILE
from dfqbench.errors import UserError
from dfqbench.paths import CLAIMS
from dfqbench.tables.published import leaderboard_of

VIEWS = ("leaderboard", "gap", "claims")
FORMATS = ("rich", "md", "csv")
INTERVALS = ("std", "ci")


def only(frame: pd.DataFrame, column: str, value: str | None) -> pd.DataFrame:
    """The rows of ``frame`` whose ``column`` is ``value`` (the fp rows stay: they do not depend on it)."""
    if value is None:
        return frame
    if column not in frame.columns:
        raise UserError(f"results have no column '{column}' to filter on")
    have = sorted({str(v) for v in frame[column].dropna()})
    if value not in have:
        raise UserError(f"no results for {column} '{value}' (results have: {', '.join(have) or 'none'})")
    return frame[(frame[column].astype(str) == value) | (frame["bits"].astype(str) == "fp")]


def choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``, else UserError."""
    if value not in choices:
        raise UserError(f"unknown {option} '{value}' (choose {', '.join(choices[:-1])} or {choices[-1]})")
    return value


def rendered(board, view: str, format_: str, interval: str = "std", claims: Path | None = None):
    """A view of ``board``: its text in md or csv, or the rich tables to print (format 'rich')."""
    from dfqbench.tables import to_csv, to_markdown, to_rich
    from dfqbench.tables.claims import build_claims_table, claims_csv, claims_markdown, claims_rich, read_claims
    from dfqbench.tables.gap import build_gap_table, gap_csv, gap_markdown, gap_rich

    if view == "gap":
        table = build_gap_table(board)
        return {"md": gap_markdown, "csv": gap_csv, "rich": gap_rich}[format_](table)
    if view == "claims":
        table = build_claims_table(board, read_claims(claims or CLAIMS))
        return {"md": claims_markdown, "csv": claims_csv, "rich": claims_rich}[format_](table)
    if format_ == "rich":
        return [to_rich(board, interval=interval)]
    return to_csv(board) if format_ == "csv" else to_markdown(board, interval)


def table_command(
    from_: Path = path_option(None, "--from", kind=READ_FILE, help="Long-format results CSV (default: the store)."),
    store: Path = store_option(kind=READ_STORE),
    methods: str = typer.Option(None, callback=listed,
                                help="Rows to show, comma-separated; a pattern like 'maskaq*' picks a "
                                           "method and its variants."),
    bits: str = typer.Option(None, callback=bit_widths, help="Bit-widths to show, comma-separated."),
    models: str = typer.Option(None, callback=listed, help="Models to show, comma-separated."),
    profile: str = typer.Option(None, help="Only rows of this profile (rows of different profiles are never "
                                           "averaged together)."),
    preset: str = typer.Option(None, help="Only rows of this quantizer preset."),
    view: str = typer.Option("leaderboard", help="leaderboard; gap (each method between noise+C and real+C of "
                                                 "its calibrator C); claims (the papers' claims tested)."),
    interval: str = typer.Option("std", help="Leaderboard cells: std (mean ± sample std) or ci (the 95% "
                                             "t-interval of the mean over seeds)."),
    claims: Path = path_option(None, "--claims", kind=READ_FILE,
                               help="Claims CSV for --view claims (default: dfqbench/tables/claims.csv); an "
                                           "optional 'family' column names each claim's Holm family."),
    format_: str = typer.Option("rich", "--format", help="rich (terminal), md or csv."),
    reported: bool = typer.Option(False, "--reported", help="Add the published numbers where the model matches."),
    output: Path = path_option(None, "--output", "-o", kind=WRITE_FILE, help="Write to this file instead of printing."),
) -> None:
    """Render a Table-1-style leaderboard (rows: methods; columns: bit-widths x models), or another view of it.

    In each column, bold marks the data-free methods not significantly below the best one (Welch's t-test over
    seeds, Holm-corrected); a variant (maskaq[se=false]) is compared with its own method only, paired by seed, and
    a table of one method and its variants marks nothing. The notes give each column's minimum detectable
    difference. The claims view Holm-corrects within each claim's family (the claims file's 'family' column).

    Examples:

      dfqbench table

      dfqbench table --from results/zoo_4w4a.csv --format md --interval ci

      dfqbench table --bits 4w4a --methods noise,real,mimiq --format csv -o table.csv

      dfqbench table --profile bench --methods 'maskaq*'

      dfqbench table --from results/bench_4w4a.csv --view gap

      dfqbench table --from results/bench_4w4a.csv --view claims --claims dfqbench/tables/claims.csv --format md
    """
    from dfqbench.store.export import read_results_csv
    from dfqbench.store.sqlite import ResultStore

    choice("--format", format_, FORMATS)
    choice("--view", view, VIEWS)
    choice("--interval", interval, INTERVALS)
    if claims is not None and view != "claims":
        raise UserError("--claims goes with --view claims")
    if format_ == "rich" and output is not None:
        raise UserError("--format rich prints to the terminal; use md or csv with --output")
    if from_ is not None:
        frame = read_results_csv(from_)
    else:
        if not store.is_file():
            raise UserError(f"no results store at {store} (run 'dfqbench run' first, or pass --from CSV)")
        with ResultStore(store, read_only=True) as db:
            frame = db.to_frame()
    frame = only(only(frame, "profile", profile), "preset", preset)
    board = leaderboard_of(frame, split(methods), split(bits), split(models), reported)
    out = rendered(board, view, format_, interval, claims)
    if format_ == "rich":
        for renderable in out:
            console.print(renderable)
    elif output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(out)
        console.print(f"wrote {output}", highlight=False)
    else:
        print(out, end="" if out.endswith("\n") else "\n")


def export_command(
    to: Path = path_option(..., "--to", kind=WRITE_FILE, help="CSV file to write (long format, one row per cell)."),
    store: Path = store_option(kind=READ_STORE),
    methods: str = typer.Option(None, callback=listed, help="Only these methods, comma-separated."),
    models: str = typer.Option(None, callback=listed, help="Only these models, comma-separated."),
    profile: str = typer.Option(None, callback=listed, help="Only this profile."),
    evaluation: str = typer.Option(None, callback=listed, help="Only rows evaluated on these sets, comma-separated "
                                                               "(the rows' evaluation: test, val, test[:500], ...)."),
) -> None:
    """Export the store's rows as long-format CSV (committed leaderboards are rendered from such files).

    Examples:

      dfqbench export --to results/zoo_4w4a.csv --profile bench

      dfqbench export --to table.csv --evaluation test   (leave out a tuning's validation rows)
    """
    from dfqbench.store.export import export_csv
    from dfqbench.store.sqlite import ResultStore

    if not store.is_file():
        raise UserError(f"no results store at {store}")
    options = {"method": "--methods", "model": "--models", "profile": "--profile", "evaluation": "--evaluation"}
    filters = {k: v for k, v in (("method", split(methods)), ("model", split(models)), ("profile", profile),
                                 ("evaluation", split(evaluation))) if v}
    with ResultStore(store, read_only=True) as db:
        have = db.to_frame()
        for column, wanted in filters.items():
            present = {str(v) for v in have[column].dropna()} if column in have else set()
            missing = [w for w in ([wanted] if isinstance(wanted, str) else wanted) if w not in present]
            if missing:
                have_text = ", ".join(sorted(present)) or ("none: rows made before identity scheme 2 record no "
                                                           "evaluation" if column == "evaluation" else "none")
                raise UserError(f"{options[column]}: no rows of {', '.join(missing)} in {store} (rows have: "
                                f"{have_text})")
        count = export_csv(db, to, **filters)
    console.print(f"wrote {count} rows to {to}", highlight=False)


def import_command(
    from_: Path = path_option(..., "--from", kind=READ_FILE,
                              help="Long-format results CSV written by 'dfqbench export'."),
    store: Path = store_option(),
) -> None:
    """Load exported results into the store, so that a rerun skips those cells (resume from committed CSVs).

    Example: dfqbench import --from results/zoo_4w4a.csv
    """
    from dfqbench.store.export import checked_rows, import_rows
    from dfqbench.store.sqlite import ResultStore

    rows = checked_rows(from_)  # before the store is opened: a bad CSV leaves no store behind
    with ResultStore(store) as db:
        written = import_rows(db, rows)
    console.print(f"imported {written} of {len(rows)} rows into {store}", highlight=False)


def prune_command(
    store: Path = store_option(),
    plugin: list[str] = plugin_option("Python file registering plugins (repeatable); rows of plugins not "
                                       "registered are kept."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the rows, delete nothing."),
) -> None:
    """Delete the rows recorded with an older version of their synthesizer or calibrator (superseded results).

    Example: dfqbench prune --store runs/bench.sqlite --dry-run
    """
    from dfqbench.registry import load_plugin_file
    from dfqbench.store.prune import superseded
    from dfqbench.store.sqlite import ResultStore

    if not store.is_file():
        raise UserError(f"no results store at {store}")
    for path in plugin or []:
        load_plugin_file(path)
    with ResultStore(store) as db:
        stale = superseded(db.rows())
        for row, current in stale:
            console.print(f"{row['method']} · {row['model']} · {row['bits']} · seed {row['seed']}: versions "
                          f"{row['versions']}, now {json.dumps(current)} (top-1 {row['top1']})",
                          highlight=False, markup=False)
        if dry_run:
            console.print(f"{len(stale)} superseded rows (dry run: nothing deleted)", highlight=False)
            return
        count = db.delete([row["cell_id"] for row, _ in stale])
    console.print(f"deleted {count} superseded rows from {store}", highlight=False)

