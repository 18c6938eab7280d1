"""The column-floor tool on a smoke column: it meters the passes of each stage and reports every stage."""

from __future__ import annotations

from benchmarks.column_floor import measure_column, parse_args


def test_the_column_floor_meters_every_stage_of_a_row():
    lines = []
    measured = measure_column(parse_args(["--profile", "smoke", "--rows", "fp,noise,mimiq", "--limit", "64",
                                          "--repeats", "1"]), say=lines.append)
    metered = {(label, stage) for label, stage, _, floor in measured if floor > 0}
    assert {("fp", "evaluation"), ("noise", "calibration"), ("noise", "evaluation"), ("mimiq", "synthesis"),
            ("mimiq", "calibration"), ("mimiq", "evaluation")} <= metered, lines
    assert all(actual >= 0 for _, _, actual, _ in measured)
    assert lines[-1].startswith("| column | all |") and lines[-1].endswith("x |"), lines[-1]
