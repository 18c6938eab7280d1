"""The columns of one result row (one grid cell), shared by the store, the CSV export and the tables.

Identity fields decide whether two runs computed the same cell; everything
else is measurement or provenance. The git commit is recorded but is not
part of the identity.

The identity has a scheme (``id_scheme``). Scheme 1 (rows made before 2026-12) left out what was evaluated,
the device type and the thread count, so a 500-image or a 2-thread row could stand for a full-test 1-thread
cell. Scheme 2 holds them, and its ids hash the scheme number too, so a new cell never matches an old row. Rows
of scheme 1 stay importable and renderable under their stored ids (a row without ``id_scheme`` is scheme 1);
nothing computes them again.
"""

from __future__ import annotations

import hashlib
import json

IDENTITY_V1 = (
    "method",          # row label: a method name, a crossing 'synth+calib', or a variant label 'maskaq[se=off]'
    "synthesizer",     # registered synthesizer name ('' for the fp row)
    "calibrator",      # registered calibrator name ('' for the fp row)
    "overrides",       # JSON object of --set overrides on top of the method's own, '{}' when none
    "model",           # backbone name
    "weights_hash",    # SHA-256 of the FP weights
    "bits",            # canonical '4w4a', or 'fp'
    "preset",          # quantizer preset name
    "preset_hash",     # QuantPreset.hash()
    "profile",         # budget name: quick, bench, paper
    "profile_hash",    # Profile.hash()
    "seed",            # master seed of the cell
    "versions",        # JSON object {synthesizer: version, calibrator: version}
)
IDENTITY_V2_EXTRA = (
    "evaluation",      # what the top-1 is measured on: 'test', 'test[:500]' (--limit), 'val' (tuning)
    "device_type",     # 'cpu' or 'cuda': a set made on a GPU differs in its last bits
    "threads",         # torch threads: another count sums in another order, so it is another run
)
ID_SCHEME = 2
IDENTITY_BY_SCHEME = {1: IDENTITY_V1, 2: IDENTITY_V1 + IDENTITY_V2_EXTRA}
IDENTITY = IDENTITY_BY_SCHEME[ID_SCHEME]

MEASUREMENTS = (
    "status",          # 'ok' or 'failed'
    "error",           # one-line reason when failed
    "top1", "top5",    # percent on the full test split (or the --limit subset, see n_eval)
    "n_eval",          # images evaluated
    "seconds_synthesis", "seconds_calibration", "seconds_evaluation", "seconds_total",
    "peak_memory_mb",  # peak resident memory of the cell (CPU) or CUDA peak
    "synthesis_cached",  # 1 when the synthetic set came from the cache; seconds_synthesis is then the time it
                         # took to make the set, recorded with it, so every row that uses a set shows its cost,
                         # and seconds_total counts it instead of the time spent loading it
)

PROVENANCE = (
    "cell_id",         # hash of the identity fields (of the row's scheme)
    "id_scheme",       # the identity scheme: 2 now, 1 (or empty) for rows made before
    "git_commit", "package_versions", "device",
    "python", "processor",  # Python version; CPU model or GPU name
    "deterministic",   # 1 when torch's deterministic algorithms were on
    "synth_config", "calib_config", "profile_config", "preset_config",  # full JSON configs
    "tuning",          # SHA-256 of the tuning file whose values the row's overrides hold (dfqbench run --tuning)
    "created_at",      # ISO-8601 UTC
)

COLUMNS = IDENTITY + MEASUREMENTS + PROVENANCE


def id_scheme_of(row: dict) -> int:
    """The identity scheme of a row: its ``id_scheme``, or 1 for rows made before it existed."""
    value = row.get("id_scheme")
    return 1 if value is None or value != value else int(value)  # None or NaN (an empty CSV cell)


def cell_id(identity: dict) -> str:
    """Stable 16-hex-digit hash of the identity fields of the row's scheme (scheme 2 and later hash the scheme
    number too; scheme 1's payload is exactly what it always was, so its stored ids still verify)."""
    scheme = id_scheme_of(identity)
    fields = {k: identity[k] for k in IDENTITY_BY_SCHEME[scheme]}
    if scheme > 1:
        fields["id_scheme"] = scheme
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
