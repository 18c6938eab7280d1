"""Root of the command line: global options, error handling, sub-command groups."""

from __future__ import annotations

import os
import sys

import typer

from dfqbench.cli import (
    cache_cmd,
    data_cmd,
    env_cmd,
    eval_cmd,
    list_cmd,
    plot_cmd,
    report_cmd,
    run_cmd,
    students_cmd,
    table_cmd,
    tune_cmd,
    zoo_cmd,
)
from dfqbench.cli.console import err_console
from dfqbench.errors import UserError
from dfqbench.runtime import tune_allocator

app = typer.Typer(
    name="dfqbench",
    help="Benchmark data-free quantization of Vision Transformers.\n\n"
         "Examples:\n\n  dfqbench run\n\n  dfqbench run --methods noise,real --bits 3w3a,4w4a,5w5a,4w8a\n\n"
         "  dfqbench table --format md\n\n  dfqbench list methods\n\n  dfqbench --threads 1 zoo list",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (default: all cores) and return it."""
    import torch

    count = threads if threads else (os.cpu_count() or 1)
    if count < 1:
        raise UserError(f"--threads must be at least 1, got {count}")
    torch.set_num_threads(count)
    return count


@app.callback()
def root(threads: int = typer.Option(0, "--threads", help="Torch threads (default: all cores).")) -> None:
    """Benchmark data-free quantization of Vision Transformers."""
    set_threads(threads or None)


def _register_commands() -> None:
    app.command("run")(run_cmd.run_command)
    app.command("tune")(tune_cmd.tune_command)
    app.command("table")(table_cmd.table_command)
    app.command("export")(table_cmd.export_command)
    app.command("import")(table_cmd.import_command)
    app.command("prune")(table_cmd.prune_command)
    app.command("list")(list_cmd.list_command)
    app.command("eval")(eval_cmd.eval_command)
    app.command("report")(report_cmd.report_command)
    app.command("env")(env_cmd.env_command)
    app.add_typer(zoo_cmd.zoo_app, name="zoo")
    app.add_typer(cache_cmd.cache_app, name="cache")
    app.add_typer(cache_cmd.samples_app, name="samples")
    app.add_typer(data_cmd.data_app, name="data")
    app.add_typer(plot_cmd.plot_app, name="plot")
    app.add_typer(students_cmd.students_app, name="students")


_register_commands()


def usage_line(exc) -> str:
    """Click's usage error as one line, with where to read more."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    return f"{message} (see: {ctx.command_path} --help)" if ctx is not None else message


def main() -> None:
    """Entry point: a UserError becomes one line on stderr and exit status 2."""
    tune_allocator()
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit's code instead of raising it here
    except UserError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted", markup=False)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, a value out of range
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as asked
            exc.show()
            sys.exit(2)
        if not hasattr(exc, "format_message"):
            raise
        err_console.print(f"error: {usage_line(exc)}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)
