"""``dfqbench zoo``: list the embedded models, train one from its recipe."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from dfqbench.cli.app import console
from dfqbench.cli.options import data_dir_option

zoo_app = typer.Typer(help="The embedded zoo (Fashion-MNIST and canvas datasets).\n\nExamples:\n\n"
                           "  dfqbench zoo list\n\n  dfqbench zoo train fmnist_vit --run-dir runs/zoo",
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
    from_: Path = typer.Option(Path("results/zoo_margin_bench.csv"), "--from", help="Long-format results CSV."),
    model: str = typer.Option("fmnist_vit", help="The zoo model whose margin to show."),
) -> None:
    """Can the zoo rank methods? real minus noise per bit-width, against the bar (Markdown).

    Example: dfqbench zoo margin --from results/zoo_margin_bench.csv
    """
    from dfqbench.store.export import read_results_csv
    from dfqbench.tables.margin import margin_markdown

    print(margin_markdown(read_results_csv(from_), model), end="")


@zoo_app.command("train")
def train_command(
    name: str = typer.Argument(..., help="Zoo model to train, e.g. fmnist_vit."),
    run_dir: Path = typer.Option(Path("runs/zoo"), help="Where resumable checkpoints go."),
    out_dir: Path = typer.Option(None, help="Write the weights here instead of the registry (no manifest update)."),
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
