"""``dfqbench plot``: figures of the results, from committed CSVs or a store (never a re-run)."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.cli.console import console
from dfqbench.cli.options import (
    bit_widths,
    bits_filter_option,
    cache_dir_option,
    data_dir_option,
    figure_option,
    listed,
    models_filter_option,
    path_argument,
    results_from_option,
    rows_option,
    split,
    store_option,
    unit_share,
)
from dfqbench.cli.output import results_frame
from dfqbench.cli.path_kinds import READ_PATH, READ_STORE
from dfqbench.errors import UserError
from dfqbench.plots.style import figure_title

plot_app = typer.Typer(help="Figures of the results (PNG or SVG, the same bytes for the same inputs).",
                       no_args_is_help=True)


def write(fig, out: Path) -> None:
    """Save a figure (PNG or SVG by suffix) and say where."""
    from dfqbench.plots.style import save

    console.print(f"wrote {save(fig, out)}", highlight=False)


@plot_app.command("accuracy")
def accuracy_command(
    out: Path = figure_option(),
    from_: list[Path] = results_from_option(),
    store: Path = store_option(kind=READ_STORE),
    methods: str = rows_option(),
    models: str = models_filter_option(),
) -> None:
    """Top-1 against bit-width per model: a line per method with its 95 % interval, the noise-to-real window
    shaded, fp as a line.

    Examples:

      dfqbench plot accuracy --from results/testbed/windows_canvas56a.csv -o accuracy.png

      dfqbench plot accuracy --methods 'noise,real,maskaq*' -o accuracy.svg
    """
    from dfqbench.plots.accuracy import accuracy_figure
    from dfqbench.tables.published import leaderboard_of

    board = leaderboard_of(results_frame(from_, store), methods=split(methods), models=split(models))
    write(accuracy_figure(board, figure_title(board)), out)


@plot_app.command("gap")
def gap_command(
    out: Path = figure_option(),
    from_: list[Path] = results_from_option(),
    store: Path = store_option(kind=READ_STORE),
    bits: str = bits_filter_option(),
    models: str = models_filter_option(),
) -> None:
    """The same-calibrator view as heatmaps: per bit-width and model, synthesizers x calibrators coloured by the
    share of the noise-to-real gap each closes, with its interval ("undefined" where real is not above noise).

    Examples:

      dfqbench plot gap --from results/bench_4w4a.csv -o gap.png
    """
    from dfqbench.plots.gap import gap_figure
    from dfqbench.tables.gap import build_gap_table
    from dfqbench.tables.published import leaderboard_of

    board = leaderboard_of(results_frame(from_, store), bits=split(bits), models=split(models))
    write(gap_figure(build_gap_table(board), figure_title(board)), out)


@plot_app.command("cost")
def cost_command(
    out: Path = figure_option(),
    from_: list[Path] = results_from_option(),
    store: Path = store_option(kind=READ_STORE),
    methods: str = rows_option(),
    bits: str = bits_filter_option(),
    models: str = models_filter_option(),
) -> None:
    """Top-1 against the time of a cell, and that time by stage (synthesis, calibration, evaluation), per
    bit-width and model.

    Examples:

      dfqbench plot cost --from results/bench_4w4a.csv --methods 'fp,noise,real,psaq*,mimiq,maskaq,sardfq' -o cost.png
    """
    from dfqbench.plots.cost import cost_figure
    from dfqbench.tables.published import leaderboard_of

    frame = results_frame(from_, store)
    board = leaderboard_of(frame, methods=split(methods), bits=split(bits), models=split(models))
    write(cost_figure(board, frame, figure_title(board)), out)


@plot_app.command("samples")
def samples_command(
    out: Path = figure_option(),
    methods: str = typer.Option("noise,psaq-vit,mimiq,maskaq,sardfq,psaq-vit-v2",
                                callback=listed, help="Synthesizers (methods or reference rows), one row each."),
    model: str = typer.Option(None, "--model", help="Model (default: the default model)."),
    seed: int = typer.Option(0, min=0, help="Master seed of the sets."),
    bits: str = typer.Option("4w4a", callback=bit_widths,
                             help="Bit-width (for synthesizers that use the quantized model)."),
    profile: str = typer.Option("bench", help="Profile whose cached sets to show."),
    fallback: str = typer.Option("quick", help="Profile at which a set missing from the cache is made."),
    cache_dir: Path = cache_dir_option(),
    data_dir: Path = data_dir_option(),
) -> None:
    """Synthetic images, one row per synthesizer, one column per class, real test images first.

    Examples:

      dfqbench plot samples -o samples.png

      dfqbench plot samples --methods noise,maskaq --model canvas56a_deit --profile quick -o samples.png
    """
    from dfqbench.cli.settings import make_settings
    from dfqbench.paths import DEFAULT_MODEL
    from dfqbench.plots.report_images import class_name
    from dfqbench.plots.sample_sets import real_row, synthetic_row
    from dfqbench.plots.samples import samples_figure
    from dfqbench.profiles import get_profile
    from dfqbench.runner.grid import resolve_method
    from dfqbench.zoo.backbones import load_backbone

    if model is not None and not model.strip():
        raise UserError("--model '' names nothing: give a model (see: dfqbench zoo list)")
    names = split(methods) or []
    for name in names:
        resolve_method(name, {})
    get_profile(fallback)
    backbone = load_backbone(model or DEFAULT_MODEL)
    settings = make_settings("standard", [], profile, "cpu", cache_dir, None, data_dir, None, None, None)
    rows = [real_row(backbone, settings)] + [synthetic_row(m, backbone, seed, bits, settings, fallback) for m in names]
    classes = list(range(backbone.model.num_classes))[:10]
    class_names = [class_name(backbone, c) for c in classes]
    title = f"{backbone.name} · seed {seed} · {bits}"
    write(samples_figure(rows, classes, class_names, title), out)



@plot_app.command("attention")
def attention_command(
    students: list[Path] = path_argument(..., kind=READ_PATH,
                                         help="Student files of 'dfqbench run --save-models DIR' (or such "
                                                    "folders), all of one model."),
    out: Path = figure_option(),
    images: int = typer.Option(3, min=1, max=10, help="Real test images, and as many synthetic ones."),
    synthetic: str = typer.Option("maskaq", help="Synthesizer whose images are shown (from the cache, else made "
                                                 "at --fallback); 'none' for real images only."),
    seed: int = typer.Option(0, min=0, help="Master seed of the synthetic set."),
    profile: str = typer.Option("bench", help="Profile whose cached synthetic set to show."),
    fallback: str = typer.Option("quick", help="Profile at which a set missing from the cache is made."),
    mask_ratio: float = typer.Option(0.1, callback=unit_share,
                                     help="MaskAQ's informative region: the top share of the patches of the "
                                               "FP map (0.1: MaskAQ's ratio at the end of a batch)."),
    cache_dir: Path = cache_dir_option(),
    data_dir: Path = data_dir_option(),
) -> None:
    """Where the FP and calibrated quantized models look: MaskAQ's score map (the CLS query's logits over the
    patches, mean over blocks and heads; Swin: received attention) for real and synthetic images, the FP model's
    informative region outlined.

    Examples:

      dfqbench run --methods mimiq,maskaq --save-models runs/students

      dfqbench plot attention runs/students -o attention.png
    """
    from dfqbench.plots.report_images import students_attention_figure
    from dfqbench.profiles import get_profile
    from dfqbench.runner.grid import resolve_method

    if synthetic != "none":
        resolve_method(synthetic, {})
    get_profile(profile), get_profile(fallback)
    write(students_attention_figure(students, cache_dir, data_dir, images, synthetic, seed, profile, fallback,
                                    mask_ratio), out)
