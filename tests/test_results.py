"""The committed tables under results/ are what ``dfqbench table`` renders from the committed CSVs with the
commands written in results/README.md (no table is typed in or left stale)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dfqbench.store.export import read_results_csv
from dfqbench.tables import build_leaderboard, to_csv, to_markdown

RESULTS = Path(__file__).resolve().parents[1] / "results"
README = (RESULTS / "README.md").read_text()
ROWS = re.search(r"^ROWS=(\S+)$", README, re.M).group(1).split(",")
ABLATED = re.search(r"^for m in ([a-z0-9 -]+); do$", README, re.M).group(1).split()


def rendered(csv: str, methods: list[str], render) -> str:
    return render(build_leaderboard(read_results_csv(RESULTS / csv), methods=methods))


@pytest.mark.parametrize(("name", "render"), [("md", to_markdown), ("csv", to_csv)])
def test_bench_leaderboard_is_rendered_from_the_committed_csv(name, render):
    assert f"--methods $ROWS --format {name} -o results/leaderboard_bench_4w4a.{name}" in README
    committed = (RESULTS / f"leaderboard_bench_4w4a.{name}").read_text()
    assert committed == rendered("bench_4w4a.csv", ROWS, render)


@pytest.mark.parametrize("method", ABLATED)
def test_ablation_tables_are_rendered_from_the_committed_csv(method):
    committed = (RESULTS / f"ablation_{method}_bench_4w4a.md").read_text()
    assert committed == rendered("bench_4w4a.csv", [method, f"{method}[*"], to_markdown)
    assert f"| {method} |" in committed


def test_cuda_check_table_is_rendered_from_the_committed_csv():
    rows = re.search(r"--methods (\S+) --format md -o results/leaderboard_cuda_quick_4w4a.md", README).group(1)
    rows = rows.split(",")
    committed = (RESULTS / "leaderboard_cuda_quick_4w4a.md").read_text()
    assert committed == rendered("cuda_quick_4w4a.csv", rows, to_markdown)
    table = read_results_csv(RESULTS / "cuda_quick_4w4a.csv")
    assert set(table["device"]) == {"cuda"} and len(table) == 3 * len(rows)
    assert set(table["status"]) == {"ok"}


def test_the_sardfq_tuning_is_its_validation_rows_and_chooses_their_best_mean():
    import json

    assert "--format md -o results/tuning_sardfq_fmnist_vit_4w4a_bench.md" in README
    rows = read_results_csv(RESULTS / "grid12" / "tune_sardfq_val.csv")
    committed = (RESULTS / "tuning_sardfq_fmnist_vit_4w4a_bench.md").read_text()
    assert committed == to_markdown(build_leaderboard(rows))
    block = re.search(r"<!-- tuning-sardfq -->\n(.*?)<!-- /tuning-sardfq -->", README, re.S).group(1)
    assert block == committed
    assert set(rows["evaluation"]) == {"val"} and set(rows["status"]) == {"ok"} and len(rows) == 18
    tuning = json.loads((RESULTS / "tuning_sardfq_fmnist_vit_4w4a_bench.json").read_text())
    means = rows.groupby("method")["top1"].mean()
    assert tuning["choice_label"] == means.idxmax()
    assert {cid for score in tuning["scores"] for cid in score["cell_ids"]} == set(rows["cell_id"])


def test_the_grid_tunes_sardfq_on_each_model_by_its_validation_rows():
    import json

    grid = RESULTS / "grid14"
    rows = read_results_csv(grid / "tuning_val.csv")
    assert set(rows["evaluation"]) == {"val"} and set(rows["status"]) == {"ok"}
    assert "--from results/grid14/tuning_val.csv --format md" in (grid / "render.sh").read_text()
    committed = (grid / "tuning_sardfq_4w4a_bench.md").read_text()
    assert committed == to_markdown(build_leaderboard(rows))
    assert sorted(set(rows["model"])) == ["canvas56a_deit", "canvas56a_swin", "canvas56a_vit"]
    for model, of_model in rows.groupby("model"):
        per_value = of_model.groupby("method")["seed"]
        assert len(per_value) == 6 and (per_value.nunique() == 3).all() and len(of_model) == 18  # 6 values x 3 seeds
        tuning = json.loads((grid / f"tuning_sardfq_{model}_4w4a_bench.json").read_text())
        assert tuning["choice_label"] == of_model.groupby("method")["top1"].mean().idxmax()
        assert {cid for score in tuning["scores"] for cid in score["cell_ids"]} == set(of_model["cell_id"])


def block_options(script: str, start: str) -> list[str]:
    """The options of each block's command in one of the grid's scripts: the lines that begin with ``start``, with
    their continuations, less the options that do not choose cells (where students are saved)."""
    text = (RESULTS / "grid14" / script).read_text().replace("\\\n", " ")
    commands = [line.split(start, 1)[1] for line in text.splitlines() if line.lstrip().startswith(start)]
    return [re.sub(r"--save-models \S+", "", command).split() for command in commands]


def test_the_grid_status_asks_about_the_blocks_the_grid_runs():
    run_blocks = [options for options in block_options("run.sh", "$R ") if '"${ROWS/,sardfq/}"' not in options]
    status_blocks = [re.sub(r'^"[^"]*" ', "", " ".join(options)).split()
                     for options in block_options("status.sh", "block ")]
    assert len(run_blocks) == 5 and status_blocks == run_blocks
    rows = [[line for line in (RESULTS / "grid14" / script).read_text().splitlines()
             if line.startswith(("ROWS=", "for C in"))] for script in ("run.sh", "status.sh")]
    assert len(rows[0]) == 2 and rows[0] == rows[1]
    for script in ("run.sh", "status.sh"):  # the options that enter the cell ids
        assert "--threads 1 run" in (RESULTS / "grid14" / script).read_text()
        assert "--profile bench" in (RESULTS / "grid14" / script).read_text()
