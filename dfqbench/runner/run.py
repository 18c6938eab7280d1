"""Run a grid of cells against one store: skip finished cells, record failures, keep going."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable

from dfqbench.errors import UserError
from dfqbench.runner.cell import RunSettings, base_row, cell_key, plugin_configs, run_cell, synthesis_key
from dfqbench.runner.grid import Cell
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


def synthesis_groups(cells: list[Cell], backbones: dict[str, Backbone], settings: RunSettings,
                     ids: list[str]) -> list[str]:
    """Each cell's synthetic-set cache key (the fp row: its own id): cells with one key share a synthetic set."""
    groups = []
    for cell, cid in zip(cells, ids, strict=True):
        if cell.method.is_fp:
            groups.append(cid)
        else:
            groups.append(synthesis_key(plugin_configs(cell)[0], cell, backbones[cell.model], settings))
    return groups


def run_grid(cells: list[Cell], settings: RunSettings, store: ResultStore, reporter: Reporter | None = None,
             load: Callable[[str], Backbone] = load_backbone) -> GridReport:
    """Compute every unfinished cell; a failing cell is stored as failed and the grid goes on.

    Bad input fails before the first cell; Ctrl-C stops after storing what finished (the report says so).
    Other processes on the same store share the grid through claims (dfqbench.store.claims): a cell one of them
    is computing is put off once, then left to it (``report.elsewhere``); a cell whose synthetic set one of them
    is making is put off once; a cell that failed in another process during this run is not computed again.
    """
    reporter = reporter or Reporter()
    report, backbones = GridReport(), prepare_grid(cells, load)
    ids = [cell_key(cell, backbones[cell.model], settings) for cell in cells]
    groups = synthesis_groups(cells, backbones, settings, ids)
    retry = {row["cell_id"] for row in store.rows(cell_id=ids, status="failed")}
    board = store.claims()
    queue, put_off = collections.deque(range(len(cells))), set()

    def stage(name: str, done: int, total: int) -> None:
        board.heartbeat()
        reporter.stage(name, done, total)

    reporter.grid_start(len(cells))
    try:
        while queue:
            index = queue.popleft()
            cell, first_look = cells[index], index not in put_off
            set_cached = settings.cache.path(groups[index]).is_file()
            verdict = board.take(ids[index], groups[index], wait_for_group=first_look and not set_cached,
                                 retry=retry)
            if verdict is Verdict.BUSY or (verdict is Verdict.TAKEN and first_look):
                put_off.add(index)
                queue.append(index)
                continue
            if verdict is Verdict.DONE:
                row = store.get(ids[index])
                (report.skipped if row["status"] == "ok" else report.failed).append(row)
                reporter.cell_end(index, cell, row, skipped=row["status"] == "ok")
                continue
            if verdict is Verdict.TAKEN:
                report.elsewhere.append((cell, board.holder(ids[index]) or "another process"))
                reporter.cell_elsewhere(index, cell, report.elsewhere[-1][1])
                continue
            reporter.cell_start(index, cell)
            row, started = base_row(cell, backbones[cell.model], settings), time.time()
            try:
                row.update(run_cell(cell, backbones[cell.model], settings, row, stage))
            except KeyboardInterrupt:
                report.interrupted = True
                break
            except UserError:
                raise
            except Exception as exc:  # a failing plugin or NaN: record it and go on
                row.update(status="failed", error=first_line(exc), seconds_total=time.time() - started)
            store.put(row)
            settings.checkpoints(ids[index]).clear()
            board.release([ids[index]])
            (report.done if row["status"] == "ok" else report.failed).append(row)
            reporter.cell_end(index, cell, row, skipped=False)
    finally:
        board.release()
    return report
