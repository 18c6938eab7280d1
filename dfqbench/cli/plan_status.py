"""``dfqbench run --dry-run``: what a grid would compute beside what its store holds, and about how long it takes.

A cell is done when the store has an ``ok`` row for its cell id; a failed row is computed again. The time left of a
row on a model is its cells to compute times the mean ``seconds_total`` of the store's finished cells of that row and
model measured as the plan's are (profile, evaluation set, device type, thread count; any bit-width or seed), in
hours of cell time (one worker's wall time); a finished cell's time includes making its set even where the set was
reused, so the estimate leans high. A row with no such finished cell has no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dfqbench.store.sqlite import ResultStore


@dataclass(frozen=True)
class RowStatus:
    """One row of the grid on one model: its cells done, failed (to compute again) and to compute."""

    label: str
    model: str
    done: int
    failed: int
    to_compute: int
    seconds_left: float | None  # None: no finished cell of this row and model to estimate from


def stored_rows(store_path: Path) -> list[dict]:
    """Every row of the store, read only; none when there is no store yet (nothing is created)."""
    if not store_path.is_file():
        return []
    with ResultStore(store_path, read_only=True) as store:
        return store.rows()


MEASURED_AS = ("profile", "evaluation", "device_type", "threads")  # what makes two cells' times comparable


def mean_seconds(rows: list[dict]) -> dict[tuple, float]:
    """``{(method, model, *MEASURED_AS): mean seconds_total}`` over the ``ok`` rows that recorded it."""
    times: dict[tuple, list[float]] = {}
    for row in rows:
        if row["status"] == "ok" and row.get("seconds_total") is not None:
            key = (row["method"], row["model"], *(row.get(column) for column in MEASURED_AS))
            times.setdefault(key, []).append(float(row["seconds_total"]))
    return {key: sum(values) / len(values) for key, values in times.items()}


def plan_status(plan, settings, rows: list[dict]) -> list[RowStatus]:
    """The plan's cells grouped by row and model (in plan order) against the stored ``rows``."""
    import torch

    status_of = {row["cell_id"]: row["status"] for row in rows}
    per_cell = mean_seconds(rows)
    groups: dict[tuple, list[str | None]] = {}
    for planned in plan:
        measured = (settings.profile.name, settings.evaluation(planned.backbone.dataset), settings.arithmetic,
                    torch.get_num_threads())
        key = (planned.cell.method.label, planned.cell.model, *measured)
        groups.setdefault(key, []).append(status_of.get(planned.cell_id))
    result = []
    for key, statuses in groups.items():
        done, failed = statuses.count("ok"), statuses.count("failed")
        left = len(statuses) - done
        mean = per_cell.get(key)
        result.append(RowStatus(key[0], key[1], done, failed, left, None if mean is None else left * mean))
    return result


def status_lines(statuses: list[RowStatus], store_path: Path) -> list[str]:
    """One line for the grid, then one per row and model."""
    total = sum(s.done + s.to_compute for s in statuses)
    done, left = sum(s.done for s in statuses), sum(s.to_compute for s in statuses)
    known = sum(s.seconds_left for s in statuses if s.seconds_left is not None)
    unknown = sum(1 for s in statuses if s.to_compute and s.seconds_left is None)
    rows_without = f"{unknown} row{'s' if unknown != 1 else ''} with no finished cell to estimate from"
    if known == 0 and unknown:
        estimate = f"no estimate yet: {rows_without}"
    else:
        estimate = f"about {known / 3600:.1f} hours of cell time" + (f", and {rows_without}" if unknown else "")
    lines = [f"grid: {total} cells · {done} done in {store_path} · {left} to compute ({estimate})"]
    for s in statuses:
        time = "" if not s.to_compute else (" (no estimate yet)" if s.seconds_left is None
                                            else f" (about {s.seconds_left / 3600:.1f} h)")
        failed = f", {s.failed} failed" if s.failed else ""
        lines.append(f"  {s.label} · {s.model}: {s.done} of {s.done + s.to_compute} done{failed}{time}")
    return lines
