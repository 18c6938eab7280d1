"""Rows of superseded plugin versions.

A plugin's ``version`` is bumped whenever its results change, and the version
is part of a cell's identity; rows recorded with an older version stay in the
store but no longer describe the registered plugin (``dfqbench table`` refuses
to average them with current rows). ``dfqbench prune`` removes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dfqbench.api import CALIBRATORS, SYNTHESIZERS

KINDS = (("synthesizer", SYNTHESIZERS), ("calibrator", CALIBRATORS))


def current_versions(row: dict) -> dict[str, int] | None:
    """The registered versions of the row's plugins, or None when one of them is not registered (not judged)."""
    current = {}
    for kind, registry in KINDS:
        name = row.get(kind) or ""
        if not name:
            continue
        if name not in registry:
            return None
        current[kind] = registry.get(name).version
    return current


def superseded(rows: Iterable[dict]) -> list[tuple[dict, dict[str, int]]]:
    """(row, current versions) for each row whose recorded plugin versions differ from the registered ones."""
    out = []
    for row in rows:
        current = current_versions(row)
        if current is None:
            continue
        recorded = json.loads(row.get("versions") or "{}")
        if any(recorded.get(kind) != version for kind, version in current.items()):
            out.append((row, current))
    return out
