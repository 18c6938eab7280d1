"""``--flush-denormal``: subnormal floats flushed on the CPU, inside the cell only, and its rows other cells."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from cli_helpers import assert_one_line_error, run_cli
from harness_fixtures import tiny_backbone, tiny_settings

from dfqbench.api import SYNTHESIZERS
from dfqbench.quant.bits import BitWidth
from dfqbench.runner.cell import cell_key, synthesis_key
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.run import Reporter, run_grid
from dfqbench.runtime import denormals_flushed
from dfqbench.store.sqlite import ResultStore

SUBNORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38
W4A4 = BitWidth(4, 4)


def can_flush() -> bool:
    supported = torch.set_flush_denormal(True)
    torch.set_flush_denormal(False)
    return supported


needs_flush = pytest.mark.skipif(not can_flush(), reason="this CPU cannot flush subnormal numbers")


def survives(value: float) -> bool:
    return bool(torch.tensor([value]).mul(1.0).item() != 0.0)


@needs_flush
def test_subnormals_are_flushed_inside_and_kept_outside():
    assert survives(SUBNORMAL)
    with denormals_flushed():
        assert not survives(SUBNORMAL) and survives(1e-37)
    assert survives(SUBNORMAL)
    with pytest.raises(KeyError), denormals_flushed():  # restored on the way out of an error too
        raise KeyError
    assert survives(SUBNORMAL)
    with denormals_flushed(False):
        assert survives(SUBNORMAL)


def test_flushed_cells_and_sets_are_other_cells(tmp_path):
    plain = tiny_settings(tmp_path)
    flushed = dataclasses.replace(plain, flush_denormal=True)
    assert (plain.arithmetic, flushed.arithmetic) == ("cpu", "cpu-ftz")
    cell = expand_grid([resolve_method("noise+ptq", {})], ["tiny_vit"], [W4A4], [0])[0]
    assert cell_key(cell, tiny_backbone(), flushed) != cell_key(cell, tiny_backbone(), plain)
    synth = SYNTHESIZERS.get("noise")(SYNTHESIZERS.get("noise").Config())
    assert synthesis_key(synth, cell, tiny_backbone(), flushed) != synthesis_key(synth, cell, tiny_backbone(), plain)


@needs_flush
def test_a_flushed_run_records_it_and_leaves_the_flag_off(tmp_path):
    cells = expand_grid([resolve_method(m, {}) for m in ("fp", "noise+ptq")], ["tiny_vit"], [W4A4], [0])
    with ResultStore(tmp_path / "store.sqlite") as store:
        report = run_grid(cells, tiny_settings(tmp_path, flush_denormal=True), store, Reporter(),
                          load=lambda name: tiny_backbone())
    assert [row["device_type"] for row in report.done] == ["cpu-ftz", "cpu-ftz"]
    assert all(row["status"] == "ok" for row in report.done)
    assert survives(SUBNORMAL)


@pytest.mark.parametrize("command", [["run", "--methods", "noise"], ["tune", "--methods", "sardfq"]])
def test_the_switch_is_refused_off_the_cpu(command, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the check must not depend on this machine
    code, _, err = run_cli([*command, "--flush-denormal", "--device", "cuda", "--store",
                            str(tmp_path / "s.sqlite")], capsys, monkeypatch)
    assert_one_line_error(code, err, "--flush-denormal is a CPU setting")
    assert not (tmp_path / "s.sqlite").exists()


def test_the_switch_needs_one_torch_thread(tmp_path, capsys, monkeypatch):
    threads = torch.get_num_threads()
    try:
        code, _, err = run_cli(["--threads", "2", "run", "--methods", "noise", "--flush-denormal", "--store",
                                str(tmp_path / "s.sqlite")], capsys, monkeypatch)
        torch.set_num_threads(2)
        with pytest.raises(RuntimeError, match="one torch thread"), denormals_flushed():
            pass
    finally:
        torch.set_num_threads(threads)
    assert_one_line_error(code, err, "--flush-denormal needs one torch thread")
    assert not (tmp_path / "s.sqlite").exists()
