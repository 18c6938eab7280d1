"""``--shard K/N`` deals the grid's synthesis groups out to N parts: disjoint, complete, cache-sharing cells
together."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from cli_helpers import assert_one_line_error, run_cli
from harness_fixtures import tiny_settings
from test_run_cli import SMOKE, paths

from dfqbench.errors import UserError
from dfqbench.quant.bits import parse_bit_list
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.overrides import parse_set_options
from dfqbench.runner.plan import plan_grid
from dfqbench.runner.shard import parse_shard, select_shard


def grid(tmp_path):
    specs = [resolve_method("fp", {}), resolve_method("noise", {}), resolve_method("sardfq", {}),
             resolve_method("sardfq", parse_set_options(["calib.recon=false"])),
             resolve_method("sardfq", parse_set_options(["synth.apa=false"])), resolve_method("mimiq", {}),
             resolve_method("maskaq", {})]
    cells = expand_grid(specs, ["fmnist_vit", "fmnist_deit"], parse_bit_list("4w4a,3w3a"), [0, 1, 2])
    return plan_grid(cells, tiny_settings(tmp_path))


@pytest.mark.parametrize(("text", "parsed"), [("1/2", (1, 2)), ("2/2", (2, 2)), (" 3 / 5 ", (3, 5)), ("1/1", (1, 1))])
def test_parse_shard(text, parsed):
    assert parse_shard(text) == parsed


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2", ""])
def test_parse_shard_refuses_malformed_parts(text):
    with pytest.raises(UserError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 100])
def test_parts_are_disjoint_complete_and_keep_grid_order(count, tmp_path):
    cells = grid(tmp_path)
    parts = [select_shard(cells, k, count) for k in range(1, count + 1)]
    assert Counter(c.describe() for part in parts for c in part) == Counter(c.describe() for c in cells)
    for part in parts:
        names = {c.describe() for c in part}
        assert part == [c for c in cells if c.describe() in names]
    groups = [len({c.set_key for c in part}) for part in parts]
    assert max(groups) - min(groups) <= 1


def test_cells_sharing_a_synthetic_set_stay_in_one_part(tmp_path):
    cells = grid(tmp_path)
    parts = [select_shard(cells, k, 4) for k in range(1, 5)]
    owner = {c.describe(): k for k, part in enumerate(parts) for c in part}
    for a in cells:
        for b in cells:
            if a.set_key == b.set_key:
                assert owner[a.describe()] == owner[b.describe()]
    of = {(p.cell.method.label, p.cell.model, p.cell.bits_label, p.cell.seed): p for p in cells}
    recon = [p for p in cells if p.cell.method.label == "sardfq[recon=false]"]
    assert recon and all(p.set_key == of[("sardfq", *key(p))].set_key for p in recon)    # calibration-only variant
    apa = [p for p in cells if p.cell.method.label == "sardfq[apa=false]"]
    assert all(p.set_key != of[("sardfq", *key(p))].set_key for p in apa)                # another synthesis
    assert of[("sardfq", "fmnist_vit", "4w4a", 0)].set_key == of[("sardfq", "fmnist_vit", "3w3a", 0)].set_key
    assert of[("maskaq", "fmnist_vit", "4w4a", 0)].set_key != of[("maskaq", "fmnist_vit", "3w3a", 0)].set_key


def key(p) -> tuple:
    return p.cell.model, p.cell.bits_label, p.cell.seed


def test_two_shards_on_one_store_compute_the_grid_once(tmp_path, capsys, monkeypatch):
    args = ["run", "--methods", "fp,noise,real", "--seeds", "0,1", *SMOKE, *paths(tmp_path)]
    computed = []
    for part in ("1/2", "2/2"):
        code, out, err = run_cli([*args, "--shard", part], capsys, monkeypatch)
        assert code == 0, err
        assert re.search(rf"shard {part}: \d+ of the grid's 5 cells", out)
        computed.append(int(re.search(r"(\d+) cells computed", out).group(1)))
    assert sum(computed) == 5 and min(computed) >= 1
    code, out, _ = run_cli(args, capsys, monkeypatch)
    assert code == 0 and "0 cells computed, 5 read" in out


def test_bad_shard_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["run", "--methods", "noise", "--shard", "3/2", *paths(tmp_path)], capsys, monkeypatch)
    assert_one_line_error(code, err, "K must be in 1..N")
