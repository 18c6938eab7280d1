"""Registry, overrides and variants, grid expansion, cache keys, resume, failures, concurrent stores."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json

import pytest
import torch
from harness_fixtures import tiny_backbone, tiny_settings

from dfqbench import registry as registry_mod
from dfqbench.api import (
    CALIBRATORS,
    SYNTHESIZERS,
    Calibrator,
    ModelContext,
    Synthesizer,
    SyntheticSet,
    register_calibrator,
    register_method,
    register_synthesizer,
)
from dfqbench.config import Config
from dfqbench.errors import UserError
from dfqbench.quant.bits import BitWidth
from dfqbench.registry import Registry, load_plugin_file
from dfqbench.runner.cache import MemoryCache
from dfqbench.runner.cell import cell_key, synthesis_key, synthetic_set
from dfqbench.runner.grid import Cell, expand_grid, parse_seeds, resolve_method
from dfqbench.runner.overrides import apply_overrides, parse_set_options, variant_label
from dfqbench.runner.run import Reporter, run_grid
from dfqbench.runner.seeds import stage_seed
from dfqbench.store.sqlite import ResultStore

W4A4, W3A3 = BitWidth(4, 4), BitWidth(3, 3)


# ---------------------------------------------------------------- registry

def test_registry_decorator_wildcards_and_did_you_mean():
    reg: Registry[int] = Registry("widget")
    reg.register("alpha-one")(1)
    reg.add("alpha-two", 2)
    reg.add("beta", 3)
    assert reg.names("alpha-*") == ["alpha-one", "alpha-two"]
    assert reg.get("beta") == 3
    with pytest.raises(UserError, match=r"unknown widget 'alpha-tow' \(did you mean: alpha-two"):
        reg.get("alpha-tow")
    with pytest.raises(ValueError, match="already registered"):
        reg.add("beta", 4)


def test_builtin_plugins_register_on_first_lookup():
    assert {"noise", "real"} <= set(SYNTHESIZERS.names())
    assert {"kd", "ptq"} <= set(CALIBRATORS.names())
    assert CALIBRATORS.get("ptq").name == "ptq"


def test_entry_point_plugins_register(tmp_path, monkeypatch):
    (tmp_path / "ep_plugin_mod.py").write_text(
        "from dfqbench.api import register_calibrator, Calibrator\n"
        "@register_calibrator('from-entry-point')\n"
        "class FromEntryPoint(Calibrator):\n    paper = 'test'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = importlib.metadata.EntryPoint("demo", "ep_plugin_mod", registry_mod.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry_mod.importlib.metadata, "entry_points",
                        lambda group: [entry] if group == registry_mod.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry_mod, "_entry_points_loaded", False)
    assert "from-entry-point" in CALIBRATORS.names()
    assert CALIBRATORS.get("from-entry-point").paper == "test"


def test_plugin_file_registers_and_bad_files_are_user_errors(tmp_path):
    good = tmp_path / "good_plugin.py"
    good.write_text("from dfqbench.api import register_method\nregister_method('file-method', 'noise', 'ptq')\n")
    load_plugin_file(good)
    assert resolve_method("file-method", {}).calibrator == "ptq"
    with pytest.raises(UserError, match="plugin file not found"):
        load_plugin_file(tmp_path / "missing.py")
    bad = tmp_path / "bad_plugin.py"
    bad.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UserError, match="failed to load: RuntimeError: boom"):
        load_plugin_file(bad)


# ---------------------------------------------------------------- overrides and variants

@dataclasses.dataclass(frozen=True)
class DemoConfig(Config):
    lr: float = 0.1
    steps: int = 3
    mask: bool = True
    source: str = "fp"
    alpha: float | None = None


def test_set_options_parse_and_validate():
    raw = parse_set_options(["synth.lr=0.5", "synth.mask=off", "calib.steps=7", "synth.alpha=none"])
    cfg = apply_overrides(DemoConfig, {"source": "q"}, raw["synth"], "synth", "demo")
    assert cfg == DemoConfig(lr=0.5, mask=False, source="q", alpha=None)
    assert apply_overrides(DemoConfig, {}, raw["calib"], "calib", "demo").steps == 7
    assert variant_label("maskaq", {"synth": {"se": False}}) == "maskaq[se=false]"
    assert variant_label("maskaq", parse_set_options([])) == "maskaq"


@pytest.mark.parametrize(("items", "pattern"), [
    (["lr=0.1"], "malformed --set"),
    (["model.lr=0.1"], "malformed --set"),
    (["synth.lrr=0.1"], "did you mean: lr"),
    (["synth.steps=1.5"], "expects int"),
    (["synth.mask=maybe"], "expects true/false"),
])
def test_bad_overrides_are_one_line_user_errors(items, pattern):
    with pytest.raises(UserError, match=pattern):
        raw = parse_set_options(items)
        apply_overrides(DemoConfig, {}, raw["synth"], "synth", "demo")


# ---------------------------------------------------------------- grid

def test_grid_expands_methods_models_bits_seeds_with_one_fp_row_per_model():
    methods = [resolve_method(m, {}) for m in ("fp", "noise", "noise+ptq")]
    cells = expand_grid(methods, ["a", "b"], [W3A3, W4A4], [0, 1])
    assert len(cells) == 2 * 1 + 2 * 2 * 2 * 2
    assert [c.bits_label for c in cells if c.method.is_fp] == ["fp", "fp"]
    crossing = next(c for c in cells if c.method.label == "noise+ptq")
    assert (crossing.method.synthesizer, crossing.method.calibrator) == ("noise", "ptq")


def test_method_crossing_takes_a_method_synthesizer_and_its_overrides():
    register_method("demo-crossable", "noise", "kd", synth_overrides={"std": 0.5})
    spec = resolve_method("demo-crossable+ptq", {})
    assert (spec.synthesizer, spec.calibrator, spec.synth_overrides) == ("noise", "ptq", {"std": 0.5})


@pytest.mark.parametrize(("entry", "pattern"), [
    ("nosie", "did you mean: noise"), ("noise+pqt", "did you mean: ptq"), ("nosie+ptq", "did you mean: noise")])
def test_unknown_methods_suggest(entry, pattern):
    with pytest.raises(UserError, match=pattern):
        resolve_method(entry, {})


def test_variant_rows_carry_a_label():
    spec = resolve_method("noise", parse_set_options(["calib.augment=off"]))
    assert spec.label == "noise[augment=false]" and json.loads(spec.overrides_json())["calib"] == {"augment": False}
    assert resolve_method("noise", parse_set_options(["calib.augment=off"]), label="noise-plain").label == "noise-plain"


def test_seeds_and_stage_seeds():
    assert parse_seeds("0, 1,1,2") == [0, 1, 2]
    with pytest.raises(UserError):
        parse_seeds("a")
    assert stage_seed(0, "synthesis") != stage_seed(0, "calibration") != stage_seed(1, "synthesis")
    assert stage_seed(3, "synthesis") == stage_seed(3, "synthesis")


# ---------------------------------------------------------------- cache keys

@register_synthesizer("test-counting")
class Counting(Synthesizer):
    version = 1
    calls = 0

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        scale: float = 1.0

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        type(self).calls += 1
        x = torch.randn(ctx.profile.n_images, *ctx.input_size, generator=ctx.generator) * self.config.scale
        return SyntheticSet(x)


@register_synthesizer("test-needs-q")
class NeedsQ(Counting):
    needs_quantized_model = True


def key_of(cls, cell_bits=W4A4, seed=0, tmp_path=None, **config):
    synth = cls(cls.Config(**config))
    cell = expand_grid([resolve_method(f"{cls.name}+ptq", {})], ["tiny_vit"], [cell_bits], [seed])[0]
    return synthesis_key(synth, cell, tiny_backbone(), tiny_settings(tmp_path))


def test_cache_key_changes_with_config_version_seed_and_only_then(tmp_path, monkeypatch):
    base = key_of(Counting, tmp_path=tmp_path)
    assert key_of(Counting, tmp_path=tmp_path) == base
    assert key_of(Counting, W3A3, tmp_path=tmp_path) == base  # bits do not matter without the quantized model
    assert key_of(Counting, scale=2.0, tmp_path=tmp_path) != base
    assert key_of(Counting, seed=1, tmp_path=tmp_path) != base
    monkeypatch.setattr(Counting, "version", 2)
    assert key_of(Counting, tmp_path=tmp_path) != base
    assert key_of(NeedsQ, W3A3, tmp_path=tmp_path) != key_of(NeedsQ, W4A4, tmp_path=tmp_path)


def test_a_set_handed_to_the_cell_it_was_made_for_is_no_reuse(tmp_path):
    """A Ray cell task gets its set from the task that made it: its row says not cached, as in process."""
    held = {"key": (SyntheticSet(torch.zeros(2, 1, 4, 4), None), 12.5)}
    for made_for_it, cached in ((frozenset(), True), (frozenset({"key"}), False)):
        settings = tiny_settings(tmp_path, cache=MemoryCache(held, made_for_this_cell=made_for_it))
        times = {}
        synthetic, was_cached = synthetic_set(None, "key", None, settings, None, times)  # a hit makes nothing
        assert was_cached is cached and synthetic is held["key"][0] and times["synthesis"] == 12.5


def test_cache_key_holds_the_device_type(tmp_path):
    cell = expand_grid([resolve_method("noise+ptq", {})], ["tiny_vit"], [W4A4], [0])[0]
    synth, settings = SYNTHESIZERS.get("noise")(SYNTHESIZERS.get("noise").Config()), tiny_settings(tmp_path)
    on_gpu = dataclasses.replace(settings, device=torch.device("cuda", 1))
    assert synthesis_key(synth, cell, tiny_backbone(), on_gpu) != synthesis_key(synth, cell, tiny_backbone(), settings)


def test_calibration_time_switches_do_not_change_the_cache_key(tmp_path):
    maskaq = SYNTHESIZERS.get("maskaq")
    assert key_of(maskaq, tmp_path=tmp_path, refresh=False) == key_of(maskaq, tmp_path=tmp_path)
    assert key_of(maskaq, tmp_path=tmp_path, se=False) != key_of(maskaq, tmp_path=tmp_path)


# ---------------------------------------------------------------- runner

class ListReporter(Reporter):
    def __init__(self):
        self.events = []

    def cell_end(self, index, cell, row, skipped):
        self.events.append((cell.method.label, cell.bits_label, row["status"], skipped))


def run(tmp_path, methods, bits=(W4A4,), seeds=(0,), store=None, **settings):
    cells = expand_grid([resolve_method(m, {}) for m in methods], ["tiny_vit"], list(bits), list(seeds))
    reporter = ListReporter()
    with ResultStore(store or tmp_path / "store.sqlite") as db:
        report = run_grid(cells, tiny_settings(tmp_path, **settings), db, reporter, load=lambda name: tiny_backbone())
    return report, reporter.events


def test_a_synthesizer_runs_once_across_bits_and_calibrators(tmp_path):
    Counting.calls = 0
    report, _ = run(tmp_path, ["test-counting+ptq", "test-counting+kd"], bits=(W3A3, W4A4))
    assert len(report.done) == 4 and Counting.calls == 1
    assert sum(row["synthesis_cached"] for row in report.done) == 3


def test_rerun_skips_finished_cells_and_recomputes_nothing(tmp_path):
    Counting.calls = 0
    run(tmp_path, ["fp", "test-counting+ptq"], seeds=(0, 1))
    calls = Counting.calls
    report, events = run(tmp_path, ["fp", "test-counting+ptq"], seeds=(0, 1))
    assert Counting.calls == calls and not report.done and len(report.skipped) == 3
    assert all(skipped for *_, skipped in events)


@register_calibrator("test-interrupt")
class Interrupt(Calibrator):
    def calibrate(self, ctx, source):
        raise KeyboardInterrupt


def test_interrupt_keeps_finished_cells_and_resume_completes(tmp_path):
    report, _ = run(tmp_path, ["fp", "noise+ptq", "noise+test-interrupt", "real+ptq"])
    assert report.interrupted and len(report.done) == 2
    with ResultStore(tmp_path / "store.sqlite") as db:
        assert {r["method"] for r in db.rows()} == {"fp", "noise+ptq"}
    report, _ = run(tmp_path, ["fp", "noise+ptq", "real+ptq"])
    assert len(report.skipped) == 2 and [r["method"] for r in report.done] == ["real+ptq"]


@register_synthesizer("test-nan")
class NaNImages(Synthesizer):
    def synthesize(self, ctx):
        return SyntheticSet(torch.full((ctx.profile.n_images, *ctx.input_size), float("nan")))


@register_calibrator("test-broken")
class Broken(Calibrator):
    def calibrate(self, ctx, source):
        raise RuntimeError("plugin bug\nsecond line")


def test_failures_are_recorded_and_the_grid_goes_on(tmp_path):
    report, events = run(tmp_path, ["test-nan+ptq", "noise+test-broken", "noise+ptq"])
    assert [e[2] for e in events] == ["failed", "failed", "ok"]
    errors = [row["error"] for row in report.failed]
    assert errors == ["FloatingPointError: synthesis produced NaN or infinite pixels", "RuntimeError: plugin bug"]
    report, _ = run(tmp_path, ["test-nan+ptq", "noise+ptq"])  # failed cells are retried, finished ones not
    assert len(report.failed) == 1 and len(report.skipped) == 1


def test_rows_carry_identity_and_provenance(tmp_path):
    report, _ = run(tmp_path, ["noise+kd"])
    row = report.done[0]
    assert row["bits"] == "4w4a" and row["profile"] == "smoke" and row["preset"] == "standard"
    assert json.loads(row["versions"]) == {"synthesizer": 1, "calibrator": 1}
    assert row["n_eval"] == 64 and 0 <= row["top1"] <= 100 and row["peak_memory_mb"] > 0
    assert row["threads"] == torch.get_num_threads() and row["git_commit"]
    assert json.loads(row["package_versions"])["torch"]
    assert json.loads(row["calib_config"])["temperature"] == 5.0
    import platform

    assert row["python"] == platform.python_version() and row["processor"] and row["deterministic"] in (0, 1)
    from dfqbench.store.sqlite import ResultStore

    with ResultStore(tmp_path / "provenance.sqlite") as store:  # the store keeps them
        store.put(row)
        stored = store.to_frame().iloc[0]
    assert (stored["python"], stored["processor"]) == (row["python"], row["processor"])


def test_env_prints_what_a_row_records(capsys, monkeypatch):
    import platform

    from cli_helpers import run_cli

    code, out, _ = run_cli(["env"], capsys, monkeypatch)
    assert code == 0
    assert f"python                    {platform.python_version()}" in out and "deterministic algorithms  off" in out
    assert "torch " in out and "git commit" in out and "cpu " in out
    from dfqbench.runner.provenance import cpu_kind

    assert f"cpu kind                  {cpu_kind()} (results are bit-identical within a kind)" in out


def test_same_seed_same_result(tmp_path):
    first, _ = run(tmp_path / "a", ["noise+kd"])
    second, _ = run(tmp_path / "b", ["noise+kd"])
    assert first.done[0]["top1"] == second.done[0]["top1"]


@pytest.mark.parametrize("spellings", [("off", "false", "0", "no", "FALSE"), ("1e3", "1000", "1000.0")])
def test_one_config_gives_one_label_and_one_cell_id(spellings, tmp_path):
    """``--set synth.se=off``, ``=false`` and ``=0`` are one config: one label, one overrides JSON, one cell id
    (they used to give three rows)."""
    key = "calib.augment" if "off" in spellings else "calib.lr"
    specs = [resolve_method("noise", parse_set_options([f"{key}={text}"])) for text in spellings]
    assert len({spec.label for spec in specs}) == 1
    assert len({spec.overrides_json() for spec in specs}) == 1
    backbone, settings = tiny_backbone(), tiny_settings(tmp_path)
    ids = {cell_key(Cell(spec, "tiny_vit", BitWidth.parse("4w4a"), 0), backbone, settings) for spec in specs}
    assert len(ids) == 1


def test_a_method_declares_its_paper_budget_applied_at_the_paper_profile_only(tmp_path):
    from dfqbench.profiles import get_profile
    from dfqbench.runner.cell import profile_of

    def steps(method, profile):
        cell = expand_grid([resolve_method(method, {})], ["tiny_vit"], [W4A4], [0])[0]
        return profile_of(cell, tiny_settings(tmp_path, profile=get_profile(profile))).synth_steps

    assert steps("psaq-vit", "paper") == steps("sardfq", "paper") == 1000
    assert steps("mimiq", "paper") == steps("maskaq", "paper") == get_profile("paper").synth_steps == 2000
    assert {steps(m, "bench") for m in ("psaq-vit", "sardfq", "mimiq")} == {get_profile("bench").synth_steps}
