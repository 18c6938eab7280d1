"""The column-floor tool on a smoke column: it meters the passes of each stage and prints a row per stage."""

from __future__ import annotations

import re

from benchmarks.column_floor import main


def test_the_column_floor_meters_every_stage_of_a_row(capsys):
    main(["--profile", "smoke", "--rows", "fp,noise,mimiq", "--limit", "64", "--repeats", "1"])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\S+) \| (\w+) \| ([\d.]+) \| ([\d.]+) \| ([^|]+) \|$", out, re.MULTILINE)
    stages = {(row, stage) for row, stage, _, floor, _ in rows if float(floor) > 0}
    assert {("fp", "evaluation"), ("noise", "calibration"), ("noise", "evaluation"), ("mimiq", "synthesis"),
            ("mimiq", "calibration"), ("mimiq", "evaluation")} <= stages, out
    assert re.search(r"^\| column \| all \| [\d.]+ \| [\d.]+ \| [\d.]+x \|$", out, re.MULTILINE), out
