"""``dfqbench zoo``: list the embedded models, train one from its recipe."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from dfqbench.cli.console import console, err_console
from dfqbench.cli.options import counts, data_dir_option, listed, path_option
from dfqbench.cli.path_kinds import READ_FILE, WRITE_FILE, WRITE_FOLDER
from dfqbench.errors import UserError

PROBE_FORMATS = ("md", "csv")

zoo_app = typer.Typer(help="The embedded zoo (Fashion-MNIST and canvas datasets).\n\nExamples:\n\n"
                           "  dfqbench zoo list\n\n  dfqbench zoo train fmnist_vit --run-dir runs/zoo\n\n"
                           "  dfqbench --threads 1 zoo probe --models fmnist_vit,fmnist_deit,fmnist_swin",
                      no_args_is_help=True)


@zoo_app.command("list")
def list_command(pattern: str = typer.Argument(None, help="Wildcard filter, e.g. '*swin*'.")) -> None:
    """List the zoo with family, dataset, weights hash and FP top-1 ('not trained': run dfqbench zoo train NAME).

    Example: dfqbench zoo list
    """
    from dfqbench.zoo.registry import get_zoo_model, zoo_models

    table = Table("name", "family", "dataset", "sha256", "top-1", "description")
    for name in zoo_models(pattern):
        entry = get_zoo_model(name)
        record = entry.record or {}
        sha = record.get("sha256", "not trained")[:12]
        top1 = f"{record['top1']:.2f}" if "top1" in record else "-"
        table.add_row(name, entry.family, entry.dataset, sha, top1, entry.description)
    console.print(table)


@zoo_app.command("margin")
def margin_command(
    from_: list[Path] = path_option(..., "--from", kind=READ_FILE,
                                    help="Long-format results CSV (e.g. results/zoo_margin_bench.csv);"
                                                         " repeatable, to show test beds side by side."),
    models: str = typer.Option("fmnist_vit", callback=listed, help="Comma-separated zoo models whose windows to show."),
    calibrators: str = typer.Option("kd", callback=listed, help="Windows to show: kd (noise to real) and calibrators C "
                                               "(noise+C to real+C), e.g. kd,hsad,ptq."),
    bar: str = typer.Option("harness", help="The bar to check: harness (3 points at 3w3a and 4w4a) or test-bed "
                                            "(6.7 points at 4w4a, 15 at 3w3a)."),
    summary: bool = typer.Option(False, help="Also print one line per test bed (the models' zoo datasets): its "
                                             "smallest 4w4a window and whether every model meets the bar."),
) -> None:
    """Can the zoo rank methods? real minus noise per model and bit-width, against a bar (Markdown).

    Examples:

      dfqbench zoo margin --from results/zoo_margin_bench.csv

      dfqbench zoo margin --from results/zoo_margin_bench_v2.csv --from results/testbed/windows_canvas56a.csv
      --models fmnist_vit,canvas56a_vit,canvas56a_deit,canvas56a_swin --bar test-bed --summary
    """
    import pandas as pd

    from dfqbench.store.export import read_results_csv
    from dfqbench.tables.margin import BARS, margin_markdown, summarise, summary_markdown
    from dfqbench.zoo.registry import get_zoo_model

    if bar not in BARS:
        raise UserError(f"unknown --bar '{bar}' (choose {' or '.join(BARS)})")
    names = split_names("--models", models)
    entries = [get_zoo_model(name) for name in names]
    frame = pd.concat([read_results_csv(path) for path in from_], ignore_index=True)
    print(margin_markdown(frame, names, split_names("--calibrators", calibrators), BARS[bar]), end="")
    if summary:
        test_beds: dict[str, list[str]] = {}
        for entry in entries:
            test_beds.setdefault(entry.dataset, []).append(entry.name)
        print("\n" + summary_markdown(summarise(frame, test_beds, BARS[bar]), BARS[bar]), end="")


def split_names(option: str, text: str) -> list[str]:
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"{option} is empty")
    return names


@zoo_app.command("train")
def train_command(
    name: str = typer.Argument(..., help="Zoo model to train, e.g. fmnist_vit."),
    run_dir: Path = path_option(Path("runs/zoo"), "--run-dir", kind=WRITE_FOLDER,
                                help="Where resumable checkpoints go."),
    out_dir: Path = path_option(None, "--out-dir", kind=WRITE_FOLDER,
                                help="Write the weights here instead of the registry (no manifest update)."),
    data_dir: Path = data_dir_option(),
) -> None:
    """Train a zoo model from its recorded, seeded recipe (resumes from --run-dir).

    Examples:

      dfqbench --threads 2 zoo train fmnist_vit

      dfqbench --threads 1 zoo train canvas56a_vit
    """
    from dfqbench.zoo.registry import get_zoo_model
    from dfqbench.zoo.train import train_zoo_model

    entry = get_zoo_model(name)
    console.print(f"training {name}: {entry.recipe.to_json()}")
    train_zoo_model(entry, run_dir, out_dir, log=lambda m: console.print(m, highlight=False), data_dir=data_dir)


def parse_ints(option: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"malformed {option} '{text}' (expected integers like 0,50)") from None
    if not values:
        raise UserError(f"{option} is empty")
    return list(dict.fromkeys(values))


@zoo_app.command("probe")
def probe_command(
    models: str = typer.Option("fmnist_vit,fmnist_deit,fmnist_swin", callback=listed,
                               help="Comma-separated zoo models."),
    seeds: str = typer.Option("0,1,2", callback=counts,
                              help="Comma-separated master seeds (gradient shares: mean ± std over them)."),
    steps: str = typer.Option("0,50", callback=counts,
                              help="Synthesis steps at which the gradient shares are measured (0: the "
                                            "initial images; bench's schedule has 200)."),
    images: int = typer.Option(512, help="Test images for the attention concentration (the first N)."),
    format_: str = typer.Option("md", "--format", help="md or csv."),
    output: Path = path_option(None, "--output", "-o", kind=WRITE_FILE, help="Write to this file instead of printing."),
    data_dir: Path = data_dir_option(),
) -> None:
    """Does a test bed exercise what the DFQ methods target? Gradient shares of MaskAQ's synthesis terms and the
    attention mass on the top 10% of patches, one row per model.

    Gradient shares: on one bench-profile synthesis batch (batch 32, the seed's generator, MaskAQ's default config,
    student 'standard' 4w4a), the pixel-gradient norm of each weighted term (similarity entropy SE, masked attention
    alignment MAA, MimiQ's inter-head SSIM, TV) over that of the one-hot cross-entropy CE. Attention: the share of
    the attention held by the top ceil(10%) patches on real test images (ViT/DeiT: the CLS query's; Swin: the
    attention each patch receives), mean over blocks, heads and images.

    Examples:

      dfqbench --threads 1 zoo probe --models fmnist_vit,fmnist_deit,fmnist_swin --seeds 0,1,2

      dfqbench --threads 1 zoo probe --models fmnist_vit --seeds 0 --steps 0 --format csv -o probe.csv
    """
    from dfqbench.atomic import atomic_path
    from dfqbench.profiles import get_profile
    from dfqbench.runner.grid import parse_seeds
    from dfqbench.zoo.probe import PROFILE, probe_zoo_model, to_csv, to_markdown
    from dfqbench.zoo.registry import get_zoo_model

    if format_ not in PROBE_FORMATS:
        raise UserError(f"unknown --format '{format_}' (choose md or csv)")
    names = split_names("--models", models)
    for name in names:
        get_zoo_model(name)
    seed_list = parse_seeds(seeds)
    step_list = parse_ints("--steps", steps)
    total = get_profile(PROFILE).synth_steps
    if any(not 0 <= step < total for step in step_list):
        raise UserError(f"--steps must lie in [0, {total}) (the {PROFILE} profile's synthesis steps), got {steps}")
    if images < 1:
        raise UserError(f"--images must be at least 1, got {images}")

    def log(message: str) -> None:
        err_console.print(message, markup=False, highlight=False, soft_wrap=True)

    rows = [probe_zoo_model(name, seed_list, step_list, images, data_dir, log) for name in names]
    text = to_markdown(rows) if format_ == "md" else to_csv(rows)
    if output is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    with atomic_path(output) as tmp:
        Path(tmp).write_text(text)
    console.print(f"wrote {output}", highlight=False)
