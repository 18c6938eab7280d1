"""The report page from its inputs: each section of :mod:`dfqbench.report.sections` in order; a section that
cannot be drawn from these results (no claim has both its rows, no crossing for the gap view) says why."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from dfqbench.errors import UserError
from dfqbench.report.html import gap_html, page
from dfqbench.report.sections import SECTIONS, ReportInputs


def source_list(paths: list[Path], frame: pd.DataFrame, claims: Path, students: list[Path],
                cache_dir: Path | None, data_dir: Path | None) -> ReportInputs:
    """The inputs with each results file's name, hash and row count (a store counts all its rows)."""
    sources = []
    for path in paths:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
        rows = len(pd.read_csv(path)) if str(path).endswith(".csv") else len(frame)
        sources.append((Path(path).name, digest, rows))
    return ReportInputs(frame, sources, claims, students, cache_dir, data_dir)


def section_html(build, inputs: ReportInputs, heading: str) -> str:
    try:
        return build(inputs)
    except UserError as exc:
        return gap_html(f"{heading}: not drawn from these results ({exc})")


def build_report(inputs: ReportInputs, title: str) -> str:
    return page(title, [(anchor, heading, section_html(build, inputs, heading)) for anchor, heading, build in SECTIONS])
