"""A grid planned once, before any work: per cell its backbone, plugin instances, id and synthetic-set key.

Planning checks everything the user gave (models load, plugin configs validate) and fails with one line before
anything runs. ``set_key`` is the one definition of "cells that share a synthetic set", used by the cache, the
Ray executor and ``--shard`` alike: the synthetic set's cache key (the fp row, which has none: its own cell id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dfqbench.api import Calibrator, Synthesizer
from dfqbench.runner.cell import RunSettings, cell_key, plugin_configs, synthesis_key
from dfqbench.runner.grid import Cell
from dfqbench.zoo.backbones import Backbone, load_backbone


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    backbone: Backbone
    synth: Synthesizer | None   # None for the fp row
    calib: Calibrator | None
    cell_id: str
    set_key: str

    def describe(self) -> str:
        return self.cell.describe()


def plan_cell(cell: Cell, backbone: Backbone, settings: RunSettings) -> PlannedCell:
    synth, calib = (None, None) if cell.method.is_fp else plugin_configs(cell)
    cid = cell_key(cell, backbone, settings)
    key = cid if synth is None else synthesis_key(synth, cell, backbone, settings)
    return PlannedCell(cell, backbone, synth, calib, cid, key)


def plan_grid(cells: list[Cell], settings: RunSettings,
              load: Callable[[str], Backbone] | None = None) -> list[PlannedCell]:
    """Every cell planned, each model loaded once, a timm model from its ``--checkpoint`` file when it has one
    (UserError, one line, on the first bad input)."""
    load = load or (lambda name: load_backbone(name, settings.weights_of(name)))
    backbones: dict[str, Backbone] = {}
    plan = []
    for cell in cells:
        if cell.model not in backbones:
            backbones[cell.model] = load(cell.model)
        plan.append(plan_cell(cell, backbones[cell.model], settings))
    return plan
