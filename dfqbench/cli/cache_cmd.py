"""``dfqbench cache`` and ``dfqbench samples``: the synthetic-set cache."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from dfqbench.cli.console import console
from dfqbench.cli.options import cache_dir_option, listed, path_option
from dfqbench.cli.path_kinds import READ_FOLDER, WRITE_FOLDER
from dfqbench.errors import UserError

cache_app = typer.Typer(help="The synthetic-set cache.\n\nExamples:\n\n  dfqbench cache list\n\n"
                             "  dfqbench cache clear", no_args_is_help=True)
samples_app = typer.Typer(help="Synthetic sets as images.\n\nExample:\n\n"
                               "  dfqbench samples export KEY --out samples/", no_args_is_help=True)


@cache_app.command("list")
def cache_list(cache_dir: Path = cache_dir_option("Cache folder.", kind=READ_FOLDER)) -> None:
    """List cached synthetic sets with what made them.

    Example: dfqbench cache list
    """
    from dfqbench.runner.cache import SynthesisCache

    table = Table("key", "synthesizer", "model", "seed", "profile", "bits", "MB")
    for entry in SynthesisCache(cache_dir).entries():
        m = entry.meta
        table.add_row(entry.key, str(m.get("synthesizer", "?")), str(m.get("model", "?")), str(m.get("seed", "?")),
                      str(m.get("profile", "?")), str(m.get("bits") or "-"), f"{entry.path.stat().st_size / 2**20:.1f}")
    console.print(table)


@cache_app.command("clear")
def cache_clear(cache_dir: Path = cache_dir_option("Cache folder.")) -> None:
    """Delete every cached synthetic set (results in the store are kept).

    Example: dfqbench cache clear
    """
    from dfqbench.runner.cache import SynthesisCache

    console.print(f"removed {SynthesisCache(cache_dir).clear()} cached sets from {cache_dir}", highlight=False)


@samples_app.command("export")
def samples_export(
    key: str = typer.Argument(..., help="Cache key (see: dfqbench cache list)."),
    out: Path = path_option(Path("runs/samples"), "--out", kind=WRITE_FOLDER, help="Folder for the PNG files."),
    cache_dir: Path = cache_dir_option("Cache folder.", kind=READ_FOLDER),
    model: str = typer.Option(None, callback=listed,
                              help="Model whose mean/std de-normalise the images (default: the set's)."),
) -> None:
    """Write a cached synthetic set out as PNG images (one per image, labelled when the set has labels).

    Example: dfqbench samples export 3f2a... --out runs/samples
    """
    import timm
    from PIL import Image

    from dfqbench.data.transforms import to_pixels
    from dfqbench.runner.cache import SynthesisCache
    from dfqbench.zoo.registry import get_zoo_model, is_zoo_model

    if model and not is_zoo_model(model) and model not in timm.list_models():
        raise UserError(f"--model: unknown model '{model}' (a zoo model, see: dfqbench zoo list, or a timm name)")
    cache = SynthesisCache(cache_dir)
    hit = cache.load(key)
    if hit is None:
        raise UserError(f"no cached set '{key}' in {cache_dir} (see: dfqbench cache list)")
    synthetic = hit.synthetic
    meta = next((e.meta for e in cache.entries() if e.key == key), {})
    name = model or meta.get("model")
    if name and is_zoo_model(name):
        cfg = get_zoo_model(name).build().pretrained_cfg
    elif name:
        cfg = timm.data.resolve_data_config(model=timm.create_model(name, pretrained=False))
    else:
        raise UserError("the set records no model: pass --model")
    pixels = (to_pixels(synthetic.images, cfg) * 255).round().byte()
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(pixels):
        array = image.permute(1, 2, 0).squeeze(-1).numpy()
        label = f"_y{int(synthetic.labels[i])}" if synthetic.labels is not None else ""
        Image.fromarray(array).save(out / f"{i:05d}{label}.png")
    console.print(f"wrote {len(pixels)} images to {out}", highlight=False)
