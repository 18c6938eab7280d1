"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.cli.path_kinds import READ_FILE, READ_FOLDER, STORE, WRITE_FILE, WRITE_FOLDER, PathKind, checked
from dfqbench.errors import UserError
from dfqbench.paths import DEFAULT_CACHE, DEFAULT_CHECKPOINTS, DEFAULT_STORE

DATA_DIR_HELP = "Fashion-MNIST folder (default: $DFQBENCH_DATA, else Debian's)."


def path_option(default, *decls: str, kind: PathKind, help: str):
    """A path option of ``kind`` (checked where it enters; its help says what it wants)."""
    return typer.Option(default, *decls, help=f"{help.rstrip('.')} ({kind.describe()}).", callback=checked(kind))


def path_argument(default, kind: PathKind, help: str):
    return typer.Argument(default, help=f"{help.rstrip('.')} ({kind.describe()}).", callback=checked(kind))


def plugin_option(help: str = "Python file registering plugins (repeatable).") -> list[str]:
    return path_option(None, "--plugin", kind=READ_FILE, help=help)


def data_dir_option():
    return path_option(None, "--data-dir", kind=READ_FOLDER, help=DATA_DIR_HELP)


def store_option(help: str = "SQLite results store.", kind: PathKind = STORE) -> Path:
    """The store: written by commands that compute or import (``STORE``), read by the others (``READ_FILE``)."""
    return path_option(DEFAULT_STORE, "--store", kind=kind, help=help)


def cache_dir_option(help: str = "Synthetic-set cache.", kind: PathKind = WRITE_FOLDER) -> Path:
    return path_option(DEFAULT_CACHE, "--cache-dir", kind=kind, help=help)


def device_option() -> str:
    return typer.Option("cpu", help="cpu or cuda.", callback=checked_device)


def flush_denormal_option() -> bool:
    return typer.Option(False, "--flush-denormal", help="CPU: flush subnormal floats to zero (a Swin step about "
                        "1.5x faster; may change last bits, so its rows are other cells: device type cpu-ftz).")


def executor_option() -> str:
    return typer.Option("process", help="process (cells one after the other in this process) or ray (cells as tasks "
                                        "on a Ray cluster: pip install 'dfqbench[ray]').")


def ray_address_option() -> str | None:
    return typer.Option(None, "--ray-address", help="With --executor ray: auto or HOST:PORT of a running cluster "
                                                    "(default: start one on this machine).")


def cpus_per_cell_option() -> int:
    return typer.Option(1, "--cpus-per-cell", help="With --executor ray: each task's CPUs and torch threads (part of "
                                                   "a cell's identity).")


def gpus_per_cell_option() -> float:
    return typer.Option(0.0, "--gpus-per-cell", help="With --executor ray: each task's share of a GPU (with --device "
                                                     "cuda), e.g. 0.5.")


def checkpoint_dir_option() -> Path:
    return path_option(DEFAULT_CHECKPOINTS, "--checkpoint-dir", kind=WRITE_FOLDER,
                       help="Checkpoints of cells in flight: a stopped run resumes each cell "
                                                  "from its last one; removed when the cell is stored.")


def parsed(parse=None):
    """A typer callback for a comma-separated option: refused in one line, before any work, when given but naming
    nothing ('' or ',') or when ``parse`` (a UserError-raising parser, e.g. of bit-widths) refuses it."""
    def callback(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
        if value is None or ctx.resilient_parsing:
            return value
        option = max(param.opts, key=len) if param.opts else param.name
        if not split(value):
            raise UserError(f"{option} {value!r} names nothing: give at least one value, comma-separated")
        if parse is not None:
            try:
                parse(value)
            except UserError as exc:
                raise UserError(f"{option}: {exc}") from None
        return value
    return callback


def parse_bits(text: str):
    from dfqbench.quant.bits import parse_bit_list

    return parse_bit_list(text)


def parse_counts(text: str) -> list[int]:
    """Non-negative integers, comma-separated (seeds, steps)."""
    from dfqbench.runner.grid import parse_seeds

    return parse_seeds(text)


listed, bit_widths, counts = parsed(), parsed(parse_bits), parsed(parse_counts)


def open_fraction(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
    """A share strictly between 0 and 1."""
    if value is not None and not ctx.resilient_parsing and not 0 < value < 1:
        raise UserError(f"{max(param.opts, key=len)} must be between 0 and 1 (exclusive), got {value}")
    return value


def one_of(choices: tuple[str, ...]):
    """A typer callback accepting only ``choices``."""
    def callback(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
        if value is not None and not ctx.resilient_parsing and value not in choices:
            raise UserError(f"{max(param.opts, key=len)} {value!r}: choose {', '.join(choices)}")
        return value
    return callback


def unit_share(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
    """A share in (0, 1]."""
    if value is not None and not ctx.resilient_parsing and not 0 < value <= 1:
        raise UserError(f"{max(param.opts, key=len)} must be in (0, 1], got {value}")
    return value


def model_weights(item: str, option: str) -> tuple[str | None, Path]:
    """``MODEL=PATH`` or a bare ``PATH`` (model None), the file checked: a weights file to read."""
    from dfqbench.cli.path_kinds import check_path

    model, sep, path = item.partition("=")
    if not sep or "/" in model or not model:
        model, path = None, item
    check_path(Path(path), READ_FILE, option)
    return model, Path(path)


def checkpoint_items(ctx: typer.Context, param: typer.CallbackParam, value):
    """``--checkpoint`` values checked where they enter (run: MODEL=PATH, repeatable; eval: PATH or MODEL=PATH)."""
    if value is None or ctx.resilient_parsing:
        return value
    option = max(param.opts, key=len)
    for item in value if isinstance(value, (list, tuple)) else [value]:
        model, _ = model_weights(item, option)
        if model is None and isinstance(value, (list, tuple)):
            raise UserError(f"{option} {item!r}: expected MODEL=PATH, e.g. deit_tiny_patch16_224=deit.safetensors")
    return value


def checked_device(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    from dfqbench.cli.settings import resolve_device

    if not ctx.resilient_parsing:
        resolve_device(value, check=False)
    return value


def split(text: str | None) -> list[str] | None:
    """A comma-separated option's values (None when not given)."""
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def figure_option() -> Path:
    return path_option(..., "-o", "--out", kind=WRITE_FILE, help="Figure file: .png or .svg")


def results_from_option() -> list[Path]:
    return path_option(None, "--from", kind=READ_FILE,
                       help="Long-format results CSV (repeatable; default: the store)")


def rows_option():
    return typer.Option(None, "--methods", callback=listed,
                        help="Rows, comma-separated (patterns like 'maskaq*'; default: all).")


def bits_filter_option():
    return typer.Option(None, "--bits", callback=bit_widths, help="Bit-widths, comma-separated (default: all).")


def models_filter_option():
    return typer.Option(None, "--models", callback=listed, help="Models, comma-separated (default: all).")
