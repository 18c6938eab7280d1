"""Faults at named points (``DFQBENCH_FAULT``, see :mod:`dfqbench.faults`): a process killed after a store
commit, in the middle of a store write or in the middle of a cache write loses no finished cell; the rerun
recomputes nothing finished, and the store passes SQLite's integrity check. A full or read-only cache folder is
one line, not a traceback."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GRID = ["run", "--methods", "fp,noise,psaq-vit", "--models", "canvas56a_vit", "--profile", "smoke", "--limit", "20",
        "--no-references"]


def dfqbench(tmp_path: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DFQBENCH_FAULT"}
    if fault:
        env["DFQBENCH_FAULT"] = fault
    args = [*GRID, "--store", str(tmp_path / "s.sqlite"), "--cache-dir", str(tmp_path / "cache"),
            "--checkpoint-dir", str(tmp_path / "ck"), "--out", str(tmp_path / "out")]
    return subprocess.run([sys.executable, "-m", "dfqbench", "--threads", "1", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def rows(tmp_path: Path) -> dict[str, tuple]:
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {r[0]: r[1:] for r in conn.execute("SELECT cell_id, method, status, created_at FROM cells")}


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after-store", "mid-store-write", "mid-cache-write"])
def test_a_process_killed_at_a_fault_point_loses_nothing_finished(point, tmp_path):
    killed = dfqbench(tmp_path, point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    before = rows(tmp_path) if (tmp_path / "s.sqlite").exists() else {}
    if point == "after-store":
        assert len(before) == 1  # the first cell (fp) was committed, then the process died
    if point == "mid-store-write":
        assert before == {}      # the transaction of the first row never committed
    rerun = dfqbench(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = rows(tmp_path)
    assert sorted(m for m, _, _ in after.values()) == ["fp", "noise", "psaq-vit"]
    assert all(status == "ok" for _, status, _ in after.values())
    for cell_id, row in before.items():  # nothing finished was computed again
        assert after[cell_id] == row
    assert f"{3 - len(before)} cells computed, {len(before)} read" in rerun.stdout
    entries = [p for p in (tmp_path / "cache").glob("*.safetensors") if not p.name.startswith(".")]
    assert len(entries) == 2  # noise's and psaq-vit's sets, whole (a half-written one never became an entry)


@pytest.mark.parametrize(("fault", "reason"), [("cache-full", "No space left on device"),
                                               ("cache-read-only", "Read-only file system")])
def test_a_full_or_read_only_cache_is_one_line_and_keeps_what_finished(fault, reason, tmp_path):
    result = dfqbench(tmp_path, fault)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[-1].startswith("error: cannot write the synthesis cache") and reason in lines[-1]
    assert [m for m, _, _ in rows(tmp_path).values()] == ["fp"]  # fp needs no set: it was stored before
