"""The README's tables and commands agree with the code, the manifest and CI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dfqbench.profiles import PROFILES
from dfqbench.zoo.registry import get_zoo_model, zoo_models

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def table_rows(first_cell: str) -> list[list[str]]:
    rows = []
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0] == first_cell:
            rows.append(cells)
    return rows


def test_profile_table_matches_the_profiles():
    for profile in PROFILES.values():
        (row,) = table_rows(f"`{profile.name}`")
        numbers = [int(v) for v in row[1:7]]
        assert numbers == [profile.n_images, profile.synth_batch_size, profile.synth_steps, profile.calib_steps,
                           profile.calib_batch_size, profile.refreshes]


def test_zoo_table_matches_the_manifest():
    for name in zoo_models():
        record = get_zoo_model(name).record
        if record is None:  # not trained yet (dfqbench zoo list says so): in the README once trained
            continue
        (row,) = table_rows(f"`{name}`")
        assert f"{record['top1']:.2f}" in " ".join(row), (row, record["top1"])
        assert record["sha256"][:12] in " ".join(row)


def test_ci_runs_the_readme_test_command():
    block = re.search(r"<!-- test-command -->\n```\n(.*?)\n```\n<!-- /test-command -->", README, re.S)
    assert block and "pytest" in block.group(1)
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_readme_setup_commands_bootstrap_first():
    commands = re.findall(r"^bash \.ci/bootstrap && (.+)$", README, re.M)
    assert any("dfqbench run" in c for c in commands) and any("pytest" in c for c in commands)


@pytest.mark.parametrize(("tag", "csv"), [("zoo-margin", "zoo_margin_bench.csv"),
                                         ("zoo-margin-v2", "zoo_margin_bench_v2.csv"),
                                         ("zoo-margin-v1", "zoo_margin_bench_fmnist_vit_v1.csv")])
def test_margin_tables_are_the_output_of_zoo_margin_on_the_committed_csvs(tag, csv):
    from dfqbench.store.export import read_results_csv
    from dfqbench.tables.margin import margin_markdown

    block = re.search(rf"<!-- {tag} -->\n(.*?)<!-- /{tag} -->", README, re.S)
    assert block, f"README lacks the {tag} block"
    assert block.group(1) == margin_markdown(read_results_csv(ROOT / "results" / csv), ["fmnist_vit"])


@pytest.mark.parametrize(("tag", "start"), [("test-beds", "zoo margin --from results/zoo_margin_bench_v2.csv"),
                                           ("test-beds-calibrators", "zoo margin --from results/testbed/")])
def test_test_beds_blocks_are_the_output_of_the_command_above_them(tag, start, capsys, monkeypatch):
    from cli_helpers import run_cli

    command = re.search(rf"^\.venv/bin/dfqbench ({re.escape(start)}.*)\n```\n\n<!-- {tag} -->", README, re.M)
    assert command, f"README lacks the zoo margin command above the {tag} block"
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli(command.group(1).split(), capsys, monkeypatch)
    assert code == 0, err
    block = re.search(rf"<!-- {tag} -->\n(.*?)<!-- /{tag} -->", README, re.S)
    assert block and block.group(1) == out


def test_bench_leaderboard_block_is_the_committed_rendering():
    block = re.search(r"<!-- bench-4w4a -->\n(.*?)<!-- /bench-4w4a -->", README, re.S)
    assert block, "README lacks the bench-4w4a block"
    assert block.group(1) == (ROOT / "results" / "leaderboard_bench_4w4a.md").read_text()

    rows = re.findall(r"^ROWS=(\S+)$", README, re.M)
    committed = re.findall(r"^ROWS=(\S+)$", (ROOT / "results" / "README.md").read_text(), re.M)
    assert rows and set(rows) == set(committed), \
        "README's command must name the rows the committed table was rendered with"
