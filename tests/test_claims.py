"""Claims let several processes share one grid on one store: a claimed cell is left to its holder, a cell whose
synthetic set another process is making is put off, dead holders lose their claims."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from harness_fixtures import tiny_backbone, tiny_settings

from dfqbench.api import Calibrator, register_calibrator
from dfqbench.quant.bits import BitWidth
from dfqbench.runner.cell import base_row, cell_key, plugin_configs, synthesis_key
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.run import Reporter, run_grid
from dfqbench.store.claims import HEARTBEAT_EVERY_S, STALE_AFTER_S, Verdict
from dfqbench.store.sqlite import ResultStore

W4A4 = BitWidth(4, 4)


@register_calibrator("test-claims-interrupt")
class Interrupt(Calibrator):
    def calibrate(self, ctx, source):
        raise KeyboardInterrupt


@register_calibrator("test-claims-broken")
class Broken(Calibrator):
    def calibrate(self, ctx, source):
        raise RuntimeError("plugin bug")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def claims(db: ResultStore) -> list[tuple]:
    return db._conn.execute("SELECT cell_id, grp, pid FROM claims ORDER BY cell_id").fetchall()


@pytest.fixture
def db(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        yield store


@pytest.fixture
def live_pid():
    """A running process that is not this one: "another dfqbench run" on this host."""
    proc = subprocess.Popen(["sleep", "600"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_claimed_cell_is_taken_and_its_group_busy_for_others(db, live_pid):
    me, other = db.claims(), db.claims(pid=live_pid)
    assert me.take("a", "g") is Verdict.MINE
    assert other.take("a", "g") is Verdict.TAKEN
    assert other.take("b", "g") is Verdict.BUSY  # I am making g's synthetic set
    assert other.take("b", "g", wait_for_group=False) is Verdict.MINE
    assert other.take("c", "h") is Verdict.MINE
    assert me.take("a", "g") is Verdict.MINE  # one's own claim is no obstacle
    assert other.holder("a") == f"{me.host}:{os.getpid()}"
    me.release(["a"])
    assert other.holder("a") is None and other.take("a", "g") is Verdict.MINE
    assert {row[2] for row in claims(db)} == {live_pid}
    other.release()
    assert claims(db) == []


def test_a_finished_cell_is_done_whoever_claimed_it(db):
    from test_store import make_row

    db.put(make_row())
    db.put(make_row(status="failed", seed=1))
    ok, failed = (row["cell_id"] for row in db.rows())
    assert db.claims().take(ok, "g") is Verdict.DONE and db.claims().take(ok, "g", retry={ok}) is Verdict.DONE
    assert db.claims().take(failed, "g") is Verdict.DONE  # failed during this run (elsewhere): not again
    assert db.claims().take(failed, "g", retry={failed}) is Verdict.MINE  # failed before it: retried


def test_claims_of_a_dead_process_are_taken_over(db):
    gone = db.claims(pid=dead_pid())
    assert gone.take("a", "g") is Verdict.MINE
    me = db.claims()
    assert me.take("b", "g") is Verdict.MINE and me.take("a", "g") is Verdict.MINE
    assert {row[2] for row in claims(db)} == {os.getpid()}


def test_claims_of_another_host_expire_without_heartbeats(db):
    clock = [1000.0]
    remote = db.claims(host="elsewhere", pid=1, now=lambda: clock[0])
    me = db.claims(now=lambda: clock[0])
    assert remote.take("a", "g") is Verdict.MINE
    clock[0] += STALE_AFTER_S - 1
    remote.heartbeat()  # keeps it alive
    clock[0] += STALE_AFTER_S - 1
    assert me.take("a", "g") is Verdict.TAKEN
    clock[0] += 2
    assert me.take("a", "g") is Verdict.MINE


def test_heartbeats_are_throttled(db):
    clock = [0.0]
    me = db.claims(now=lambda: clock[0])
    me.take("a", "g")
    clock[0] = HEARTBEAT_EVERY_S / 2
    me.heartbeat()
    assert db._conn.execute("SELECT seen_at FROM claims").fetchone()[0] == 0.0
    clock[0] = HEARTBEAT_EVERY_S + 1
    me.heartbeat()
    assert db._conn.execute("SELECT seen_at FROM claims").fetchone()[0] == HEARTBEAT_EVERY_S + 1


# ---------------------------------------------------------------- the runner

class Events(Reporter):
    def __init__(self):
        self.events = []

    def cell_end(self, index, cell, row, skipped):
        self.events.append((cell.method.label, "skipped" if skipped else row["status"]))

    def cell_elsewhere(self, index, cell, holder):
        self.events.append((cell.method.label, f"elsewhere {holder}"))


def grid(*methods):
    return expand_grid([resolve_method(m, {}) for m in methods], ["tiny_vit"], [W4A4], [0])


def test_the_runner_leaves_claimed_cells_to_their_holder_and_releases_its_own(tmp_path, db, live_pid):
    cells, settings = grid("fp", "noise+ptq", "real+ptq"), tiny_settings(tmp_path)
    other = db.claims(pid=live_pid)
    other.take(cell_key(cells[1], tiny_backbone(), settings), "noise-set")
    reporter = Events()
    report = run_grid(cells, settings, db, reporter, load=lambda name: tiny_backbone())
    holder = f"{other.host}:{live_pid}"
    assert reporter.events == [("fp", "ok"), ("real+ptq", "ok"), ("noise+ptq", f"elsewhere {holder}")]
    assert [c.method.label for c, _ in report.elsewhere] == ["noise+ptq"] and len(report.done) == 2
    assert [row[2] for row in claims(db)] == [live_pid]  # ours are released


class ReleaseWhenSeen(Events):
    """Plays the other process: when our first cell ends, it releases its claim (or stores a failed row)."""

    def __init__(self, act):
        super().__init__()
        self.act = act

    def cell_end(self, index, cell, row, skipped):
        super().cell_end(index, cell, row, skipped)
        if self.act:
            self.act()
            self.act = None


def test_a_cell_whose_holder_let_go_is_computed_at_the_end(tmp_path, db, live_pid):
    cells, settings = grid("noise+ptq", "real+ptq"), tiny_settings(tmp_path)
    other = db.claims(pid=live_pid)
    other.take(cell_key(cells[0], tiny_backbone(), settings), "noise-set")
    reporter = ReleaseWhenSeen(other.release)  # e.g. it was interrupted
    report = run_grid(cells, settings, db, reporter, load=lambda name: tiny_backbone())
    assert reporter.events == [("real+ptq", "ok"), ("noise+ptq", "ok")] and not report.elsewhere


def test_a_cell_that_failed_elsewhere_during_the_run_is_not_computed_again(tmp_path, db):
    cells, settings = grid("real+ptq", "noise+test-claims-broken"), tiny_settings(tmp_path)
    failed = {**base_row(cells[1], tiny_backbone(), settings), "status": "failed", "error": "RuntimeError: elsewhere"}
    reporter = ReleaseWhenSeen(lambda: db.put(failed))
    report = run_grid(cells, settings, db, reporter, load=lambda name: tiny_backbone())
    assert [row["error"] for row in report.failed] == ["RuntimeError: elsewhere"]  # read, not recomputed
    report = run_grid(cells, settings, db, Events(), load=lambda name: tiny_backbone())
    assert [row["error"] for row in report.failed] == ["RuntimeError: plugin bug"]  # a rerun retries it


def test_the_runner_puts_off_a_cell_whose_synthetic_set_is_being_made(tmp_path, db, live_pid):
    cells, settings = grid("noise+ptq", "real+ptq"), tiny_settings(tmp_path)
    noise_set = synthesis_key(plugin_configs(cells[0])[0], cells[0], tiny_backbone(), settings)
    other = db.claims(pid=live_pid)
    other.take("a cell of another grid", noise_set)
    reporter = Events()
    run_grid(cells, settings, db, reporter, load=lambda name: tiny_backbone())
    assert reporter.events == [("real+ptq", "ok"), ("noise+ptq", "ok")]  # put off once, then made here too
    db.delete([row["cell_id"] for row in db.rows()])
    reporter = Events()
    run_grid(cells, settings, db, reporter, load=lambda name: tiny_backbone())
    assert reporter.events == [("noise+ptq", "ok"), ("real+ptq", "ok")]  # the set is cached now: no wait


def test_an_interrupted_run_releases_its_claims(tmp_path, db):
    report = run_grid(grid("noise+ptq", "noise+test-claims-interrupt", "real+ptq"), tiny_settings(tmp_path), db,
                      load=lambda name: tiny_backbone())
    assert report.interrupted and claims(db) == []


def test_a_store_made_before_claims_gets_the_table(tmp_path):
    with ResultStore(tmp_path / "old.sqlite") as old:
        old._conn.execute("DROP TABLE claims")
    with ResultStore(tmp_path / "old.sqlite") as store:
        assert store.claims().take("a", "g") is Verdict.MINE
