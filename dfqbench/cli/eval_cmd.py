"""``dfqbench eval``: full-precision top-1 (and top-5) of a registered model."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import typer

from dfqbench.cli.console import console
from dfqbench.cli.options import checkpoint_items, data_dir_option, device_option, model_weights, path_option
from dfqbench.cli.path_kinds import READ_FOLDER
from dfqbench.cli.progress import counting_progress
from dfqbench.errors import UserError
from dfqbench.paths import DEFAULT_MODEL


def eval_command(
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m",
                              help="Zoo model or timm ViT/DeiT/Swin name; a wildcard ('fmnist_*') selects zoo models."),
    checkpoint: str = typer.Option(None, "--checkpoint", callback=checkpoint_items,
                                   help="Weights for a timm model: PATH or MODEL=PATH (safetensors or a weights-only "
                                        "torch file)."),
    img_size: int = typer.Option(None, help="Input size of a timm model, if not its default."),
    limit: int = typer.Option(None, help="Evaluate N test images only (smoke runs): Fashion-MNIST's first N, "
                                         "an ImageFolder's class-balanced N."),
    batch_size: int = typer.Option(256, min=1, help="Evaluation batch size (fixed across methods)."),
    data_dir: Path = data_dir_option(),
    imagenet: Path = path_option(None, "--imagenet", kind=READ_FOLDER,
                                 help="ImageNet ImageFolder root with val/ (for timm models)."),
    device: str = device_option(),
) -> None:
    """Print the full-precision top-1 of a model on its test split.

    Examples:

      dfqbench eval --model fmnist_vit

      dfqbench eval --model 'fmnist_*'

      dfqbench eval --model fmnist_swin --limit 1000

      dfqbench eval --model deit_tiny_patch16_224 --checkpoint deit_tiny.safetensors --imagenet /data/imagenet
    """
    from dfqbench.zoo.registry import zoo_models

    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    names = zoo_models(model) if any(c in model for c in "*?[") else [model]
    if not names:
        raise UserError(f"no zoo model matches '{model}' (see: dfqbench zoo list)")
    weights = None
    if checkpoint is not None:
        owner, weights = model_weights(checkpoint, "--checkpoint")
        if owner is not None and owner != model:
            raise UserError(f"--checkpoint {checkpoint!r} is for {owner}, not for --model {model}")
    for name in names:
        evaluate_one(name, weights, img_size, limit, batch_size, data_dir, imagenet, device)


def evaluate_one(model: str, checkpoint: Path | None, img_size: int | None, limit: int | None, batch_size: int,
                 data_dir: Path | None, imagenet: Path | None, device: str) -> None:
    from dfqbench.data.splits import test_batches
    from dfqbench.evaluate import evaluate
    from dfqbench.zoo.backbones import load_backbone

    backbone = load_backbone(model, checkpoint, img_size)
    batches = test_batches(backbone.dataset, backbone.data_config, batch_size, limit, data_dir, imagenet)
    start = time.time()
    with counting_progress(f"eval {model}", total=limit) as advance:
        acc = evaluate(backbone.model.to(device), batches, device=device, progress=advance)
    top5 = f", top-5 {acc.top5:.2f}%" if acc.top5 is not None else ""
    console.print(f"{model} ({backbone.family}, {backbone.dataset}, weights {backbone.weights_hash[:12]}): "
                  f"top-1 {acc.top1:.2f}%{top5} on {acc.n} images "
                  f"[{time.time() - start:.1f}s, {torch.get_num_threads()} threads, {device}]", highlight=False)
