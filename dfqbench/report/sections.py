"""The report's sections, each built from the results alone; a section whose input is missing states the gap and
the command that fills it instead of failing.

Rows: the leaderboard holds every row that is no variant (``maskaq``, ``noise+hsad``) and the tuned rows
(``sardfq[tuned]``); each method with variants (``maskaq[se=false]``) gets its ablation table; the claims table
tests the claims file on all rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from dfqbench.errors import UserError
from dfqbench.report.html import gap_html, image_html, markdown_html
from dfqbench.tables.leaderboard import variant_of


@dataclass(frozen=True)
class ReportInputs:
    """What a report is made of: the rows, where they came from, and the optional files of its figures."""

    frame: pd.DataFrame
    sources: list[tuple[str, str, int]]          # (file name, SHA-256 prefix, rows)
    claims: Path
    students: list[Path] = field(default_factory=list)
    cache_dir: Path | None = None                # synthetic sets for the sample and attention figures
    data_dir: Path | None = None

    @cached_property
    def main_board(self):
        """The leaderboard of :func:`main_labels`, built once for the sections that show it."""
        return board_of(self.frame, main_labels(self.frame))


def main_labels(frame: pd.DataFrame) -> list[str]:
    """The leaderboard's rows, in the results' order: no variants, except tuned rows."""
    labels = list(dict.fromkeys(frame["method"].astype(str)))
    return [label for label in labels if variant_of(label) is None]


def ablation_groups(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Per row with variants, its rows: the row varied (when present) first, then its variants."""
    labels = list(dict.fromkeys(frame["method"].astype(str)))
    groups: dict[str, list[str]] = {}
    for label in labels:
        base = variant_of(label)
        if base is not None:
            groups.setdefault(base, [base] if base in labels else []).append(label)
    return groups


def board_of(frame: pd.DataFrame, methods: list[str]):
    from dfqbench.tables.published import leaderboard_of

    return leaderboard_of(frame, methods=methods)


def leaderboard_section(inputs: ReportInputs) -> str:
    from dfqbench.tables import to_markdown

    return markdown_html(to_markdown(inputs.main_board))


def claims_section(inputs: ReportInputs) -> str:
    from dfqbench.tables.claims import build_claims_table, claims_markdown, read_claims

    board = board_of(inputs.frame, list(dict.fromkeys(inputs.frame["method"].astype(str))))
    return markdown_html(claims_markdown(build_claims_table(board, read_claims(inputs.claims))))


def ablation_section(inputs: ReportInputs) -> str:
    from dfqbench.tables import to_markdown

    groups = ablation_groups(inputs.frame)
    if not groups:
        return gap_html("No ablation rows in these results: `dfqbench run --methods METHOD --ablations ...` "
                        "computes them.")
    return "\n".join(f"<h3>{base}</h3>\n" + markdown_html(to_markdown(board_of(inputs.frame, rows)))
                     for base, rows in groups.items())


def figure_html(fig, alt: str) -> str:
    from dfqbench.plots.style import png_bytes

    return image_html(png_bytes(fig), alt)


def results_figures(inputs: ReportInputs) -> str:
    """Accuracy against bit-width, the gap heatmaps and the cost of each row."""
    from dfqbench.plots.accuracy import accuracy_figure
    from dfqbench.plots.cost import cost_figure
    from dfqbench.plots.gap import gap_figure
    from dfqbench.plots.style import figure_title
    from dfqbench.tables.gap import build_gap_table

    board = inputs.main_board
    title = figure_title(board)
    parts = ["<h3>Accuracy against bit-width</h3>", figure_html(accuracy_figure(board, title), "accuracy"),
             "<h3>The same-calibrator gap</h3>"]
    try:
        parts.append(figure_html(gap_figure(build_gap_table(board), title), "gap"))
    except UserError as exc:
        parts.append(gap_html(f"No gap view: {exc}"))
    parts += ["<h3>Cost</h3>", figure_html(cost_figure(board, inputs.frame, title), "cost")]
    return "\n".join(parts)


def samples_figure_section(inputs: ReportInputs) -> str:
    """Synthetic images of each method of seed 0 on the first model, when the cache holds every set."""
    from dfqbench.plots.report_images import cached_samples_figure

    if inputs.cache_dir is None:
        return gap_html("Synthetic images: not shown (they live in a synthesis cache, not in the results); "
                        "`dfqbench report --cache-dir runs/cache` shows them from a grid's cache, and "
                        "`dfqbench plot samples -o samples.png` draws them on their own.")
    fig, missing = cached_samples_figure(inputs.frame, inputs.cache_dir, inputs.data_dir)
    if fig is None:
        return gap_html(f"Synthetic images: {inputs.cache_dir} lacks the sets of {', '.join(missing)}; "
                        "`dfqbench plot samples` makes them at a smaller profile.")
    note = gap_html(f"Not in the cache (rows left out): {', '.join(missing)}.") if missing else ""
    return figure_html(fig, "samples") + note


def attention_section(inputs: ReportInputs) -> str:
    from dfqbench.plots.report_images import methods_without_students, students_attention_figure

    if not inputs.students:
        return gap_html("Attention maps: no calibrated students given; `dfqbench run ... --save-models DIR` keeps "
                        "them and `dfqbench report --students DIR` (or `dfqbench plot attention DIR`) draws them.")
    figure = figure_html(students_attention_figure(inputs.students, inputs.cache_dir, inputs.data_dir),
                         "attention")
    if missing := methods_without_students(inputs.frame, inputs.students):
        figure += gap_html(f"No calibrated student of {', '.join(missing)} among the students given.")
    if inputs.cache_dir is None:
        figure += gap_html("Real test images only: the synthetic images live in a synthesis cache, not in the "
                           "results; `dfqbench report --cache-dir runs/cache` adds MaskAQ's from a grid's cache.")
    return figure


def json_field(text: object, key: str) -> str:
    try:
        return str(json.loads(str(text)).get(key, "–"))
    except (ValueError, AttributeError):
        return "–"


def provenance_section(inputs: ReportInputs) -> str:
    """The inputs' hashes, then the distinct settings of the rows shown (versions, commits, devices, budgets)."""
    from dfqbench.tables.render import md_table

    files = md_table(["file", "SHA-256 (first 12)", "rows"], [[n, h, str(r)] for n, h, r in inputs.sources],
                     [":---", ":---", "---:"])
    frame = inputs.frame
    packages = frame["package_versions"] if "package_versions" in frame else pd.Series(["{}"] * len(frame))
    columns = pd.DataFrame({
        "dfqbench": packages.map(lambda t: json_field(t, "dfqbench")),
        "torch": packages.map(lambda t: json_field(t, "torch")),
        "timm": packages.map(lambda t: json_field(t, "timm")),
        "git commit": frame.get("git_commit", pd.Series(["–"] * len(frame))).astype(str).str[:10],
        "device": frame.get("device", pd.Series(["–"] * len(frame))).astype(str),
        "threads": frame.get("threads", pd.Series(["–"] * len(frame))).astype(str),
        "profile": frame["profile"].astype(str) + " " + frame.get("profile_hash", "").astype(str),
        "preset": frame["preset"].astype(str) + " " + frame.get("preset_hash", "").astype(str),
    })
    counts = columns.value_counts(sort=False).reset_index(name="rows")
    settings = md_table(list(counts.columns), counts.astype(str).values.tolist(), [":---"] * (len(counts.columns) - 1)
                        + ["---:"])
    versions = (frame.assign(v=frame.get("versions", pd.Series(["{}"] * len(frame))).astype(str))
                .groupby("method", sort=False)["v"].agg(lambda v: ", ".join(sorted(set(v)))).reset_index())
    plugins = md_table(["row", "plugin versions"], versions.values.tolist(), [":---", ":---"])
    return "\n".join([markdown_html("\n".join(files)), "<h3>Settings of the rows</h3>",
                      markdown_html("\n".join(settings)), "<h3>Plugin versions</h3>",
                      markdown_html("\n".join(plugins))])


SECTIONS = (
    ("leaderboard", "Leaderboard", leaderboard_section),
    ("claims", "The papers' claims", claims_section),
    ("figures", "Figures", results_figures),
    ("samples", "Synthetic images", samples_figure_section),
    ("attention", "Where the models look", attention_section),
    ("ablations", "Ablations", ablation_section),
    ("provenance", "Provenance", provenance_section),
)
