"""A Table-1-style leaderboard from long-format result rows (one row per cell, see ``dfqbench.store.schema``).

Rows are method labels (``fp``, the reference rows, then the methods), column
groups are bit-widths and sub-columns are models. A cell aggregates top-1 over
seeds (mean, sample std, n). Only rows with ``status == 'ok'`` count; the
others are counted in ``Leaderboard.n_failed``.
"""

from __future__ import annotations

import fnmatch
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from dfqbench.errors import UserError
from dfqbench.quant.bits import BitWidth

FP = "fp"
REFERENCE_SYNTHESIZERS = ("noise", "real")
ORACLE = "real"
LEAD_BITS = ("3w3a", "4w4a", "5w5a", "4w8a")
REQUIRED_COLUMNS = ("method", "model", "bits", "status", "top1")
REPORTED_COLUMNS = ("source", "method", "bits", "backbone", "top1")
CAPTION_FIELDS = (("profile", "profile"), ("preset", "preset"), ("seed", "seeds"), ("n_eval", "test images"))
# rows averaged into one cell must agree on these (where the results have them): else they are different experiments
SAME_EXPERIMENT = ("synthesizer", "calibrator", "overrides", "weights_hash", "preset", "preset_hash", "profile",
                   "profile_hash", "versions")
FP_SAME_EXPERIMENT = ("weights_hash",)  # the fp row does not depend on profile, preset or plugins

Key = tuple[str, str, str]  # (row label, bits, model)


@dataclass(frozen=True)
class Cell:
    """Top-1 of one (row, bits, model): mean, sample std (None for one value) and n (None for a published number)."""

    mean: float
    std: float | None
    n: int | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Cell:
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        return cls(mean, std, n)


@dataclass(frozen=True)
class Row:
    """One leaderboard row.

    ``kind`` is ``'fp'``, ``'reference'`` (noise/real and their crossings), ``'method'`` or ``'reported'``
    (a published number; ``source`` names where it was published). ``data_free`` rows compete for bold.
    """

    label: str
    kind: str
    data_free: bool
    method: str
    source: str | None = None


@dataclass
class Leaderboard:
    """Cells keyed by (row label, bits, model), with the row and column order and the bold cells."""

    rows: list[Row]
    bits: list[str]
    models: list[str]
    cells: dict[Key, Cell]
    best: frozenset[Key]
    n_failed: int = 0
    caption: dict[str, list[str]] = field(default_factory=dict)  # e.g. {'profile': ['bench'], 'seeds': ['0', '1']}
    missing: dict[str, list[str]] = field(default_factory=dict)  # requested filter values absent from the results

    @property
    def columns(self) -> list[tuple[str, str]]:
        """(bits, model) per column, bit-width groups outermost."""
        return [(b, m) for b in self.bits for m in self.models]

    def cell(self, label: str, bits: str, model: str) -> Cell | None:
        return self.cells.get((label, bits, model))

    def is_best(self, label: str, bits: str, model: str) -> bool:
        return (label, bits, model) in self.best

    def row(self, label: str) -> Row:
        for row in self.rows:
            if row.label == label:
                return row
        raise KeyError(label)

    @property
    def labels(self) -> list[str]:
        return [row.label for row in self.rows]


# ---------------------------------------------------------------------------------------------------------------------
# helpers


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


def _reference_prefix(label: str, synthesizers: set[str]) -> str | None:
    """'noise' or 'real' for a reference row, else None."""
    for prefix in REFERENCE_SYNTHESIZERS:
        if label.startswith(prefix):
            return prefix
    for prefix in REFERENCE_SYNTHESIZERS:
        if prefix in synthesizers:
            return prefix
    return None


def _is_oracle(label: str, synthesizers: set[str]) -> bool:
    """Rows that see real data: synthesizer 'real' or a label starting with 'real'."""
    return label.startswith(ORACLE) or ORACLE in synthesizers


def _fmt_seed(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_one_experiment(rows: pd.DataFrame, label: str, bits: str, model: str, is_fp: bool) -> None:
    """Raise UserError when the rows of one cell come from different experiments (a field of ``SAME_EXPERIMENT``
    differs, e.g. two plugin versions of the same label) or repeat a seed, instead of averaging them."""
    where = f"'{label}'" + ("" if is_fp else f" at {bits}") + f" on {model}"
    for column in FP_SAME_EXPERIMENT if is_fp else SAME_EXPERIMENT:
        if column not in rows.columns:
            continue
        values = _unique(str(v) for v in rows[column].fillna(""))
        if len(values) > 1:
            hint = ("choose one with --profile/--preset" if column in ("profile", "preset") else
                    "'dfqbench prune' deletes rows of superseded plugin versions from a store")
            raise UserError(f"rows of {where} differ in {column} ({' vs '.join(values)}): they are different "
                            f"experiments and are not averaged; {hint}")
    if "seed" in rows.columns and not is_fp:
        seeds = rows["seed"].map(_fmt_seed)
        repeated = _unique(seeds[seeds.duplicated()])
        if repeated:
            raise UserError(f"rows of {where} repeat seed {', '.join(repeated)}: a cell is counted once "
                            "(remove the duplicate rows from the CSV)")


def _missing_message(kind: str, asked: Sequence[str], have: Sequence[str]) -> str:
    return f"no results for {kind} {', '.join(asked)} (results have: {', '.join(have) or 'none'})"


# ---------------------------------------------------------------------------------------------------------------------


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
    absent = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if absent:
        have = ", ".join(map(str, frame.columns))
        raise UserError(f"results lack required column(s) {', '.join(absent)} (have: {have})")

    df = frame.reset_index(drop=True)  # a copy; duplicate index labels (concatenated frames) would misalign masks
    df["method"] = df["method"].astype(str)
    df["model"] = df["model"].astype(str)
    df["bits"] = df["bits"].map(_canonical_bits)
    df["top1"] = pd.to_numeric(df["top1"], errors="coerce")
    df["synthesizer"] = df["synthesizer"].fillna("").astype(str) if "synthesizer" in df.columns else ""
    is_fp = (df["bits"] == FP) | (df["method"] == FP)
    ok_mask = df["status"].astype(str) == "ok"
    ok = df[ok_mask & df["top1"].notna()]
    if ok.empty:
        raise UserError(f"no successful results ({int((~ok_mask).sum())} failed, {len(df)} rows in all)")
    ok_fp = is_fp[ok.index]
    quantized = ok[~ok_fp]
    if quantized.empty:
        raise UserError("no quantized results (only the full-precision row)")

    missing: dict[str, list[str]] = {}
    keep = pd.Series(True, index=df.index)

    # --- column filters -----------------------------------------------------------------------------------------
    have_bits = _bits_order(quantized["bits"])
    if bits is not None:
        asked_bits = _unique(str(BitWidth.parse(str(b))) for b in bits)
        chosen = [b for b in asked_bits if b in have_bits]
        if not chosen:
            raise UserError(_missing_message("bits", asked_bits, have_bits))
        missing["bits"] = [b for b in asked_bits if b not in have_bits]
        keep &= df["bits"].isin(chosen) | is_fp
    have_models = _unique(quantized["model"])
    if models is not None:
        asked_models = _unique(str(m) for m in models)
        chosen = [m for m in asked_models if m in have_models]
        if not chosen:
            raise UserError(_missing_message("models", asked_models, have_models))
        missing["models"] = [m for m in asked_models if m not in have_models]
        keep &= df["model"].isin(chosen)

    # --- row kinds and the method filter -------------------------------------------------------------------------
    synths = ok.groupby("method")["synthesizer"].agg(lambda s: set(s)).to_dict()
    prefixes = {label: _reference_prefix(label, synths.get(label, set())) for label in _unique(ok["method"])}
    fp_labels = set(ok.loc[ok_fp, "method"])
    have_labels = _unique(ok["method"])
    asked_labels: list[str] | None = None
    if methods is not None:
        asked_labels = _expand_patterns((str(m) for m in methods), have_labels)
        present = [m for m in asked_labels if m in have_labels]
        if not [m for m in present if m not in fp_labels]:
            raise UserError(_missing_message("methods", asked_labels, have_labels))
        missing["methods"] = [m for m in asked_labels if m not in have_labels]
        asked_refs = [m for m in present if prefixes.get(m) and m not in fp_labels]
        allowed = set(present) | fp_labels
        if not asked_refs:
            allowed |= {m for m, p in prefixes.items() if p}
        keep &= df["method"].isin(allowed)
    missing = {k: v for k, v in missing.items() if v}

    sel = df[keep]
    n_failed = int((sel["status"].astype(str) != "ok").sum())
    sel_ok = sel[(sel["status"].astype(str) == "ok") & sel["top1"].notna()]
    sel_fp = is_fp[sel_ok.index]
    sel_q = sel_ok[~sel_fp]
    wanted = [m for m in asked_labels if m not in fp_labels] if asked_labels is not None else None
    if sel_q.empty or (wanted is not None and not sel_q["method"].isin(wanted).any()):
        parts = [f"methods {', '.join(asked_labels)}" if asked_labels is not None else "any method"]
        if bits is not None:
            parts.append(f"at bits {', '.join(str(BitWidth.parse(str(b))) for b in bits)}")
        if models is not None:
            parts.append(f"on models {', '.join(map(str, models))}")
        raise UserError(f"no results for {' '.join(parts)} (results have: methods {', '.join(have_labels)}; "
                        f"bits {', '.join(have_bits)}; models {', '.join(have_models)})")

    col_bits = _bits_order(sel_q["bits"])
    col_models = _unique(sel_q["model"])
    if models is not None:
        col_models = [m for m in _unique(map(str, models)) if m in col_models]

    # --- rows ----------------------------------------------------------------------------------------------------
    labels = _unique(sel_ok["method"])
    fp_rows = [m for m in labels if m in set(sel_ok.loc[sel_fp, "method"]) or m == FP]
    fp_rows.sort(key=lambda m: m != FP)
    refs = [m for m in labels if m not in fp_rows and prefixes.get(m)]
    suffix_order = _unique([""] + [m[len(prefixes[m]):] if m.startswith(prefixes[m]) else m for m in refs])

    def ref_key(label: str) -> tuple[int, int]:
        prefix = prefixes[label]
        suffix = label[len(prefix):] if label.startswith(prefix) else label
        return suffix_order.index(suffix), REFERENCE_SYNTHESIZERS.index(prefix)

    refs.sort(key=ref_key)
    others = [m for m in labels if m not in fp_rows and m not in refs]
    if asked_labels is not None:
        others.sort(key=asked_labels.index)

    rows = [Row(m, "fp", False, m) for m in fp_rows]
    rows += [Row(m, "reference", not _is_oracle(m, synths.get(m, set())), m) for m in refs]
    rows += [Row(m, "method", True, m) for m in others]

    # --- cells ---------------------------------------------------------------------------------------------------
    cells: dict[Key, Cell] = {}
    for (label, bw, model), group in sel_ok.groupby(["method", "bits", "model"], sort=False):
        if model not in col_models:
            continue
        _check_one_experiment(group, label, bw, model, is_fp=label in fp_rows)
        if label in fp_rows and "seed" in group.columns:
            group = group.drop_duplicates("seed")  # the same evaluation, stored once per profile or preset
        cell = Cell.of(group["top1"].astype(float).tolist())
        if label in fp_rows:
            for b in col_bits:
                cells.setdefault((label, b, model), cell)
        elif bw in col_bits:
            cells[(label, bw, model)] = cell

    best: set[Key] = set()
    for b, model in ((b, m) for b in col_bits for m in col_models):
        contenders = [(r.label, cells[(r.label, b, model)]) for r in rows
                      if r.data_free and (r.label, b, model) in cells]
        if contenders:
            top = max(round(c.mean, 2) for _, c in contenders)
            best |= {(label, b, model) for label, c in contenders if round(c.mean, 2) == top}

    # --- published numbers ---------------------------------------------------------------------------------------
    if reported is not None:
        rows_rep, cells_rep = _reported_rows(reported, rows, col_bits, col_models, asked_labels)
        rows += rows_rep
        cells.update(cells_rep)

    caption: dict[str, list[str]] = {}
    for column, name in CAPTION_FIELDS:
        if column in sel_ok.columns:
            values = sel_ok[column].dropna()
            values = _unique(values)
            if column in ("seed", "n_eval"):
                values.sort(key=lambda v: (not isinstance(v, numbers.Number), v))
            shown = [_fmt_seed(v) for v in values if str(v) != ""]
            if shown:
                caption[name] = shown

    return Leaderboard(rows=rows, bits=col_bits, models=col_models, cells=cells, best=frozenset(best),
                       n_failed=n_failed, caption=caption, missing=missing)


def _reported_rows(
    reported: pd.DataFrame,
    rows: list[Row],
    col_bits: list[str],
    col_models: list[str],
    asked_labels: list[str] | None,
) -> tuple[list[Row], dict[Key, Cell]]:
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
    cells: dict[Key, Cell] = {}
    for method in methods:
        for source in sources:
            part = rep[(rep["method"] == method) & (rep["source"] == source)]
            if part.empty:
                continue
            label = f"{method} [reported: {source}]"
            out_rows.append(Row(label, "reported", False, method, source))
            for entry in part.itertuples(index=False):
                targets = col_bits if entry.bits == FP else [entry.bits]
                for b in targets:
                    cells.setdefault((label, b, entry.backbone), Cell(float(entry.top1), None, None))
    return out_rows, cells
