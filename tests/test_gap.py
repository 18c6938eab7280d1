"""The same-calibrator view: gap closed = (S+C - noise+C) / (real+C - noise+C), bootstrap intervals, undefined
denominators, the declared masked-hsad -> hsad references, rendering, the CLI and the committed files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, run_cli

from dfqbench.store.export import read_results_csv
from dfqbench.tables import build_leaderboard
from dfqbench.tables.gap import build_gap_table, gap_closed, gap_csv, gap_markdown, gap_rich

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
BENCH = RESULTS / "bench_4w4a.csv"
V = "fmnist_vit"
ROWS = ("fp,noise,real,noise+ptq,real+ptq,noise+block-recon,real+block-recon,noise+hsad,real+hsad,psaq-vit,"
        "psaq-vit-v2,sardfq,mimiq,maskaq")
# the committed renderings and the commands that make them
COMMANDS = {
    "gap_bench_4w4a.md": ["table", "--from", "results/bench_4w4a.csv", "--methods", ROWS, "--view", "gap",
                          "--format", "md", "-o", "results/gap_bench_4w4a.md"],
    "gap_bench_4w4a.csv": ["table", "--from", "results/bench_4w4a.csv", "--methods", ROWS, "--view", "gap",
                           "--format", "csv", "-o", "results/gap_bench_4w4a.csv"],
}


@pytest.fixture(scope="module")
def bench():
    return build_gap_table(build_leaderboard(read_results_csv(BENCH), methods=ROWS.split(",")))


def test_maskaq_with_the_hsad_references_by_hand(bench):
    """From results/bench_4w4a.csv: maskaq 84.37, 84.36, 84.76; noise+hsad 83.29, 83.11, 83.59; real+hsad 85.91,
    85.64, 85.84: (84.50 - 83.33) / (85.80 - 83.33) = 0.47."""
    maskaq, noise, real = sum([84.37, 84.36, 84.76]) / 3, sum([83.29, 83.11, 83.59]) / 3, sum([85.91, 85.64, 85.84]) / 3
    gap = bench.gap("maskaq", "masked-hsad", "4w4a", V)
    assert gap.status == "ok" and gap.reference_calibrator == "hsad"
    assert gap.value == pytest.approx((maskaq - noise) / (real - noise))
    assert round(gap.value, 2) == 0.47
    assert gap.interval[0] < gap.value < gap.interval[1]
    assert gap.denominator == pytest.approx(real - noise)


def test_ptq_is_undefined_and_a_calibrator_without_references_says_so(bench):
    ptq = bench.gap("psaq-vit", "ptq", "4w4a", V)
    assert ptq.status == "undefined" and ptq.value is None  # real+ptq 80.20 < noise+ptq 81.99
    assert ptq.denominator == pytest.approx(80.196667 - 81.986667) and ptq.denominator_interval[1] < 0
    assert bench.gap("psaq-vit-v2", "psaq-vit-v2", "4w4a", V).status == "no references"
    assert bench.gap("mimiq", "hsad", "4w4a", V).status == "ok"
    assert bench.references == {"ptq": "ptq", "psaq-vit-v2": "psaq-vit-v2", "block-recon": "block-recon",
                                "hsad": "hsad", "masked-hsad": "hsad"}


def test_markdown_says_what_it_used(bench):
    md = gap_markdown(bench)
    assert "| synthesizer | ptq | psaq-vit-v2 | block-recon | hsad | masked-hsad (references: hsad) |" in md
    assert "| psaq-vit | undefined | – | – | – | – |" in md
    assert "| maskaq | – | – | – | – | 0.47 [0.38, 0.57] (n=3) |" in md
    assert "| real+C − noise+C | -1.79 [" in md
    assert "masked-hsad uses the noise+hsad and real+hsad rows" in md
    # 3 seeds: C(5, 3) = 10 distinct resamples of a row; the caption says the interval is too narrow
    assert "With n = 3 seeds per row the bootstrap interval understates the uncertainty" in md
    assert "only 10 distinct resamples" in md
    rows = list(csv.DictReader(io.StringIO(gap_csv(bench))))
    assert [r["method"] for r in rows] == ["psaq-vit", "psaq-vit-v2", "sardfq", "mimiq", "maskaq"]
    assert rows[-1]["status"] == "ok" and float(rows[-1]["gap"]) == pytest.approx(0.472973, abs=1e-6)
    assert (rows[-1]["n_method"], rows[-1]["n_noise"], rows[-1]["n_real"]) == ("3", "3", "3")
    assert rows[0]["status"] == "undefined" and rows[0]["gap"] == ""
    assert rows[1]["status"] == "no references" and rows[1]["n_method"] == ""
    assert len(gap_rich(bench)) == 1


def _frame(rows: dict[tuple[str, str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(method=label, synthesizer=s, calibrator=c, model=V, bits="4w4a", seed=seed,
                              status="ok", top1=v)
                         for (label, s, c), values in rows.items() for seed, v in enumerate(values)])


def test_a_denominator_whose_interval_contains_zero_is_undefined():
    frame = _frame({("noise", "noise", "kd"): [80.0, 81.0, 82.0], ("real", "real", "kd"): [80.5, 81.5, 82.5],
                    ("m", "m", "kd"): [81.0, 81.2, 81.4]})
    gap = build_gap_table(build_leaderboard(frame)).gap("m", "kd", "4w4a", V)
    assert gap.status == "undefined" and gap.denominator == pytest.approx(0.5)
    assert gap.denominator_interval[0] < 0 < gap.denominator_interval[1]


def test_own_references_win_over_the_declared_ones_and_the_bootstrap_is_fixed():
    rows = {("noise+hsad", "noise", "hsad"): [80.0, 80.2, 80.1], ("real+hsad", "real", "hsad"): [84.0, 84.1, 84.2],
            ("noise+masked-hsad", "noise", "masked-hsad"): [81.0, 81.1, 81.2],
            ("real+masked-hsad", "real", "masked-hsad"): [83.0, 83.1, 83.2],
            ("maskaq", "maskaq", "masked-hsad"): [82.0, 82.2, 82.1]}
    table = build_gap_table(build_leaderboard(_frame(rows)))
    gap = table.gap("maskaq", "masked-hsad", "4w4a", V)
    assert gap.reference_calibrator == "masked-hsad" and gap.value == pytest.approx(gap_closed(82.1, 81.1, 83.1))
    again = build_gap_table(build_leaderboard(_frame(rows))).gap("maskaq", "masked-hsad", "4w4a", V)
    assert again.interval == gap.interval  # the same resamples every time
    assert "(references:" not in gap_markdown(table)


def test_rows_with_different_seed_counts_show_each():
    frame = _frame({("noise", "noise", "kd"): [80.0, 80.1], ("real", "real", "kd"): [84.0, 84.1, 84.3],
                    ("m", "m", "kd"): [81.0, 81.1, 81.3, 81.2]})
    table = build_gap_table(build_leaderboard(frame))
    assert table.gap("m", "kd", "4w4a", V).n == (4, 2, 3)
    md = gap_markdown(table)
    assert "(n=4, 2, 3) |" in md and "With n = 2 seeds per row" in md and "only 3 distinct resamples" in md


def test_one_seed_gives_the_value_without_an_interval():
    frame = _frame({("noise", "noise", "kd"): [80.0], ("real", "real", "kd"): [84.0], ("m", "m", "kd"): [81.0]})
    gap = build_gap_table(build_leaderboard(frame)).gap("m", "kd", "4w4a", V)
    assert (gap.status, gap.value, gap.interval) == ("untested", 0.25, None)
    md = gap_markdown(build_gap_table(build_leaderboard(frame)))
    assert "0.25 (n=1: untested)" in md and "understates" not in md  # no interval, nothing to warn about


def test_variants_are_not_gap_rows():
    frame = _frame({("noise", "noise", "kd"): [80.0, 80.1], ("real", "real", "kd"): [84.0, 84.1],
                    ("m", "m", "kd"): [81.0, 81.1], ("m[x=false]", "m", "kd"): [82.0, 82.1]})
    table = build_gap_table(build_leaderboard(frame))
    assert [g.label for g in table.gaps.values()] == ["m"]


def test_the_gap_view_from_the_command_line(capsys, monkeypatch):
    code, out, err = run_cli(["table", "--from", str(BENCH), "--view", "gap", "--format", "md"], capsys, monkeypatch)
    assert code == 0, err
    assert "masked-hsad (references: hsad)" in out and "undefined" in out
    code, out, err = run_cli(["table", "--from", str(BENCH), "--view", "gap"], capsys, monkeypatch)
    assert code == 0 and "Gap closed" in out, err


def test_a_csv_without_method_rows_is_one_line_and_exit_2(capsys, monkeypatch):
    code, _, err = run_cli(["table", "--from", str(BENCH), "--methods", "noise,real", "--view", "gap"],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, "no method rows with a synthesizer and a calibrator")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_committed_gap_tables_are_the_commands_output(name, tmp_path, capsys, monkeypatch):
    args = [str(ROOT / a) if a.startswith("results/") else a for a in COMMANDS[name][:-1]] + [str(tmp_path / name)]
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    assert (tmp_path / name).read_bytes() == (RESULTS / name).read_bytes()


def test_one_grid_per_column():
    frame = _frame({("noise", "noise", "kd"): [80.0, 80.1], ("real", "real", "kd"): [84.0, 84.1],
                    ("m", "m", "kd"): [81.0, 81.1]})
    frame = pd.concat([frame, frame.assign(model="fmnist_deit", top1=frame["top1"] - 10)], ignore_index=True)
    table = build_gap_table(build_leaderboard(frame))
    md = gap_markdown(table)
    assert md.count("Gap closed · 4w4a") == 2 and "Gap closed · 4w4a · fmnist_deit" in md
    assert table.gap("m", "kd", "4w4a", "fmnist_deit").value == pytest.approx(0.25)
    assert len(gap_rich(table)) == 2
