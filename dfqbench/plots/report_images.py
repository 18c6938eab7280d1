"""The figures drawn from files other than results CSVs: the attention maps of saved students and the synthetic
images of a cache. Shared by ``dfqbench plot attention`` and ``dfqbench report``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from matplotlib.figure import Figure

from dfqbench.errors import UserError
from dfqbench.tables.leaderboard import method_name, variant_of


def class_name(backbone, index: int) -> str:
    from dfqbench.data.fashion_mnist import CLASSES

    if backbone.dataset == "fashion-mnist" or backbone.dataset.startswith("canvas"):
        return CLASSES[index]
    return str(index)


def plot_settings(preset, profile: str, cache_dir: Path | None, data_dir: Path | None):
    """Run settings for drawing on the CPU: the cells' preset, a profile by name, a synthesis cache (the default
    folder when none is given) and the data folder."""
    from dfqbench.paths import DEFAULT_CACHE
    from dfqbench.profiles import get_profile
    from dfqbench.runner.cache import SynthesisCache
    from dfqbench.runner.cell import RunSettings

    return RunSettings(preset=preset, profile=get_profile(profile), device=torch.device("cpu"),
                       cache=SynthesisCache(cache_dir or DEFAULT_CACHE), data_dir=data_dir)


def students_attention_figure(paths: list[Path], cache_dir: Path | None, data_dir: Path | None, images: int = 3,
                              synthetic: str = "maskaq", seed: int = 0, profile: str = "bench",
                              fallback: str | None = None, mask_ratio: float = 0.1) -> Figure:
    """The figure of :mod:`dfqbench.plots.attention` for the students in ``paths`` (files or folders): ``images``
    real test images of distinct classes, then as many of ``synthetic``'s set (from the cache, else made at
    ``fallback``; without either, real images only)."""

    from dfqbench.data.splits import eval_batches
    from dfqbench.plots.attention import attention_figure
    from dfqbench.plots.attention_maps import (
        attention_rows,
        distinct_classes,
        load_student,
        student_cell,
        student_files,
    )
    from dfqbench.plots.sample_sets import synthetic_images
    from dfqbench.zoo.backbones import load_backbone

    files = student_files(paths)
    models = sorted({student_cell(path)["model"] for path in files})
    if len(models) > 1:
        raise UserError(f"the students are of several models ({', '.join(models)}): give those of one")
    backbone = load_backbone(models[0])
    loaded = [load_student(path, backbone) for path in files]
    if cache_dir is None and fallback is None:
        synthetic = "none"
    settings = plot_settings(loaded[0].preset, profile, cache_dir, data_dir)  # with its switches, as the cells had it
    x, y = next(iter(eval_batches(backbone.dataset, backbone.data_config, 256, 256, settings.data_dir)))
    picked = distinct_classes(y, images)
    inputs, captions = [x[picked]], [f"real: {class_name(backbone, int(y[i]))}" for i in picked]
    made, made_at = (None, "") if synthetic == "none" else synthetic_images(
        synthetic, backbone, seed, loaded[0].bits, settings, fallback)
    if made is not None:
        inputs.append(made.images[:images].cpu())
        targets = made.labels[:images].tolist() if made.labels is not None else [None] * len(inputs[-1])
        captions += [f"{synthetic} ({made_at})" + ("" if t is None else f": {class_name(backbone, t)}")
                     for t in targets]
    rows = attention_rows(backbone, loaded, torch.cat(inputs), captions, mask_ratio)
    profiles = ", ".join(sorted({s.profile for s in loaded}))
    title = (f"{backbone.dataset} · {backbone.name} · {loaded[0].bits} · profile {profiles} · preset "
             f"{loaded[0].preset.name} · MaskAQ score map, top {mask_ratio:g} of FP patches outlined")
    return attention_figure(rows, [s.name for s in loaded], title)


def synthesizers_shown(frame: pd.DataFrame) -> list[str]:
    """``noise`` and the data-free methods among the rows (no crossings, variants or fp/real)."""
    from dfqbench.api import METHODS, REFERENCE_ROWS

    labels = [str(label) for label in dict.fromkeys(frame["method"])]
    names = dict.fromkeys(method_name(label) for label in labels if variant_of(label) is None and "+" not in label)
    methods = [name for name in names if name in METHODS.names() and name not in REFERENCE_ROWS]
    return ["noise"] * ("noise" in labels) + methods


def methods_without_students(frame: pd.DataFrame, paths: list[Path]) -> list[str]:
    """The data-free methods among the rows that no student in ``paths`` (files or folders) belongs to."""
    from dfqbench.plots.attention_maps import student_cell, student_files

    have = {method_name(str(student_cell(path)["method"])) for path in student_files(paths)}
    return [name for name in synthesizers_shown(frame) if name != "noise" and name not in have]


def cached_samples_figure(frame: pd.DataFrame, cache_dir: Path, data_dir: Path | None
                          ) -> tuple[Figure | None, list[str]]:
    """The samples figure of the rows' first model, seed 0, first bit-width and profile, from ``cache_dir`` only;
    with the synthesizers whose sets it lacks. None when it lacks them all."""
    from dfqbench.plots.sample_sets import real_row, synthetic_row_or_none
    from dfqbench.plots.samples import samples_figure
    from dfqbench.quant.preset import get_preset
    from dfqbench.zoo.backbones import load_backbone

    rows = frame[frame["bits"].astype(str) != "fp"]
    if rows.empty:
        return None, ["every synthesizer (no quantized rows)"]
    model, bits, profile = (str(rows[c].iloc[0]) for c in ("model", "bits", "profile"))
    backbone = load_backbone(model)
    settings = plot_settings(get_preset(str(rows["preset"].iloc[0])), profile, cache_dir, data_dir)
    found = {m: synthetic_row_or_none(m, backbone, 0, bits, settings) for m in synthesizers_shown(frame)}
    missing = [m for m, row in found.items() if row is None]
    if len(missing) == len(found):
        return None, missing
    classes = list(range(backbone.model.num_classes))[:10]
    sample_rows = [real_row(backbone, settings)] + [row for row in found.values() if row is not None]
    fig = samples_figure(sample_rows, classes, [class_name(backbone, c) for c in classes],
                         f"{backbone.name} · seed 0 · {bits}")
    return fig, missing
