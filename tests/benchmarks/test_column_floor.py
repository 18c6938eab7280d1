"""The column-floor tool on a smoke column: it meters the unit passes of each stage and reports every stage."""

from __future__ import annotations

from benchmarks.column_floor import measure_column, parse_args


def test_the_column_floor_meters_every_stage_of_a_row():
    lines = []
    rows = "fp,noise,mimiq,noise+block-recon"
    measured = measure_column(parse_args(["--profile", "smoke", "--rows", rows, "--limit", "64", "--repeats", "1"]),
                              say=lines.append)
    metered = {(label, stage) for label, stage, _, floor in measured if floor > 0}
    assert {("fp", "evaluation"), ("noise", "calibration"), ("noise", "evaluation"), ("mimiq", "synthesis"),
            ("mimiq", "calibration"), ("mimiq", "evaluation"), ("noise+block-recon", "calibration"),
            ("noise+block-recon", "evaluation")} <= metered, lines  # block-wise: passes stopped early, blocks alone
    assert all(actual >= 0 for _, _, actual, _ in measured)
    assert lines[-1].startswith("| column | all |") and lines[-1].endswith("x |"), lines[-1]
