"""``--shard K/N``: split one grid over N processes that share a store and a synthesis cache.

Cells that share a synthetic set (same synthesizer, synthesis overrides, model and seed: a method and its
calibration-only variants, or one synthesizer at several bit-widths) form a group; the groups are dealt out in
turn, in grid order, so that no two parts synthesize the same set and each part holds about 1/N of the groups.
"""

from __future__ import annotations

import json
import re

from dfqbench.errors import UserError
from dfqbench.runner.grid import Cell

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``'2/3'`` -> ``(2, 3)``: part 2 of 3 (parts count from 1)."""
    match = SHARD.match(text)
    if not match:
        raise UserError(f"malformed --shard '{text}' (expected K/N, e.g. 1/2)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UserError(f"--shard {text}: K must be in 1..N (e.g. 1/2 and 2/2 for two processes)")
    return index, count


def synthesis_group(cell: Cell) -> tuple[str, str, str, int]:
    """What decides a cell's synthetic set, besides the bit-width some synthesizers also use."""
    spec = cell.method
    overrides = {**spec.synth_overrides, **spec.overrides.get("synth", {})}
    return spec.synthesizer or spec.label, json.dumps(overrides, sort_keys=True, default=str), cell.model, cell.seed


def select_shard(cells: list[Cell], index: int, count: int) -> list[Cell]:
    """The cells of part ``index`` of ``count``, in grid order."""
    keys = [synthesis_group(cell) for cell in cells]
    groups = {key: i for i, key in enumerate(dict.fromkeys(keys))}  # first-appearance order
    return [cell for cell, key in zip(cells, keys, strict=True) if groups[key] % count == index - 1]
