"""``run --dry-run``'s counts and estimates (dfqbench.cli.plan_status) on a hand-made plan and store rows."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from dfqbench.cli.plan_status import plan_status, status_lines

SETTINGS = SimpleNamespace(profile=SimpleNamespace(name="bench"), evaluation=lambda dataset: "test", arithmetic="cpu")


def planned(label: str, cell_id: str, model: str = "m") -> SimpleNamespace:
    cell = SimpleNamespace(method=SimpleNamespace(label=label), model=model)
    return SimpleNamespace(cell=cell, cell_id=cell_id, backbone=SimpleNamespace(dataset="d"))


def row(label: str, cell_id: str, status: str = "ok", seconds: float | None = 3600.0, **measured) -> dict:
    base = {"profile": "bench", "evaluation": "test", "device_type": "cpu", "threads": torch.get_num_threads()}
    return {"method": label, "model": "m", "cell_id": cell_id, "status": status, "seconds_total": seconds,
            **base, **measured}


def test_counts_done_failed_and_estimates_from_cells_measured_as_the_plans():
    plan = [planned("a", "a0"), planned("a", "a1"), planned("a", "a2"), planned("b", "b0"), planned("c", "c0")]
    rows = [row("a", "a0", seconds=1800.0), row("a", "a1", status="failed", seconds=None),
            row("a", "other", seconds=5400.0),                       # same row and model, another seed: counts
            row("a", "quick", seconds=36.0, profile="quick"),        # another profile: not comparable
            row("a", "threads", seconds=9.0, threads=99),            # another thread count: not comparable
            row("c", "c-smoke", seconds=1.0, evaluation="test[:64]")]
    statuses = {s.label: s for s in plan_status(plan, SETTINGS, rows)}
    a = statuses["a"]
    assert (a.done, a.failed, a.to_compute) == (1, 1, 2)
    assert a.seconds_left == 2 * (1800.0 + 5400.0) / 2              # two cells at the mean of the comparable ones
    assert statuses["b"].seconds_left is None and statuses["c"].seconds_left is None
    lines = status_lines(list(statuses.values()), Path("s.sqlite"))
    assert lines[0] == ("grid: 5 cells · 1 done in s.sqlite · 4 to compute (about 2.0 hours of cell time, and 2 "
                        "rows with no finished cell to estimate from)")
    assert lines[1:] == ["  a · m: 1 of 3 done, 1 failed (about 2.0 h)", "  b · m: 0 of 1 done (no estimate yet)",
                         "  c · m: 0 of 1 done (no estimate yet)"]


def test_a_grid_with_no_estimate_says_so():
    lines = status_lines(plan_status([planned("a", "a0")], SETTINGS, []), Path("s.sqlite"))
    assert lines[0] == ("grid: 1 cells · 0 done in s.sqlite · 1 to compute (no estimate yet: 1 row with no "
                        "finished cell to estimate from)")
