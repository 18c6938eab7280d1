"""One cell: synthesize -> quantize and calibrate -> evaluate, timed, with its provenance."""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from dfqbench.api import CALIBRATORS, SYNTHESIZERS, CalibrationSource, ModelContext, SyntheticSet
from dfqbench.data.splits import eval_batches, train_image_sampler
from dfqbench.errors import UserError
from dfqbench.evaluate import EVAL_BATCH_SIZE, evaluate
from dfqbench.profiles import Profile, budget_for
from dfqbench.quant.preset import QuantPreset
from dfqbench.quant.state import QuantState, set_quant_state
from dfqbench.quant.wrap import wrap_model
from dfqbench.runner.cache import SynthesisCache, cache_key, images_finite
from dfqbench.runner.checkpoint import CellCheckpoints
from dfqbench.runner.grid import Cell
from dfqbench.runner.overrides import build_config
from dfqbench.runner.provenance import PeakMemory, git_commit, machine_record, package_versions
from dfqbench.runner.seeds import stage_generator, stage_seed
from dfqbench.runner.split import split_synthesize
from dfqbench.runtime import denormals_flushed
from dfqbench.store.schema import ID_SCHEME, cell_id
from dfqbench.zoo.backbones import Backbone

StageProgress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclasses.dataclass
class RunSettings:
    preset: QuantPreset
    profile: Profile
    device: torch.device
    cache: SynthesisCache
    limit: int | None = None
    data_dir: Path | None = None
    imagenet: Path | None = None
    save_models: Path | None = None
    eval_batch_size: int = EVAL_BATCH_SIZE
    split: str = "test"                  # 'test' for tables, 'val' for tuning
    val_from_train: float | None = None  # ImageFolder: the share of train/ held out as 'val'
    checkpoint_dir: Path | None = None   # cells in flight checkpoint here (None: not at all)
    weights: tuple[tuple[str, Path], ...] = ()  # (model, weights file) for timm models run offline (--checkpoint)
    flush_denormal: bool = False         # CPU: subnormal floats flushed to zero (dfqbench.runtime.denormals_flushed)

    @property
    def arithmetic(self) -> str:
        """The identity's ``device_type``: ``cpu``, ``cuda``, or ``cpu-ftz`` where subnormals are flushed (another
        arithmetic: its cells and synthetic sets are never those of plain ``cpu``)."""
        return self.device.type + ("-ftz" if self.flush_denormal else "")

    def weights_of(self, model: str) -> Path | None:
        return dict(self.weights).get(model)

    def checkpoints(self, key: str) -> CellCheckpoints:
        """The checkpoints of the cell with id ``key``."""
        return CellCheckpoints(self.checkpoint_dir, key)

    def evaluation(self, dataset: str) -> str:
        """What the top-1 is measured on, as the identity names it: ``test``, ``test[:500]``, ``val``, ..."""
        label = self.split + (f"[:{self.limit}]" if self.limit is not None else "")
        if dataset == "imagenet" and self.split == "val":
            label += f"(val-from-train={self.val_from_train if self.val_from_train is not None else 'default'})"
        return label


def profile_of(cell: Cell, settings: RunSettings) -> Profile:
    """The cell's budget: the run's profile, with the method's own paper budget at ``paper``."""
    if cell.method.is_fp:
        return settings.profile
    return budget_for(settings.profile, SYNTHESIZERS.get(cell.method.synthesizer).paper_budget)


def identity_of(cell: Cell, backbone: Backbone, settings: RunSettings, versions: dict) -> dict:
    profile = profile_of(cell, settings)
    return {
        "method": cell.method.label, "synthesizer": cell.method.synthesizer, "calibrator": cell.method.calibrator,
        "overrides": cell.method.overrides_json(), "model": cell.model, "weights_hash": backbone.weights_hash,
        "bits": cell.bits_label, "preset": settings.preset.name, "preset_hash": settings.preset.hash(),
        "profile": profile.name, "profile_hash": profile.hash(), "seed": cell.seed,
        "versions": json.dumps(versions, sort_keys=True), "evaluation": settings.evaluation(backbone.dataset),
        "device_type": settings.arithmetic, "threads": torch.get_num_threads(),
        "id_scheme": ID_SCHEME,
    }


def plugin_configs(cell: Cell):
    """The synthesizer and calibrator instances of a cell, configs validated."""
    spec = cell.method
    synth_cls, calib_cls = SYNTHESIZERS.get(spec.synthesizer), CALIBRATORS.get(spec.calibrator)
    typed = spec.overrides
    synth = synth_cls(build_config(synth_cls.Config, spec.synth_overrides, typed.get("synth", {}), "synth",
                                   spec.synthesizer))
    calib = calib_cls(build_config(calib_cls.Config, spec.calib_overrides, typed.get("calib", {}), "calib",
                                   spec.calibrator))
    return synth, calib


def cell_versions(cell: Cell) -> dict:
    if cell.method.is_fp:
        return {}
    return {"synthesizer": SYNTHESIZERS.get(cell.method.synthesizer).version,
            "calibrator": CALIBRATORS.get(cell.method.calibrator).version}


def synthesis_key(synth, cell: Cell, backbone: Backbone, settings: RunSettings) -> str:
    p = profile_of(cell, settings)
    config = {k: v for k, v in synth.config.to_dict().items() if k not in synth.cache_exclude}
    fields = {"synthesizer": synth.name, "version": synth.version, "config": config,
              "weights": backbone.weights_hash, "seed": cell.seed, "device": settings.arithmetic,
              "profile": {"n_images": p.n_images, "synth_batch_size": p.synth_batch_size,
                          "synth_steps": p.synth_steps}}
    if synth.needs_quantized_model:
        fields.update(bits=str(cell.bits), preset=settings.preset.hash())
    if cell.method.split:
        fields["mode"] = "split"
    return cache_key(fields)


def cell_key(cell: Cell, backbone: Backbone, settings: RunSettings) -> str:
    """The cell's ``cell_id`` (a hash of its identity fields)."""
    return cell_id(identity_of(cell, backbone, settings, cell_versions(cell)))


def base_row(cell: Cell, backbone: Backbone, settings: RunSettings) -> dict:
    """The cell's identity and provenance, stamped now."""
    versions = cell_versions(cell)
    identity = identity_of(cell, backbone, settings, versions)
    return {**identity, "cell_id": cell_id(identity), "git_commit": git_commit(),
            "package_versions": package_versions(), "device": str(settings.device),
            **machine_record(settings.device),
            "profile_config": profile_of(cell, settings).to_json(), "tuning": cell.method.tuning,
            "preset_config": settings.preset.to_json(),
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def planned_row(planned, settings: RunSettings) -> dict:
    """The cell's identity and provenance, with its plugins' configs."""
    row = base_row(planned.cell, planned.backbone, settings)
    if planned.synth is not None:
        row.update(synth_config=planned.synth.config.to_json(), calib_config=planned.calib.config.to_json())
    return row


def failed_row(planned, settings: RunSettings, error: str, seconds: float | None = None) -> dict:
    """The stored row of a cell that failed (``error``: one line)."""
    return {**planned_row(planned, settings), "status": "failed", "error": error, "seconds_total": seconds}


def cell_row(planned, settings: RunSettings, progress: StageProgress) -> dict:
    """The cell's whole stored row: its identity and provenance, then its measurements or why it failed.

    ``planned`` is a :class:`dfqbench.runner.plan.PlannedCell`. A failing plugin or NaN makes a failed row;
    Ctrl-C and bad input propagate."""
    row, started = planned_row(planned, settings), time.time()
    try:
        with denormals_flushed(settings.flush_denormal):
            return {**row, **run_cell(planned, settings, progress)}
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as exc:
        return failed_row(planned, settings, first_line(exc), time.time() - started)


def run_cell(planned, settings: RunSettings, progress: StageProgress) -> dict:
    """Compute the planned cell and return its measurements (raises on failure)."""
    cell, backbone = planned.cell, planned.backbone
    device, times = settings.device, {}
    model = backbone.model.to(device).eval()
    with PeakMemory(device) as memory:
        start = time.time()
        if cell.method.is_fp:
            evaluated, cached = model, None
        else:
            evaluated, cached, times = calibrated_student(planned, settings, progress)
        t0 = time.time()
        batches = eval_batches(backbone.dataset, backbone.data_config, settings.eval_batch_size, settings.limit,
                               settings.data_dir, settings.imagenet, settings.split, settings.val_from_train)
        total = settings.limit or None
        seen = [0]

        def advance(n: int) -> None:
            seen[0] += n
            progress("evaluation", seen[0], total or seen[0])

        acc = evaluate(evaluated, batches, device=device, progress=advance)
        times["evaluation"] = time.time() - t0
        # a reused set costs what making it cost, not the time it took to load it
        total_seconds = time.time() - start + (times.get("synthesis") or 0.0) - times.get("synthesis_load", 0.0)
    return {"status": "ok", "error": None, "top1": acc.top1, "top5": acc.top5, "n_eval": acc.n,
            "seconds_synthesis": times.get("synthesis"), "seconds_calibration": times.get("calibration"),
            "seconds_evaluation": times["evaluation"], "seconds_total": total_seconds,
            "peak_memory_mb": memory.peak_mb, "synthesis_cached": cached}


def model_context(cell: Cell, backbone: Backbone, settings: RunSettings, teacher, student, synth,
                  progress: StageProgress, checkpoints: CellCheckpoints):
    """``context(stage)``: the ModelContext of one stage, with the stage's checkpoint. Data-free means data-free:
    training images are handed to the ``real`` reference's synthesizer only (a method plugin's context has none)."""
    real_images = None
    if synth.role == "oracle":
        real_images = train_image_sampler(backbone.dataset, backbone.data_config, settings.data_dir,
                                          settings.imagenet, settings.val_from_train)

    def context(stage: str) -> ModelContext:
        return ModelContext(teacher=teacher, student=student, data_config=backbone.data_config,
                            num_classes=backbone.model.num_classes, profile=profile_of(cell, settings),
                            generator=stage_generator(cell.seed, stage), device=settings.device,
                            progress=lambda done, total: progress(stage, done, total), real_images=real_images,
                            checkpoint=checkpoints.stage(stage))
    return context


def synthetic_set(synth, key: str, cell: Cell, settings: RunSettings, context,
                  times: dict) -> tuple[SyntheticSet, bool]:
    """The cell's synthetic set from the cache, or made now and cached with the time it took.

    ``times['synthesis']`` is the time it took to make the set (recorded with a cached set);
    ``times['synthesis_load']`` the time this cell spent on it. The flag: the set was reused (made for another
    cell); a set made for this cell by another task (Ray) is not."""
    t0 = time.time()
    hit = settings.cache.load(key)
    if hit is not None:
        synthetic, times["synthesis"] = hit.synthetic, hit.seconds
    else:
        synthetic = (split_synthesize(synth, context("synthesis"), cell.seed) if cell.method.split
                     else synth.synthesize(context("synthesis")))
        if not images_finite(synthetic):
            raise FloatingPointError("synthesis produced NaN or infinite pixels")
        times["synthesis"] = time.time() - t0
        settings.cache.save(key, synthetic, {"synthesizer": synth.name, "version": synth.version,
                                             "model": cell.model, "seed": cell.seed,
                                             "profile": settings.profile.name,
                                             "bits": str(cell.bits) if synth.needs_quantized_model else None},
                            seconds=times["synthesis"])
    times["synthesis_load"] = time.time() - t0
    return synthetic, hit is not None and not hit.made_for_this_cell


def cell_models(planned, settings: RunSettings, progress: StageProgress):
    """``(student, context)``: the cell's quantized model, uncalibrated, and its stages' contexts."""
    cell, backbone, device, model = planned.cell, planned.backbone, settings.device, planned.backbone.model
    teacher = wrap_model(model, settings.preset, cell.bits).to(device).eval().requires_grad_(False)
    student = wrap_model(model, settings.preset, cell.bits).to(device).eval()
    set_quant_state(student, QuantState.QUANTIZE)  # uninitialised ranges set themselves on the first batch
    return student, model_context(cell, backbone, settings, teacher, student, planned.synth, progress,
                                  settings.checkpoints(planned.cell_id))


def calibrated_student(planned, settings: RunSettings, progress: StageProgress):
    cell, synth, calib, device = planned.cell, planned.synth, planned.calib, settings.device
    student, context = cell_models(planned, settings, progress)
    times = {}
    synthetic, cached = synthetic_set(synth, planned.set_key, cell, settings, context, times)
    synthetic = SyntheticSet(synthetic.images.to(device),
                             None if synthetic.labels is None else synthetic.labels.to(device))
    t0 = time.time()
    source = CalibrationSource(synth, context("refresh"), synthetic)
    calib.calibrate(context("calibration"), source)
    set_quant_state(student, QuantState.QUANTIZE)
    times["calibration"] = time.time() - t0
    if settings.save_models is not None:
        settings.save_models.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in student.state_dict().items()}
        label = {"method": cell.method.label, "model": cell.model, "bits": cell.bits_label, "seed": cell.seed,
                 "preset": settings.preset.to_dict(), "profile": profile_of(cell, settings).name}
        save_file(state, str(settings.save_models / f"{planned.cell_id}.safetensors"),
                  metadata={"cell": json.dumps(label)})
    return student, int(cached), times


__all__ = ["RunSettings", "base_row", "cell_key", "cell_row", "run_cell", "stage_seed"]
