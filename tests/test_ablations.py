"""Each method's declared ablation: the variants ``--ablations`` adds, validated against the plugins' configs."""

from __future__ import annotations

import re

import pytest
from cli_helpers import assert_one_line_error, run_cli
from test_run_cli import SMOKE, paths

from dfqbench.api import METHODS
from dfqbench.errors import UserError
from dfqbench.runner.cell import plugin_configs
from dfqbench.runner.grid import Cell, ablation_specs, resolve_method

PAPER_METHODS = ("psaq-vit", "psaq-vit-v2", "sardfq", "mimiq", "maskaq")


@pytest.mark.parametrize("name", PAPER_METHODS)
def test_every_ablation_switches_exactly_its_component_off(name):
    method = METHODS.get(name)
    assert method.ablations, f"{name} declares no ablation"
    plain_synth, plain_calib = plugin_configs(Cell(resolve_method(name, {}), "fmnist_vit", None, 0))
    specs = ablation_specs([name])
    assert len(specs) == len(method.ablations)
    assert len({s.label for s in specs} | {name}) == len(specs) + 1  # distinct rows, none equal to the method
    for spec, items in zip(specs, method.ablations.values(), strict=True):
        synth, calib = plugin_configs(Cell(spec, "fmnist_vit", None, 0))
        for item in items:
            stage, _, rest = item.partition(".")
            key = rest.partition("=")[0]
            config, plain = ((synth.config, plain_synth.config) if stage == "synth"
                             else (calib.config, plain_calib.config))
            assert getattr(plain, key) is True and getattr(config, key) is False, (spec.label, item)
        assert spec.label.startswith(f"{name}[")


def test_maskaq_ablation_is_its_papers_table_2():
    labels = [s.label for s in ablation_specs(["maskaq"])]
    assert labels == ["maskaq[se=false]", "maskaq[maa=false]", "maskaq[mask=false]", "maskaq[refresh=false]"]


def test_reference_rows_and_crossings_are_skipped_but_not_alone():
    assert [s.label for s in ablation_specs(["fp", "noise", "mimiq", "noise+ptq"])] == \
        [s.label for s in ablation_specs(["mimiq"])]
    with pytest.raises(UserError, match="declares ablations"):
        ablation_specs(["noise", "real"])


@pytest.mark.parametrize(("args", "pattern"), [
    (["--methods", "noise,real", "--ablations"], "declares ablations"),
    (["--methods", "maskaq", "--ablations", "--set", "synth.se=false"], "cannot be combined"),
])
def test_bad_ablation_requests_are_one_line_and_exit_2(args, pattern, tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["run", *args, *paths(tmp_path)], capsys, monkeypatch)
    assert_one_line_error(code, err, pattern)


def test_run_with_ablations_adds_one_row_per_component(tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["run", "--methods", "psaq-vit", "--ablations", *SMOKE, *paths(tmp_path)],
                             capsys, monkeypatch)
    assert code == 0, err
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    for row in ["psaq-vit", *(f"psaq-vit[{c}=false]" for c in METHODS.get("psaq-vit").ablations)]:
        assert re.search(rf"^\| \*?\*?{re.escape(row)}\*?\*? \|", markdown, re.M), (row, markdown)
    assert "6 cells computed" in out  # fp, psaq-vit and its four variants
