"""Every stored number honest: regression tests for the ways a wrong number used to reach a table silently.

Each test failed on the code before its fix (commit 35b5987): options spelled three ways made three rows; a
500-image, a CUDA or a 2-thread row satisfied a full-test 1-thread CPU cell; NaN logits were stored as 'ok'; an
altered cache entry was used and a broken one failed its cell on every rerun; a reused set's synthesis time was
lost; every plugin's context held the training images.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from harness_fixtures import tiny_backbone, tiny_settings
from safetensors.torch import load_file, save_file

from dfqbench.api import Calibrator, ModelContext, Synthesizer, SyntheticSet, register_calibrator, register_synthesizer
from dfqbench.quant.bits import BitWidth
from dfqbench.runner.cell import cell_key
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.run import run_grid
from dfqbench.store.export import export_csv, import_csv, read_results_csv
from dfqbench.store.schema import cell_id
from dfqbench.store.sqlite import ResultStore

W4A4 = BitWidth.parse("4w4a")
REPO = Path(__file__).resolve().parents[1]


def grid(tmp_path, methods, store="store.sqlite", **settings):
    cells = expand_grid([resolve_method(m, {}) for m in methods], ["tiny_vit"], [W4A4], [0])
    with ResultStore(tmp_path / store) as db:
        return run_grid(cells, tiny_settings(tmp_path, **settings), db, load=lambda name: tiny_backbone())


def noise_cell():
    return expand_grid([resolve_method("noise+ptq", {})], ["tiny_vit"], [W4A4], [0])[0]


# --- what was measured is part of the identity ---------------------------------------------------------------


@pytest.mark.parametrize("change", [{"limit": 500}, {"limit": None}, {"device": torch.device("cuda")}])
def test_the_evaluated_images_and_the_device_type_are_part_of_the_cell(tmp_path, change):
    settings = tiny_settings(tmp_path)  # limit=64
    other = dataclasses.replace(settings, **change)
    assert cell_key(noise_cell(), tiny_backbone(), other) != cell_key(noise_cell(), tiny_backbone(), settings)


def test_the_thread_count_is_part_of_the_cell(tmp_path):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cell_key(noise_cell(), tiny_backbone(), tiny_settings(tmp_path))
        torch.set_num_threads(2)
        two = cell_key(noise_cell(), tiny_backbone(), tiny_settings(tmp_path))
    finally:
        torch.set_num_threads(threads)
    assert one != two


def test_a_limited_run_does_not_satisfy_a_full_run(tmp_path):
    first = grid(tmp_path, ["noise+ptq"], limit=32)
    second = grid(tmp_path, ["noise+ptq"], limit=64)
    assert len(first.done) == 1 and len(second.done) == 1 and not second.skipped
    assert (first.done[0]["evaluation"], second.done[0]["evaluation"]) == ("test[:32]", "test[:64]")


# --- non-finite numbers fail the cell ------------------------------------------------------------------------


@register_calibrator("test-nan-weights")
class NaNWeights(Calibrator):
    """Calibrates the student into NaN logits (a diverged QAT)."""

    def calibrate(self, ctx, source):
        with torch.no_grad():
            ctx.student(source.batch(4, ctx.generator))  # the activation ranges initialise on a first batch
            ctx.student.norm.weight.fill_(float("nan"))


def test_nan_logits_fail_the_cell_with_the_reason(tmp_path):
    report = grid(tmp_path, ["noise+test-nan-weights"])
    assert not report.done and len(report.failed) == 1
    assert "logits are not finite" in report.failed[0]["error"] and report.failed[0].get("top1") is None


# --- the cache verifies what it hands out ----------------------------------------------------------------------


@register_synthesizer("test-count-synth")
class CountingNoise(Synthesizer):
    calls = 0

    def synthesize(self, ctx):
        type(self).calls += 1
        return SyntheticSet(torch.randn(ctx.profile.n_images, *ctx.input_size, generator=ctx.generator))


def only_entry(tmp_path) -> Path:
    (entry,) = (tmp_path / "cache").glob("*.safetensors")
    return entry


def rewrite(path: Path, change) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        metadata = fh.metadata()
    tensors = change(load_file(str(path)))
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize("damage", ["zeroed", "nan", "no images"])
def test_a_damaged_cache_entry_is_removed_and_made_again_with_one_line(tmp_path, capsys, damage):
    CountingNoise.calls = 0
    clean = grid(tmp_path, ["test-count-synth+ptq"], store="a.sqlite").done[0]
    changes = {"zeroed": lambda t: {**t, "images": torch.zeros_like(t["images"])},
               "nan": lambda t: {**t, "images": torch.full_like(t["images"], float("nan"))},
               "no images": lambda t: {"other": torch.zeros(1)}}
    rewrite(only_entry(tmp_path), changes[damage])
    capsys.readouterr()
    again = grid(tmp_path, ["test-count-synth+ptq"], store="b.sqlite")
    assert CountingNoise.calls == 2 and len(again.done) == 1 and again.done[0]["top1"] == clean["top1"]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cache:")]
    assert len(lines) == 1 and "made again" in lines[0]
    assert load_file(str(only_entry(tmp_path)))["images"].isfinite().all()


def test_a_reused_set_carries_the_time_it_took_to_make(tmp_path):
    CountingNoise.calls = 0
    made = grid(tmp_path, ["test-count-synth+ptq"], store="a.sqlite").done[0]
    reused = grid(tmp_path, ["test-count-synth+kd"], store="a.sqlite").done[0]
    assert CountingNoise.calls == 1 and (made["synthesis_cached"], reused["synthesis_cached"]) == (0, 1)
    assert reused["seconds_synthesis"] == pytest.approx(made["seconds_synthesis"])
    assert reused["seconds_total"] >= reused["seconds_synthesis"] + reused["seconds_calibration"]


# --- data-free means data-free ---------------------------------------------------------------------------------


@register_synthesizer("test-peek")
class Peek(Synthesizer):
    """A method plugin that would like to look at the training data."""

    seen: list = []

    def synthesize(self, ctx: ModelContext):
        type(self).seen.append(ctx.real_images)
        return SyntheticSet(torch.randn(ctx.profile.n_images, *ctx.input_size, generator=ctx.generator))


def test_only_the_real_reference_receives_training_images(tmp_path):
    Peek.seen.clear()
    report = grid(tmp_path, ["test-peek+ptq", "real+ptq"])
    assert len(report.done) == 2 and Peek.seen == [None]


# --- the old identity scheme stays readable ----------------------------------------------------------------------


def test_committed_rows_of_the_old_scheme_import_under_their_stored_ids(tmp_path):
    csv = REPO / "results" / "bench_4w4a.csv"
    stored = read_results_csv(csv)
    with ResultStore(tmp_path / "old.sqlite") as db:
        assert import_csv(db, csv) == (len(stored), len(stored))
        assert sorted(r["cell_id"] for r in db.rows()) == sorted(stored["cell_id"])
        assert {r["id_scheme"] for r in db.rows()} == {1}
        export_csv(db, tmp_path / "again.csv")
    assert sorted(read_results_csv(tmp_path / "again.csv")["cell_id"]) == sorted(stored["cell_id"])


def long_format_csvs() -> list:
    """The committed CSVs that hold store rows (a cell_id column): every one must stay importable."""
    return sorted(p for p in (REPO / "results").rglob("*.csv") if "cell_id" in p.read_text().split("\n", 1)[0])


@pytest.mark.parametrize("csv", long_format_csvs(), ids=lambda p: str(p.relative_to(REPO / "results")))
def test_every_committed_results_csv_imports_under_its_stored_ids(csv, tmp_path):
    stored = read_results_csv(csv)
    with ResultStore(tmp_path / "store.sqlite") as db:
        assert import_csv(db, csv) == (len(stored), len(stored))
        assert sorted(r["cell_id"] for r in db.rows()) == sorted(stored["cell_id"])


def test_a_new_cell_never_matches_an_old_row(tmp_path):
    row = grid(tmp_path, ["noise+ptq"]).done[0]
    old_identity = {**row, "id_scheme": 1}
    assert cell_id(old_identity) != row["cell_id"] and row["id_scheme"] == 2


def test_an_import_with_a_bad_row_names_the_line_and_changes_nothing(tmp_path):
    from dfqbench.errors import UserError

    frame = read_results_csv(REPO / "results" / "bench_4w4a.csv").head(3)
    frame.loc[2, "top1"] = 1.0
    frame.loc[2, "cell_id"] = "0" * 16
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with ResultStore(tmp_path / "s.sqlite") as db:
        with pytest.raises(UserError, match="line 4: cell_id '0000000000000000' does not match"):
            import_csv(db, tmp_path / "bad.csv")
        assert db.rows() == []


def test_a_store_of_the_old_schema_is_read_as_it_is_and_gains_the_new_columns_when_written(tmp_path):
    import sqlite3

    import pandas as pd

    from dfqbench.store.schema import COLUMNS, IDENTITY_V2_EXTRA

    old_columns = [c for c in COLUMNS if c not in IDENTITY_V2_EXTRA + ("id_scheme", "tuning")] + ["threads"]
    row = {k: (None if pd.isna(v) else v) for k, v in
           read_results_csv(REPO / "results" / "bench_4w4a.csv").iloc[0].to_dict().items()}
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    with sqlite3.connect(tmp_path / "old.sqlite") as conn:
        conn.execute(f"CREATE TABLE cells ({', '.join(old_columns)})")
        conn.execute(f"INSERT INTO cells ({', '.join(old_columns)}) VALUES ({', '.join('?' for _ in old_columns)})",
                     [row[c] for c in old_columns])
    before = (tmp_path / "old.sqlite").read_bytes()
    with ResultStore(tmp_path / "old.sqlite", read_only=True) as db:  # table, export, figures: read as it is
        (read,) = db.rows()
    assert (tmp_path / "old.sqlite").read_bytes() == before and read["evaluation"] is None
    with ResultStore(tmp_path / "old.sqlite") as db:
        (stored,) = db.rows()
    assert stored["cell_id"] == row["cell_id"] and stored["evaluation"] is None and stored["top1"] == row["top1"]
