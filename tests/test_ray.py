"""``--executor ray`` on real Ray clusters: one started in this process (``ray.init(num_cpus=2)``), one head started
with ``ray start --head`` in a subprocess, and drivers run as subprocesses and killed; the cluster tests are marked
slow (CI runs them)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import assert_one_line_error, run_cli

from dfqbench.cli.settings import make_settings
from dfqbench.quant.bits import parse_bit_list
from dfqbench.registry import load_plugin_file
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.plan import plan_grid
from dfqbench.runner.ray_executor import RayOptions, run_plan_on_ray
from dfqbench.runner.run import run_plan
from dfqbench.runner.split import with_split
from dfqbench.store.sqlite import ResultStore

PLUGIN = Path(__file__).parent / "plugins" / "ray_plugin.py"
TUNABLE = Path(__file__).parent / "plugins" / "tunable_plugin.py"
DFQBENCH = [sys.executable, "-m", "dfqbench"]
SMOKE = ["--profile", "smoke", "--limit", "64", "--models", "fmnist_vit", "--no-references"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files the test plugins write to, named in the environment before any cluster starts."""
    root = tmp_path_factory.mktemp("ray-files")
    names = {"DFQBENCH_TEST_COUNT": root / "count.txt", "DFQBENCH_TEST_KILL_MARKER": root / "killed"}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update({k: str(v) for k, v in names.items()})
    yield names
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture(scope="module")
def cluster(files):
    """A two-CPU Ray cluster in this process, for the module's tests."""
    import ray

    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    load_plugin_file(PLUGIN)
    yield ray
    ray.shutdown()


def smoke_plan(tmp_path: Path, name: str, methods: list[str], bits: str = "4w4a,3w3a", seeds=(0,), split=False):
    settings = make_settings("standard", [], "smoke", "cpu", tmp_path / f"cache-{name}", 64, None, None, None,
                             tmp_path / f"checkpoints-{name}")
    cells = expand_grid([resolve_method(m, {}) for m in methods], ["fmnist_vit"], parse_bit_list(bits), list(seeds))
    return plan_grid(with_split(cells) if split else cells, settings), settings


def compute(tmp_path: Path, name: str, methods: list[str], executor: str, **kwargs) -> dict[str, dict]:
    """``{cell_id: row}`` of a smoke grid computed in this process at one thread, or on the cluster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plan, settings = smoke_plan(tmp_path, name, methods, **kwargs)
        with ResultStore(tmp_path / f"{name}.sqlite") as store:
            if executor == "ray":
                report = run_plan_on_ray(plan, settings, store, RayOptions(cpus_per_cell=1), plugins=[PLUGIN])
            else:
                report = run_plan(plan, settings, store)
        assert not report.failed, report.failed
        return {row["cell_id"]: row for row in report.done}
    finally:
        torch.set_num_threads(threads)


def same_rows(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert set(a) == set(b) and a
    for key in a:
        for column in ("method", "bits", "seed", "threads", "top1", "top5", "n_eval", "status", "synthesis_cached"):
            assert a[key][column] == b[key][column], (a[key]["method"], column)


def count_lines(path: Path, prefix: str) -> int:
    return sum(line.startswith(prefix) for line in path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow
def test_ray_gives_the_rows_of_the_in_process_executor(cluster, tmp_path):
    methods = ["fp", "noise", "noise+ptq", "psaq-vit"]
    same_rows(compute(tmp_path, "local", methods, "process"), compute(tmp_path, "ray", methods, "ray"))


@pytest.mark.slow
def test_cells_that_share_a_set_synthesize_it_once(cluster, files, tmp_path):
    before = count_lines(files["DFQBENCH_TEST_COUNT"], "synthesize")
    rows = compute(tmp_path, "shared", ["counted-noise+kd", "counted-noise+ptq"], "ray")  # 4 cells, one set
    assert len(rows) == 4
    assert count_lines(files["DFQBENCH_TEST_COUNT"], "synthesize") - before == 1
    assert sum(row["synthesis_cached"] == 0 for row in rows.values()) == 1
    assert len(list((tmp_path / "cache-shared").glob("*.safetensors"))) == 1  # the driver cached it


@pytest.mark.slow
def test_split_synthesis_is_the_same_set_on_any_number_of_workers(cluster, tmp_path):
    local = compute(tmp_path, "split-local", ["psaq-vit"], "process", bits="4w4a", split=True)
    on_ray = compute(tmp_path, "split-ray", ["psaq-vit"], "ray", bits="4w4a", split=True)
    same_rows(local, on_ray)
    assert {row["method"] for row in local.values()} == {"psaq-vit[split]"}
    whole = compute(tmp_path, "whole", ["psaq-vit"], "process", bits="4w4a")
    assert set(whole).isdisjoint(local)  # the mode is part of the identity


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(cluster, files, tmp_path):
    files["DFQBENCH_TEST_KILL_MARKER"].unlink(missing_ok=True)
    before = count_lines(files["DFQBENCH_TEST_COUNT"], "resumed batches=1")
    rows = compute(tmp_path, "killed", ["dies-once+ptq"], "ray", bits="4w4a", seeds=(0, 1))
    assert files["DFQBENCH_TEST_KILL_MARKER"].exists()  # a worker died in the middle of a synthesis
    assert count_lines(files["DFQBENCH_TEST_COUNT"], "resumed batches=1") - before == 1
    with sqlite3.connect(tmp_path / "killed.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells").fetchone() == (2, 2)
    os.environ.pop("DFQBENCH_TEST_KILL_MARKER")  # the uninterrupted run, in this process
    try:
        same_rows(rows, compute(tmp_path, "unkilled", ["dies-once+ptq"], "process", bits="4w4a", seeds=(0, 1)))
    finally:
        os.environ["DFQBENCH_TEST_KILL_MARKER"] = str(files["DFQBENCH_TEST_KILL_MARKER"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*DFQBENCH, *args], cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)


def stored(store: Path) -> dict[str, str]:
    if not store.exists():
        return {}
    with sqlite3.connect(store) as conn:
        try:
            return dict(conn.execute("SELECT cell_id, created_at FROM cells WHERE status = 'ok'").fetchall())
        except sqlite3.OperationalError:  # made, its table not yet
            return {}


@pytest.mark.slow
def test_a_head_started_with_ray_start_runs_the_grid(tmp_path):
    port = free_port()
    ray_cli = Path(sys.executable).parent / "ray"
    # the head and the driver share one authentication token (Ray's token authentication is on by default)
    env = {**os.environ, "RAY_worker_niceness": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    head = subprocess.Popen([str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=2",
                             "--include-dashboard=false", "--block"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        args = ["--threads", "1", "run", "--methods", "fp,noise,noise+ptq", *SMOKE, "--bits", "4w4a,3w3a"]
        remote = cli([*args, "--executor", "ray", "--ray-address", f"127.0.0.1:{port}", "--store", "r.sqlite"],
                     tmp_path, env=env)
        assert remote.returncode == 0, remote.stderr
        local = cli([*args, "--store", "l.sqlite"], tmp_path)
        assert local.returncode == 0, local.stderr
        on_head, here = ResultStore(tmp_path / "r.sqlite"), ResultStore(tmp_path / "l.sqlite")
        with on_head, here:
            a = on_head.to_frame().set_index("cell_id")
            b = here.to_frame().set_index("cell_id")
        assert sorted(a.index) == sorted(b.index) and len(a) == 5
        assert (a.loc[b.index, "top1"] == b["top1"]).all()
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)


@pytest.mark.slow
def test_a_killed_driver_loses_no_finished_cell(tmp_path):
    args = ["--threads", "1", "run", "--plugin", str(PLUGIN), "--methods", "counted-noise+ptq", *SMOKE,
            "--bits", "4w4a,3w3a", "--seeds", "0,1,2,3", "--executor", "ray", "--store", "s.sqlite"]
    env = {**os.environ, "DFQBENCH_TEST_SLEEP": "2"}
    driver = subprocess.Popen([*DFQBENCH, *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and driver.poll() is None and not stored(tmp_path / "s.sqlite"):
            time.sleep(0.2)
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the cluster it started
        driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    before = stored(tmp_path / "s.sqlite")
    assert 1 <= len(before) < 9, "the driver should be killed in the middle of the grid"
    rerun = cli(args, tmp_path, env={**os.environ})
    assert rerun.returncode == 0, rerun.stderr
    after = stored(tmp_path / "s.sqlite")
    assert len(after) == 9  # 8 cells and fp, which every run adds
    assert {k: after[k] for k in before} == before  # nothing finished was computed again
    assert f"{9 - len(before)} cells computed, {len(before)} read from s.sqlite" in rerun.stdout


def test_executor_ray_without_ray_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, _, err = run_cli(["run", "--methods", "noise", *SMOKE, "--executor", "ray", "--store",
                            str(tmp_path / "s.sqlite")], capsys, monkeypatch)
    assert_one_line_error(code, err, "pip install 'dfqbench[ray]'")


def test_ray_options_need_executor_ray(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["run", "--methods", "noise", *SMOKE, "--cpus-per-cell", "2", "--store",
                            str(tmp_path / "s.sqlite")], capsys, monkeypatch)
    assert_one_line_error(code, err, "--cpus-per-cell needs --executor ray")


def test_cluster_display_counts_queued_running_done_failed_and_time_left(capsys):
    from dfqbench.cli.run_display import ClusterReporter

    t = [0.0]
    reporter = ClusterReporter(False, every=60, now=lambda: t[0])
    cell = type("FakeCell", (), {"describe": lambda self: "noise · fmnist_vit · 4w4a · seed 0"})()
    reporter.grid_start(4)
    reporter.cells_queued(4)
    reporter.cell_running(0, cell, "calibration", "10.0.0.1")
    reporter.cell_running(1, cell, "calibration", "10.0.0.2")
    assert reporter.status() == "2 queued · 2 running (10.0.0.1: 1, 10.0.0.2: 1) · 0 done of 4"
    t[0] = 120.0
    reporter.cell_end(0, cell, {"status": "ok", "top1": 80.0, "seconds_total": 100.0}, skipped=False)
    reporter.cell_end(1, cell, {"status": "failed", "error": "ValueError: x"}, skipped=False)
    # two cells of 120 s on two slots: the two left take about 120 s more
    assert reporter.status() == "2 queued · 0 running · 2 done of 4 (1 failed) · about 0:02:00 left"
    reporter.cell_running(2, cell, "calibration", "10.0.0.1")
    reporter.cell_running(3, cell, "calibration", "10.0.0.2")
    t[0] = 180.0  # nothing finished, yet the estimate falls: each running cell has 60 s of the mean left
    assert reporter.status().endswith("· 2 done of 4 (1 failed) · about 0:01:00 left")
    t[0] = 400.0
    assert reporter.status().endswith("· finishing")
    err = capsys.readouterr().err
    assert "running on 10.0.0.1" in err and "FAILED: ValueError: x" in err


@pytest.mark.slow
def test_ctrl_c_on_the_driver_cancels_the_tasks_and_keeps_what_finished(tmp_path):
    args = ["--threads", "1", "run", "--plugin", str(PLUGIN), "--methods", "counted-noise+ptq", *SMOKE,
            "--bits", "4w4a,3w3a", "--seeds", "0,1,2,3,4,5", "--executor", "ray", "--store", "s.sqlite"]
    driver = subprocess.Popen([*DFQBENCH, *args], cwd=tmp_path, env={**os.environ, "DFQBENCH_TEST_SLEEP": "3"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and driver.poll() is None and not stored(tmp_path / "s.sqlite"):
            time.sleep(0.2)
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    kept = stored(tmp_path / "s.sqlite")
    assert driver.returncode == 130, err
    assert 1 <= len(kept) < 13 and "interrupted:" in err and "rerun the same command to resume" in err


@pytest.mark.slow
def test_tune_on_ray_scores_and_chooses_as_in_process(cluster, tmp_path, capsys, monkeypatch):
    def tune(name: str, *executor: str) -> dict:
        args = ["--threads", "1", "tune", "--plugin", str(TUNABLE), "--methods", "scaled-noise", "--models",
                "fmnist_vit", "--seeds", "0,1", "--profile", "smoke", "--limit", "40", *executor,
                "--store", str(tmp_path / f"{name}.sqlite"), "--cache-dir", str(tmp_path / f"cache-{name}"),
                "--out-dir", str(tmp_path / name)]
        code, _, err = run_cli(args, capsys, monkeypatch)
        assert code == 0, err
        assert ("running on" in err) == bool(executor)  # the cluster's display: the cells ran as Ray tasks
        return json.loads((tmp_path / name / "tuning_scaled-noise_fmnist_vit_4w4a_smoke.json").read_text())

    on_ray, here = tune("ray", "--executor", "ray"), tune("process")
    assert len(on_ray["scores"]) == 2 and all(len(s["top1"]) == 2 for s in on_ray["scores"])
    assert on_ray["scores"] == here["scores"] and on_ray["choice"] == here["choice"]


def test_dry_run_with_executor_ray_needs_no_ray(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, out, err = run_cli(["run", "--methods", "noise", *SMOKE, "--executor", "ray", "--dry-run", "--store",
                              str(tmp_path / "s.sqlite")], capsys, monkeypatch)
    assert code == 0, err
    assert "grid: 2 cells · 0 done" in out and not (tmp_path / "s.sqlite").exists()
