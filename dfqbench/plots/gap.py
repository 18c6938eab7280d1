"""``dfqbench plot gap``: the same-calibrator view (:mod:`dfqbench.tables.gap`) as annotated heatmaps.

One panel per column of the leaderboard (bit-width and model): synthesizers down, calibrators across, each cell
coloured by the share of the noise-to-real gap it closes (0: no better than noise, 1: as good as real images;
the colour scale is clipped to [-0.5, 1.5], the annotation is not) and annotated with its value, interval and
seeds, or with why it has none (``undefined``, ``no references``; hatched); a crossing not run stays blank.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from dfqbench.plots.style import figure
from dfqbench.tables.gap import GapTable, format_gap

SCALE = (-0.5, 1.5)
CMAP = "cividis"  # perceptually uniform and colour-blind safe


def gap_values(table: GapTable, bits: str, model: str) -> np.ndarray:
    """The closed shares of one column (synthesizers x calibrators); NaN where there is none."""
    values = np.full((len(table.synthesizers), len(table.calibrators)), np.nan)
    for i, synthesizer in enumerate(table.synthesizers):
        for j, calibrator in enumerate(table.calibrators):
            gap = table.gap(synthesizer, calibrator, bits, model)
            if gap is not None and gap.value is not None:
                values[i, j] = gap.value
    return values


def annotation(table: GapTable, synthesizer: str, calibrator: str, bits: str, model: str) -> str:
    """The cell's text on two lines: value and interval, then the seeds."""
    return format_gap(table.gap(synthesizer, calibrator, bits, model)).replace(" (", "\n(")


def gap_figure(table: GapTable, title: str) -> Figure:
    """The figure of the module's doc."""
    rows, cols = len(table.synthesizers), len(table.calibrators)
    fig, axes = figure(len(table.columns), width=max(3.0, 1.9 * cols + 1.6), height=max(2.4, 0.75 * rows + 1.2))
    image = None
    for ax, (bits, model) in zip(axes, table.columns, strict=True):
        values = gap_values(table, bits, model)
        ax.imshow(np.zeros_like(values), cmap="Greys", vmin=0, vmax=1, aspect="auto")  # white where no value
        image = ax.imshow(np.ma.masked_invalid(values), cmap=CMAP, vmin=SCALE[0], vmax=SCALE[1], aspect="auto")
        for i, synthesizer in enumerate(table.synthesizers):
            for j, calibrator in enumerate(table.calibrators):
                value = values[i, j]
                dark = not np.isnan(value) and value < (SCALE[0] + SCALE[1]) / 2
                ax.text(j, i, annotation(table, synthesizer, calibrator, bits, model), ha="center", va="center",
                        fontsize=7, color="white" if dark else "black")
                if np.isnan(value) and table.gap(synthesizer, calibrator, bits, model) is not None:
                    ax.add_patch(_hatch(j, i))  # a row without a value: undefined, or no references
        ax.set_xticks(range(cols), table.calibrators)
        ax.set_yticks(range(rows), table.synthesizers)
        ax.set_xlabel("calibrator C")
        ax.set_ylabel("synthesizer S")
        ax.set_title(f"{bits} · {model}")
        ax.grid(False)
    if image is not None:
        fig.colorbar(image, ax=axes, label="gap closed: (S+C − noise+C) / (real+C − noise+C)", shrink=0.8)
    fig.suptitle(title)
    return fig


def _hatch(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6", linewidth=0)
