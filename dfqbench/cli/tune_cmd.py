"""``dfqbench tune``: a method's declared hyper-parameter grid, scored on the validation split."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.cli.console import console
from dfqbench.cli.options import (
    bit_widths,
    cache_dir_option,
    checkpoint_dir_option,
    counts,
    cpus_per_cell_option,
    data_dir_option,
    device_option,
    executor_option,
    flush_denormal_option,
    gpus_per_cell_option,
    listed,
    open_fraction,
    path_option,
    plugin_option,
    ray_address_option,
    store_option,
)
from dfqbench.cli.path_kinds import READ_FOLDER, WRITE_FOLDER
from dfqbench.cli.run_display import run_with_display
from dfqbench.cli.settings import executor_options, make_settings
from dfqbench.errors import UserError
from dfqbench.paths import DEFAULT_MODEL


def tune_command(
    methods: str = typer.Option(..., callback=listed,
                                help="Comma-separated methods that declare a tunable grid (e.g. sardfq)."),
    bits: str = typer.Option("4w4a", callback=bit_widths,
                             help="The one bit-width the tuning is made at (applied at every bit-width "
                                          "of the model by run --tuning)."),
    models: str = typer.Option(DEFAULT_MODEL, callback=listed, help="Comma-separated models: one tuning file each."),
    seeds: str = typer.Option("0,1,2", callback=counts, help="Comma-separated master seeds."),
    profile: str = typer.Option("bench", help="The profile of the table the tuning feeds."),
    preset: str = typer.Option("standard", help="Quantizer preset."),
    device: str = device_option(),
    store: Path = store_option("SQLite results store (the validation cells)."),
    cache_dir: Path = cache_dir_option(),
    checkpoint_dir: Path = checkpoint_dir_option(),
    flush_denormal: bool = flush_denormal_option(),
    out_dir: Path = path_option(Path("results"), "--out-dir", kind=WRITE_FOLDER, help="Folder for the tuning files "
                                                                    "(tuning_METHOD_MODEL_BITS_PROFILE.json)."),
    limit: int = typer.Option(None, help="Score only N validation images (smoke runs)."),
    val_from_train: float = typer.Option(None, callback=open_fraction,
                                         help="ImageFolder: the share of train/ held out as the validation "
                                                    "split (default 0.02)."),
    data_dir: Path = data_dir_option(),
    imagenet: Path = path_option(None, "--imagenet", kind=READ_FOLDER,
                                 help="ImageNet ImageFolder root (train/) for timm models."),
    plugin: list[str] = plugin_option(),
    executor: str = executor_option(),
    ray_address: str = ray_address_option(),
    cpus_per_cell: int = cpus_per_cell_option(),
    gpus_per_cell: float = gpus_per_cell_option(),
) -> None:
    """Score every value of a method's declared grid on the validation split and write the choice.

    The validation split is carved from the training data (Fashion-MNIST: every 12th training image), never the
    test split. Each value is a variant row evaluated at the given profile over the seeds; the highest validation
    mean wins. The file lists every value's mean ± std; apply it with `dfqbench run --tuning FILE`. Examples:

      dfqbench --threads 1 tune --methods sardfq --bits 4w4a --models fmnist_vit --seeds 0,1,2 --profile bench

      dfqbench tune --methods sardfq --models canvas56a_vit,canvas56a_deit --executor ray   (one cell per core)
    """
    import dataclasses

    from dfqbench.quant.bits import parse_bit_list
    from dfqbench.registry import load_plugin_file
    from dfqbench.runner.grid import expand_grid, parse_seeds
    from dfqbench.runner.plan import plan_grid
    from dfqbench.runner.tune import TUNING_FORMAT, grid_specs, summarise, write_tuning

    for path in plugin or []:
        load_plugin_file(path)
    bit_list, seed_list = parse_bit_list(bits), parse_seeds(seeds)
    if len(bit_list) != 1:
        raise UserError("--bits: a tuning is made at one bit-width (e.g. 4w4a)")
    names = [m.strip() for m in methods.split(",") if m.strip()]
    model_names = [m.strip() for m in models.split(",") if m.strip()]
    if not names or not model_names:
        raise UserError("--methods and --models must each name at least one")
    plan = [(name, model, grid_specs(name)) for name in names for model in model_names]
    ray_options = executor_options(executor, ray_address, cpus_per_cell, gpus_per_cell, device)
    settings = make_settings(preset, [], profile, device, cache_dir, limit, data_dir, imagenet, None, checkpoint_dir,
                             check_device=ray_options is None, flush_denormal=flush_denormal)
    settings = dataclasses.replace(settings, split="val", val_from_train=val_from_train)
    cells = [cell for _, model, specs in plan for cell in expand_grid(specs, [model], bit_list, seed_list)]
    report = run_with_display(plan_grid(cells, settings), settings, store, ray_options, plugin or [])
    if report.interrupted:
        raise typer.Exit(130)
    rows = report.done + report.skipped + report.failed
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, model, specs in plan:
        record = summarise(name, specs, [row for row in rows if row["model"] == model])
        record.update(format=TUNING_FORMAT, method=name, model=model, bits=str(bit_list[0]), seeds=seed_list,
                      profile=settings.profile.name, profile_hash=settings.profile.hash(), preset=settings.preset.name,
                      preset_hash=settings.preset.hash(), note=validation_note(model))
        path = out_dir / f"tuning_{name}_{model}_{bit_list[0]}_{settings.profile.name}.json"
        write_tuning(record, path)
        for score in record["scores"]:
            console.print(f"{score['label']}: {score['mean']:.2f} ± {score['std'] or 0:.2f} (n={len(score['top1'])})",
                          highlight=False, markup=False)
        console.print(f"{name} on {model}: chose {record['choice_label']}; wrote {path}", highlight=False,
                      markup=False)
        for sentence in record["at_grid_edge"]:
            console.print(f"note: {sentence}", highlight=False, markup=False)


def validation_note(model: str) -> str:
    """What the scores are, and whether the model saw the validation split in its training (zoo recipes say)."""
    from dfqbench.zoo.registry import get_zoo_model, is_zoo_model

    note = "scores are top-1 on the validation split carved from the training data"
    if not is_zoo_model(model):
        return note
    if get_zoo_model(model).recipe.train_split == "train":
        return note + f"; {model} was trained without it"
    return note + f"; {model} saw it in training, which biases its scores upward"
