"""Progress of a grid run: rich bars on a terminal (the grid, the cell's stage, the steps within the stage, time
left); plain timestamped lines in a log (nohup, CI), at most one a minute per stage."""

from __future__ import annotations

import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from dfqbench.cli.console import err_console
from dfqbench.runner.grid import Cell
from dfqbench.runner.run import Reporter


class RichReporter(Reporter):
    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=err_console)
        self.grid_task = self.stage_task = None

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def grid_start(self, total: int) -> None:
        self.grid_task = self.progress.add_task("grid", total=total)
        self.stage_task = self.progress.add_task("", total=1, visible=False)

    def cell_start(self, index: int, cell: Cell) -> None:
        self.cell = cell.describe()
        self.progress.update(self.grid_task, description=f"grid: {self.cell}")

    def stage(self, stage: str, done: int, total: int) -> None:
        self.progress.update(self.stage_task, description=f"  {stage}", completed=done, total=max(total, 1),
                             visible=True)

    def cell_end(self, index: int, cell: Cell, row: dict, skipped: bool) -> None:
        self.progress.update(self.grid_task, advance=1)
        self.progress.update(self.stage_task, visible=False)
        self.progress.console.print(f"{cell.describe()}: {cell_status(row, skipped)}", highlight=False, markup=False)

    def cell_elsewhere(self, index: int, cell: Cell, holder: str) -> None:
        self.progress.update(self.grid_task, advance=1)
        self.progress.console.print(f"{cell.describe()}: {elsewhere_status(holder)}", highlight=False, markup=False)


def cell_status(row: dict, skipped: bool) -> str:
    if skipped:
        return "cached in store"
    if row["status"] == "ok":
        return f"top-1 {row['top1']:.2f}% in {row['seconds_total']:.0f}s"
    return f"FAILED: {row['error']}"


def elsewhere_status(holder: str) -> str:
    return f"left to {holder}, which is computing it on this store"


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class LogReporter(Reporter):
    """Plain lines for logs: each cell's start and end, each stage's start, progress every ``every`` seconds
    (done/total, elapsed, time left) and its end."""

    def __init__(self, every: float = 60.0, now=time.monotonic) -> None:
        self.every, self.now = every, now
        self.total, self.stage_name = 0, None

    def __enter__(self) -> LogReporter:
        return self

    def __exit__(self, *exc) -> None:
        pass

    @staticmethod
    def say(text: str) -> None:
        err_console.print(f"{time.strftime('%H:%M:%S')} {text}", highlight=False, markup=False, soft_wrap=True)

    def grid_start(self, total: int) -> None:
        self.total = total
        self.say(f"grid: {total} cells")

    def cell_start(self, index: int, cell: Cell) -> None:
        self.stage_name = None
        self.say(f"[{index + 1}/{self.total}] {cell.describe()}")

    def stage(self, stage: str, done: int, total: int) -> None:
        t, total = self.now(), max(total, 1)
        if stage != self.stage_name:  # a new stage, or back to one (calibration after a refresh)
            self.stage_name, self.since, self.done_since, self.last = stage, t, done, t
            if done < total:
                self.say(f"  {stage}: started" if done <= 1 else f"  {stage}: {done}/{total}")
        if done >= total:
            self.say(f"  {stage}: {done}/{total} done")
            self.stage_name = None
        elif t - self.last >= self.every and done > self.done_since:
            rate = (t - self.since) / (done - self.done_since)
            self.say(f"  {stage}: {done}/{total} ({100 * done / total:.0f} %), about {clock(rate * (total - done))} "
                     "left")
            self.last = t

    def cell_end(self, index: int, cell: Cell, row: dict, skipped: bool) -> None:
        self.say(f"[{index + 1}/{self.total}] {cell.describe()}: {cell_status(row, skipped)}")

    def cell_elsewhere(self, index: int, cell: Cell, holder: str) -> None:
        self.say(f"[{index + 1}/{self.total}] {cell.describe()}: {elsewhere_status(holder)}")


def run_with_display(plan, settings, store_path: Path):
    """Run a planned grid (:func:`dfqbench.runner.plan.plan_grid`: bad input has failed there, before any display
    or work) with the terminal's progress display, or log lines when redirected; return its report."""
    from dfqbench.runner.run import run_plan
    from dfqbench.store.sqlite import ResultStore

    display = RichReporter() if err_console.is_terminal else LogReporter()
    with ResultStore(store_path) as store, display as reporter:
        return run_plan(plan, settings, store, reporter)
