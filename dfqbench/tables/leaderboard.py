"""A Table-1-style leaderboard from long-format result rows (one row per cell, see ``dfqbench.store.schema``).

Rows are method labels (``fp``, the reference rows, then the methods), column
groups are bit-widths and sub-columns are models. A cell aggregates top-1 over
seeds (mean, sample std, n). Only rows with ``status == 'ok'`` count; the
others are counted in ``Leaderboard.n_failed``. Each column's statistics (which
methods are not significantly below the best, variants against their method,
the minimum detectable difference) are in ``Leaderboard.stats`` (see
:mod:`dfqbench.tables.marks`).

Building a leaderboard goes: normalise the results, select rows and columns
(filters), order the rows, aggregate the cells, test each column, add the
published numbers, write the caption.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from dfqbench.api import FP, METHODS, SYNTHESIZERS, synthesizer_role
from dfqbench.errors import UserError
from dfqbench.profiles import PROFILES
from dfqbench.quant.bits import BitWidth
from dfqbench.tables.entry import Entry
from dfqbench.tables.identity import as_text, check_one_experiment, with_measurement_identity
from dfqbench.tables.marks import ColumnStats, column_stats

REFERENCE_ROLES = ("reference", "oracle")  # in this order among the reference rows
LEAD_BITS = ("3w3a", "4w4a", "5w5a", "4w8a")
REQUIRED_COLUMNS = ("method", "model", "bits", "status", "top1")
REPORTED_COLUMNS = ("source", "method", "bits", "backbone", "top1")
CAPTION_FIELDS = (("profile", "profile"), ("preset", "preset"), ("seed", "seeds"), ("n_eval", "test images"),
                  ("evaluation", "evaluation"), ("device_type", "device"), ("threads", "threads"),
                  ("processor", "processors"))  # rows of one CPU kind are bit-reproducible, across kinds not
TUNED = "tuned"  # the first override of a row run with a tuning file (runner.overrides.variant_label)
VARIANT = re.compile(r"^(?P<method>[^\[\]\s]+)\[[^\]]*\]$")  # 'maskaq[se=false]' -> 'maskaq'

Key = tuple[str, str, str]  # (row label, bits, model)
Column = tuple[str, str]  # (bits, model)

__all__ = ["Entry", "Leaderboard", "Row", "build_leaderboard", "method_name", "row_kind", "variant_of"]


def row_kind(label: str, synthesizers: Iterable[str], is_fp: bool) -> str:
    """``'fp'``; ``'reference'`` for the rows of a synthesizer whose declared role is ``reference`` or ``oracle``
    (noise, real, their crossings and variants); else ``'method'``, a data-free method. Rows stored without their
    synthesizer name it through their label's registered method or synthesizer, never through a prefix."""
    if is_fp:
        return "fp"
    return "reference" if _reference_role(label, set(synthesizers)) else "method"


def method_name(label: str) -> str:
    """The registered method or crossing a row runs: ``maskaq[se=false]`` and ``sardfq[tuned]`` -> the name before
    the brackets."""
    match = VARIANT.match(label)
    return match.group("method") if match else label


def variant_of(label: str) -> str | None:
    """The row a variant row varies: ``maskaq[se=false]`` -> ``maskaq``, ``sardfq[tuned,apa=false]`` ->
    ``sardfq[tuned]``. None for a label that is no variant, which includes a tuned row (``sardfq[tuned]``: the
    method with its tuning file's values, a method row of its own)."""
    match = VARIANT.match(label)
    if not match:
        return None
    method, inside = match.group("method"), label[len(match.group("method")) + 1:-1].split(",")
    if inside[0] != TUNED:
        return method
    return None if len(inside) == 1 else f"{method}[{TUNED}]"


@dataclass(frozen=True)
class Row:
    """One leaderboard row.

    ``kind`` is ``'fp'``, ``'reference'`` (noise/real and their crossings), ``'method'`` or ``'reported'``
    (a published number; ``source`` names where it was published). Only ``'method'`` rows, the data-free
    methods, are tested and marked. ``synthesizer`` and ``calibrator`` are the row's plugins ('' when unknown).
    """

    label: str
    kind: str
    method: str
    source: str | None = None
    synthesizer: str = ""
    calibrator: str = ""

    @property
    def is_data_free_method(self) -> bool:
        return self.kind == "method"


@dataclass
class Leaderboard:
    """Cells keyed by (row label, bits, model), with the row and column order and each column's statistics."""

    rows: list[Row]
    bits: list[str]
    models: list[str]
    cells: dict[Key, Entry]
    stats: dict[Column, ColumnStats] = field(default_factory=dict)
    n_failed: int = 0
    caption: dict[str, list[str]] = field(default_factory=dict)  # e.g. {'profile': ['bench'], 'seeds': ['0', '1']}
    missing: dict[str, list[str]] = field(default_factory=dict)  # requested filter values absent from the results

    @property
    def columns(self) -> list[Column]:
        """(bits, model) per column, bit-width groups outermost."""
        return [(b, m) for b in self.bits for m in self.models]

    def cell(self, label: str, bits: str, model: str) -> Entry | None:
        return self.cells.get((label, bits, model))

    def column_stats(self, bits: str, model: str) -> ColumnStats:
        return self.stats.get((bits, model), ColumnStats())

    def is_marked(self, label: str, bits: str, model: str) -> bool:
        """A data-free method not significantly below its column's best (the best included)."""
        return label in self.column_stats(bits, model).marked

    def is_untested(self, label: str, bits: str, model: str) -> bool:
        """A data-free method cell with n < 2: no test can place it."""
        return label in self.column_stats(bits, model).untested

    @property
    def marked(self) -> frozenset[Key]:
        return frozenset((label, b, m) for (b, m), s in self.stats.items() for label in s.marked)

    @property
    def has_paired(self) -> bool:
        return any(s.paired for s in self.stats.values())

    def row(self, label: str) -> Row:
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)

    @property
    def labels(self) -> list[str]:
        return [row.label for row in self.rows]


# --- helpers ---------------------------------------------------------------------------------------------------------


def _canonical_bits(value: object) -> str:
    text = str(value).strip()
    if text.lower() == FP:
        return FP
    return str(BitWidth.parse(text))


def _bits_order(values: Iterable[str]) -> list[str]:
    values = set(values)
    lead = [b for b in LEAD_BITS if b in values]
    rest = sorted((BitWidth.parse(b) for b in values if b not in LEAD_BITS), key=lambda b: (b.weight, b.activation))
    return lead + [str(b) for b in rest]


def _unique(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def _synthesizers_of(label: str, synthesizers: set[str]) -> set[str]:
    """The row's synthesizers; without them, the one its label names (``noise+ptq`` and ``maskaq[se=false]``
    name the registered synthesizer ``noise`` and method ``maskaq``)."""
    named = {s for s in synthesizers if s}
    if named:
        return named
    base = method_name(label).split("+")[0]
    if base in SYNTHESIZERS:
        return {base}
    return {METHODS.get(base).synthesizer} if base in METHODS else set()


def _reference_role(label: str, synthesizers: set[str]) -> str | None:
    """``'reference'`` or ``'oracle'`` for a reference row (by its synthesizer's declared role), else None."""
    roles = {synthesizer_role(s) for s in _synthesizers_of(label, synthesizers)}
    return next((role for role in REFERENCE_ROLES if role in roles), None)


def _crossing(label: str, synthesizers: set[str]) -> str:
    """What a reference row adds to its synthesizer's name (``noise+ptq`` -> ``+ptq``; ``noise`` -> ``''``), so
    that the noise and real rows of one crossing sit together."""
    for name in sorted(synthesizers):
        if label.startswith(name):
            return label[len(name):]
    return label


def _missing_message(kind: str, asked: Sequence[str], have: Sequence[str]) -> str:
    return f"no results for {kind} {', '.join(asked)} (results have: {', '.join(have) or 'none'})"


def _expand_patterns(asked: Iterable[str], labels: Sequence[str]) -> list[str]:
    """Row labels with shell-style patterns expanded (``maskaq*`` -> ``maskaq``, ``maskaq[se=false]``, ...), in the
    order given. A label that exists is taken as it is; brackets in a pattern are literal (variant labels)."""
    out: list[str] = []
    for item in asked:
        if item in labels or not any(c in item for c in "*?"):
            out.append(item)
            continue
        literal = item.replace("[", "[[]")
        out += [label for label in labels if fnmatch.fnmatchcase(label, literal)] or [item]
    return _unique(out)


# --- normalise -------------------------------------------------------------------------------------------------------


@dataclass
class _Results:
    """The normalised results: every row (``df``), which are fp, which succeeded, and the row labels' plugins."""

    df: pd.DataFrame
    is_fp: pd.Series
    ok: pd.DataFrame
    synthesizers: dict[str, set[str]]

    @property
    def ok_fp(self) -> pd.Series:
        return self.is_fp[self.ok.index]

    @property
    def quantized(self) -> pd.DataFrame:
        return self.ok[~self.ok_fp]

    @cached_property
    def labels(self) -> list[str]:
        return _unique(self.ok["method"])

    @cached_property
    def fp_labels(self) -> set[str]:
        return set(self.ok.loc[self.ok_fp, "method"])

    def is_reference(self, label: str) -> bool:
        return label not in self.fp_labels and row_kind(label, self.synthesizers.get(label, ()), False) == "reference"


def _normalised(frame: pd.DataFrame) -> _Results:
    """Check the required columns, canonicalise labels, bits and top-1, derive what each row was measured on; raise
    UserError when nothing succeeded or only the fp row did."""
    absent = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if absent:
        have = ", ".join(map(str, frame.columns))
        raise UserError(f"results lack required column(s) {', '.join(absent)} (have: {have})")
    df = with_measurement_identity(frame.reset_index(drop=True))  # a copy; duplicate index labels would misalign
    df["method"] = df["method"].astype(str)
    df["model"] = df["model"].astype(str)
    df["bits"] = df["bits"].map(_canonical_bits)
    df["top1"] = pd.to_numeric(df["top1"], errors="coerce")
    for column in ("synthesizer", "calibrator"):
        df[column] = df[column].fillna("").astype(str) if column in df.columns else ""
    is_fp = (df["bits"] == FP) | (df["method"] == FP)
    ok_mask = df["status"].astype(str) == "ok"
    ok = df[ok_mask & df["top1"].notna()]
    if ok.empty:
        raise UserError(f"no successful results ({int((~ok_mask).sum())} failed, {len(df)} rows in all)")
    results = _Results(df, is_fp, ok, ok.groupby("method")["synthesizer"].agg(lambda s: set(s)).to_dict())
    if results.quantized.empty:
        raise UserError("no quantized results (only the full-precision row)")
    return results


# --- select ----------------------------------------------------------------------------------------------------------


@dataclass
class _Selection:
    """The rows and columns a leaderboard shows."""

    ok: pd.DataFrame  # the selected successful rows
    n_failed: int
    bits: list[str]
    models: list[str]
    asked_labels: list[str] | None
    missing: dict[str, list[str]]


def _chosen(kind: str, asked: list[str], have: list[str], missing: dict[str, list[str]]) -> list[str]:
    """The asked values the results have (UserError when none); the others are recorded in ``missing``."""
    chosen = [v for v in asked if v in have]
    if not chosen:
        raise UserError(_missing_message(kind, asked, have))
    missing[kind] = [v for v in asked if v not in have]
    return chosen


def _column_filter(results: _Results, bits, models, missing: dict[str, list[str]]) -> pd.Series:
    """Which rows the ``bits`` and ``models`` filters keep (the fp rows whatever the bits)."""
    df, keep = results.df, pd.Series(True, index=results.df.index)
    if bits is not None:
        asked = _unique(str(BitWidth.parse(str(b))) for b in bits)
        keep &= df["bits"].isin(_chosen("bits", asked, _bits_order(results.quantized["bits"]), missing)) | results.is_fp
    if models is not None:
        asked = _unique(str(m) for m in models)
        keep &= df["model"].isin(_chosen("models", asked, _unique(results.quantized["model"]), missing))
    return keep


def _method_filter(results: _Results, methods, missing: dict[str, list[str]]) -> tuple[pd.Series, list[str] | None]:
    """Which rows the ``methods`` filter keeps, and the asked labels with patterns expanded. ``fp`` always stays;
    every reference row stays unless the filter names some reference rows, then only those."""
    df = results.df
    if methods is None:
        return pd.Series(True, index=df.index), None
    have = results.labels
    asked = _expand_patterns((str(m) for m in methods), have)
    present = [m for m in asked if m in have]
    if not [m for m in present if m not in results.fp_labels]:
        raise UserError(_missing_message("methods", asked, have))
    missing["methods"] = [m for m in asked if m not in have]
    allowed = set(present) | results.fp_labels
    if not any(results.is_reference(m) for m in present):
        allowed |= {m for m in have if results.is_reference(m)}
    return df["method"].isin(allowed), asked


def _nothing_left(results: _Results, asked_labels, bits, models) -> UserError:
    parts = [f"methods {', '.join(asked_labels)}" if asked_labels is not None else "any method"]
    if bits is not None:
        parts.append(f"at bits {', '.join(str(BitWidth.parse(str(b))) for b in bits)}")
    if models is not None:
        parts.append(f"on models {', '.join(map(str, models))}")
    have_bits, have_models = _bits_order(results.quantized["bits"]), _unique(results.quantized["model"])
    return UserError(f"no results for {' '.join(parts)} (results have: methods {', '.join(results.labels)}; "
                     f"bits {', '.join(have_bits)}; models {', '.join(have_models)})")


def _selected(results: _Results, methods, bits, models) -> _Selection:
    """Apply the filters; UserError when they leave no quantized row of the asked methods."""
    missing: dict[str, list[str]] = {}
    keep = _column_filter(results, bits, models, missing)
    by_method, asked_labels = _method_filter(results, methods, missing)
    sel = results.df[keep & by_method]
    status_ok = sel["status"].astype(str) == "ok"
    sel_ok = sel[status_ok & sel["top1"].notna()]
    sel_q = sel_ok[~results.is_fp[sel_ok.index]]
    wanted = [m for m in asked_labels if m not in results.fp_labels] if asked_labels is not None else None
    if sel_q.empty or (wanted is not None and not sel_q["method"].isin(wanted).any()):
        raise _nothing_left(results, asked_labels, bits, models)
    col_models = _unique(sel_q["model"])
    if models is not None:
        col_models = [m for m in _unique(map(str, models)) if m in col_models]
    return _Selection(sel_ok, int((~status_ok).sum()), _bits_order(sel_q["bits"]), col_models, asked_labels,
                      {k: v for k, v in missing.items() if v})


# --- rows ------------------------------------------------------------------------------------------------------------


def _ordered_rows(sel_ok: pd.DataFrame, results: _Results, asked_labels: list[str] | None) -> list[Row]:
    """fp first; then the reference rows, plain noise/real first, then each crossing's noise and real rows; then
    the methods (in the order asked, if asked)."""
    labels = _unique(sel_ok["method"])
    fp_labels = set(sel_ok.loc[results.is_fp[sel_ok.index], "method"]) | {FP}
    plugins = sel_ok.groupby("method", sort=False)[["synthesizer", "calibrator"]].first()
    kinds = {m: row_kind(m, results.synthesizers.get(m, ()), m in fp_labels) for m in labels}
    fp_rows = sorted((m for m in labels if kinds[m] == "fp"), key=lambda m: m != FP)
    refs = [m for m in labels if kinds[m] == "reference"]
    roles = {m: _reference_role(m, results.synthesizers.get(m, set())) for m in refs}
    suffix = {m: _crossing(m, _synthesizers_of(m, results.synthesizers.get(m, set()))) for m in refs}
    suffix_order = _unique([""] + [suffix[m] for m in refs])
    refs.sort(key=lambda m: (suffix_order.index(suffix[m]), REFERENCE_ROLES.index(roles[m])))
    others = [m for m in labels if kinds[m] == "method"]
    if asked_labels is not None:
        others.sort(key=asked_labels.index)
    return [Row(m, kinds[m], m, synthesizer=plugins.loc[m, "synthesizer"], calibrator=plugins.loc[m, "calibrator"])
            for m in fp_rows + refs + others]


# --- aggregate and test ----------------------------------------------------------------------------------------------


def _aggregated(sel_ok: pd.DataFrame, rows: list[Row], col_bits: list[str], col_models: list[str]) -> dict[Key, Entry]:
    """One Entry per (row, bits, model) over seeds, after checking that its rows are one experiment; the fp row's
    cell is repeated in every bit-width group."""
    fp_rows = {r.label for r in rows if r.kind == "fp"}
    cells: dict[Key, Entry] = {}
    for (label, bw, model), group in sel_ok.groupby(["method", "bits", "model"], sort=False):
        if model not in col_models:
            continue
        check_one_experiment(group, label, bw, model, is_fp=label in fp_rows)
        if label in fp_rows and "seed" in group.columns:
            group = group.drop_duplicates("seed")  # the same evaluation, stored once per profile or preset
        seeds = group["seed"].map(as_text).tolist() if "seed" in group.columns else ()
        cell = Entry.of(group["top1"].astype(float).tolist(), seeds)
        if label in fp_rows:
            for b in col_bits:
                cells.setdefault((label, b, model), cell)
        elif bw in col_bits:
            cells[(label, bw, model)] = cell
    return cells


def _tested(rows: list[Row], cells: dict[Key, Entry], columns: list[Column]) -> dict[Column, ColumnStats]:
    """Each column's marks, variant comparisons and MDEs over its data-free method rows."""
    methods = [r.label for r in rows if r.is_data_free_method]
    method_of = {label: variant_of(label) for label in methods if variant_of(label) in methods}
    variants = frozenset(label for label in methods if variant_of(label) is not None)
    return {(b, m): column_stats({label: cells[(label, b, m)] for label in methods if (label, b, m) in cells},
                                 method_of, variants)
            for b, m in columns}


# --- caption ---------------------------------------------------------------------------------------------------------


def _number_first(value: object) -> tuple:
    try:
        return 0, float(value), ""
    except (TypeError, ValueError):
        return 1, 0.0, str(value)


def _caption(sel_ok: pd.DataFrame) -> dict[str, list[str]]:
    """The values of the caption's fields among the shown rows (seeds, image and thread counts in numeric order)."""
    caption: dict[str, list[str]] = {}
    validation_only = "evaluation" in sel_ok.columns and len(sel_ok) > 0 and all(
        as_text(v).startswith("val") for v in sel_ok["evaluation"])
    for column, name in CAPTION_FIELDS:
        if column not in sel_ok.columns:
            continue
        if column == "n_eval" and validation_only:
            name = "validation images"
        shown = _unique(as_text(v) for v in sel_ok[column] if as_text(v) != "")
        if column in ("seed", "n_eval", "threads"):
            shown.sort(key=_number_first)
        if shown:
            caption[name] = shown
    if own := _own_budgets(sel_ok):
        caption["own budget"] = own
    return caption


def _own_budgets(sel_ok: pd.DataFrame) -> list[str]:
    """Rows whose budget differs from their named profile's (a method's paper budget at ``paper``), as
    ``'psaq-vit: synth_steps 1000'``, so a table says which of its rows ran at another budget."""
    own = []
    if "profile_config" not in sel_ok.columns:
        return own
    for method, profile, config in zip(sel_ok["method"], sel_ok["profile"], sel_ok["profile_config"], strict=True):
        if profile not in PROFILES or not isinstance(config, str) or not config:
            continue
        named, used = PROFILES.get(profile).to_dict(), json.loads(config)
        changed = [f"{key} {used[key]}" for key in sorted(named) if key in used and used[key] != named[key]
                   and key not in ("version", "description")]
        if changed:
            own.append(f"{method}: {', '.join(changed)}")
    return _unique(own)


# ---------------------------------------------------------------------------------------------------------------------


def build_leaderboard(
    frame: pd.DataFrame,
    methods: Sequence[str] | None = None,
    bits: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    reported: pd.DataFrame | None = None,
) -> Leaderboard:
    """Aggregate long-format results into a leaderboard.

    ``methods`` selects rows by label or shell-style pattern (``maskaq*``), in the order given; ``fp`` is always
    shown, and every reference row is shown unless ``methods`` names some reference rows, then only those.
    ``bits`` (any accepted notation) and ``models`` select columns. Requested values absent from the results are
    listed in ``Leaderboard.missing``; when a filter leaves nothing, raise UserError. ``reported`` (columns
    source, method, bits, backbone, top1) adds published numbers as rows ``METHOD [reported: SOURCE]`` where
    backbone and bits match a column.
    """
    results = _normalised(frame)
    selection = _selected(results, methods, bits, models)
    rows = _ordered_rows(selection.ok, results, selection.asked_labels)
    cells = _aggregated(selection.ok, rows, selection.bits, selection.models)
    stats = _tested(rows, cells, [(b, m) for b in selection.bits for m in selection.models])
    if reported is not None:
        rows_rep, cells_rep = _reported_rows(reported, rows, selection.bits, selection.models, selection.asked_labels)
        rows, cells = rows + rows_rep, {**cells, **cells_rep}
    return Leaderboard(rows=rows, bits=selection.bits, models=selection.models, cells=cells, stats=stats,
                       n_failed=selection.n_failed, caption=_caption(selection.ok), missing=selection.missing)


def _reported_rows(
    reported: pd.DataFrame,
    rows: list[Row],
    col_bits: list[str],
    col_models: list[str],
    asked_labels: list[str] | None,
) -> tuple[list[Row], dict[Key, Entry]]:
    absent = [c for c in REPORTED_COLUMNS if c not in reported.columns]
    if absent:
        raise UserError(f"reported numbers lack required column(s) {', '.join(absent)} "
                        f"(have: {', '.join(map(str, reported.columns))})")
    rep = reported.copy()
    for column in ("source", "method", "backbone"):
        rep[column] = rep[column].astype(str)
    rep["bits"] = rep["bits"].map(_canonical_bits)
    rep["top1"] = pd.to_numeric(rep["top1"], errors="coerce")
    in_columns = rep["backbone"].isin(col_models) & (rep["bits"].isin(col_bits) | (rep["bits"] == FP))
    rep = rep[rep["top1"].notna() & in_columns]
    if asked_labels is not None:
        rep = rep[rep["method"].isin(set(asked_labels) | {FP})]
    measured = [r.label for r in rows]
    first_seen = {m: i for i, m in enumerate(_unique(rep["method"]))}
    methods = sorted(first_seen, key=lambda m: measured.index(m) if m in measured else len(measured) + first_seen[m])
    sources = _unique(rep["source"])

    out_rows: list[Row] = []
    cells: dict[Key, Entry] = {}
    for method in methods:
        for source in sources:
            part = rep[(rep["method"] == method) & (rep["source"] == source)]
            if part.empty:
                continue
            label = f"{method} [reported: {source}]"
            out_rows.append(Row(label, "reported", method, source))
            for entry in part.itertuples(index=False):
                targets = col_bits if entry.bits == FP else [entry.bits]
                for b in targets:
                    cells.setdefault((label, b, entry.backbone), Entry(float(entry.top1), None, None))
    return out_rows, cells
