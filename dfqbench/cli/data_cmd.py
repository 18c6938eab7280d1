"""``dfqbench data``: fetch datasets for users not on Debian."""

from __future__ import annotations

from pathlib import Path

import typer

from dfqbench.data.fetch import DEFAULT_DEST, OFFICIAL_URL_BASE, fetch_fashion_mnist
from dfqbench.errors import UserError

data_app = typer.Typer(help="Datasets.", no_args_is_help=True)

KNOWN_DATASETS = ("fashion-mnist",)


@data_app.command("fetch")
def fetch_command(
    dataset: str = typer.Argument(..., help=f"Dataset to download: {', '.join(KNOWN_DATASETS)}."),
    dest: Path = typer.Option(None, "--dest", help=f"Destination folder (default: {DEFAULT_DEST})."),
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
