"""Long cells survive a stop: a cell interrupted at a checkpoint and run again gives the uninterrupted result."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from harness_fixtures import tiny_backbone, tiny_settings
from safetensors.torch import load_file

from dfqbench.quant.bits import BitWidth
from dfqbench.runner.checkpoint import CellCheckpoints, FileCheckpoint
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.run import run_grid
from dfqbench.store.sqlite import ResultStore

# two synthesis batches, eight calibration steps: every method crosses batch, refresh, round and block boundaries
PROFILE_CHANGES = dict(n_images=8, synth_batch_size=4, synth_steps=2, calib_steps=8, calib_batch_size=4,
                       refreshes=2)


def settings_for(tmp_path: Path, name: str):
    settings = tiny_settings(tmp_path / name, checkpoint_dir=tmp_path / name / "checkpoints",
                             save_models=tmp_path / name / "models")
    return dataclasses.replace(settings, profile=dataclasses.replace(settings.profile, **PROFILE_CHANGES))


def run(method: str, settings, tmp_path: Path, name: str):
    cells = expand_grid([resolve_method(method, {})], ["tiny_vit"], [BitWidth(4, 4)], [0])
    with ResultStore(tmp_path / name / "store.sqlite") as store:
        report = run_grid(cells, settings, store, load=lambda _: tiny_backbone())
    return report


class Stop:
    """Let ``FileCheckpoint.save`` write its n-th state (parts do not count), then stop as Ctrl-C would."""

    def __init__(self, monkeypatch, n: int) -> None:
        self.saves, self.loads, self.n = 0, 0, n
        save, load = FileCheckpoint.save, FileCheckpoint.load

        def counting_save(checkpoint, state):
            save(checkpoint, state)
            self.saves += 1
            if self.saves == self.n:
                raise KeyboardInterrupt

        def counting_load(checkpoint):
            state = load(checkpoint)
            self.loads += state is not None
            return state

        monkeypatch.setattr(FileCheckpoint, "save", counting_save)
        monkeypatch.setattr(FileCheckpoint, "load", counting_load)


def the_model(settings) -> dict[str, torch.Tensor]:
    (path,) = settings.save_models.glob("*.safetensors")
    return load_file(str(path))


def assert_same_result(tmp_path: Path, monkeypatch, method: str, stop_at: int) -> None:
    whole = settings_for(tmp_path, "whole")
    expected = run(method, whole, tmp_path, "whole").done[0]
    stopped_settings = settings_for(tmp_path, "stopped")
    stop = Stop(monkeypatch, stop_at)
    assert run(method, stopped_settings, tmp_path, "stopped").interrupted
    cell_id = expected["cell_id"]
    assert CellCheckpoints(stopped_settings.checkpoint_dir, cell_id).exists()
    stop.n = -1
    resumed = run(method, stopped_settings, tmp_path, "stopped").done[0]
    assert stop.loads >= 1                                  # it did resume from the checkpoint
    assert resumed["cell_id"] == cell_id and resumed["status"] == "ok"
    assert resumed["top1"] == expected["top1"]
    expected_model, resumed_model = the_model(whole), the_model(stopped_settings)
    assert expected_model.keys() == resumed_model.keys()
    for key in expected_model:
        assert torch.equal(expected_model[key], resumed_model[key]), key
    assert not CellCheckpoints(stopped_settings.checkpoint_dir, cell_id).exists()  # removed when stored


def test_a_maskaq_cell_stopped_in_its_calibration_resumes_to_the_same_model(tmp_path, monkeypatch):
    # saves 1-2: the synthesis batches; 3...: the refreshes of the calibration set
    assert_same_result(tmp_path, monkeypatch, "maskaq", stop_at=4)


@pytest.mark.parametrize(("method", "stop_at"), [
    ("maskaq", 1),        # after the first synthesis batch (Q's ranges set by the synthesis)
    ("mimiq", 1),
    ("psaq-vit", 1),
    ("psaq-vit-v2", 3),   # after the first sample phase of the calibration rounds
    ("sardfq", 1),
    ("sardfq", 3),        # after the first reconstructed block
    ("maskaq+kd", 6),     # after the fourth refresh, with the plain KD loop
])
def test_every_method_resumes_to_the_same_model(tmp_path, monkeypatch, method, stop_at):
    assert_same_result(tmp_path, monkeypatch, method, stop_at)


def test_checkpointing_changes_no_number(tmp_path):
    with_checkpoints = run("maskaq", settings_for(tmp_path, "on"), tmp_path, "on").done[0]
    off = dataclasses.replace(settings_for(tmp_path, "off"), checkpoint_dir=None)
    without = run("maskaq", off, tmp_path, "off").done[0]
    assert with_checkpoints["cell_id"] == without["cell_id"] and with_checkpoints["top1"] == without["top1"]


def test_an_unreadable_checkpoint_is_removed_with_one_line_and_the_stage_starts_over(tmp_path):
    said = []
    path = tmp_path / "calibration.pt"
    path.write_bytes(b"not a checkpoint")
    assert FileCheckpoint(path, say=said.append).load() is None
    assert not path.exists() and len(said) == 1 and "starts over" in said[0]
