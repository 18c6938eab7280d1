"""``--shard K/N``: split one grid into N fixed parts (N machines without a common cluster, each with its own store).

Cells that share a synthetic set (one ``set_key`` of the plan, :mod:`dfqbench.runner.plan`: a method and its
calibration-only variants, or one synthesizer at several bit-widths unless it uses the quantized model) form a
group; the groups are dealt out in turn, in grid order, so that no two parts synthesize the same set and each
part holds about 1/N of the groups.
"""

from __future__ import annotations

import re

from dfqbench.errors import UserError
from dfqbench.runner.plan import PlannedCell

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


def select_shard(plan: list[PlannedCell], index: int, count: int) -> list[PlannedCell]:
    """The planned cells of part ``index`` of ``count``, in grid order."""
    groups = {key: i for i, key in enumerate(dict.fromkeys(p.set_key for p in plan))}  # first-appearance order
    return [p for p in plan if groups[p.set_key] % count == index - 1]
