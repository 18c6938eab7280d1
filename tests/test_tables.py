"""Leaderboard tables: ordering, aggregation over seeds, marks (Welch + Holm), paired variants, MDE, filters, one
experiment per cell, reported rows and rendering."""

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
from dfqbench.paths import REPORTED
from dfqbench.tables import Entry, build_leaderboard, format_cell, to_csv, to_markdown, to_rich
from dfqbench.tables.identity import with_measurement_identity
from dfqbench.tables.leaderboard import row_kind, variant_of
from dfqbench.tables.render import CSV_FIELDS

GOLDEN = Path(__file__).parent / "golden"
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
    assert [r.kind for r in lb.rows] == ["reference"] * 5 + ["method"]  # 'gauss' is noise by its synthesizer
    # one seed each: nothing is tested, nothing marked
    assert not lb.marked and lb.is_untested("hsad", "4w4a", V) and not lb.is_untested("real+hsad", "4w4a", V)


def test_row_kind_and_variant_of_are_read_from_the_label_and_synthesizer():
    assert row_kind("fp", [""], is_fp=True) == "fp"
    assert row_kind("noise+ptq", ["noise"], is_fp=False) == "reference"
    assert row_kind("real[augment=false]", ["real"], is_fp=False) == "reference"
    assert row_kind("gauss", ["noise"], is_fp=False) == "reference"
    assert row_kind("maskaq", ["maskaq"], is_fp=False) == "method"


def test_a_tuned_row_is_a_method_row_and_its_ablations_vary_it():
    from dfqbench.tables.leaderboard import method_name, variant_of

    assert variant_of("sardfq[tuned]") is None and method_name("sardfq[tuned]") == "sardfq"
    assert variant_of("sardfq[tuned,apa=false]") == "sardfq[tuned]"
    assert variant_of("maskaq[se=false]") == "maskaq" and variant_of("maskaq") is None
    assert row_kind("sardfq[tuned]", [""], is_fp=False) == "method"  # read through the registered method
    frame = _ablation_frame()
    frame["method"] = frame["method"].map({"m": "m[tuned]", "m[a=false]": "m[tuned,a=false]",
                                           "m[b=false]": "m[tuned,b=false]"}).fillna(frame["method"])
    paired = build_leaderboard(frame).column_stats("4w4a", V).paired
    assert set(paired) == {"m[tuned,a=false]", "m[tuned,b=false]"}
    assert paired["m[tuned,a=false]"].against == "m[tuned]"


def test_a_rows_kind_comes_from_its_synthesizers_declared_role_never_from_a_label_prefix():
    from dfqbench.api import SYNTHESIZERS

    assert (SYNTHESIZERS.get("noise").role, SYNTHESIZERS.get("real").role) == ("reference", "oracle")
    assert SYNTHESIZERS.get("maskaq").role == "method"
    assert row_kind("realistic", ["realistic"], is_fp=False) == "method"   # not the oracle for starting with 'real'
    assert row_kind("realistic", [""], is_fp=False) == "method"
    assert row_kind("noisy+ptq", [""], is_fp=False) == "method"
    assert row_kind("real+hsad", [""], is_fp=False) == "reference"         # no synthesizer stored: the label's
    assert row_kind("noise[std=0.5]", [""], is_fp=False) == "reference"    # registered synthesizer decides
    assert variant_of("maskaq[se=false]") == "maskaq"
    assert variant_of("psaq-vit-v2[adversarial=false]") == "psaq-vit-v2"
    assert variant_of("maskaq") is None and variant_of("maskaq [reported: paper-a]") is None


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
        assert lb.cell("fp", bits, V) == Entry(90.0, None, 1)
        assert lb.cell("fp", bits, D) == Entry(89.5, None, 1)


def test_marks_are_the_best_method_and_those_not_significantly_below_it(frame):
    lb = build_leaderboard(frame)
    assert lb.marked == {
        ("maskaq", "3w3a", V),  # mimiq 41 vs 46 (std 1 each, n=3): p = 0.0036, below
        ("mimiq", "3w3a", D), ("maskaq", "3w3a", D),  # a tie at 36.00: p = 1
        ("maskaq", "4w4a", V),
        ("mimiq", "4w4a", D), ("maskaq", "4w4a", D),  # 58 (std 0) vs 56 (std 1): p = 0.074, not resolved
    }
    # maskaq[se=off] has one seed: the highest mean at 4w4a on the DeiT, but untested, never marked
    assert lb.is_untested("maskaq[se=off]", "4w4a", D) and not lb.is_marked("maskaq[se=off]", "4w4a", D)
    assert lb.is_untested("maskaq", "6w6a", V) and not lb.column_stats("6w6a", V).marked
    assert not any(lb.row(label).kind != "method" for label, _, _ in lb.marked)
    assert not lb.is_marked("noise", "4w4a", V) and not lb.is_untested("fp", "4w4a", V)


def test_welch_against_the_best_by_hand(frame):
    """58, 58, 58 against 55, 56, 57: d = -2, se = sqrt(0/3 + 1/3), t = -2 sqrt(3), df = (1/3)^2 / ((1/3)^2 / 2) = 2;
    with 2 df, P(T > t) = 1/2 - t / (2 sqrt(t^2 + 2)), so p = 1 - sqrt(12 / 14)."""
    stats = build_leaderboard(frame).column_stats("4w4a", D)
    assert stats.best == "mimiq"
    comparison = stats.versus_best["maskaq"]
    assert comparison.test.difference == pytest.approx(-2.0)
    assert comparison.test.df == pytest.approx(2.0)
    assert comparison.test.p == pytest.approx(1 - math.sqrt(12 / 14))
    assert comparison.p_holm == comparison.test.p  # the column's only comparison
    assert set(stats.versus_best) == {"maskaq"}  # the n=1 row is not compared


def test_holm_over_the_columns_comparisons():
    """Three methods below the best one, a: d's p is multiplied by 3, c's by 2, b's by 1 (or the running max).
    c alone would be significantly below a (p = 0.032); over the column's three comparisons it is not."""
    rows = [dict(method=m, model=V, bits="4w4a", seed=s, status="ok", top1=v)
            for m, values in [("a", [80.0, 80.5, 81.0]), ("b", [79.0, 79.6, 80.1]), ("c", [77.0, 78.0, 79.0]),
                              ("d", [70.0, 70.2, 70.4])]
            for s, v in enumerate(values)]
    stats = build_leaderboard(pd.DataFrame(rows)).column_stats("4w4a", V)
    raw = {label: c.test.p for label, c in stats.versus_best.items()}
    holm = {label: c.p_holm for label, c in stats.versus_best.items()}
    assert raw["d"] < raw["c"] < 0.05 < raw["b"]
    assert holm == pytest.approx({"d": 3 * raw["d"], "c": 2 * raw["c"], "b": max(raw["b"], 2 * raw["c"])})
    assert stats.marked == {"a", "b", "c"}


def test_mde_of_a_column_by_hand(frame):
    """4w4a on the ViT: maskaq (s^2 = 19/12) and mimiq (s^2 = 1), n = 3 each: s_p^2 = (2 * 19/12 + 2 * 1) / 4,
    df = 4, MDE = (t_0.975,4 + t_0.8,4) s_p sqrt(2/3) with t_0.975,4 = 2.776445 and t_0.8,4 = 0.940965."""
    mde = build_leaderboard(frame).column_stats("4w4a", V).mde
    assert (mde.df, mde.n) == (4, 3)
    assert mde.s == pytest.approx(math.sqrt((2 * 19 / 12 + 2) / 4))
    assert mde.value == pytest.approx((2.776445 + 0.940965) * mde.s * math.sqrt(2 / 3), rel=1e-5)
    assert build_leaderboard(frame).column_stats("6w6a", V).mde is None  # n=1 only


def _ablation_frame() -> pd.DataFrame:
    """m and two variants at seeds 0-2; v1 is below m by 1.0, 1.1, 0.9 (paired: clear), v2 by 0.5, -0.4, 0.2."""
    m = [80.0, 82.0, 78.0]
    values = {"m": m, "m[a=false]": [x - d for x, d in zip(m, [1.0, 1.1, 0.9], strict=True)],
              "m[b=false]": [x - d for x, d in zip(m, [0.5, -0.4, 0.2], strict=True)]}
    return pd.DataFrame([dict(method=label, synthesizer="m", calibrator="kd", model=V, bits="4w4a", seed=s,
                              status="ok", top1=v) for label, vs in values.items() for s, v in enumerate(vs)])


def test_variants_are_compared_with_their_method_paired_by_seed():
    lb = build_leaderboard(_ablation_frame())
    paired = lb.column_stats("4w4a", V).paired
    assert set(paired) == {"m[a=false]", "m[b=false]"} and paired["m[a=false]"].against == "m"
    a = paired["m[a=false]"].test  # d = -1.0, -1.1, -0.9: mean -1, s_d = 0.1, se = 0.1 / sqrt(3), df = 2
    assert a.difference == pytest.approx(-1.0) and a.se == pytest.approx(0.1 / math.sqrt(3)) and a.df == 2
    t = -1.0 / a.se  # with 2 df, P(T > |t|) = 1/2 - |t| / (2 sqrt(t^2 + 2)); Holm over 2 variants doubles it
    assert paired["m[a=false]"].p_holm == pytest.approx(2 * 2 * (0.5 - abs(t) / (2 * math.sqrt(t * t + 2))))
    assert paired["m[a=false]"].p_holm < 0.05 <= paired["m[b=false]"].p_holm
    assert paired["m[a=false]"].family_size == 2 and paired["m[a=false]"].level == pytest.approx(0.975)
    # Bonferroni over the 2 variants: -1 -+ t_0.9875,2 * se, with 2 df t_q = (2q - 1) / sqrt(2 q (1 - q))
    half = 0.975 / math.sqrt(2 * 0.9875 * 0.0125) * a.se
    assert paired["m[a=false]"].interval() == pytest.approx((-1 - half, -1 + half))
    # a method and its own variants: nothing is marked, the rows do not compete (Welch would mark them all)
    stats = lb.column_stats("4w4a", V)
    assert stats.ablation_of == "m" and not stats.marked and stats.best is None and stats.mde is None
    assert not lb.is_marked("m", "4w4a", V) and not lb.is_marked("m[a=false]", "4w4a", V)
    md = to_markdown(lb)
    assert f"| method | 4w4a · {V} | 4w4a · {V}: variant − method, paired (Bonferroni CI, Holm p) |" in md
    assert "| m[a=false] | 79.00 ± 1.90 (n=3) | -1.00 [-1.36, -0.64], p = 0.007 |" in md
    assert "| m | 80.00 ± 2.00 (n=3) | |" in md and "**" not in md
    assert "paired t-test" in md and "m = 2: 97.5%" in md and "Nothing is bold" in md
    assert "Smallest difference each column resolves" not in md
    rows = {r["method"]: r for r in csv.DictReader(io.StringIO(to_csv(lb)))}
    assert rows["m"][f"4w4a/{V}/marked"] == "" and rows["m[a=false]"][f"4w4a/{V}/marked"] == ""
    assert float(rows["m[a=false]"][f"4w4a/{V}/paired_low"]) == pytest.approx(-1 - half, abs=1e-6)


def test_the_paired_mde_of_an_ablation_column_by_hand():
    """Per-seed differences: v1 1.0, 1.1, 0.9 (s_d^2 = 0.01), v2 0.5, -0.4, 0.2 (mean 0.1, s_d^2 = 0.42 / 2 = 0.21):
    pooled s_d^2 = (2 * 0.01 + 2 * 0.21) / 4 = 0.11; MDE = (t_0.975,2 + t_0.8,2) s_d / sqrt(3), t_0.975,2 = 4.302653,
    t_0.8,2 = 0.6 / sqrt(0.32) = 1.060660 (the paired test's df, n - 1 = 2)."""
    lb = build_leaderboard(_ablation_frame())
    mde = lb.column_stats("4w4a", V).paired_mde
    assert (mde.n, mde.df, mde.pooled_over) == (3, 2, 2)
    assert mde.s == pytest.approx(math.sqrt(0.11))
    assert mde.value == pytest.approx((4.302653 + 1.060660) * math.sqrt(0.11) / math.sqrt(3), rel=1e-6)
    md = to_markdown(lb)
    assert "Smallest paired difference each column resolves" in md
    assert f"4w4a · {V} {mde.value:.2f} (s_d = 0.33 over 2 variants, n = 3)" in md


def test_variants_are_never_marked_and_holm_runs_per_method():
    """Beside other methods, a variant is still compared with its own method only: m[a=false] would be the best
    by mean. Each method's variants are one Holm family: k's variant does not enlarge m's."""
    frame = _ablation_frame()
    frame.loc[frame["method"] == "m[a=false]", "top1"] += 10  # now 10 points above m at every seed
    other = frame[frame["method"] == "m"].assign(method="k", synthesizer="k", top1=[79.0, 80.0, 81.0])
    variant = other.assign(method="k[c=false]", top1=[78.0, 79.5, 80.2])
    lb = build_leaderboard(pd.concat([frame, other, variant], ignore_index=True))
    stats = lb.column_stats("4w4a", V)
    assert stats.ablation_of is None and stats.best == "m" and set(stats.versus_best) == {"k"}
    assert stats.marked == {"m", "k"}
    assert {label: c.family_size for label, c in stats.paired.items()} == {"m[a=false]": 2, "m[b=false]": 2,
                                                                            "k[c=false]": 1}
    assert stats.paired["k[c=false]"].p_holm == stats.paired["k[c=false]"].test.p
    assert stats.mde.df == 4  # m and k only
    assert stats.paired_mde.pooled_over == 3


def test_paired_comparisons_use_the_seeds_both_rows_have():
    frame = _ablation_frame()
    frame = frame[~((frame["method"] == "m[b=false]") & (frame["seed"] == 2))]
    extra = frame[frame["method"] == "m[b=false]"].head(1).assign(seed=7, top1=10.0)  # a seed m does not have
    frame = pd.concat([frame, extra], ignore_index=True)
    paired = build_leaderboard(frame).column_stats("4w4a", V).paired
    assert paired["m[b=false]"].test.df == 1  # seeds 0 and 1 only
    assert paired["m[b=false]"].test.difference == pytest.approx((-0.5 + 0.4) / 2)
    one_common = frame[~((frame["method"] == "m[a=false]") & (frame["seed"] > 0))]
    assert "m[a=false]" not in build_leaderboard(one_common).column_stats("4w4a", V).paired


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
    assert board.cell("fp", "4w4a", V) == Entry(90.0, None, 1)
    other_weights = frame[frame["method"] == "fp"].assign(weights_hash="b" * 64)
    with pytest.raises(UserError, match=r"'fp' on fmnist_vit differ in weights_hash"):
        build_leaderboard(pd.concat([frame.assign(weights_hash="a" * 64), other_weights], ignore_index=True))


def _one_cell_split(frame: pd.DataFrame, column: str, first, second) -> pd.DataFrame:
    """``frame`` with ``column`` = first everywhere except seed 2 of maskaq at 4w4a on the ViT (= second)."""
    out = _with(frame, **{column: first})
    where = (out["method"] == "maskaq") & (out["bits"] == "4w4a") & (out["model"] == V) & (out["seed"] == 2)
    out[column] = out[column].astype(object)
    out.loc[where, column] = second
    return out


@pytest.mark.parametrize(("column", "first", "second", "message"), [
    ("evaluation", "test", "test[:500]", r"differ in evaluation_set \(test vs test\[:500\]\)"),
    ("evaluation", "test", "val", r"differ in evaluation_set \(test vs val\)"),
    ("n_eval", 10000, 2000, r"differ in evaluation_set \(n_eval=10000 vs n_eval=2000\)"),  # the older scheme
    ("device_type", "cpu", "cuda", r"differ in device_type \(cpu vs cuda\)"),
    ("device", "cpu", "cuda:0", r"differ in device_type \(cpu vs cuda\)"),  # the older scheme
    ("threads", 1, 2, r"differ in threads \(1 vs 2\)"),
])
def test_rows_measured_differently_are_not_averaged(frame, column, first, second, message):
    build_leaderboard(_with(frame, **{column: first}))  # all alike: fine
    with pytest.raises(UserError, match=r"'maskaq' at 4w4a on fmnist_vit " + message):
        build_leaderboard(_one_cell_split(frame, column, first, second))


def test_two_cuda_devices_are_one_device_type_and_the_id_scheme_is_not_grouped_on(frame):
    board = build_leaderboard(_one_cell_split(frame, "device", "cuda:0", "cuda:1"))
    assert board.cell("maskaq", "4w4a", V).n == 3
    board = build_leaderboard(_one_cell_split(frame, "id_scheme", "1", "2"))
    assert board.cell("maskaq", "4w4a", V).n == 3


def test_measurement_identity_reads_either_scheme():
    old = pd.DataFrame(dict(n_eval=[10000, 2000, None], device=["cpu", "cuda:1", None], threads=[1, 2, None]))
    new = old.assign(evaluation=["test", "", None], device_type=["cuda", "", None])
    assert with_measurement_identity(old)[["evaluation_set", "device_type", "threads"]].values.tolist() == [
        ["n_eval=10000", "cpu", "1"], ["n_eval=2000", "cuda", "2"], ["", "", ""]]
    # where a row has the newer columns they win; empty ones fall back
    assert with_measurement_identity(new)[["evaluation_set", "device_type"]].values.tolist() == [
        ["test", "cuda"], ["n_eval=2000", "cuda"], ["", ""]]
    assert with_measurement_identity(pd.DataFrame(dict(method=["m"])))["evaluation_set"].tolist() == [""]


def test_the_fp_row_is_refused_across_devices(frame):
    fp_cuda = frame[frame["method"] == "fp"].assign(device="cuda", profile="quick")
    with pytest.raises(UserError, match=r"'fp' on fmnist_vit differ in device_type \(cpu vs cuda\)"):
        build_leaderboard(pd.concat([frame.assign(device="cpu"), fp_cuda], ignore_index=True))


def test_reported_rows(frame):
    lb = build_leaderboard(frame, reported=_reported())
    assert lb.labels[7:] == [
        "fp [reported: paper-a]",
        "maskaq [reported: paper-a]",
        "maskaq [reported: paper-b]",
        "psaq-vit [reported: paper-a]",
    ]
    assert all(r.kind == "reported" and not r.is_data_free_method for r in lb.rows[7:])
    assert lb.row("maskaq [reported: paper-b]").source == "paper-b"
    assert lb.cell("maskaq [reported: paper-a]", "4w4a", V) == Entry(75.5, None, None)
    assert lb.cell("maskaq [reported: paper-b]", "4w4a", V).mean == 73.0
    assert lb.cell("maskaq [reported: paper-a]", "4w4a", D) is None
    for bits in lb.bits:
        assert lb.cell("fp [reported: paper-a]", bits, V).mean == 91.0
    assert lb.is_marked("maskaq", "4w4a", V)  # 75.5 published is higher, but never bold
    assert not any("reported" in label for label, _, _ in lb.marked)
    md = to_markdown(lb)
    assert "| *maskaq [reported: paper-a]* | – | – | *75.50* | – | – | – |" in md


def test_reported_follow_method_filter(frame):
    lb = build_leaderboard(frame, methods=["mimiq"], reported=_reported())
    assert [r.label for r in lb.rows if r.kind == "reported"] == ["fp [reported: paper-a]"]


def test_the_repositorys_reported_file_parses():
    frame = pd.DataFrame([dict(method="psaq-vit", model="deit_tiny_patch16_224", bits="4w4a", status="ok", top1=1.0)])
    lb = build_leaderboard(frame, reported=pd.read_csv(REPORTED))
    model = "deit_tiny_patch16_224"
    assert lb.cell("psaq-vit [reported: maskaq-table1]", "4w4a", model).mean == pytest.approx(19.61)
    assert lb.cell("psaq-vit [reported: sardfq-table]", "4w4a", model).mean == pytest.approx(47.75)


# --- rendering -------------------------------------------------------------------------------------------------------


def test_csv_columns_and_values(frame):
    lb = build_leaderboard(frame)
    rows = list(csv.DictReader(io.StringIO(to_csv(lb))))
    header = list(rows[0].keys())
    assert header[:6] == ["method", f"3w3a/{V}/mean", f"3w3a/{V}/std", f"3w3a/{V}/n", f"3w3a/{V}/ci_low",
                          f"3w3a/{V}/ci_high"]
    assert header[1 + len(CSV_FIELDS)] == f"3w3a/{D}/mean"
    assert len(header) == 1 + len(CSV_FIELDS) * 6
    by_label = {row["method"]: row for row in rows}
    assert list(by_label) == lb.labels
    maskaq = by_label["maskaq"]
    assert float(maskaq[f"4w4a/{V}/mean"]) == pytest.approx(213.5 / 3, abs=1e-6)
    assert float(maskaq[f"4w4a/{V}/std"]) == pytest.approx(math.sqrt(19 / 12), abs=1e-6)
    assert maskaq[f"4w4a/{V}/n"] == "3"
    assert maskaq[f"6w6a/{V}/std"] == "" and maskaq[f"6w6a/{V}/n"] == "1"
    assert by_label["mimiq"][f"6w6a/{V}/mean"] == ""
    assert by_label["fp"][f"6w6a/{D}/mean"] == "89.5"
    # 95 % t-interval: mean ± t_0.975,2 * s / sqrt(3), t_0.975,2 = 4.302653
    half = 4.302653 * math.sqrt(19 / 12) / math.sqrt(3)
    assert float(maskaq[f"4w4a/{V}/ci_low"]) == pytest.approx(213.5 / 3 - half, abs=1e-5)
    assert float(maskaq[f"4w4a/{V}/ci_high"]) == pytest.approx(213.5 / 3 + half, abs=1e-5)
    assert (maskaq[f"4w4a/{V}/marked"], maskaq[f"4w4a/{V}/p_vs_best"]) == ("1", "")  # the best
    assert by_label["mimiq"][f"4w4a/{V}/marked"] == "0" and float(by_label["mimiq"][f"4w4a/{V}/p_vs_best"]) < 0.05
    assert by_label["real"][f"4w4a/{V}/marked"] == "" and by_label["maskaq[se=off]"][f"4w4a/{V}/marked"] == ""


def test_confidence_interval_cells(frame):
    lb = build_leaderboard(frame)
    assert format_cell(lb.cell("maskaq", "4w4a", V), "ci") == "71.17 [68.04, 74.29] (n=3)"
    assert format_cell(lb.cell("maskaq", "6w6a", V), "ci") == "80.00 (n=1)"
    assert format_cell(lb.cell("maskaq", "6w6a", V), "ci", untested=True) == "80.00 (n=1: untested)"
    md = to_markdown(lb, interval="ci")
    assert "| real | 76.00 [73.52, 78.48] (n=3) |" in md  # 76 ± 4.302653 / sqrt(3)
    assert "Cells: mean [95% t-interval of the mean over seeds] (n seeds)." in md
    assert "± " not in md.split("\n\n")[1]  # the table itself


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


def test_the_caption_names_rows_that_ran_at_their_papers_own_budget():
    import dataclasses

    from dfqbench.profiles import PROFILES
    from dfqbench.tables.leaderboard import _caption

    paper = PROFILES["paper"]
    frame = pd.DataFrame({"method": ["psaq-vit", "mimiq"], "profile": ["paper", "paper"],
                          "profile_config": [dataclasses.replace(paper, synth_steps=1000).to_json(), paper.to_json()]})
    assert _caption(frame)["own budget"] == ["psaq-vit: synth_steps 1000"]


def test_the_caption_calls_validation_images_by_their_name():
    from dfqbench.tables.leaderboard import _caption

    frame = pd.DataFrame({"method": ["sardfq"], "profile": ["bench"], "n_eval": [5000], "evaluation": ["val"]})
    assert _caption(frame)["validation images"] == ["5000"] and "test images" not in _caption(frame)


def test_the_caption_names_the_processors_the_rows_ran_on():
    from dfqbench.tables.leaderboard import _caption

    frame = pd.DataFrame({"method": ["noise", "real", "fp"], "profile": ["bench"] * 3,
                          "processor": ["Intel(R) Xeon(R) Processor", "AMD EPYC", None]})
    assert _caption(frame)["processors"] == ["Intel(R) Xeon(R) Processor", "AMD EPYC"]
    assert "processors" not in _caption(frame.drop(columns="processor"))  # rows from before it was recorded
