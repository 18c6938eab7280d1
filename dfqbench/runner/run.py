"""Run a grid of cells against one store: skip finished cells, record failures, keep going."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from dfqbench.faults import kill_point
from dfqbench.runner.cell import RunSettings, cell_row
from dfqbench.runner.grid import Cell
from dfqbench.runner.plan import PlannedCell, plan_grid
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
    # a cluster's grid (dfqbench.runner.ray_executor): many cells at once
    def cells_queued(self, count: int) -> None: ...
    def cell_running(self, index: int, cell: Cell, what: str, node: str) -> None: ...
    def cell_stage(self, index: int, stage: str, done: int, total: int) -> None: ...


def run_grid(cells: list[Cell], settings: RunSettings, store: ResultStore, reporter: Reporter | None = None,
             load: Callable[[str], Backbone] = load_backbone) -> GridReport:
    """Plan the cells (bad input fails before the first one) and run the plan (:func:`run_plan`)."""
    return run_plan(plan_grid(cells, settings, load), settings, store, reporter)


def run_plan(plan: list[PlannedCell], settings: RunSettings, store: ResultStore,
             reporter: Reporter | None = None) -> GridReport:
    """Compute every cell the store has no ``ok`` row for, one after the other; a failing cell is stored as failed
    and the grid goes on (a rerun retries it). Ctrl-C stops after storing what finished (the report says so); a
    cell in flight keeps its checkpoint. Several processes on one grid: :mod:`dfqbench.runner.ray_executor`."""
    reporter = reporter or Reporter()
    report = GridReport()
    reporter.grid_start(len(plan))
    for index, planned in enumerate(plan):
        cell, row = planned.cell, store.get(planned.cell_id)
        if row is not None and row["status"] == "ok":
            report.skipped.append(row)
            reporter.cell_end(index, cell, row, skipped=True)
            continue
        reporter.cell_start(index, cell)
        try:
            row = cell_row(planned, settings, reporter.stage)
        except KeyboardInterrupt:
            report.interrupted = True
            break
        store.put(row)
        kill_point("after-store")
        settings.checkpoints(planned.cell_id).clear()
        (report.done if row["status"] == "ok" else report.failed).append(row)
        reporter.cell_end(index, cell, row, skipped=False)
    return report
