"""The figures: drawn from committed CSVs, their structure checked (panels, series, labels), not their pixels;
the same inputs give the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, run_cli

from dfqbench.plots.accuracy import accuracy_figure
from dfqbench.store.export import read_results_csv
from dfqbench.tables.published import leaderboard_of

RESULTS = Path(__file__).resolve().parents[1] / "results"
WINDOWS = RESULTS / "testbed" / "windows_canvas56a.csv"


def legend_labels(fig) -> list[str]:
    return [text.get_text() for legend in fig.legends for text in legend.get_texts()]


def test_accuracy_has_a_panel_per_model_and_a_series_per_row():
    board = leaderboard_of(read_results_csv(WINDOWS))
    fig = accuracy_figure(board, "canvas56-a")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["canvas56a_vit", "canvas56a_deit", "canvas56a_swin"]
    for ax in panels:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["3w3a", "4w4a", "5w5a", "4w8a"]
        assert ax.get_ylabel() == "top-1 (%)" and "bit-width" in ax.get_xlabel()
        assert len(ax.containers) == 2  # noise and real, each with its error bars
        assert len(ax.collections) >= 1  # the shaded window
    assert legend_labels(fig) == ["noise to real window", "fp", "noise", "real"]
    assert fig._suptitle.get_text() == "canvas56-a"


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_the_same_inputs_give_the_same_bytes(tmp_path, capsys, monkeypatch, suffix):
    for name in ("a", "b"):
        code, _, err = run_cli(["plot", "accuracy", "--from", str(WINDOWS), "-o", str(tmp_path / f"{name}{suffix}")],
                               capsys, monkeypatch)
        assert code == 0, err
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    assert (tmp_path / f"a{suffix}").stat().st_size > 10_000


def test_a_figure_file_of_another_kind_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["plot", "accuracy", "--from", str(WINDOWS), "-o", str(tmp_path / "a.pdf")],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, "must end in .png or .svg")


def test_gap_heatmap_has_a_cell_per_synthesizer_and_calibrator():
    from dfqbench.plots.gap import gap_figure, gap_values
    from dfqbench.tables.gap import build_gap_table

    table = build_gap_table(leaderboard_of(read_results_csv(RESULTS / "bench_4w4a.csv")))
    fig = gap_figure(table, "fashion-mnist")
    panel = next(ax for ax in fig.axes if ax.get_title() == "4w4a · fmnist_vit")
    assert [t.get_text() for t in panel.get_yticklabels()] == table.synthesizers
    assert [t.get_text() for t in panel.get_xticklabels()] == table.calibrators
    texts = [t.get_text() for t in panel.texts]
    assert len(texts) == len(table.synthesizers) * len(table.calibrators)
    assert "undefined" in texts and any(t.startswith("0.47 [") for t in texts)  # maskaq under masked-hsad
    values = gap_values(table, "4w4a", "fmnist_vit")
    assert (~np.isnan(values)).sum() == 3


def test_cost_places_each_row_by_its_time_and_marks_unrecorded_synthesis_time():
    from dfqbench.plots.cost import cost_figure, stage_minutes

    frame = read_results_csv(RESULTS / "bench_4w4a.csv")
    board = leaderboard_of(frame, methods=["fp", "noise", "real", "psaq-vit", "maskaq", "sardfq"])
    fig = cost_figure(board, frame, "fashion-mnist")
    top, bottom = fig.axes[0], fig.axes[1]
    assert top.get_ylabel() == "top-1 (%)" and "CPU minutes" in top.get_xlabel()
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["fp", "noise *", "real *", "psaq-vit", "maskaq",
                                                               "sardfq *"]
    assert len(bottom.patches) == 3 * 6  # a bar per stage and row
    minutes, missing = stage_minutes(frame, "maskaq", "4w4a", "fmnist_vit")
    assert not missing and minutes["calibration"] > minutes["synthesis"] > 1  # six refreshes dominate its cost
    assert "did not record" in fig._supxlabel.get_text()


def test_samples_has_a_real_row_and_a_row_per_synthesizer(tmp_path, capsys, monkeypatch):
    from matplotlib.image import AxesImage

    import dfqbench.plots.style as style

    saved = []
    monkeypatch.setattr(style, "save", lambda fig, path: saved.append(fig) or Path(path))
    code, _, err = run_cli(["plot", "samples", "--methods", "noise,psaq-vit", "--model", "fmnist_vit", "--profile",
                            "smoke", "--fallback", "smoke", "--cache-dir", str(tmp_path / "cache"), "-o",
                            str(tmp_path / "s.png")], capsys, monkeypatch)
    assert code == 0, err
    fig = saved[0]
    assert len(fig.axes) == 3 * 10
    assert [ax.get_title() for ax in fig.axes[:10]][:2] == ["T-shirt/top", "Trouser"]
    names = [ax.get_ylabel() for ax in fig.axes[::10]]
    assert names == ["real (test)", "noise\n(smoke, by FP prediction)", "psaq-vit\n(smoke, by target)"]
    assert all(any(isinstance(a, AxesImage) for a in ax.get_children()) for ax in fig.axes[:10])  # every class
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2  # the sets it made were cached
