"""The columns of one result row (one grid cell), shared by the store, the CSV export and the tables.

Identity fields decide whether two runs computed the same cell; everything
else is measurement or provenance. The git commit is recorded but is not
part of the identity.
"""

from __future__ import annotations

import hashlib
import json

IDENTITY = (
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

MEASUREMENTS = (
    "status",          # 'ok' or 'failed'
    "error",           # one-line reason when failed
    "top1", "top5",    # percent on the full test split (or the --limit subset, see n_eval)
    "n_eval",          # images evaluated
    "seconds_synthesis", "seconds_calibration", "seconds_evaluation", "seconds_total",
    "peak_memory_mb",  # peak resident memory of the cell (CPU) or CUDA peak
    "synthesis_cached",  # 1 when the synthetic set came from the cache
)

PROVENANCE = (
    "cell_id",         # hash of the identity fields
    "git_commit", "package_versions", "device", "threads",
    "synth_config", "calib_config", "profile_config", "preset_config",  # full JSON configs
    "created_at",      # ISO-8601 UTC
)

COLUMNS = IDENTITY + MEASUREMENTS + PROVENANCE


def cell_id(identity: dict) -> str:
    """Stable 16-hex-digit hash of the identity fields."""
    payload = json.dumps({k: identity[k] for k in IDENTITY}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
