"""``dfqbench tune`` end to end at the smoke profile, and ``run --tuning`` applying its choice."""

from __future__ import annotations

import json
import sqlite3

import pytest
from cli_helpers import assert_one_line_error, run_cli

PLUGIN = "tests/plugins/tunable_plugin.py"


@pytest.fixture
def tuned(tmp_path, capsys, monkeypatch):
    args = ["--threads", "1", "tune", "--plugin", PLUGIN, "--methods", "scaled-noise", "--models", "fmnist_vit",
            "--seeds", "0,1", "--profile", "smoke", "--limit", "40", "--store", str(tmp_path / "s.sqlite"),
            "--cache-dir", str(tmp_path / "cache"), "--out-dir", str(tmp_path / "results")]
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    path = tmp_path / "results" / "tuning_scaled-noise_fmnist_vit_4w4a_smoke.json"
    return path, json.loads(path.read_text()), out


def test_tune_scores_every_grid_value_on_the_validation_split_and_picks_the_best(tuned, tmp_path):
    path, record, out = tuned
    assert [s["label"] for s in record["scores"]] == ["scaled-noise[scale=0.25]", "scaled-noise[scale=1.0]"]
    assert all(s["seeds"] == [0, 1] and len(s["top1"]) == 2 for s in record["scores"])
    best = max(record["scores"], key=lambda s: s["mean"])
    assert record["choice"] == best["overrides"] and record["choice_label"] == best["label"]
    assert record["evaluation"] == "val[:40]" and record["method"] == "scaled-noise"
    rows = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT evaluation, n_eval FROM cells").fetchall()
    assert set(rows) == {("val[:40]", 40)}  # scored on the validation split, never the test split
    assert "chose" in out and "fmnist_vit saw it in training" in record["note"]


def test_run_applies_a_tuning_as_overrides_with_a_tuned_label(tuned, tmp_path, capsys, monkeypatch):
    path, record, _ = tuned
    code, out, err = run_cli(["--threads", "1", "run", "--plugin", PLUGIN, "--methods", "scaled-noise",
                              "--models", "fmnist_vit", "--tuning", str(path), "--profile", "smoke", "--limit", "40",
                              "--no-references",
                              "--store", str(tmp_path / "run.sqlite"), "--cache-dir", str(tmp_path / "cache"),
                              "--out", str(tmp_path / "out")], capsys, monkeypatch)
    assert code == 0, err
    row = sqlite3.connect(tmp_path / "run.sqlite").execute(
        "SELECT method, overrides, tuning, evaluation FROM cells WHERE method != 'fp'").fetchone()
    assert row[0] == "scaled-noise[tuned]" and row[3] == "test[:40]"
    assert json.loads(row[1])["synth"] == record["choice"]["synth"]
    assert row[2] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args, pattern", [
    (["tune", "--methods", "mimiq"], "mimiq declares no tunable hyper-parameters"),
    (["tune", "--methods", "noise+kd"], "'noise+kd' is not a registered method"),
    (["tune", "--methods", "sardfq", "--bits", "3w3a,4w4a"], "a tuning is made at one bit-width"),
    (["run", "--methods", "sardfq", "--tuning", "missing.json"], "--tuning: no file at"),
])
def test_tune_bad_input_is_one_line(args, pattern, capsys, monkeypatch):
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert_one_line_error(code, err, pattern)


def test_a_tuning_for_another_model_is_refused(tuned, capsys, monkeypatch):
    path, _, _ = tuned
    code, _, err = run_cli(["run", "--plugin", PLUGIN, "--methods", "scaled-noise", "--tuning", str(path),
                            "--models", "fmnist_deit"], capsys, monkeypatch)
    assert_one_line_error(code, err, "for another model but none for fmnist_deit")


def test_the_tuning_note_says_whether_the_model_saw_the_validation_split():
    from dfqbench.cli.tune_cmd import validation_note

    assert "canvas56a_vit was trained without it" in validation_note("canvas56a_vit")
    assert "fmnist_vit saw it in training" in validation_note("fmnist_vit")
    assert validation_note("vit_tiny_patch16_224").endswith("carved from the training data")


def test_a_choice_at_the_edge_of_the_grid_is_said():
    from dfqbench.runner.tune import grid_edges

    points = [{"synth": {"w": w, "mode": m}, "calib": {}} for w in (1.0, 10.0, 100.0) for m in ("a", "b")]
    low, middle, high = points[0], points[2], points[5]
    assert grid_edges(low, points) == ["synth.w = 1.0 is the smallest value the grid tries (1.0 to 100.0): the best "
                                       "value may lie below it"]
    assert grid_edges(middle, points) == []
    assert grid_edges(high, points)[0].endswith("the best value may lie above it")
    assert grid_edges(points[0], points[:2] + points[4:]) == []  # two values tried: no inside to speak of


def test_the_tuning_file_says_whether_the_choice_is_at_an_edge(tuned):
    _, record, _ = tuned
    assert record["at_grid_edge"] == []  # the plugin's grid has two values
