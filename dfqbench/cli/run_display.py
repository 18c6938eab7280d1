"""Rich progress for a grid run: the grid, the cell's stage, the steps within the stage, time left."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from dfqbench.cli.app import err_console
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
        if skipped:
            status = "cached in store"
        elif row["status"] == "ok":
            status = f"top-1 {row['top1']:.2f}% in {row['seconds_total']:.0f}s"
        else:
            status = f"FAILED: {row['error']}"
        self.progress.console.print(f"{cell.describe()}: {status}", highlight=False, markup=False)
