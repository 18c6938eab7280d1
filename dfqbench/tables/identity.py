"""What makes result rows one experiment: rows averaged into one cell must agree on what was run and on what it
was measured (evaluation set, device type, thread count); otherwise they are refused, never averaged.

The columns of the evaluation set and the device type changed with the results scheme: a newer store records
``evaluation`` ("test", "test[:500]", "val") and ``device_type`` ("cpu", "cuda"); older CSVs have only ``n_eval``
and ``device`` ("cpu", "cuda:0"). :func:`with_measurement_identity` reads either. A column ``id_scheme`` (the
version of the cell-id scheme) says nothing about the experiment and is ignored.
"""

from __future__ import annotations

import pandas as pd

from dfqbench.errors import UserError

EVALUATION_SET = "evaluation_set"  # derived: `evaluation`, else n_eval (see with_measurement_identity)
DEVICE_TYPE = "device_type"
THREADS = "threads"
MEASURED_ON = (EVALUATION_SET, DEVICE_TYPE, THREADS)
# rows averaged into one cell must agree on these (where the results have them): else they are different experiments
SAME_EXPERIMENT = ("synthesizer", "calibrator", "overrides", "weights_hash", "preset", "preset_hash", "profile",
                   "profile_hash", "versions") + MEASURED_ON
FP_SAME_EXPERIMENT = ("weights_hash",) + MEASURED_ON  # the fp row does not depend on profile, preset or plugins
HINTS = {
    "profile": "choose one with --profile/--preset",
    "preset": "choose one with --profile/--preset",
    EVALUATION_SET: "rows evaluated on other images measure something else",
    DEVICE_TYPE: "a cell is deterministic for one device type and thread count",
    THREADS: "a cell is deterministic for one device type and thread count",
}
DEFAULT_HINT = "'dfqbench prune' deletes rows of superseded plugin versions from a store"


def as_text(value: object) -> str:
    """A value as text, '' when missing; whole floats without '.0' (10000.0 -> '10000')."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]`` as text ('' where missing or where the frame has no such column)."""
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[name].map(as_text).astype(object)


def with_measurement_identity(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns ``evaluation_set``, ``device_type`` and ``threads`` filled from either scheme:

    - ``evaluation_set``: the row's ``evaluation`` where it has one, else ``n_eval=N`` from its ``n_eval``
      (older rows: the first N images of the test split), else '';
    - ``device_type``: the row's ``device_type`` where it has one, else its ``device`` up to a ':'
      (``cuda:0`` -> ``cuda``), else '';
    - ``threads``: the thread count as text, '' when unknown.

    Rows of the two schemes never agree on ``evaluation_set`` (``test`` vs ``n_eval=10000``), so they are not
    averaged together.
    """
    out = frame.copy()
    evaluation, n_eval = _column(frame, "evaluation"), _column(frame, "n_eval")
    out[EVALUATION_SET] = evaluation.where(evaluation != "", n_eval.map(lambda n: f"n_eval={n}" if n else ""))
    device_type, device = _column(frame, DEVICE_TYPE), _column(frame, "device")
    out[DEVICE_TYPE] = device_type.where(device_type != "", device.map(lambda d: d.split(":", 1)[0]))
    out[THREADS] = _column(frame, THREADS)
    return out


def check_one_experiment(rows: pd.DataFrame, label: str, bits: str, model: str, is_fp: bool) -> None:
    """Raise UserError when the rows of one cell come from different experiments (a field of ``SAME_EXPERIMENT``
    differs, e.g. two plugin versions of the same label, or two device types) or repeat a seed, instead of
    averaging them. ``rows`` went through :func:`with_measurement_identity`."""
    where = f"'{label}'" + ("" if is_fp else f" at {bits}") + f" on {model}"
    for column in FP_SAME_EXPERIMENT if is_fp else SAME_EXPERIMENT:
        if column not in rows.columns:
            continue
        values = list(dict.fromkeys(as_text(v) for v in rows[column]))
        if len(values) > 1:
            raise UserError(f"rows of {where} differ in {column} ({' vs '.join(values)}): they are different "
                            f"experiments and are not averaged; {HINTS.get(column, DEFAULT_HINT)}")
    if "seed" in rows.columns and not is_fp:
        seeds = rows["seed"].map(as_text)
        repeated = list(dict.fromkeys(seeds[seeds.duplicated()]))
        if repeated:
            raise UserError(f"rows of {where} repeat seed {', '.join(repeated)}: a cell is counted once "
                            "(remove the duplicate rows from the CSV)")
