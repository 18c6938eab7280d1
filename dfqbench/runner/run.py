"""Run a grid of cells against one store: skip finished cells, record failures, keep going."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from dfqbench.errors import UserError
from dfqbench.runner.cell import RunSettings, base_row, plugin_configs, run_cell
from dfqbench.runner.grid import Cell
from dfqbench.store.sqlite import ResultStore
from dfqbench.zoo.backbones import Backbone, load_backbone


@dataclasses.dataclass
class GridReport:
    done: list[dict] = dataclasses.field(default_factory=list)      # rows computed now
    skipped: list[dict] = dataclasses.field(default_factory=list)   # finished before
    failed: list[dict] = dataclasses.field(default_factory=list)    # rows that failed now
    interrupted: bool = False


class Reporter:
    """What the runner tells its display; the CLI implements it with rich, tests with a list."""

    def grid_start(self, total: int) -> None: ...
    def cell_start(self, index: int, cell: Cell) -> None: ...
    def stage(self, stage: str, done: int, total: int) -> None: ...
    def cell_end(self, index: int, cell: Cell, row: dict, skipped: bool) -> None: ...


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def prepare_grid(cells: list[Cell], load: Callable[[str], Backbone] = load_backbone) -> dict[str, Backbone]:
    """Check the user's part of every cell before anything runs: models load, plugin configs validate.

    Raises UserError (one line) on the first problem; returns the loaded backbones by name.
    """
    backbones = {}
    for cell in cells:
        if cell.model not in backbones:
            backbones[cell.model] = load(cell.model)
        if not cell.method.is_fp:
            plugin_configs(cell)
    return backbones


def run_grid(cells: list[Cell], settings: RunSettings, store: ResultStore, reporter: Reporter | None = None,
             load: Callable[[str], Backbone] = load_backbone) -> GridReport:
    """Compute every unfinished cell; a failing cell is stored as failed and the grid goes on.

    Bad input fails before the first cell; Ctrl-C stops after storing what finished (the report says so).
    """
    reporter = reporter or Reporter()
    report, backbones = GridReport(), prepare_grid(cells, load)
    reporter.grid_start(len(cells))
    for index, cell in enumerate(cells):
        backbone = backbones[cell.model]
        row = base_row(cell, backbone, settings)
        if store.finished(row["cell_id"]):
            report.skipped.append(store.get(row["cell_id"]))
            reporter.cell_end(index, cell, report.skipped[-1], skipped=True)
            continue
        reporter.cell_start(index, cell)
        started = time.time()
        try:
            row.update(run_cell(cell, backbone, settings, row, reporter.stage))
        except KeyboardInterrupt:
            report.interrupted = True
            break
        except UserError:
            raise
        except Exception as exc:  # a failing plugin or NaN: record it and go on
            row.update(status="failed", error=first_line(exc), seconds_total=time.time() - started)
        store.put(row)
        (report.done if row["status"] == "ok" else report.failed).append(row)
        reporter.cell_end(index, cell, row, skipped=False)
    return report
