"""``dfqbench plot cost``: what each row costs beside what it scores.

Per column of the leaderboard (bit-width and model), two panels: top-1 (mean with its 95 % interval over seeds)
against the mean time of a cell in minutes, and the same time split into its stages (synthesis, calibration,
evaluation) as stacked bars. Synthesis time is counted in every row that uses a set, also when the set came from
the cache (as the store records it: ``seconds_synthesis`` is the time it took to make the set), so that a
method's price is the same whichever of its cells ran first. Times are the device the rows ran on (CPU or GPU).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from dfqbench.api import FP
from dfqbench.plots.style import colour, figure, marker
from dfqbench.tables.leaderboard import Leaderboard

STAGES = (("seconds_synthesis", "synthesis"), ("seconds_calibration", "calibration"),
          ("seconds_evaluation", "evaluation"))


UNRECORDED = "*"  # marks a row some of whose cells did not record a stage's time


def stage_minutes(frame: pd.DataFrame, label: str, bits: str, model: str) -> tuple[dict[str, float], bool] | None:
    """Mean minutes per stage of one row's ok cells in one column, and whether a cell lacks a stage's time that
    it had (a set reused from the cache by rows stored before the cache kept its time); None without cells."""
    rows = frame[(frame["method"] == label) & (frame["model"] == model) & (frame["status"] == "ok")
                 & (frame["bits"].astype(str) == (FP if label == FP else bits))]
    if rows.empty:
        return None
    times = {name: pd.to_numeric(rows[column], errors="coerce") for column, name in STAGES}
    if "synthesis_cached" in rows.columns:  # before identity scheme 2 a reused set recorded its loading time
        old_reuse = (pd.to_numeric(rows["synthesis_cached"], errors="coerce") == 1) & (scheme_of(rows) < 2)
        times["synthesis"] = times["synthesis"].mask(old_reuse)
    needed = ("evaluation",) if label == FP else ("synthesis", "calibration", "evaluation")
    missing = any(times[name].isna().any() for name in needed)
    return {name: float(values.fillna(0.0).mean()) / 60 for name, values in times.items()}, missing


def scheme_of(rows: pd.DataFrame) -> pd.Series:
    """Each row's identity scheme (1 where unrecorded)."""
    if "id_scheme" not in rows.columns:
        return pd.Series(1, index=rows.index)
    return pd.to_numeric(rows["id_scheme"], errors="coerce").fillna(1)


def device_of(frame: pd.DataFrame) -> str:
    """'CPU', 'GPU' or both, from the rows' device type (or device); '' when unrecorded."""
    for column in ("device_type", "device"):
        if column in frame.columns:
            kinds = {"GPU" if "cuda" in str(v) else "CPU" for v in frame[column].dropna() if str(v)}
            if kinds:
                return " and ".join(sorted(kinds)) + " "
    return ""


def cost_figure(board: Leaderboard, frame: pd.DataFrame, title: str) -> Figure:
    """The figure of the module's doc."""
    labels = [row.label for row in board.rows if row.kind != "reported"]
    device, unrecorded = device_of(frame), False
    fig, axes = figure(len(board.columns), nrows=2, width=4.6, height=max(3.0, 0.22 * len(labels) + 1.2),
                       legend_entries=len(labels))
    tops, bottoms = axes[:len(board.columns)], axes[len(board.columns):]
    for top, bottom, (bits, model) in zip(tops, bottoms, board.columns, strict=True):
        shown = []
        for index, label in enumerate(labels):
            entry, found = board.cell(label, bits, model), stage_minutes(frame, label, bits, model)
            if entry is None or found is None:
                continue
            minutes, missing = found
            unrecorded |= missing
            label = f"{label} {UNRECORDED}" if missing else label
            interval = entry.interval()
            half = 0.0 if interval is None else (interval[1] - interval[0]) / 2
            top.errorbar([sum(minutes.values())], [entry.mean], yerr=[half], color=colour(index),
                         marker=marker(index), linestyle="none", capsize=2, label=label)
            shown.append((label, minutes))
        left = [0.0] * len(shown)
        for stage_index, (_, name) in enumerate(STAGES):
            widths = [minutes[name] for _, minutes in shown]
            bottom.barh(range(len(shown)), widths, left=left, color=colour(stage_index), label=name)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        bottom.set_yticks(range(len(shown)), [label for label, _ in shown], fontsize=7)
        bottom.invert_yaxis()
        top.set_xlabel(f"time per cell ({device}minutes)")
        top.set_ylabel("top-1 (%)")
        top.set_title(f"{bits} · {model}")
        bottom.set_xlabel(f"time per cell by stage ({device}minutes)")
    handles, names = tops[-1].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside right center", fontsize=8, frameon=False)
    bottoms[-1].legend(loc="lower right", fontsize=7)
    if unrecorded:
        fig.supxlabel(f"{UNRECORDED} some cells of the row did not record a stage's time (sets reused from the cache "
                      "before the cache kept it): its bar is short by that stage", fontsize=7)
    fig.suptitle(title)
    return fig
