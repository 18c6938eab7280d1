"""Expand ``--methods/--models/--bits/--seeds`` into cells; resolve method names and crossings."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

from dfqbench.api import CALIBRATORS, FP, METHODS, SYNTHESIZERS, Method
from dfqbench.errors import UserError
from dfqbench.naming import did_you_mean
from dfqbench.quant.bits import BitWidth
from dfqbench.runner.overrides import CONFIG_SECTIONS, json_value, parse_set_options, parse_typed, variant_label


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One row of the table: a method (or crossing) with the command line's overrides applied."""

    label: str
    synthesizer: str
    calibrator: str
    synth_overrides: dict[str, Any]
    calib_overrides: dict[str, Any]
    overrides: dict[str, dict[str, Any]]  # the --set values, typed by the plugins' configs (the variant)
    tuning: str | None = None             # SHA-256 of the tuning file whose values are among the overrides
    split: bool = False                   # synthetic set made batch by batch (dfqbench.runner.split)

    @property
    def is_fp(self) -> bool:
        return self.label == FP

    def overrides_json(self) -> str:
        """The variant as JSON of typed values: one config, one spelling, one cell id."""
        return json.dumps({stage: {k: json_value(v) for k, v in self.overrides.get(stage, {}).items()}
                           for stage in CONFIG_SECTIONS}, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class Cell:
    method: MethodSpec
    model: str
    bits: BitWidth | None  # None for the fp row
    seed: int

    @property
    def bits_label(self) -> str:
        return FP if self.bits is None else str(self.bits)

    def describe(self) -> str:
        return f"{self.method.label} · {self.model} · {self.bits_label} · seed {self.seed}"


def resolve_method(entry: str, raw: dict[str, dict[str, str]], label: str | None = None,
                   tuned: dict[str, dict[str, str]] | None = None, tuning: str | None = None) -> MethodSpec:
    """``mimiq`` (a registered method), ``noise+ptq`` (synthesizer or method + calibrator) or ``fp``.

    ``tuned`` holds the values of a tuning file (``tuning``: its hash): they go under the ``--set`` ones, and the
    label says the row is tuned (``sardfq[tuned]``, ``sardfq[tuned,apa=false]``)."""
    entry = entry.strip()
    if entry == FP:
        return MethodSpec(FP, "", "", {}, {}, {})
    if "+" in entry:
        left, _, right = entry.partition("+")
        if left in SYNTHESIZERS.names():
            base = Method(entry, left, right)
        elif left in METHODS.names():
            method = METHODS.get(left)
            base = Method(entry, method.synthesizer, right, synth_overrides=dict(method.synth_overrides))
        else:
            known = SYNTHESIZERS.names() + METHODS.names()
            raise UserError(f"unknown synthesizer or method '{left}' in '{entry}'{did_you_mean(left, known)}")
        CALIBRATORS.get(right)  # validates, with did-you-mean
    else:
        if entry not in METHODS.names():
            known = METHODS.names() + [FP]
            raise UserError(f"unknown method '{entry}'{did_you_mean(entry, known)} (see: dfqbench list methods; "
                            "cross a synthesizer with a calibrator as SYNTH+CALIB)")
        base = METHODS.get(entry)
    plugins = {"synth": (SYNTHESIZERS.get(base.synthesizer), base.synthesizer),
               "calib": (CALIBRATORS.get(base.calibrator), base.calibrator)}
    typed = {stage: parse_typed(cls.Config, raw.get(stage, {}), stage, name)
             for stage, (cls, name) in plugins.items()}
    from_tuning = {stage: parse_typed(cls.Config, (tuned or {}).get(stage, {}), stage, name)
                   for stage, (cls, name) in plugins.items()}
    merged = {stage: {**from_tuning[stage], **typed[stage]} for stage in CONFIG_SECTIONS}
    has_variant = any(merged.values())
    return MethodSpec(label or variant_label(entry, typed, tuned=bool(tuned)), base.synthesizer, base.calibrator,
                      dict(base.synth_overrides), dict(base.calib_overrides), merged if has_variant else {},
                      tuning if tuned else None)


def ablation_specs(entries: list[str], tuned: dict[str, tuple[dict, str]] | None = None) -> list[MethodSpec]:
    """The ablation rows of the registered methods among ``entries``: per method, one variant per component
    it declares, that component off (``maskaq`` -> ``maskaq[se=false]``, ``maskaq[maa=false]``, ...), built on a
    method's tuned values where ``tuned`` has them (``{method: (overrides, hash)}``).
    Reference rows and crossings have none; it is an error if no entry has any."""
    tuned = tuned or {}
    methods = [METHODS.get(e.strip()) for e in entries if e.strip() in METHODS.names()]
    specs = [resolve_method(m.name, parse_set_options(list(items)), None, *tuned.get(m.name, (None, None)))
             for m in methods for items in m.ablations.values()]
    if not specs:
        with_ablations = [name for name, m in METHODS.items() if m.ablations]
        raise UserError(f"none of {', '.join(entries)} declares ablations (methods that do: "
                        f"{', '.join(with_ablations)})")
    return specs


def expand_grid(methods: list[MethodSpec], models: list[str], bits: list[BitWidth], seeds: list[int]) -> list[Cell]:
    """Every (method, model, bits, seed); the fp row once per model (seed 0, no bits)."""
    cells: list[Cell] = []
    for method, model in itertools.product(methods, models):
        if method.is_fp:
            cells.append(Cell(method, model, None, 0))
            continue
        cells += [Cell(method, model, b, s) for b, s in itertools.product(bits, seeds)]
    return cells


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"malformed --seeds '{text}' (expected integers like 0,1,2)") from None
    if not seeds:
        raise UserError("--seeds is empty")
    if min(seeds) < 0:
        raise UserError(f"seeds must be 0 or more, got {min(seeds)}")
    return list(dict.fromkeys(seeds))
