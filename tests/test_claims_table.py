"""The claims view: the claims file, the one-sided tests (Welch or paired), Holm within a family of a column's
claims, the Bonferroni bounds, the verdicts, the CLI's errors and the committed renderings."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, run_cli

from dfqbench.errors import UserError
from dfqbench.paths import CLAIMS
from dfqbench.store.export import read_results_csv
from dfqbench.tables import build_leaderboard
from dfqbench.tables.claims import Claim, build_claims_table, claims_csv, claims_markdown, read_claims

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
V = "fmnist_vit"
HEADER = "higher,lower,paper,table,setting,reported\n"
COMMANDS = {
    "claims_bench_4w4a.md": ["table", "--from", "results/bench_4w4a.csv", "--view", "claims", "--claims",
                             "results/claims_bench_4w4a_papers.csv", "--format", "md", "-o",
                             "results/claims_bench_4w4a.md"],
    "claims_bench_4w4a.csv": ["table", "--from", "results/bench_4w4a.csv", "--view", "claims", "--claims",
                              "results/claims_bench_4w4a_papers.csv", "--format", "csv", "-o",
                              "results/claims_bench_4w4a.csv"],
    "claims_readme_bench_4w4a.md": ["table", "--from", "results/bench_4w4a.csv", "--view", "claims", "--claims",
                                    "results/claims_readme.csv", "--format", "md", "-o",
                                    "results/claims_readme_bench_4w4a.md"],
}


def _frame(rows: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(method=label, synthesizer=label.split("[")[0], calibrator="kd", model=V, bits="4w4a",
                              seed=seed, status="ok", top1=v)
                         for label, values in rows.items() for seed, v in enumerate(values)])


def _claim(higher: str, lower: str, family: str = "") -> Claim:
    return Claim(higher, lower, "Paper (Venue 2025)", "Table 1", "DeiT-S 4w4a", family=family)


ROWS = {
    "a": [85.0, 85.2, 85.4],
    "b": [80.0, 80.3, 80.6],
    "c": [84.0, 86.0, 85.0],
    "a[x=false]": [84.0, 84.3, 84.3],  # 1.0, 0.9, 1.1 below a at each seed
    "one": [90.0],
}


def _verdicts(claims: list[Claim]) -> dict[str, object]:
    table = build_claims_table(build_leaderboard(_frame(ROWS)), claims)
    return {v.claim.text: v for v in table.verdicts[("4w4a", V)]}


def test_verdicts_in_both_directions_and_unresolved():
    claims = [_claim("a", "b"), _claim("b", "a"), _claim("a", "c"), _claim("a", "a[x=false]"), _claim("one", "a"),
              _claim("a", "missing")]
    verdicts = _verdicts(claims)
    assert verdicts["a > b"].verdict == "holds"
    assert verdicts["b > a"].verdict == "contradicted"
    assert verdicts["a > c"].verdict == "not resolved at this n"
    assert verdicts["a > a[x=false]"].verdict == "holds"
    assert verdicts["one > a"].verdict == "n=1: untested" and verdicts["one > a"].holds is None
    assert verdicts["a > missing"].verdict == "not measured"


def test_a_method_against_its_own_variant_is_paired_and_holm_runs_within_a_family():
    """Paired: d = 1.0, 0.9, 1.1, mean 1, s_d = 0.1, t = 10 sqrt(3), df 2; with 2 df P(T > t) = 1/2 - t / (2 sqrt(t^2
    + 2)). By default the paired claim is in 'a ablations' and the Welch one in 'comparisons': Holm leaves a family
    of one as it is. In one named family of 2 testable claims the smaller p is doubled."""
    claims = [_claim("a", "a[x=false]"), _claim("a", "c")]
    verdicts = _verdicts(claims)
    paired = verdicts["a > a[x=false]"]
    assert _claim("a", "a[x=false]").paired and not _claim("a", "c").paired
    assert _claim("a", "a[x=false]").family_name == "a ablations" and _claim("a", "c").family_name == "comparisons"
    assert _claim("a[x=false]", "a").family_name == "a ablations"
    t = 10 * 3 ** 0.5
    raw = 0.5 - t / (2 * (t * t + 2) ** 0.5)
    assert paired.holds.difference == pytest.approx(1.0) and paired.holds.df == 2
    assert paired.holds.p == pytest.approx(raw)
    assert paired.p_holds == pytest.approx(raw) and paired.family_size == 1
    together = _verdicts([_claim("a", "a[x=false]", "f"), _claim("a", "c", "f"), _claim("a", "missing", "f")])
    assert together["a > a[x=false]"].p_holds == pytest.approx(2 * raw)
    assert together["a > a[x=false]"].family_size == 2  # the unmeasured claim is not counted
    assert together["a > missing"].family_size is None and together["a > missing"].interval() is None
    welch = verdicts["a > c"]  # Welch: 85.2 vs 85.0
    assert welch.holds.difference == pytest.approx(0.2) and welch.holds.df != 2


def test_the_bounds_are_one_sided_bonferroni_over_the_family():
    """Each bound at 1 - alpha/m: difference -+ t_{1 - 0.05/m, df} se. Paired a > a[x=false], alone (m = 1):
    1 -+ t_0.95,2 * 0.1 / sqrt(3), with 2 df t_q = (2q - 1) / sqrt(2 q (1 - q)) = 0.9 / sqrt(0.095) at q = 0.95.
    In a family of 2 the bounds are at t_0.975,2 = 4.302653; the lower one is above 0 exactly when p < 0.05 / m."""
    alone = _verdicts([_claim("a", "a[x=false]")])["a > a[x=false]"]
    se = 0.1 / 3 ** 0.5
    half = 0.9 / 0.095 ** 0.5 * se
    assert alone.bound_level == pytest.approx(0.95)
    assert alone.interval() == pytest.approx((1 - half, 1 + half))
    pair = _verdicts([_claim("a", "a[x=false]", "f"), _claim("a", "c", "f")])["a > a[x=false]"]
    assert pair.bound_level == pytest.approx(0.975)
    assert pair.interval() == pytest.approx((1 - 4.302653 * se, 1 + 4.302653 * se), rel=1e-6)
    for v in _verdicts([_claim("a", "b"), _claim("a", "c"), _claim("b", "a"), _claim("c", "b")]).values():
        low, high = v.interval()
        assert (low > 0) == (v.holds.p < 0.05 / v.family_size)
        assert (high < 0) == (1 - v.holds.p < 0.05 / v.family_size)
        assert not (low > 0 and v.verdict != "holds") and not (high < 0 and v.verdict != "contradicted")


def test_the_family_column_of_a_claims_file(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text("higher,lower,paper,table,setting,family\na,b,P,T,S,orderings\na,a[x=false],P,T,S,\n")
    claims = read_claims(path)
    assert [c.family_name for c in claims] == ["orderings", "a ablations"]
    table = build_claims_table(build_leaderboard(_frame(ROWS)), claims)
    rows = list(csv.DictReader(io.StringIO(claims_csv(table))))
    assert [(r["family"], r["family_size"]) for r in rows] == [("orderings", "1"), ("a ablations", "1")]
    assert float(rows[0]["bound_level"]) == pytest.approx(0.95)
    md = claims_markdown(table)
    assert "| orderings (m = 1) |" in md and "| a ablations (m = 1) |" in md


@pytest.mark.parametrize(("text", "message"), [
    ("higher,lower,paper\n", "missing columns: table, setting"),
    (HEADER + "a,b,P,T,\n", "line 2: empty setting"),
    (HEADER + "a,b,P,T,S\nc,,P,T,S\n", "line 3: empty lower"),
    (HEADER + "a,a,P,T,S\n", "above itself"),
    (HEADER + "a,b,P,T,S\na,b,Q,T,S\n", "a > b appears twice"),
    (HEADER, "no claims"),
])
def test_bad_claims_files(tmp_path, text, message):
    path = tmp_path / "claims.csv"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_claims(path)


def test_bad_input_from_the_command_line_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    bench = str(RESULTS / "bench_4w4a.csv")
    bad = tmp_path / "claims.csv"
    bad.write_text(HEADER + "maskaq,,P,T,S\n")
    cases = [
        (["--view", "claims", "--claims", str(bad)], "line 2: empty lower"),
        (["--view", "claims", "--claims", str(tmp_path / "none.csv")], "--claims: no file at"),
        (["--view", "verdicts"], "unknown --view 'verdicts'"),
        (["--interval", "sd"], "unknown --interval 'sd'"),
        (["--claims", str(CLAIMS)], "--claims goes with --view claims"),
        (["--view", "claims", "--methods", "noise,real"], "no claim has both of its rows in the results"),
    ]
    for args, pattern in cases:
        code, _, err = run_cli(["table", "--from", bench, *args], capsys, monkeypatch)
        assert_one_line_error(code, err, pattern)


def test_the_committed_claims_cover_the_papers_orderings_and_every_declared_ablation():
    """...in one family of orderings and one family per method's ablations, the families of its ablation table."""
    from dfqbench.api import METHODS
    from dfqbench.registry import load_builtin_plugins
    from dfqbench.runner.grid import ablation_specs

    load_builtin_plugins()
    claims = read_claims(CLAIMS)
    pairs = [(c.higher, c.lower) for c in claims]
    # MaskAQ's Table 1, SARDFQ's table, and MimiQ's abstract against PSAQ-ViT and noise (V2: MaskAQ's Table 1)
    assert pairs[:8] == [("maskaq", "mimiq"), ("mimiq", "psaq-vit-v2"), ("psaq-vit-v2", "psaq-vit"),
                         ("sardfq", "psaq-vit"), ("sardfq", "psaq-vit-v2"), ("sardfq", "noise"),
                         ("mimiq", "psaq-vit"), ("mimiq", "noise")]
    ablations = {(name, spec.label) for name, method in METHODS.items() if method.ablations
                 for spec in ablation_specs([name])}
    assert set(pairs[8:]) == ablations and len(pairs) == 8 + len(ablations)
    assert all(c.paired for c in claims[8:]) and not any(c.paired for c in claims[:8])
    assert {c.family for c in claims[:8]} == {"method orderings"}
    assert all(c.family == f"{c.higher} ablations" for c in claims[8:])
    assert all(c.family == c.family_name for c in claims)  # the defaults, written out
    text = CLAIMS.read_text()
    assert "shared" not in text and "/" not in text  # sources are papers, never paths


def test_the_bench_claims_by_their_numbers():
    board = build_leaderboard(read_results_csv(RESULTS / "bench_4w4a.csv"))
    table = build_claims_table(board, read_claims(RESULTS / "claims_bench_4w4a_papers.csv"))
    verdicts = {v.claim.text: v for v in table.verdicts[("4w4a", V)]}
    assert len(verdicts) == 25
    assert verdicts["mimiq > psaq-vit-v2"].verdict == "holds"
    assert verdicts["sardfq > psaq-vit"].verdict == "holds"
    assert verdicts["sardfq > sardfq[apa=false]"].verdict == "contradicted"
    # 0.54 points, p = 0.02 before Holm: Holm over the 6 orderings (not the 25 claims) resolves it, though its
    # Bonferroni lower bound (the first step of Holm only) is below 0
    maskaq = verdicts["maskaq > mimiq"]
    assert maskaq.verdict == "holds" and maskaq.family_size == 6
    assert maskaq.holds.p < maskaq.p_holds < 0.05 < 6 * maskaq.holds.p and maskaq.interval()[0] < 0
    sizes = {v.claim.family_name: v.family_size for v in verdicts.values()}
    assert sizes == {"method orderings": 6, "psaq-vit ablations": 4, "psaq-vit-v2 ablations": 4, "sardfq ablations": 4,
                     "mimiq ablations": 3, "maskaq ablations": 4}
    rows = list(csv.DictReader(io.StringIO(claims_csv(table))))
    assert [r["test"] for r in rows].count("paired") == 19
    assert "Claims · 4w4a · fmnist_vit: 6 holds, 1 contradicted, 18 not resolved at this n" in claims_markdown(table)


@pytest.mark.parametrize("method", ["psaq-vit", "psaq-vit-v2", "sardfq", "mimiq", "maskaq"])
def test_an_ablation_claims_family_is_its_ablation_tables(method):
    """The claims p and the ablation table's paired p test the same pairs in the same Holm family: before Holm the
    one-sided p in the direction of the difference is half the two-sided one."""
    frame = read_results_csv(RESULTS / "bench_4w4a.csv")
    paired = build_leaderboard(frame, methods=[method, f"{method}[*"]).column_stats("4w4a", V).paired
    table = build_claims_table(build_leaderboard(frame), read_claims(CLAIMS))
    ours = {v.claim.lower: v for v in table.verdicts[("4w4a", V)] if v.claim.family_name == f"{method} ablations"}
    assert set(ours) == set(paired)
    for variant, verdict in ours.items():
        two_sided = paired[variant]
        assert verdict.family_size == two_sided.family_size
        assert verdict.holds.difference == pytest.approx(-two_sided.test.difference)
        one_sided = verdict.holds.p if verdict.holds.difference > 0 else 1 - verdict.holds.p
        assert one_sided == pytest.approx(two_sided.test.p / 2)


def test_the_claims_view_in_the_terminal(capsys, monkeypatch):
    code, out, err = run_cli(["table", "--from", str(RESULTS / "bench_4w4a.csv"), "--view", "claims"], capsys,
                             monkeypatch)
    assert code == 0, err
    assert "Claims · 4w4a · fmnist_vit" in out and "contradicted" in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_committed_claims_tables_are_the_commands_output(name, tmp_path, capsys, monkeypatch):
    args = [str(ROOT / a) if a.startswith("results/") else a for a in COMMANDS[name][:-1]] + [str(tmp_path / name)]
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    assert (tmp_path / name).read_bytes() == (RESULTS / name).read_bytes()


def test_a_claim_about_a_method_reads_its_tuned_row_when_that_is_all_the_results_have():
    tuned = {"a[tuned]" if k == "a" else k.replace("a[", "a[tuned,") if k.startswith("a[") else k: v
             for k, v in ROWS.items()}
    table = build_claims_table(build_leaderboard(_frame(tuned)), [_claim("a", "b"), _claim("a", "a[x=false]")])
    verdicts = {v.claim.text: v for v in table.verdicts[("4w4a", V)]}
    assert set(verdicts) == {"a[tuned] > b", "a[tuned] > a[tuned,x=false]"}
    assert verdicts["a[tuned] > b"].verdict == "holds"
    assert verdicts["a[tuned] > a[tuned,x=false]"].claim.paired  # the tuned row and its own ablation, by seed
    assert verdicts["a[tuned] > a[tuned,x=false]"].verdict == "holds"
