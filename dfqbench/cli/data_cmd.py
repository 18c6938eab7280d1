"""``dfqbench data``: list the datasets, show examples, fetch Fashion-MNIST for users not on Debian."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.cli.options import data_dir_option, one_of, path_option
from dfqbench.cli.path_kinds import WRITE_FILE, WRITE_FOLDER
from dfqbench.data.fetch import DEFAULT_DEST, OFFICIAL_URL_BASE, fetch_fashion_mnist
from dfqbench.errors import UserError

data_app = typer.Typer(help="Datasets.\n\nExamples:\n\n  dfqbench data list\n\n"
                            "  dfqbench data show canvas56-a -o grid.png", no_args_is_help=True)

KNOWN_DATASETS = ("fashion-mnist",)
SPLITS = ("train", "val", "test")
CACHE_DIR_HELP = "Canvas split cache (default: $DFQBENCH_DATA_CACHE, else runs/data)."


def data_cache_option():
    return path_option(None, "--cache-dir", kind=WRITE_FOLDER, help=CACHE_DIR_HELP)


@data_app.command("fetch")
def fetch_command(
    dataset: str = typer.Argument(..., help=f"Dataset to download: {', '.join(KNOWN_DATASETS)}."),
    dest: Path = path_option(None, "--dest", kind=WRITE_FOLDER, help=f"Destination folder (default: {DEFAULT_DEST})."),
    url_base: str = typer.Option(OFFICIAL_URL_BASE, "--url-base", help="Base URL of the four .gz files (a mirror)."),
) -> None:
    """Download a dataset, verify it (SHA-256), and print how to use it.

    Not needed on Debian/Ubuntu, where 'apt-get install dataset-fashion-mnist' provides it.
    Files already present and valid are not downloaded again.

    Example:

      dfqbench data fetch fashion-mnist --dest ~/data/fashion-mnist
    """
    if dataset not in KNOWN_DATASETS:
        raise UserError(f"unknown dataset '{dataset}' (known: {', '.join(KNOWN_DATASETS)})")
    folder = Path(dest if dest is not None else DEFAULT_DEST).expanduser()
    fetch_fashion_mnist(folder, url_base, progress=lambda line: typer.echo(line, err=True))
    typer.echo(f"Fashion-MNIST is in {folder}")
    typer.echo(f"Use it with --data-dir {folder} or by setting DFQBENCH_DATA={folder}, for example:")
    typer.echo(f"  dfqbench eval --model fmnist_vit --data-dir {folder}")


@data_app.command("list")
def list_command(
    pattern: str = typer.Argument(None, help="Wildcard filter, e.g. 'canvas*'."),
    data_dir: Path = data_dir_option(),
    cache_dir: Path = data_cache_option(),
) -> None:
    """List the datasets: splits, images, image size, verified or cached, SHA-256.

    A canvas split's SHA-256 is that of its generated contents (checked on every load; a missing or corrupt cache
    is regenerated on first use). Fashion-MNIST's is that of its decompressed image file.

    Example: dfqbench data list
    """
    from rich.table import Table

    from dfqbench.cli.console import console
    from dfqbench.data.catalog import dataset_names, describe, summary
    from dfqbench.naming import match_wildcards

    table = Table("dataset", "split", "images", "size", "status", "sha256", "source")
    names = match_wildcards(dataset_names(), pattern)
    for name in names:
        for row in describe(name, data_dir, cache_dir):
            table.add_row(row.dataset, row.split, "-" if row.images is None else f"{row.images:,}", row.image_size,
                          row.status, row.sha256, row.source)
    console.print(table)
    for name in names:
        console.print(f"{name}: {summary(name)}", highlight=False)


@data_app.command("show")
def show_command(
    name: str = typer.Argument(..., help="Dataset, e.g. canvas56-a (see: dfqbench data list)."),
    output: Path = path_option(..., "--output", "-o", kind=WRITE_FILE, help="PNG file to write."),
    split: str = typer.Option("test", "--split", callback=one_of(SPLITS), help="Split to show: train, val or test."),
    per_class: int = typer.Option(8, "--per-class", min=1, help="Examples per class (the split's first ones)."),
    scale: int = typer.Option(2, "--scale", min=1, help="Pixel enlargement."),
    data_dir: Path = data_dir_option(),
    cache_dir: Path = data_cache_option(),
) -> None:
    """Write a grid of examples as PNG: a row per class, its name at the left.

    Examples:

      dfqbench data show canvas56-a -o grid.png

      dfqbench data show canvas56-b -o train.png --split train --per-class 12
    """
    from dfqbench.data.catalog import check_dataset, load_labelled
    from dfqbench.data.grid import class_grid

    check_dataset(name)
    images, labels, classes = load_labelled(name, split, data_dir, cache_dir)
    grid = class_grid(images, labels, classes, per_class, scale, title=f"{name} {split}: first {per_class} per class")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        grid.save(output, format="PNG")
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({grid.width}x{grid.height})")
