"""``dfqbench students``: the calibrated models of ``run --save-models``, listed and packed."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.cli.console import console
from dfqbench.cli.options import path_argument, path_option
from dfqbench.cli.path_kinds import READ_PATH, WRITE_FOLDER

students_app = typer.Typer(help="Calibrated students saved by 'dfqbench run --save-models DIR'.",
                           no_args_is_help=True)


@students_app.command("pack")
def pack_command(
    sources: list[Path] = path_argument(..., kind=READ_PATH, help="Student files or folders of them."),
    to: Path = path_option(..., "--to", kind=WRITE_FOLDER,
                           help="Folder for the packed copies (METHOD_MODEL_BITS_seedK.safetensors)."),
    dtype: str = typer.Option("float16", help="Floating type of the copies: float16, bfloat16 or float32."),
    seed: int = typer.Option(None, min=0, help="Only the students of this seed."),
) -> None:
    """Copy students with their floating tensors in a smaller type (float16 halves them), e.g. to commit the
    models behind a report's attention figure.

    Example:

      dfqbench students pack runs/students --seed 0 --to results/students
    """
    from dfqbench.plots.attention_maps import student_cell, student_files
    from dfqbench.store.students import pack_student

    files = [path for path in student_files(sources) if seed is None or student_cell(path)["seed"] == seed]
    for path in files:
        console.print(f"wrote {pack_student(path, to, dtype)}", highlight=False)
    console.print(f"{len(files)} students packed", highlight=False)
