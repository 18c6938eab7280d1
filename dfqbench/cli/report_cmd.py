"""``dfqbench report``: the results as one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.cli.console import console
from dfqbench.cli.options import data_dir_option, path_option, results_from_option, store_option
from dfqbench.cli.path_kinds import READ_FILE, READ_FOLDER, READ_PATH, READ_STORE, WRITE_FILE
from dfqbench.errors import UserError
from dfqbench.paths import CLAIMS


def report_command(
    out: Path = path_option(..., "--output", "-o", kind=WRITE_FILE, help="The HTML file to write."),
    from_: list[Path] = results_from_option(),
    store: Path = store_option(kind=READ_STORE),
    claims: Path = path_option(CLAIMS, "--claims", kind=READ_FILE, help="Claims CSV tested in the claims section."),
    students: list[Path] = path_option(None, "--students", kind=READ_PATH,
                                       help="Calibrated students (files or folders of "
                                                                 "'run --save-models') for the attention figure."),
    cache_dir: Path = path_option(None, "--cache-dir", kind=READ_FOLDER,
                                  help="Synthesis cache whose sets the sample and attention "
                                                             "figures show (default: none, real images only)."),
    title: str = typer.Option("dfqbench report", help="The page's title."),
    data_dir: Path = data_dir_option(),
) -> None:
    """One HTML file, figures embedded, nothing fetched: the leaderboard with its significance marks, the claims
    table, the figures, the ablation tables and the provenance of the rows. A section whose input is missing says
    so and how to make it. The same inputs give the same bytes.

    Examples:

      dfqbench report -o report.html

      dfqbench report --from results/bench_4w4a.csv --students results/students -o report.html
    """
    from dfqbench.cli.output import results_frame
    from dfqbench.report.build import build_report, source_list

    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--output must end in .html, got '{out.name}'")
    if out.is_dir():
        raise UserError(f"--output {out} is a folder; give a file name ending in .html")
    if not claims.is_file():
        raise UserError(f"no claims file at {claims}")
    frame = results_frame(from_, store)
    inputs = source_list(from_ or [store], frame, claims, students or [], cache_dir, data_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(inputs, title), encoding="utf-8")
    console.print(f"wrote {out}", highlight=False)
