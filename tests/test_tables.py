"""Leaderboard tables: ordering, aggregation over seeds, bold placement, filters, reported rows and rendering."""

from __future__ import annotations

import csv
import difflib
import io
import math
import os
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from dfqbench.errors import UserError
from dfqbench.tables import Cell, build_leaderboard, format_cell, to_csv, to_markdown, to_rich

GOLDEN = Path(__file__).parent / "golden"
REPORTED_SPEC = Path("/work/shared/specs/reported.csv")
V, D = "fmnist_vit", "fmnist_deit"

# (method, synthesizer, calibrator, bits, model, [top1 per seed 0, 1, 2]) in a deliberately mixed order.
CELLS = [
    ("noise+ptq", "noise", "ptq", "4w4a", V, [20.0, 21.0, 22.0]),
    ("mimiq", "mimiq", "mimiq", "4w4a", V, [60.0, 61.0, 62.0]),
    ("mimiq", "mimiq", "mimiq", "4w4a", D, [58.0, 58.0, 58.0]),
    ("mimiq", "mimiq", "mimiq", "3w3a", V, [40.0, 41.0, 42.0]),
    ("mimiq", "mimiq", "mimiq", "3w3a", D, [35.0, 36.0, 37.0]),
    ("maskaq", "maskaq", "maskaq", "4w4a", V, [70.0, 71.0, 72.5]),
    ("maskaq", "maskaq", "maskaq", "4w4a", D, [55.0, 56.0, 57.0]),
    ("maskaq", "maskaq", "maskaq", "6w6a", V, [80.0]),
    ("maskaq", "maskaq", "maskaq", "3w3a", V, [45.0, 46.0, 47.0]),
    ("maskaq", "maskaq", "maskaq", "3w3a", D, [36.0, 36.0, 36.0]),
    ("fp", "", "", "fp", V, [90.0]),
    ("fp", "", "", "fp", D, [89.5]),
    ("noise", "noise", "kd", "4w4a", V, [10.0, 11.0, 12.0]),
    ("noise", "noise", "kd", "4w4a", D, [9.0, 10.0, 11.0]),
    ("noise", "noise", "kd", "3w3a", V, [5.0, 6.0, 7.0]),
    ("noise", "noise", "kd", "3w3a", D, [4.0, 5.0, 6.0]),
    ("real", "real", "kd", "4w4a", V, [85.0, 86.0, 87.0]),
    ("real", "real", "kd", "4w4a", D, [84.0, 85.0, 86.0]),
    ("real", "real", "kd", "3w3a", V, [75.0, 76.0, 77.0]),
    ("real", "real", "kd", "3w3a", D, [74.0, 75.0, 76.0]),
    ("maskaq[se=off]", "maskaq", "maskaq", "4w4a", V, [69.0]),
    ("maskaq[se=off]", "maskaq", "maskaq", "4w4a", D, [59.25]),
]


def _frame() -> pd.DataFrame:
    rows = []
    for method, synth, calib, bits, model, values in CELLS:
        for seed, top1 in enumerate(values):
            rows.append(dict(method=method, synthesizer=synth, calibrator=calib, model=model, bits=bits, seed=seed,
                             status="ok", error="", top1=top1, top5=99.0, profile="bench", preset="standard",
                             overrides='{"se": false}' if "[" in method else "{}"))
    rows.append(dict(method="mimiq", synthesizer="mimiq", calibrator="mimiq", model=D, bits="3w3a", seed=3,
                     status="failed", error="diverged", top1=float("nan"), top5=float("nan"), profile="bench",
                     preset="standard", overrides="{}"))
    return pd.DataFrame(rows)


def _reported() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("paper-a", "maskaq", "4w4a", V, 75.5),
            ("paper-a", "fp", "fp", V, 91.0),
            ("paper-b", "maskaq", "W4A4", V, 73.0),
            ("paper-a", "psaq-vit", "4w4a", V, 30.0),
            ("paper-a", "maskaq", "8w8a", V, 80.0),  # no such column group
            ("paper-a", "maskaq", "4w4a", "deit_tiny_patch16_224", 50.0),  # no such model
        ],
        columns=["source", "method", "bits", "backbone", "top1"],
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    return _frame()


# --- ordering --------------------------------------------------------------------------------------------------------


def test_row_and_column_order(frame):
    lb = build_leaderboard(frame)
    assert lb.labels == ["fp", "noise", "real", "noise+ptq", "mimiq", "maskaq", "maskaq[se=off]"]
    assert [r.kind for r in lb.rows] == ["fp", "reference", "reference", "reference", "method", "method", "method"]
    assert lb.bits == ["3w3a", "4w4a", "6w6a"]
    assert lb.models == [V, D]
    assert lb.columns[:3] == [("3w3a", V), ("3w3a", D), ("4w4a", V)]


def test_bits_order_lead_then_sorted():
    rows = [dict(method="m", model=V, bits=b, status="ok", top1=1.0) for b in ["8w8a", "4w8a", "2w4a", "5w5a", "W4A4"]]
    lb = build_leaderboard(pd.DataFrame(rows))
    assert lb.bits == ["4w4a", "5w5a", "4w8a", "2w4a", "8w8a"]


def test_methods_order_given(frame):
    lb = build_leaderboard(frame, methods=["maskaq[se=off]", "maskaq", "mimiq"])
    assert lb.labels == ["fp", "noise", "real", "noise+ptq", "maskaq[se=off]", "maskaq", "mimiq"]


def test_reference_by_synthesizer_and_crossings_pair_up():
    rows = [
        dict(method="real+hsad", synthesizer="real", model=V, bits="4w4a", status="ok", top1=50.0),
        dict(method="gauss", synthesizer="noise", model=V, bits="4w4a", status="ok", top1=1.0),
        dict(method="noise+hsad", synthesizer="noise", model=V, bits="4w4a", status="ok", top1=2.0),
        dict(method="hsad", synthesizer="x", model=V, bits="4w4a", status="ok", top1=3.0),
        dict(method="real", synthesizer="real", model=V, bits="4w4a", status="ok", top1=60.0),
        dict(method="noise", synthesizer="noise", model=V, bits="4w4a", status="ok", top1=0.5),
    ]
    lb = build_leaderboard(pd.DataFrame(rows))
    # plain noise/real first, then crossings with their calibrator, noise before real
    assert lb.labels == ["noise", "real", "noise+hsad", "real+hsad", "gauss", "hsad"]
    assert not lb.row("real+hsad").data_free and lb.row("gauss").data_free
    assert lb.is_best("hsad", "4w4a", V) and not lb.is_best("real+hsad", "4w4a", V)


# --- cells -----------------------------------------------------------------------------------------------------------


def test_mean_std_n_by_hand(frame):
    lb = build_leaderboard(frame)
    cell = lb.cell("maskaq", "4w4a", V)
    # 70, 71, 72.5: mean 213.5/3; deviations -7/6, -1/6, 4/3; squares sum 19/6; / (n-1) = 19/12
    assert cell.n == 3
    assert cell.mean == pytest.approx(213.5 / 3)
    assert cell.std == pytest.approx(math.sqrt(19 / 12))
    assert format_cell(cell) == "71.17 ± 1.26 (n=3)"
    assert format_cell(lb.cell("mimiq", "4w4a", D)) == "58.00 ± 0.00 (n=3)"
    assert format_cell(lb.cell("maskaq", "6w6a", V)) == "80.00 (n=1)"
    assert lb.cell("maskaq", "6w6a", V).std is None
    assert lb.cell("mimiq", "6w6a", V) is None
    assert format_cell(None) == "–"


def test_failed_rows_are_counted_not_averaged(frame):
    lb = build_leaderboard(frame)
    assert lb.n_failed == 1
    assert lb.cell("mimiq", "3w3a", D).n == 3
    assert lb.cell("mimiq", "3w3a", D).mean == pytest.approx(36.0)
    assert lb.caption == {"profile": ["bench"], "preset": ["standard"], "seeds": ["0", "1", "2"]}


def test_fp_row_in_every_group(frame):
    lb = build_leaderboard(frame)
    for bits in lb.bits:
        assert lb.cell("fp", bits, V) == Cell(90.0, None, 1)
        assert lb.cell("fp", bits, D) == Cell(89.5, None, 1)


def test_bold_best_data_free(frame):
    lb = build_leaderboard(frame)
    assert lb.best == {
        ("maskaq", "3w3a", V),
        ("maskaq", "3w3a", D),
        ("mimiq", "3w3a", D),  # tie at 36.00: both bold
        ("maskaq", "4w4a", V),
        ("maskaq[se=off]", "4w4a", D),
        ("maskaq", "6w6a", V),
    }
    assert not any(label in ("fp", "real") for label, _, _ in lb.best)
    assert not lb.row("real").data_free and not lb.row("fp").data_free and lb.row("noise").data_free


# --- filters ---------------------------------------------------------------------------------------------------------


def test_method_filter_keeps_fp_and_references(frame):
    lb = build_leaderboard(frame, methods=["maskaq"])
    assert lb.labels == ["fp", "noise", "real", "noise+ptq", "maskaq"]
    assert lb.n_failed == 0  # the failed row is mimiq's


def test_method_patterns_pick_a_methods_variants_with_literal_brackets(frame):
    lb = build_leaderboard(frame, methods=["maskaq*", "noise"])
    assert lb.labels == ["fp", "noise", "maskaq", "maskaq[se=off]"]
    lb = build_leaderboard(frame, methods=["maskaq[se=off]", "mimiq"])  # an exact variant label is not a pattern
    assert lb.labels == ["fp", "noise", "real", "noise+ptq", "maskaq[se=off]", "mimiq"]
    assert build_leaderboard(frame, methods=["maskaq[*", "noise"]).labels == ["fp", "noise", "maskaq[se=off]"]
    assert build_leaderboard(frame, methods=["nomatch*", "mimiq"]).missing == {"methods": ["nomatch*"]}


def test_method_filter_naming_references_keeps_only_those(frame):
    lb = build_leaderboard(frame, methods=["maskaq", "noise"])
    assert lb.labels == ["fp", "noise", "maskaq"]


def test_bits_filter_any_notation(frame):
    lb = build_leaderboard(frame, bits=["W4A4", "w6a6"])
    assert lb.bits == ["4w4a", "6w6a"]
    assert lb.cell("fp", "4w4a", V).mean == 90.0
    assert lb.cell("maskaq", "3w3a", V) is None
    assert lb.n_failed == 0


def test_models_filter_order_given(frame):
    lb = build_leaderboard(frame, models=[D, V])
    assert lb.models == [D, V]
    lb = build_leaderboard(frame, models=[D], bits=["3w3a"])
    assert lb.columns == [("3w3a", D)]
    assert lb.n_failed == 1


def test_partially_missing_filter_values_are_listed(frame):
    lb = build_leaderboard(frame, methods=["maskaq", "sardfq"], bits=["4w4a", "5w5a"])
    assert lb.missing == {"methods": ["sardfq"], "bits": ["5w5a"]}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(methods=["sardfq"]), ["sardfq", "maskaq", "mimiq"]),
        (dict(bits=["8w8a"]), ["8w8a", "3w3a", "4w4a", "6w6a"]),
        (dict(models=["fmnist_swin"]), ["fmnist_swin", V, D]),
        (dict(methods=["maskaq[se=off]"], bits=["3w3a"]), ["maskaq[se=off]", "3w3a", "4w4a"]),
        (dict(methods=["fp"]), ["fp"]),
    ],
)
def test_filters_leaving_nothing(frame, kwargs, words):
    with pytest.raises(UserError) as info:
        build_leaderboard(frame, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_malformed_bits_filter(frame):
    with pytest.raises(UserError, match="malformed bit-width"):
        build_leaderboard(frame, bits=["4 bits"])


def test_missing_columns_and_no_results(frame):
    with pytest.raises(UserError, match="required column.*top1"):
        build_leaderboard(frame.drop(columns=["top1"]))
    with pytest.raises(UserError, match="no successful results"):
        build_leaderboard(frame.assign(status="failed"))
    with pytest.raises(UserError, match="only the full-precision"):
        build_leaderboard(frame[frame["method"] == "fp"])
    with pytest.raises(UserError, match="reported.*backbone"):
        build_leaderboard(frame, reported=_reported().drop(columns=["backbone"]))


# --- reported numbers ------------------------------------------------------------------------------------------------


# --- one experiment per cell ----------------------------------------------------------------------------------------


def _with(frame: pd.DataFrame, **columns) -> pd.DataFrame:
    out = frame.copy()
    for name, value in columns.items():
        out[name] = value
    return out


def test_rows_of_two_plugin_versions_are_not_averaged(frame):
    frame = _with(frame, versions='{"synthesizer": 3}')
    stale = frame[(frame["method"] == "maskaq") & (frame["bits"] == "4w4a") & (frame["model"] == V)].copy()
    stale["versions"] = '{"synthesizer": 2}'
    stale["seed"] += 10
    build_leaderboard(frame)  # one version: fine
    with pytest.raises(UserError, match=r"'maskaq' at 4w4a on fmnist_vit differ in versions .*synthesizer.: 3.* vs "):
        build_leaderboard(pd.concat([frame, stale], ignore_index=True))
    # the other rows alone still render
    assert build_leaderboard(pd.concat([frame, stale], ignore_index=True), methods=["mimiq"]).cell("mimiq", "4w4a", V)


def test_rows_of_two_profiles_point_to_the_profile_filter(frame):
    quick = frame[frame["method"] == "noise"].copy()
    quick["profile"] = "quick"
    with pytest.raises(UserError, match=r"differ in profile \(bench vs quick\).*--profile"):
        build_leaderboard(pd.concat([frame, quick], ignore_index=True))


def test_a_repeated_seed_is_refused_and_fp_rows_of_several_profiles_are_one_row(frame):
    with pytest.raises(UserError, match=r"'real' at 3w3a on fmnist_deit repeat seed 1"):
        build_leaderboard(pd.concat([frame, frame[(frame["method"] == "real") & (frame["bits"] == "3w3a")
                                                  & (frame["model"] == D) & (frame["seed"] == 1)]]))
    fp_quick = frame[frame["method"] == "fp"].assign(profile="quick")
    board = build_leaderboard(pd.concat([frame, fp_quick], ignore_index=True), methods=["maskaq"])
    assert board.cell("fp", "4w4a", V) == Cell(90.0, None, 1)
    other_weights = frame[frame["method"] == "fp"].assign(weights_hash="b" * 64)
    with pytest.raises(UserError, match=r"'fp' on fmnist_vit differ in weights_hash"):
        build_leaderboard(pd.concat([frame.assign(weights_hash="a" * 64), other_weights], ignore_index=True))


def test_reported_rows(frame):
    lb = build_leaderboard(frame, reported=_reported())
    assert lb.labels[7:] == [
        "fp [reported: paper-a]",
        "maskaq [reported: paper-a]",
        "maskaq [reported: paper-b]",
        "psaq-vit [reported: paper-a]",
    ]
    assert all(r.kind == "reported" and not r.data_free for r in lb.rows[7:])
    assert lb.row("maskaq [reported: paper-b]").source == "paper-b"
    assert lb.cell("maskaq [reported: paper-a]", "4w4a", V) == Cell(75.5, None, None)
    assert lb.cell("maskaq [reported: paper-b]", "4w4a", V).mean == 73.0
    assert lb.cell("maskaq [reported: paper-a]", "4w4a", D) is None
    for bits in lb.bits:
        assert lb.cell("fp [reported: paper-a]", bits, V).mean == 91.0
    assert lb.is_best("maskaq", "4w4a", V)  # 75.5 published is higher, but never bold
    assert not any("reported" in label for label, _, _ in lb.best)
    md = to_markdown(lb)
    assert "| *maskaq [reported: paper-a]* | – | – | *75.50* | – | – | – |" in md


def test_reported_follow_method_filter(frame):
    lb = build_leaderboard(frame, methods=["mimiq"], reported=_reported())
    assert [r.label for r in lb.rows if r.kind == "reported"] == ["fp [reported: paper-a]"]


@pytest.mark.skipif(not REPORTED_SPEC.exists(), reason="shared specs not present")
def test_reported_spec_file_parses():
    frame = pd.DataFrame([dict(method="psaq-vit", model="deit_tiny_patch16_224", bits="4w4a", status="ok", top1=1.0)])
    lb = build_leaderboard(frame, reported=pd.read_csv(REPORTED_SPEC))
    model = "deit_tiny_patch16_224"
    assert lb.cell("psaq-vit [reported: maskaq-table1]", "4w4a", model).mean == pytest.approx(19.61)
    assert lb.cell("psaq-vit [reported: sardfq-table]", "4w4a", model).mean == pytest.approx(47.75)


# --- rendering -------------------------------------------------------------------------------------------------------


def test_csv_columns_and_values(frame):
    lb = build_leaderboard(frame)
    rows = list(csv.DictReader(io.StringIO(to_csv(lb))))
    header = list(rows[0].keys())
    assert header[:7] == ["method", f"3w3a/{V}/mean", f"3w3a/{V}/std", f"3w3a/{V}/n",
                          f"3w3a/{D}/mean", f"3w3a/{D}/std", f"3w3a/{D}/n"]
    assert len(header) == 1 + 3 * 6
    by_label = {row["method"]: row for row in rows}
    assert list(by_label) == lb.labels
    maskaq = by_label["maskaq"]
    assert float(maskaq[f"4w4a/{V}/mean"]) == pytest.approx(213.5 / 3, abs=1e-6)
    assert float(maskaq[f"4w4a/{V}/std"]) == pytest.approx(math.sqrt(19 / 12), abs=1e-6)
    assert maskaq[f"4w4a/{V}/n"] == "3"
    assert maskaq[f"6w6a/{V}/std"] == "" and maskaq[f"6w6a/{V}/n"] == "1"
    assert by_label["mimiq"][f"6w6a/{V}/mean"] == ""
    assert by_label["fp"][f"6w6a/{D}/mean"] == "89.5"


def test_caption_says_how_many_test_images_were_evaluated(frame):
    """A smoke run with --limit must not read like a full evaluation."""
    assert "test images" not in to_markdown(build_leaderboard(frame))  # results without n_eval
    ok = frame[frame["status"] == "ok"].copy()
    ok["n_eval"] = 10000
    assert to_markdown(build_leaderboard(ok)).splitlines()[0].endswith(" · test images: 10000")
    ok.loc[ok["method"] == "noise", "n_eval"] = 2000
    assert to_markdown(build_leaderboard(ok)).splitlines()[0].endswith(" · test images: 2000, 10000")


def test_markdown_cells(frame):
    md = to_markdown(build_leaderboard(frame))
    lines = md.splitlines()
    assert lines[0] == "profile: bench · preset: standard · seeds: 0, 1, 2 · failed: 1 (not shown)"
    assert lines[2].startswith(f"| method | 3w3a · {V} | 3w3a · {D} | 4w4a · {V} |")
    assert "| real | 76.00 ± 1.00 (n=3) | 75.00 ± 1.00 (n=3) | 86.00 ± 1.00 (n=3) |" in md
    assert "**36.00 ± 1.00 (n=3)**" in md and "**36.00 ± 0.00 (n=3)**" in md
    assert "**90.00" not in md


def test_rich_table(frame):
    lb = build_leaderboard(frame, reported=_reported())
    table = to_rich(lb)
    assert len(table.columns) == 1 + len(lb.columns)
    assert table.row_count == len(lb.rows)
    console = Console(width=300, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "maskaq[se=off]" in text  # brackets are not read as rich markup
    assert "71.17 ± 1.26 (n=3)" in text
    assert "failed: 1 (not shown)" in text


def test_markdown_golden(frame):
    md = to_markdown(build_leaderboard(frame, reported=_reported()))
    path = GOLDEN / "leaderboard.md"
    if os.environ.get("DFQBENCH_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(md, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if md != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(keepends=True), md.splitlines(keepends=True),
                                            fromfile=str(path), tofile="to_markdown()"))
        pytest.fail(f"to_markdown differs from the golden file (DFQBENCH_UPDATE_GOLDEN=1 rewrites it):\n{diff}")
