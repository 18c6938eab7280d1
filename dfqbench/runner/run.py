"""Run a grid of cells against one store: skip finished cells, record failures, keep going."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

from dfqbench.runner.cell import RunSettings, cell_row
from dfqbench.runner.grid import Cell
from dfqbench.runner.plan import PlannedCell, plan_grid
from dfqbench.store.claims import Verdict
from dfqbench.store.sqlite import ResultStore
from dfqbench.zoo.backbones import Backbone, load_backbone


@dataclasses.dataclass
class GridReport:
    done: list[dict] = dataclasses.field(default_factory=list)      # rows computed now
    skipped: list[dict] = dataclasses.field(default_factory=list)   # finished before
    failed: list[dict] = dataclasses.field(default_factory=list)    # rows that failed now
    elsewhere: list[tuple[Cell, str]] = dataclasses.field(default_factory=list)  # computed by another process
    interrupted: bool = False


class Reporter:
    """What the runner tells its display; the CLI implements it with rich, tests with a list."""

    def grid_start(self, total: int) -> None: ...
    def cell_start(self, index: int, cell: Cell) -> None: ...
    def stage(self, stage: str, done: int, total: int) -> None: ...
    def cell_end(self, index: int, cell: Cell, row: dict, skipped: bool) -> None: ...
    def cell_elsewhere(self, index: int, cell: Cell, holder: str) -> None: ...


def run_grid(cells: list[Cell], settings: RunSettings, store: ResultStore, reporter: Reporter | None = None,
             load: Callable[[str], Backbone] = load_backbone) -> GridReport:
    """Plan the cells (bad input fails before the first one) and run the plan (:func:`run_plan`)."""
    return run_plan(plan_grid(cells, settings, load), settings, store, reporter)


def run_plan(plan: list[PlannedCell], settings: RunSettings, store: ResultStore,
             reporter: Reporter | None = None) -> GridReport:
    """Compute every unfinished cell; a failing cell is stored as failed and the grid goes on.

    Ctrl-C stops after storing what finished (the report says so); a cell in flight keeps its checkpoint.
    Other processes on the same store share the grid through claims (dfqbench.store.claims): a cell one of them
    is computing is put off once, then left to it (``report.elsewhere``); a cell whose synthetic set one of them
    is making is put off once; a cell that failed in another process during this run is not computed again.
    """
    reporter = reporter or Reporter()
    report = GridReport()
    retry = {row["cell_id"] for row in store.rows(cell_id=[p.cell_id for p in plan], status="failed")}
    board = store.claims()
    queue, put_off = collections.deque(range(len(plan))), set()

    def stage(name: str, done: int, total: int) -> None:
        board.heartbeat()
        reporter.stage(name, done, total)

    reporter.grid_start(len(plan))
    try:
        while queue:
            index = queue.popleft()
            planned, first_look = plan[index], index not in put_off
            cell = planned.cell
            set_cached = settings.cache.path(planned.set_key).is_file()
            verdict = board.take(planned.cell_id, planned.set_key, wait_for_group=first_look and not set_cached,
                                 retry=retry)
            if verdict is Verdict.BUSY or (verdict is Verdict.TAKEN and first_look):
                put_off.add(index)
                queue.append(index)
                continue
            if verdict is Verdict.DONE:
                row = store.get(planned.cell_id)
                (report.skipped if row["status"] == "ok" else report.failed).append(row)
                reporter.cell_end(index, cell, row, skipped=row["status"] == "ok")
                continue
            if verdict is Verdict.TAKEN:
                report.elsewhere.append((cell, board.holder(planned.cell_id) or "another process"))
                reporter.cell_elsewhere(index, cell, report.elsewhere[-1][1])
                continue
            reporter.cell_start(index, cell)
            try:
                row = cell_row(planned, settings, stage)
            except KeyboardInterrupt:
                report.interrupted = True
                break
            store.put(row)
            settings.checkpoints(planned.cell_id).clear()
            board.release([planned.cell_id])
            (report.done if row["status"] == "ok" else report.failed).append(row)
            reporter.cell_end(index, cell, row, skipped=False)
    finally:
        board.release()
    return report
