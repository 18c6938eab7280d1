"""``dfqbench run``: expand the grid, run what is not in the store yet, print and write the leaderboard."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from dfqbench.cli.console import console, err_console
from dfqbench.cli.options import (
    bit_widths,
    cache_dir_option,
    checkpoint_dir_option,
    checkpoint_items,
    counts,
    cpus_per_cell_option,
    data_dir_option,
    device_option,
    executor_option,
    flush_denormal_option,
    gpus_per_cell_option,
    listed,
    model_weights,
    path_option,
    plugin_option,
    ray_address_option,
    store_option,
)
from dfqbench.cli.output import print_and_write
from dfqbench.cli.path_kinds import READ_FILE, READ_FOLDER, WRITE_FOLDER
from dfqbench.cli.run_display import run_with_display
from dfqbench.cli.settings import executor_options, make_settings
from dfqbench.errors import UserError
from dfqbench.paths import DEFAULT_MODEL, DEFAULT_OUT


def default_methods() -> list[str]:
    """The reference rows and every registered method."""
    from dfqbench.api import FP, METHODS, REFERENCE_ROWS

    return [FP, *REFERENCE_ROWS] + [m for m in METHODS.names() if m not in REFERENCE_ROWS]


def run_command(
    methods: str = typer.Option(None, callback=listed, help="Comma-separated methods, crossings SYNTH+CALIB, or fp "
                                           "(default: fp, noise, real and every registered method)."),
    bits: str = typer.Option("4w4a", callback=bit_widths,
                             help="Comma-separated bit-widths: 3w3a,4w4a,5w5a,4w8a (also W4A4, W4/A4)."),
    models: str = typer.Option(DEFAULT_MODEL, callback=listed, help="Comma-separated models (zoo or timm names)."),
    seeds: str = typer.Option("0", callback=counts, help="Comma-separated master seeds."),
    profile: str = typer.Option("quick", help="Budget: quick, bench or paper (see: dfqbench list profiles)."),
    preset: str = typer.Option("standard", help="Quantizer preset (see: dfqbench list presets)."),
    preset_set: list[str] = typer.Option(None, "--preset-set", help="Preset switch KEY=VALUE (repeatable), e.g. "
                                         "first_last_8bit=true or softmax_quantizer=log2."),
    set_: list[str] = typer.Option(None, "--set", help="Config override synth.KEY=VALUE or calib.KEY=VALUE "
                                                     "(repeatable); makes the rows a variant."),
    label: str = typer.Option(None, help="Row label of the variant (default: derived from --set)."),
    ablations: bool = typer.Option(False, "--ablations", help="Add each method's ablation rows: one variant per "
                                                              "component, that component off (see: dfqbench list "
                                                              "methods)."),
    plugin: list[str] = plugin_option(),
    device: str = device_option(),
    store: Path = store_option(),
    out: Path = path_option(DEFAULT_OUT, "--out", kind=WRITE_FOLDER,
                            help="Folder for leaderboard.md, leaderboard.csv and results.csv."),
    cache_dir: Path = cache_dir_option(),
    checkpoint_dir: Path = checkpoint_dir_option(),
    flush_denormal: bool = flush_denormal_option(),
    save_models: Path = path_option(None, "--save-models", kind=WRITE_FOLDER,
                                    help="Keep each calibrated model here (safetensors)."),
    limit: int = typer.Option(None, help="Evaluate only N test images (smoke runs; recorded as n_eval)."),
    data_dir: Path = data_dir_option(),
    imagenet: Path = path_option(None, "--imagenet", kind=READ_FOLDER,
                                 help="ImageNet ImageFolder root (train/ and val/) for timm models."),
    checkpoint: list[str] = typer.Option(None, "--checkpoint", callback=checkpoint_items,
                                         help="MODEL=PATH: a timm model's weights from a file (safetensors or a "
                                              "weights-only torch file) instead of the hub, e.g. offline "
                                              "(repeatable)."),
    tuning: list[Path] = path_option(None, "--tuning", kind=READ_FILE,
                                     help="Tuning file of `dfqbench tune` (repeatable): its "
                                      "values become the method's overrides on its model; rows read METHOD[tuned]."),
    shard: str = typer.Option(None, help="K/N: run only part K of N of the grid (cells sharing a synthetic set stay "
                                         "in one part), e.g. on N machines without a common cluster, each with "
                                         "its own store (merge with export and import)."),
    executor: str = executor_option(),
    ray_address: str = ray_address_option(),
    cpus_per_cell: int = cpus_per_cell_option(),
    gpus_per_cell: float = gpus_per_cell_option(),
    no_references: bool = typer.Option(False, "--no-references", help="Leave out the noise and real rows that "
                                       "every leaderboard of a run gets by default (fp is always added: seconds)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compute nothing: print how many of the grid's cells the "
                                 "store has, per row and model, and about how long the rest takes."),
    split_synthesis: bool = typer.Option(False, "--split-synthesis", help="Make each synthetic set batch by batch, "
                                         "each batch from its own seed (with --executor ray: as parallel tasks); "
                                         "only synthesizers with independent batches; rows read METHOD[split]."),
) -> None:
    """Run a benchmark grid: each cell = synthesize -> quantize and calibrate -> evaluate.

    Finished cells are read from the store, synthetic sets from the cache; a
    failing cell is recorded and the grid goes on. Examples:

      dfqbench run

      dfqbench run --methods noise,real --bits 3w3a,4w4a,5w5a,4w8a

      dfqbench run --methods noise+ptq,real+ptq --bits 4w4a --seeds 0,1,2 --profile bench

      dfqbench run --methods noise --set calib.augment=off --label noise[no-aug]

      dfqbench run --methods maskaq --ablations --bits 4w4a --seeds 0,1,2 --profile bench

      dfqbench run --plugin my_method.py --methods mine

      dfqbench run --profile bench --executor ray --cpus-per-cell 1   (a local Ray cluster, one cell per core)

      dfqbench run --methods maskaq --bits 3w3a,4w4a --seeds 0,1,2 --profile bench --dry-run   (what is left)
    """
    from dfqbench.quant.bits import parse_bit_list
    from dfqbench.registry import load_plugin_file
    from dfqbench.runner.grid import expand_grid, parse_seeds
    from dfqbench.runner.overrides import parse_set_options
    from dfqbench.runner.plan import plan_grid
    from dfqbench.runner.shard import parse_shard, select_shard
    from dfqbench.runner.split import with_split
    from dfqbench.runner.tune import load_tuning

    for path in plugin or []:
        load_plugin_file(path)
    raw = parse_set_options(set_ or [])
    names = [m.strip() for m in (methods.split(",") if methods else default_methods()) if m.strip()]
    if label and len([n for n in names if n != "fp"]) != 1:
        raise UserError("--label names one variant: give exactly one method besides fp")
    if ablations and (any(raw.values()) or label):
        raise UserError("--ablations makes its own variants: it cannot be combined with --set or --label")
    model_names, bit_list, seed_list = [m.strip() for m in models.split(",") if m.strip()], parse_bit_list(bits), \
        parse_seeds(seeds)
    tunings = [load_tuning(path) for path in tuning or []]
    if not tunings:
        cells = expand_grid(method_specs(names, raw, label, ablations, {}), model_names, bit_list, seed_list)
    else:  # a tuning holds one model's values: the rows of each model are resolved with its own
        cells = [cell for model in model_names
                 for cell in expand_grid(method_specs(names, raw, label, ablations, tuned_for(tunings, model, names)),
                                         [model], bit_list, seed_list)]
    if split_synthesis:
        cells = with_split(cells)
    cells = reference_cells(names, no_references, model_names, bit_list, seed_list) + cells
    shard_part = parse_shard(shard) if shard is not None else None
    ray_options = executor_options(executor, ray_address, cpus_per_cell, gpus_per_cell, device, need_ray=not dry_run)
    settings = make_settings(preset, preset_set or [], profile, device, cache_dir, limit, data_dir, imagenet,
                             save_models, checkpoint_dir, check_device=ray_options is None and not dry_run,
                             flush_denormal=flush_denormal)
    settings = dataclasses.replace(settings, weights=run_weights(checkpoint or [], model_names))
    plan = plan_grid(cells, settings)  # bad input fails here, before any work
    if shard_part is not None:
        index, count = shard_part
        total, plan = len(plan), select_shard(plan, index, count)
        console.print(f"shard {index}/{count}: {len(plan)} of the grid's {total} cells", highlight=False)
        if not plan:
            return
    if dry_run:
        from dfqbench.cli.plan_status import plan_status, status_lines, stored_rows

        for line in status_lines(plan_status(plan, settings, stored_rows(store)), store):
            console.print(line, highlight=False, markup=False)
        return
    execute(plan, settings, store, out, ray_options, plugin or [])


def method_specs(names: list[str], raw: dict, label: str | None, ablations: bool, tuned: dict) -> list:
    """The rows of ``--methods`` (with ``--set``/``--label``), and their ablation rows, with tuned values."""
    from dfqbench.runner.grid import ablation_specs, resolve_method

    specs = [resolve_method(name, {}) if name == "fp" else resolve_method(name, raw, label, *tuned.get(name, ()))
             for name in names]
    return specs + (ablation_specs(names, tuned) if ablations else [])


def reference_cells(names: list[str], no_references: bool, model_names, bit_list, seed_list) -> list:
    """The rows a leaderboard of the run needs to be read on its own, beside ``names``: ``fp`` always, and the
    ``noise`` and ``real`` references unless ``--no-references`` (none that ``--methods`` names already)."""
    from dfqbench.api import FP, REFERENCE_ROWS
    from dfqbench.runner.grid import expand_grid, resolve_method

    wanted = [FP] + ([] if no_references else list(REFERENCE_ROWS))
    missing = [name for name in wanted if name not in names]
    return expand_grid([resolve_method(name, {}) for name in missing], model_names, bit_list, seed_list)


def run_weights(items: list[str], model_names: list[str]) -> tuple:
    """``--checkpoint MODEL=PATH`` values as (model, path) pairs, each for a model of the grid."""
    pairs = []
    for item in items:
        model, path = model_weights(item, "--checkpoint")
        if model not in model_names:
            raise UserError(f"--checkpoint {item!r} is for {model}, which is not in --models "
                            f"({', '.join(model_names)})")
        pairs.append((model, path))
    return tuple(pairs)


def tuned_for(tunings: list, model: str, names: list[str]) -> dict:
    """``{method: (tuned --set strings, file hash)}`` for one model; a tuned method without a file for it is an
    error (its rows would mix tuned and untuned values)."""
    from dfqbench.runner.tune import tuned_overrides

    mine = {t.method: t for t in tunings if t.model == model}
    for method in {t.method for t in tunings} - set(mine):
        raise UserError(f"--tuning has {method} for another model but none for {model}: tune it there too "
                        f"(dfqbench tune --methods {method} --models {model}) or leave {model} out")
    for unused in [t for t in mine.values() if t.method not in names]:
        raise UserError(f"--tuning {unused.path} is for {unused.method}, which is not in --methods")
    return {method: (tuned_overrides(t), t.sha256) for method, t in mine.items()}


def execute(plan, settings, store_path: Path, out: Path, ray_options=None, plugins: list[str] = ()) -> None:
    """Run the grid, then print and write its leaderboard; exit 1 if a cell failed, 130 if interrupted."""
    from dfqbench.store.sqlite import ResultStore

    report = run_with_display(plan, settings, store_path, ray_options, plugins)
    with ResultStore(store_path) as store:
        ids = [row["cell_id"] for row in report.done + report.skipped + report.failed]
        frame = store.to_frame(cell_id=ids)
    if len(frame):
        try:
            print_and_write(frame, out, title=f"profile {settings.profile.name} · preset {settings.preset.name}")
        except UserError as exc:  # nothing to rank (only fp, or every cell failed): the rows are stored all the same
            err_console.print(f"no leaderboard: {exc}", highlight=False, markup=False)
            for row in [r for r in report.done + report.skipped if r["status"] == "ok"]:
                console.print(f"{row['method']} · {row['model']} · {row['bits']} · seed {row['seed']}: top-1 "
                              f"{row['top1']:.2f}%", highlight=False, markup=False)
    if report.failed:
        err_console.print(f"{len(report.failed)} of {len(plan)} cells failed:", highlight=False)
        for row in report.failed:
            err_console.print(f"  {row['method']} · {row['model']} · {row['bits']} · seed {row['seed']}: "
                              f"{row['error']}", highlight=False, markup=False)
    if report.interrupted:
        err_console.print(f"interrupted: {len(report.done)} finished cells are in {store_path}; "
                          "rerun the same command to resume", highlight=False)
        raise typer.Exit(130)
    if report.failed:
        raise typer.Exit(1)
    console.print(f"{len(report.done)} cells computed, {len(report.skipped)} read from {store_path}",
                  highlight=False)
