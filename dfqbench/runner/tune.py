"""Fair tuning on the validation split: every value of a plugin's declared grid, the same protocol for every method.

A DFQ paper tunes its own hyper-parameters, implicitly on the test set. ``dfqbench tune`` evaluates each value of
the grid a plugin declares (``Plugin.tunable``) on the validation split carved from the training data, at the
profile of the table it feeds, and picks the highest validation mean over the seeds (the first in grid order on a
tie). The tuning file holds every value's scores and the choice; ``dfqbench run --tuning FILE`` applies the choice
as ordinary overrides, so it is part of the cells' identity, and records the file's hash with each row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import statistics
from pathlib import Path
from typing import Any

from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS
from dfqbench.atomic import atomic_path
from dfqbench.errors import UserError
from dfqbench.runner.grid import MethodSpec, resolve_method
from dfqbench.runner.overrides import CONFIG_SECTIONS, canonical_text

TUNING_FORMAT = 1


def tunable_grid(method: str) -> list[dict[str, dict[str, Any]]]:
    """Every point of the method's declared grid, as typed overrides ``{stage: {key: value}}``."""
    if method not in METHODS.names():
        raise UserError(f"'{method}' is not a registered method (tune takes methods: see dfqbench list methods)")
    entry = METHODS.get(method)
    axes = [("synth", key, values) for key, values in SYNTHESIZERS.get(entry.synthesizer).tunable.items()]
    axes += [("calib", key, values) for key, values in CALIBRATORS.get(entry.calibrator).tunable.items()]
    if not axes:
        tunable = [m for m, e in METHODS.items()
                   if SYNTHESIZERS.get(e.synthesizer).tunable or CALIBRATORS.get(e.calibrator).tunable]
        raise UserError(f"{method} declares no tunable hyper-parameters (its values are the authors'); "
                        f"methods that do: {', '.join(tunable) or 'none'}")
    points = []
    for values in itertools.product(*(axis[2] for axis in axes)):
        point = {stage: {} for stage in CONFIG_SECTIONS}
        for (stage, key, _), value in zip(axes, values, strict=True):
            point[stage][key] = value
        points.append(point)
    return points


def grid_specs(method: str) -> list[MethodSpec]:
    """One variant row per grid point (``sardfq[apa_weight=10.0]``)."""
    return [resolve_method(method, {stage: {k: canonical_text(v) for k, v in point[stage].items()}
                                    for stage in CONFIG_SECTIONS})
            for point in tunable_grid(method)]


def summarise(method: str, specs: list[MethodSpec], rows: list[dict]) -> dict:
    """The tuning record from the grid's rows (one model): every value's validation mean ± std over its seeds, and
    the choice (the highest mean; the first in grid order on a tie). Failed or missing values are a UserError."""
    scores = []
    for spec in specs:
        mine = sorted((row for row in rows if row["method"] == spec.label), key=lambda row: row["seed"])
        ok = [row for row in mine if row["status"] == "ok"]
        top1 = [row["top1"] for row in ok]
        scores.append({"overrides": json.loads(spec.overrides_json()), "label": spec.label,
                       "seeds": [row["seed"] for row in ok], "top1": top1,
                       "mean": statistics.fmean(top1) if top1 else None,
                       "std": statistics.stdev(top1) if len(top1) > 1 else None,
                       "failed_seeds": [row["seed"] for row in mine if row["status"] != "ok"],
                       "cell_ids": [row["cell_id"] for row in mine]})
    incomplete = [s["label"] for s in scores if s["mean"] is None or s["failed_seeds"]]
    if incomplete:
        raise UserError(f"tuning of {method} incomplete: {', '.join(incomplete)} failed or missing; rerun the same "
                        "command to retry")
    best = max(range(len(scores)), key=lambda i: (scores[i]["mean"], -i))
    return {"scores": scores, "choice": scores[best]["overrides"], "choice_label": scores[best]["label"],
            "evaluation": rows[0]["evaluation"], "at_grid_edge": grid_edges(scores[best]["overrides"],
                                                                              [s["overrides"] for s in scores])}


def grid_edges(choice: dict, points: list[dict]) -> list[str]:
    """Each numeric setting whose chosen value is the smallest or the largest of the three or more the grid tries
    (the best value may lie outside the grid), as a sentence; none when every choice is inside."""
    found = []
    for stage, settings in choice.items():
        for key, value in settings.items():
            tried = sorted({p[stage][key] for p in points if isinstance(p[stage].get(key), (int, float))})
            if len(tried) < 3 or value not in (tried[0], tried[-1]):
                continue
            side = "smallest" if value == tried[0] else "largest"
            found.append(f"{stage}.{key} = {value} is the {side} value the grid tries ({tried[0]} to {tried[-1]}): "
                         f"the best value may lie {'below' if side == 'smallest' else 'above'} it")
    return found


def write_tuning(record: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


@dataclasses.dataclass(frozen=True)
class Tuning:
    """A committed tuning: the values to apply to ``method`` on ``model``, and the file's hash (provenance)."""

    method: str
    model: str
    overrides: dict[str, dict[str, Any]]
    sha256: str
    path: str


def load_tuning(path: Path) -> Tuning:
    """Read a tuning file written by ``dfqbench tune``; a malformed one is a one-line UserError."""
    try:
        raw = Path(path).read_bytes()
        record = json.loads(raw)
        choice = record["choice"]
        overrides = {stage: dict(choice.get(stage, {})) for stage in CONFIG_SECTIONS}
        method, model = record["method"], record["model"]
    except FileNotFoundError:
        raise UserError(f"tuning file not found: {path}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"not a dfqbench tuning file: {path} ({type(exc).__name__}: {exc})") from None
    if record.get("format") != TUNING_FORMAT:
        raise UserError(f"tuning file {path} has format {record.get('format')!r}; this dfqbench reads {TUNING_FORMAT}")
    return Tuning(method, model, overrides, hashlib.sha256(raw).hexdigest(), str(path))


def tuned_overrides(tuning: Tuning) -> dict[str, dict[str, str]]:
    """The tuned values as ``--set`` strings (validated again against the plugins' configs when resolved)."""
    return {stage: {k: canonical_text(v) for k, v in values.items()} for stage, values in tuning.overrides.items()}


__all__ = ["Tuning", "grid_specs", "load_tuning", "summarise", "tunable_grid", "tuned_overrides", "write_tuning"]
