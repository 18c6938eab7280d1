"""Progress of a grid run: rich bars on a terminal (the grid, the cell's stage, the steps within the stage, time
left); plain timestamped lines in a log (nohup, CI), at most one a minute per stage."""

from __future__ import annotations

import collections
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



def cell_status(row: dict, skipped: bool) -> str:
    if skipped:
        return "cached in store"
    if row["status"] == "ok":
        return f"top-1 {row['top1']:.2f}% in {row['seconds_total']:.0f}s"
    return f"FAILED: {row['error']}"


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class LogReporter(Reporter):
    """Plain lines for logs (CI, ``nohup``): two lines per cell, its start and its end (status, top-1, time), and
    while it runs at most one progress line a minute per stage (done/total and time left at the stage's rate)."""

    def __init__(self, every: float = 60.0, now=time.monotonic) -> None:
        self.every, self.now = every, now
        self.total, self.stage_name = 0, None
        self.last: dict[str, float] = {}
        self.totals: dict[str, int] = {}

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
        self.stage_name, self.last, self.totals = None, {}, {}
        self.say(f"[{index + 1}/{self.total}] {cell.describe()}")

    def stage(self, stage: str, done: int, total: int) -> None:
        t = self.now()
        if stage != self.stage_name:  # a new stage, or back to one (calibration after a refresh): rate afresh
            self.stage_name, self.since, self.done_since = stage, t, done
            self.last.setdefault(stage, t)
        growing, self.totals[stage] = total > self.totals.get(stage, total), total
        if t - self.last[stage] < self.every or done <= self.done_since:
            return
        if done >= total and not growing:  # a stage that just ended: its cell's end line follows
            return
        self.last[stage] = t
        if done >= total:  # no known end (evaluation without --limit counts as it goes)
            self.say(f"  {stage}: {done} so far")
            return
        rate = (t - self.since) / (done - self.done_since)
        self.say(f"  {stage}: {done}/{total} ({100 * done / total:.0f} %), about {clock(rate * (total - done))} left")

    def cell_end(self, index: int, cell: Cell, row: dict, skipped: bool) -> None:
        self.say(f"[{index + 1}/{self.total}] {cell.describe()}: {cell_status(row, skipped)}")


class ClusterReporter(Reporter):
    """A grid on a Ray cluster: cells queued, running (on which node), done and failed, and time left; one line
    per cell that starts or ends, and a status line every ``every`` seconds (on a terminal, a bar whose description
    is that status).

    Time left: the mean time of the cells that finished in this run, times the queued cells, plus what the running
    ones have left of it, over the number of cells seen running at once. It falls while cells run (a rate of
    finished cells would make it grow until the next one finishes)."""

    def __init__(self, live: bool, every: float = 60.0, now=time.monotonic) -> None:
        self.live, self.every, self.now = live, every, now
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=err_console) if live else None
        self.total = self.queued = self.done = self.failed = 0
        self.running: dict[int, str] = {}   # index -> node
        self.since: dict[int, float] = {}    # index -> when it started running
        self.durations: list[float] = []     # of the cells that finished in this run
        self.slots = 1                       # the most cells seen running at once
        self.started = self.last = now()

    def __enter__(self) -> ClusterReporter:
        if self.progress is not None:
            self.progress.start()
            self.task = self.progress.add_task("cells", total=1)
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text, highlight=False, markup=False)
        else:
            LogReporter.say(text)

    def status(self) -> str:
        nodes = ", ".join(f"{node}: {n}" for node, n in sorted(collections.Counter(self.running.values()).items()))
        finished, left = self.done + self.failed, ""
        if self.durations and self.queued + len(self.running):
            mean, now = sum(self.durations) / len(self.durations), self.now()
            work = self.queued * mean + sum(max(mean - (now - self.since[i]), 0.0) for i in self.running)
            left = f" · about {clock(work / self.slots)} left" if work > 0 else " · finishing"
        return (f"{self.queued} queued · {len(self.running)} running" + (f" ({nodes})" if nodes else "") +
                f" · {finished} done of {self.total}" + (f" ({self.failed} failed)" if self.failed else "") + left)

    def refresh(self) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=self.status(), completed=self.done + self.failed,
                                 total=max(self.total, 1))
        elif self.now() - self.last >= self.every:
            self.last = self.now()
            self.say(self.status())

    def grid_start(self, total: int) -> None:
        self.say(f"grid: {total} cells")

    def cells_queued(self, count: int) -> None:
        self.total, self.queued, self.started = count, count, self.now()
        self.say(f"{count} cells submitted to the cluster")
        self.refresh()

    def cell_running(self, index: int, cell: Cell, what: str, node: str) -> None:
        if what == "calibration" and index not in self.running:
            self.queued -= 1
            self.running[index], self.since[index] = node, self.now()
            self.slots = max(self.slots, len(self.running))
            self.say(f"{cell.describe()}: running on {node}")
        elif what != "calibration":
            self.say(f"{cell.describe()}: {what} on {node}")
        self.refresh()

    def cell_stage(self, index: int, stage: str, done: int, total: int) -> None:
        self.refresh()

    def cell_end(self, index: int, cell: Cell, row: dict, skipped: bool) -> None:
        if not skipped:
            self.queued -= index not in self.running
            if self.running.pop(index, None) is not None:
                self.durations.append(self.now() - self.since.pop(index))
            self.done += row["status"] == "ok"
            self.failed += row["status"] != "ok"
        self.say(f"{cell.describe()}: {cell_status(row, skipped)}")
        self.refresh()


def run_with_display(plan, settings, store_path: Path, ray_options=None, plugins: list[str] = ()):
    """Run a planned grid (:func:`dfqbench.runner.plan.plan_grid`: bad input has failed there, before any display
    or work) with the terminal's progress display, or log lines when redirected; return its report.
    ``ray_options``: on a Ray cluster (:mod:`dfqbench.runner.ray_executor`), else in this process."""
    from dfqbench.store.sqlite import ResultStore

    if ray_options is not None:
        from dfqbench.runner.ray_executor import run_plan_on_ray

        with ResultStore(store_path) as store, ClusterReporter(err_console.is_terminal) as reporter:
            return run_plan_on_ray(plan, settings, store, ray_options, reporter, plugins)
    from dfqbench.runner.run import run_plan

    display = RichReporter() if err_console.is_terminal else LogReporter()
    with ResultStore(store_path) as store, display as reporter:
        return run_plan(plan, settings, store, reporter)
