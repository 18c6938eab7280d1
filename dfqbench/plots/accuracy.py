"""``dfqbench plot accuracy``: top-1 against bit-width, one panel per model.

One line per row of the leaderboard with its 95 % t-interval over seeds (error bars; none for one seed), the
window from ``noise`` to ``real`` shaded (what any method can be compared within), ``fp`` as a horizontal line.
Bit-widths are placed in the leaderboard's column order (3w3a, 4w4a, 5w5a, 4w8a), evenly spaced: they are
settings, not a continuous axis.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from dfqbench.api import FP, LOWER_REFERENCE, ORACLE
from dfqbench.plots.style import colour, figure, marker
from dfqbench.tables.leaderboard import Leaderboard


def series(board: Leaderboard, label: str, model: str) -> tuple[list[int], list[float], list[float]]:
    """``(x, means, half-widths)`` of one row on one model, over the bit-widths it has."""
    xs, means, halves = [], [], []
    for x, bits in enumerate(board.bits):
        entry = board.cell(label, bits, model)
        if entry is None:
            continue
        interval = entry.interval()
        xs.append(x)
        means.append(entry.mean)
        halves.append(0.0 if interval is None else (interval[1] - interval[0]) / 2)
    return xs, means, halves


def window(board: Leaderboard, model: str) -> tuple[list[int], list[float], list[float]]:
    """``(x, noise means, real means)`` where both rows have the bit-width."""
    xs, low, high = [], [], []
    for x, bits in enumerate(board.bits):
        noise, real = board.cell(LOWER_REFERENCE, bits, model), board.cell(ORACLE, bits, model)
        if noise is not None and real is not None:
            xs.append(x)
            low.append(noise.mean)
            high.append(real.mean)
    return xs, low, high


def accuracy_figure(board: Leaderboard, title: str) -> Figure:
    """The figure of the module's doc for every model of ``board``."""
    lines = [row.label for row in board.rows if row.label != FP and row.kind != "reported"]
    fig, axes = figure(len(board.models), legend_entries=len(lines) + 2)
    for ax, model in zip(axes, board.models, strict=True):
        xs, low, high = window(board, model)
        if len(xs) == 1:  # one bit-width: a band around it
            xs, low, high = [xs[0] - 0.25, xs[0] + 0.25], low * 2, high * 2
        if xs:
            ax.fill_between(xs, low, high, color="0.85", label="noise to real window")
        fp = next((e for e in (board.cell(FP, b, model) for b in [*board.bits, FP]) if e is not None), None)
        if fp is not None:
            ax.axhline(fp.mean, color="black", linestyle="--", linewidth=1, label="fp")
        for index, label in enumerate(lines):
            x, means, halves = series(board, label, model)
            if x:
                style = "-" if board.row(label).is_data_free_method else ":"
                ax.errorbar(x, means, yerr=halves, color=colour(index), linestyle=style, marker=marker(index),
                            markersize=4,
                            capsize=2, linewidth=1.2, label=label)
        ax.set_xticks(range(len(board.bits)), board.bits)
        ax.set_xlabel("bit-width (weights w, activations a)")
        ax.set_ylabel("top-1 (%)")
        ax.set_title(model)
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig
