"""``dfqbench run / table / export`` end to end on the zoo ViT with the smoke profile."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, run_cli
from typer.testing import CliRunner

from dfqbench.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = ROOT / "tests" / "plugins" / "onehot_plugin.py"
MARGIN_CSV = ROOT / "results" / "zoo_margin_bench.csv"
SMOKE = ["--profile", "smoke", "--limit", "64", "--models", "fmnist_vit", "--no-references"]


def paths(tmp_path: Path) -> list[str]:
    return ["--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache")]


def cli(*args: str, env=None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "dfqbench", "--threads", "1", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def store_rows(path: Path) -> list[tuple]:
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as db:
        try:
            return db.execute("SELECT cell_id, method, status, created_at FROM cells").fetchall()
        except sqlite3.OperationalError:
            return []


def test_run_prints_and_writes_the_leaderboard(tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["run", "--methods", "fp,noise,real", *SMOKE, *paths(tmp_path)], capsys, monkeypatch)
    assert code == 0, err
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    for row in ("fp", "noise", "real"):
        assert re.search(rf"^\| {row} \|", markdown, re.M), markdown
    assert "4w4a" in markdown and "fmnist_vit" in markdown
    assert (tmp_path / "out" / "leaderboard.csv").is_file() and (tmp_path / "out" / "results.csv").is_file()
    assert "3 cells computed" in out
    code, out, _ = run_cli(["run", "--methods", "fp,noise,real", *SMOKE, *paths(tmp_path)], capsys, monkeypatch)
    assert code == 0 and "0 cells computed, 3 read" in out


def test_the_default_model_is_the_canvas_vit(tmp_path, capsys, monkeypatch):
    """The model the test-bed decision picked (README: Can the zoo rank methods?) is what a bare run uses."""
    code, out, err = run_cli(["run", "--methods", "fp,noise", "--profile", "smoke", "--limit", "64",
                              *paths(tmp_path)], capsys, monkeypatch)
    assert code == 0, err
    assert "canvas56a_vit" in (tmp_path / "out" / "leaderboard.md").read_text()


def test_table_and_export_render_without_rerunning(tmp_path, capsys, monkeypatch):
    run_cli(["run", "--methods", "fp,noise", "--bits", "3w3a,4w4a", *SMOKE, *paths(tmp_path)], capsys, monkeypatch)
    csv = tmp_path / "export.csv"
    code, out, _ = run_cli(["export", "--to", str(csv), "--store", str(tmp_path / "s.sqlite")], capsys, monkeypatch)
    assert code == 0 and "wrote 3 rows" in out
    code, out, _ = run_cli(["table", "--from", str(csv), "--format", "md"], capsys, monkeypatch)
    assert code == 0
    assert out.strip() == (tmp_path / "out" / "leaderboard.md").read_text().strip()
    assert out.index("3w3a") < out.index("4w4a")
    code, out, _ = run_cli(["table", "--from", str(csv), "--format", "md", "--profile", "smoke"], capsys, monkeypatch)
    assert code == 0 and out.strip() == (tmp_path / "out" / "leaderboard.md").read_text().strip()
    code, _, err = run_cli(["table", "--from", str(csv), "--profile", "bench"], capsys, monkeypatch)
    assert_one_line_error(code, err, "no results for profile 'bench' (results have: smoke)")
    code, _, err = run_cli(["table", "--from", str(csv), "--preset", "psaq"], capsys, monkeypatch)
    assert_one_line_error(code, err, "no results for preset 'psaq' (results have: standard)")
    fresh = tmp_path / "fresh.sqlite"
    code, out, _ = run_cli(["import", "--from", str(csv), "--store", str(fresh)], capsys, monkeypatch)
    assert code == 0 and "imported 3 of 3 rows" in out
    code, out, _ = run_cli(["run", "--methods", "fp,noise", "--bits", "3w3a,4w4a", *SMOKE, "--store", str(fresh),
                            "--out", str(tmp_path / "o2"), "--cache-dir", str(tmp_path / "c2")], capsys, monkeypatch)
    assert code == 0 and "0 cells computed, 3 read" in out


def test_dry_run_counts_what_the_store_has_and_computes_nothing(tmp_path, capsys, monkeypatch):
    grid = ["run", "--methods", "fp,noise", *SMOKE, "--bits", "4w4a", *paths(tmp_path)]
    code, _, err = run_cli([*grid, "--dry-run"], capsys, monkeypatch)
    assert code == 0, err
    assert not (tmp_path / "s.sqlite").exists()  # no store yet: none is made
    run_cli([*grid, "--seeds", "0"], capsys, monkeypatch)
    before = (tmp_path / "s.sqlite").read_bytes()
    grid[2] = "fp,noise,real"
    code, out, err = run_cli([*grid, "--seeds", "0,1", "--dry-run"], capsys, monkeypatch)
    assert code == 0, err
    assert (tmp_path / "s.sqlite").read_bytes() == before and "cells computed" not in out
    assert "grid: 5 cells · 2 done in " in out and "· 3 to compute (about " in out  # fp: one cell for all seeds
    assert "and 1 row with no finished cell to estimate from" in out
    assert "fp · fmnist_vit: 1 of 1 done\n" in out and "real · fmnist_vit: 0 of 2 done (no estimate yet)" in out
    assert re.search(r"noise · fmnist_vit: 1 of 2 done \(about [0-9.]+ h\)", out)


def test_export_keeps_the_evaluation_sets_asked_for(tmp_path, capsys, monkeypatch):
    run_cli(["run", "--methods", "fp,noise", "--bits", "3w3a,4w4a", *SMOKE, *paths(tmp_path)], capsys, monkeypatch)
    store = tmp_path / "s.sqlite"
    with sqlite3.connect(store) as db:  # stands for a tuning's row, scored on the validation split
        db.execute("UPDATE cells SET evaluation = 'val' WHERE method = 'noise' AND bits = '3w3a'")
    for wanted, rows in (("test[:64]", {("fp", "test[:64]"), ("noise", "test[:64]")}), ("val", {("noise", "val")})):
        csv = tmp_path / "export.csv"
        code, out, err = run_cli(["export", "--to", str(csv), "--store", str(store), "--evaluation", wanted], capsys,
                                 monkeypatch)
        assert code == 0, err
        frame = pd.read_csv(csv)
        assert set(zip(frame["method"], frame["evaluation"], strict=True)) == rows and f"wrote {len(frame)} rows" in out
    code, _, err = run_cli(["export", "--to", str(tmp_path / "x.csv"), "--store", str(store), "--evaluation", "train"],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, "--evaluation: no rows of train in")


def test_prune_deletes_rows_of_superseded_plugin_versions_only(tmp_path, capsys, monkeypatch):
    run_cli(["run", "--methods", "fp,noise,real", *SMOKE, *paths(tmp_path)], capsys, monkeypatch)
    store = tmp_path / "s.sqlite"
    with sqlite3.connect(store) as db:
        db.execute("""UPDATE cells SET versions = '{"calibrator": 1, "synthesizer": 0}' WHERE method = 'noise'""")
    code, out, _ = run_cli(["prune", "--store", str(store), "--dry-run"], capsys, monkeypatch)
    assert code == 0 and "1 superseded rows (dry run" in out and "noise · fmnist_vit · 4w4a · seed 0" in out
    assert len(store_rows(store)) == 3
    code, out, _ = run_cli(["prune", "--store", str(store)], capsys, monkeypatch)
    assert code == 0 and "deleted 1 superseded rows" in out
    assert sorted(r[1] for r in store_rows(store)) == ["fp", "real"]
    code, out, _ = run_cli(["prune", "--store", str(store)], capsys, monkeypatch)
    assert code == 0 and "deleted 0 superseded rows" in out
    code, _, err = run_cli(["prune", "--store", str(tmp_path / "none.sqlite")], capsys, monkeypatch)
    assert_one_line_error(code, err, "no results store at")


def test_readme_example_plugin_is_the_tested_file_and_runs_through_plugin(tmp_path, capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme[readme.index("## Add a method"):], re.S).group(1)
    assert block.strip() == EXAMPLE_PLUGIN.read_text().strip()
    code, _, err = run_cli(["run", "--plugin", str(EXAMPLE_PLUGIN), "--methods", "onehot,noise", *SMOKE,
                            *paths(tmp_path)], capsys, monkeypatch)
    assert code == 0, err
    assert re.search(r"^\| (\*\*)?onehot", (tmp_path / "out" / "leaderboard.md").read_text(), re.M)


def test_a_failing_cell_is_reported_and_exits_non_zero(tmp_path, capsys, monkeypatch):
    plugin = tmp_path / "broken.py"
    plugin.write_text("from dfqbench.api import Calibrator, register_calibrator\n"
                      "@register_calibrator('cli-broken')\nclass Broken(Calibrator):\n"
                      "    def calibrate(self, ctx, source):\n        raise ValueError('no good')\n")
    code, _, err = run_cli(["run", "--plugin", str(plugin), "--methods", "noise+cli-broken,noise", *SMOKE,
                            *paths(tmp_path)], capsys, monkeypatch)
    assert code == 1
    assert "1 of 3 cells failed" in err and "ValueError: no good" in err  # fp, noise and the broken crossing
    assert {r[1]: r[2] for r in store_rows(tmp_path / "s.sqlite")} == {"noise+cli-broken": "failed", "noise": "ok",
                                                                   "fp": "ok"}


@pytest.mark.parametrize(("args", "pattern"), [
    (["run", "--bits", "4w"], "malformed bit-width"),
    (["run", "--bits", "1w4a"], "weight bits must be in 2..16"),
    (["run", "--profile", "quik"], "did you mean: quick"),
    (["run", "--preset", "psaqq"], "did you mean: psaq"),
    (["run", "--preset-set", "first_last=1"], "did you mean: first_last_8bit"),
    (["run", "--preset-set", "softmax_quantizer=log3"], "must be uniform, log2 or none"),
    (["run", "--methods", "noise", "--set", "synth.nope=1"], "no synth option 'nope'"),
    (["run", "--methods", "noise", "--set", "calib.lr=fast"], "expects float"),
    (["run", "--models", "fmnist_vitt"], "did you mean: fmnist_vit"),
    (["run", "--seeds", "x"], "malformed --seeds"),
    (["run", "--device", "tpu"], "unknown device"),
    (["run", "--plugin", "/nonexistent/plugin.py"], "--plugin: no file at"),
    (["table", "--from", "/nonexistent/results.csv"], "/nonexistent/results.csv"),
    (["zoo", "margin", "--from", "/nonexistent/results.csv"], "/nonexistent/results.csv"),
    (["zoo", "margin", "--from", str(MARGIN_CSV), "--models", "fmnist_vitt"], "fmnist_vit"),
    (["zoo", "margin", "--from", str(MARGIN_CSV), "--models", "fmnist_deit"], "no results for models fmnist_deit"),
    (["zoo", "margin", "--from", str(MARGIN_CSV), "--bar", "strict"], "unknown --bar 'strict'"),
    (["list", "method"], "did you mean: methods"),
])
def test_bad_run_input_is_one_line_and_exit_2(args, pattern, tmp_path, capsys, monkeypatch):
    code, _, err = run_cli([*args, *(paths(tmp_path) if args[0] == "run" else [])], capsys, monkeypatch)
    assert_one_line_error(code, err, pattern)


def test_corrupt_store_is_refused_and_left_alone(tmp_path, capsys, monkeypatch):
    store = tmp_path / "s.sqlite"
    store.write_bytes(b"not a database at all" * 10)
    before = store.read_bytes()
    code, _, err = run_cli(["run", "--methods", "fp", *SMOKE, "--store", str(store), "--out", str(tmp_path / "o")],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, "is not an SQLite results store")
    assert store.read_bytes() == before


def test_cli_through_typers_runner_lists_and_helps():
    runner = CliRunner()
    result = runner.invoke(app, ["list", "methods"])
    assert result.exit_code == 0 and "noise" in result.output and "real" in result.output
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0 and "dfqbench run --methods noise,real" in result.output


SLOW_PLUGIN = """
import time
from dfqbench.baselines.noise import GaussianNoise
from dfqbench.api import register_synthesizer

@register_synthesizer("slow")
class Slow(GaussianNoise):
    def synthesize(self, ctx):
        time.sleep(120)
        return super().synthesize(ctx)
"""


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_a_killed_run_loses_no_finished_cell(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_PLUGIN)
    proc = cli("run", "--plugin", str(tmp_path / "slow.py"), "--methods", "fp,noise,slow+kd", *SMOKE,
               *paths(tmp_path))
    try:
        assert wait_for(lambda: len(store_rows(tmp_path / "s.sqlite")) >= 2, 240), proc.stderr
    finally:
        proc.kill()
        proc.wait()
    before = sorted(store_rows(tmp_path / "s.sqlite"))
    assert [r[1] for r in before] and {r[2] for r in before} == {"ok"}
    resumed = cli("run", "--methods", "fp,noise", *SMOKE, *paths(tmp_path))
    out, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    assert "0 cells computed, 2 read" in out
    assert sorted(store_rows(tmp_path / "s.sqlite")) == before


def test_two_concurrent_runs_on_one_store_store_each_cell_once(tmp_path):
    """Without a cluster two runs on one store do not share the work (README: Scale out on Ray), but neither
    fails, and each cell is stored once."""
    args = ["run", "--methods", "fp,noise,real", "--seeds", "0,1", *SMOKE, *paths(tmp_path)]
    first, second = cli(*args), cli(*args)
    computed = 0
    for proc in (first, second):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        computed += int(re.search(r"(\d+) cells computed", out).group(1))
    rows = store_rows(tmp_path / "s.sqlite")
    assert len(rows) == 5 and len({r[0] for r in rows}) == 5
    assert 5 <= computed <= 10


def test_log_progress_is_plain_lines_at_most_one_a_minute(capsys):
    from dfqbench.cli.run_display import LogReporter

    t = [0.0]
    reporter = LogReporter(every=60, now=lambda: t[0])
    cell = type("FakeCell", (), {"describe": lambda self: "maskaq · fmnist_vit · 4w4a · seed 0"})()
    reporter.grid_start(1)
    reporter.cell_start(0, cell)
    for done in range(1, 101):            # 100 steps of 3 s: a line at 60, 120, ... s
        t[0] = 3.0 * done
        reporter.stage("calibration", done, 200)
    reporter.stage("refresh", 1, 8)
    t[0] += 10
    reporter.stage("refresh", 8, 8)
    reporter.stage("calibration", 101, 200)
    t[0] += 120
    reporter.stage("refresh", 1, 8)       # a later refresh that ends more than a minute after the first began:
    reporter.stage("refresh", 8, 8)       # its end is no progress line
    for done in range(1, 400):           # evaluation without a known end: total grows with done
        t[0] += 0.5
        reporter.stage("evaluation", done * 32, done * 32)
    reporter.cell_end(0, cell, {"status": "ok", "top1": 84.5, "seconds_total": 700.0}, skipped=False)
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert lines[:2] == ["grid: 1 cells", "[1/1] maskaq · fmnist_vit · 4w4a · seed 0"]
    ticks = [line for line in lines if "about" in line]
    assert len(ticks) == 4 and ticks[0] == "  calibration: 21/200 (10 %), about 0:08:57 left"
    assert [line for line in lines if "so far" in line] == ["  evaluation: 3872 so far", "  evaluation: 7712 so far",
                                                            "  evaluation: 11552 so far"]  # 120 batches a minute
    assert lines[-1] == "[1/1] maskaq · fmnist_vit · 4w4a · seed 0: top-1 84.50% in 700s"
    assert len(lines) == 2 + 1 + 4 + 3  # grid, start, end; 4 calibration and 3 evaluation lines in 4 and 3 minutes


BROKEN_PLUGIN = '''
from dfqbench.api import Synthesizer, register_method, register_synthesizer


@register_synthesizer("broken")
class Broken(Synthesizer):
    version = 1

    def synthesize(self, ctx):
        raise RuntimeError("plugin bug")


register_method("broken", "broken", "kd", paper="test", description="always fails")
'''


def test_a_grid_whose_every_cell_fails_exits_1_with_the_failures_listed(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken.py").write_text(BROKEN_PLUGIN)
    code, out, err = run_cli(["run", "--plugin", str(tmp_path / "broken.py"), "--methods", "broken", "--seeds", "0,1",
                              *SMOKE, *paths(tmp_path)], capsys, monkeypatch)
    assert code == 1, err
    assert "no leaderboard: no quantized results" in err and "2 of 3 cells failed:" in err  # fp did not fail
    assert err.count("RuntimeError: plugin bug") == 4 and "Traceback" not in err  # each cell's end line, the summary


def test_a_grid_of_fp_alone_prints_its_row_and_exits_0(tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["run", "--methods", "fp", *SMOKE, *paths(tmp_path)], capsys, monkeypatch)
    assert code == 0, err
    assert "no leaderboard: no quantized results" in err and "fp · " in out and "1 cells computed" in out


def test_a_plugin_taking_a_built_in_name_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "dup.py").write_text('from dfqbench.api import register_method\n'
                                     'register_method("noise", "noise", "kd", paper="x", description="dup")\n')
    code, _, err = run_cli(["run", "--plugin", str(tmp_path / "dup.py"), "--methods", "noise", *SMOKE,
                            *paths(tmp_path)], capsys, monkeypatch)
    assert_one_line_error(code, err, "method 'noise' is already registered; give yours another name")


def test_a_runs_leaderboard_carries_fp_noise_and_real_unless_told_not_to(tmp_path, capsys, monkeypatch):
    grid = ["run", "--methods", "noise+ptq", "--profile", "smoke", "--limit", "64", "--models", "fmnist_vit"]
    code, out, err = run_cli([*grid, *paths(tmp_path)], capsys, monkeypatch)
    assert code == 0, err
    assert "4 cells computed" in out and all(f"│ {row} " in out for row in ("fp", "noise", "real", "noise+ptq"))
    code, out, err = run_cli([*grid, "--no-references", *paths(tmp_path / "bare")], capsys, monkeypatch)
    assert code == 0, err
    assert "2 cells computed" in out and "│ real " not in out  # fp always: it costs seconds
    code, out, err = run_cli(["table", "--from", str(tmp_path / "bare" / "out" / "results.csv"), "--format", "md"],
                             capsys, monkeypatch)
    assert code == 0 and "without noise, real (not in these rows" in out.splitlines()[0], out
