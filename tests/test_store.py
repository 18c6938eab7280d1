"""Results store (SQLite) and CSV export: write rules, filters, concurrent writers, round trip, bad files."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import pandas as pd
import pytest

from dfqbench.errors import UserError
from dfqbench.store.export import export_csv, read_results_csv
from dfqbench.store.schema import COLUMNS, cell_id
from dfqbench.store.sqlite import ResultStore


def make_row(status: str = "ok", **fields) -> dict:
    """A complete result row for one cell; ``fields`` override any column."""
    row = {
        "method": "noise", "synthesizer": "noise", "calibrator": "minmax", "overrides": "{}",
        "model": "fmnist_vit", "weights_hash": "ab" * 32, "bits": "4w4a", "preset": "default",
        "preset_hash": "1f2e3d4c", "profile": "quick", "profile_hash": "5a6b7c8d", "seed": 0,
        "versions": '{"synthesizer": 1, "calibrator": 1}',
        "status": status, "error": None if status == "ok" else "RuntimeError: out of memory",
        "top1": 71.25 if status == "ok" else None, "top5": 97.5 if status == "ok" else None,
        "n_eval": 10000 if status == "ok" else None,
        "seconds_synthesis": 1.5, "seconds_calibration": 0.25, "seconds_evaluation": 3.125, "seconds_total": 4.875,
        "peak_memory_mb": 512.0, "synthesis_cached": 0,
        "cell_id": None, "git_commit": "2c65df0", "package_versions": '{"torch": "2.4.0"}', "device": "cpu",
        "threads": 1, "synth_config": '{"n": 64}', "calib_config": '{"batch": 32}',
        "profile_config": '{"name": "quick"}', "preset_config": '{"name": "default"}', "created_at": None,
    }
    row.update(fields)
    return row


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "runs" / "dfqbench.sqlite") as opened:
        yield opened


def test_put_get_finished(store):
    row = make_row()
    assert store.put(row)
    cid = cell_id(row)
    got = store.get(cid)
    assert list(got) == list(COLUMNS)
    assert got["cell_id"] == cid and got["top1"] == 71.25 and got["seed"] == 0 and got["error"] is None
    assert got["created_at"]
    assert store.get("0" * 16) is None


def test_ok_row_is_never_overwritten(store):
    assert store.put(make_row(top1=70.0))
    assert not store.put(make_row(top1=80.0))
    assert not store.put(make_row(status="failed"))
    assert [r["top1"] for r in store.rows()] == [70.0]


def test_failed_row_is_replaced(store):
    cid = cell_id(make_row())
    assert store.put(make_row(status="failed", error="first"))
    assert store.get(cid)["status"] == "failed"
    assert store.put(make_row(status="failed", error="second"))
    assert store.get(cid)["error"] == "second"
    assert store.put(make_row(top1=72.0))
    assert store.get(cid)["status"] == "ok"
    assert len(store.rows()) == 1 and store.get(cid)["top1"] == 72.0


def test_row_validation(store):
    with pytest.raises(ValueError, match="unknown result columns: colour"):
        store.put(make_row(colour="red"))
    with pytest.raises(ValueError, match="cell_id"):
        store.put(make_row(cell_id="0" * 16))
    with pytest.raises(ValueError, match="status"):
        store.put(make_row(status="done"))
    with pytest.raises(ValueError, match="seed"):
        store.put(make_row(seed="0"))
    incomplete = make_row()
    for column in ("error", "top5", "peak_memory_mb", "git_commit"):
        del incomplete[column]
    assert store.put(incomplete)  # missing measurement/provenance columns are stored as NULL
    assert store.get(cell_id(incomplete))["top5"] is None
    assert store.put(make_row(seed=1, cell_id=cell_id(make_row(seed=1))))  # a correct cell_id is accepted


def test_filters_and_frame(store):
    for seed in range(3):
        for bits in ("4w4a", "8w8a"):
            store.put(make_row(seed=seed, bits=bits, top1=60.0 + seed))
    store.put(make_row(method="fp", synthesizer="", calibrator="", bits="fp", seed=0))
    assert len(store.rows()) == 7
    assert len(store.rows(bits="4w4a")) == 3
    assert len(store.rows(bits="4w4a", seed=[0, 2])) == 2
    assert store.rows(seed=[]) == []
    assert [r["method"] for r in store.rows(synthesizer="")] == ["fp"]
    created = [r["created_at"] for r in store.rows()]
    assert created == sorted(created)
    with pytest.raises(ValueError, match="unknown result column"):
        store.rows(colour="red")
    frame = store.to_frame(bits="8w8a")
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 3
    assert frame["top1"].dtype == "float64" and frame["seed"].tolist() == [0, 1, 2]
    assert store.delete([r["cell_id"] for r in store.rows(bits="8w8a")]) == 3
    assert len(store.rows()) == 4


def _writer(path: str, worker: int, barrier, results) -> None:
    """One writer process: 30 shared cells interleaved with 30 of its own; reports how many puts wrote."""
    written = 0
    with ResultStore(path) as store:
        barrier.wait()  # both processes start writing together
        for i in range(30):
            written += store.put(make_row(seed=i, device=f"worker{worker}"))
            written += store.put(make_row(seed=1000 * (worker + 1) + i, device=f"worker{worker}"))
            time.sleep(0.005)  # a gap between writes, so the other process gets the lock in between
    results.put(written)


def test_concurrent_writers(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ResultStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_writer, args=(path, worker, barrier, results)) for worker in (0, 1)]
    for process in workers:
        process.start()
    written = [results.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert sum(written) == 90  # every shared cell written exactly once
    with ResultStore(path) as store:
        rows = store.rows()
    ids = [r["cell_id"] for r in rows]
    assert len(rows) == 90 and len(set(ids)) == 90
    expected = {cell_id(make_row(seed=s)) for s in [*range(30), *range(1000, 1030), *range(2000, 2030)]}
    assert set(ids) == expected


def test_export_round_trip(store, tmp_path):
    store.put(make_row(top5=100 / 3, seconds_total=0.1 + 0.2))
    store.put(make_row(seed=1, status="failed"))
    store.put(make_row(method="fp", synthesizer="", calibrator="", bits="fp", top1=91.0625))
    out = tmp_path / "exports" / "results.csv"
    assert export_csv(store, out) == 3
    assert not [p for p in out.parent.iterdir() if p.name != "results.csv"]  # no temp file left behind
    back = read_results_csv(out)
    pd.testing.assert_frame_equal(back, store.to_frame())
    assert back["top1"].dtype == "float64" and back["seed"].tolist() == [0, 1, 0]
    assert back.loc[2, "synthesizer"] == "" and back.loc[0, "error"] is None
    assert export_csv(store, out, status="ok") == 2
    assert len(read_results_csv(out)) == 2


def test_old_csv_with_extra_and_missing_columns(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("method,model,bits,seed,top1,status,note\nnoise,fmnist_vit,4w4a,0,71.5,ok,7\n")
    frame = read_results_csv(path)
    assert list(frame.columns) == [*COLUMNS, "note"]
    assert frame.loc[0, "top1"] == 71.5 and frame.loc[0, "seed"] == 0 and frame.loc[0, "note"] == 7
    assert frame["git_commit"].isna().all() and frame["top5"].isna().all()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "results CSV not found"),
        ("", "bad results CSV"),
        ("method,model,bits,seed,status\nnoise,fmnist_vit,4w4a,0,ok\n", "missing columns: top1"),
        ("method,model,bits,seed,top1,status\nnoise,fmnist_vit,4w4a,0,high,ok\n", "'top1' has a non-numeric"),
        ("method,model,bits,seed,top1,status\nnoise,fmnist_vit,4w4a,0.5,70,ok\n", "'seed' has a non-integer"),
    ],
)
def test_bad_csv(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as info:
        read_results_csv(path)
    assert "\n" not in str(info.value)


def test_bad_store_files(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(UserError, match="not a dfqbench results store") as info:
        ResultStore(junk)
    assert "\n" not in str(info.value)

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE cells (cell_id TEXT, method TEXT)")
    conn.close()
    with pytest.raises(UserError, match="not a dfqbench results store.*missing columns"):
        ResultStore(other)


def test_export_is_atomic_and_readable_by_others(tmp_path):
    import os
    import stat

    from dfqbench.store.export import export_csv
    from dfqbench.store.sqlite import ResultStore

    with ResultStore(tmp_path / "s.sqlite") as store:
        target = tmp_path / "out" / "x.csv"
        old = os.umask(0o022)
        try:
            export_csv(store, target)
        finally:
            os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["x.csv"]  # no temporary file left


def test_connections_opening_one_new_store_together_all_get_wal(tmp_path):
    """SQLite refuses a concurrent switch to WAL with "database is locked" at once (no busy wait); two
    ``dfqbench run`` started together on a new store must both open it."""
    import sqlite3
    import threading

    from dfqbench.store.sqlite import use_wal

    errors = []

    def open_together(path, barrier):
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        barrier.wait()
        try:
            use_wal(conn)
        except sqlite3.OperationalError as exc:
            errors.append(exc)
        conn.close()

    for trial in range(100):
        barrier = threading.Barrier(6)
        threads = [threading.Thread(target=open_together, args=(tmp_path / f"{trial}.sqlite", barrier))
                   for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
