"""Train a zoo model from its recorded, seeded recipe; resumable from per-epoch checkpoints.

Checkpoints go to ``<run_dir>/<name>/last.pt`` (tensors and plain values
only, reloaded with ``weights_only=True``). When training ends the weights
are written as safetensors beside the registry and the manifest records
their SHA-256, the recipe, the dataset and the measured top-1 on the dataset's test split.
What each epoch trains on is :mod:`dfqbench.zoo.training_data`.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from dfqbench.data.splits import eval_batches
from dfqbench.data.transforms import normalize_batch
from dfqbench.evaluate import evaluate
from dfqbench.kit.schedules import warmup_cosine_lr
from dfqbench.zoo.models import TEACHERS
from dfqbench.zoo.recipe import TrainRecipe
from dfqbench.zoo.registry import ZooModel, sha256_file, write_manifest_entry
from dfqbench.zoo.training_data import augment, training_set

__all__ = ["augment", "make_loss", "teacher_for", "train_loop", "train_zoo_model"]
PROGRESS_LINES = 10  # progress lines per epoch, besides the epoch's own
EVAL_BATCH = 256

Log = Callable[[str], None]


def train_loop(model: nn.Module, recipe: TrainRecipe, epochs: int, ckpt: Path, log: Log,
               data_config: dict, loss_fn: Callable, data_dir=None, dataset: str = "fashion-mnist") -> None:
    """Seeded AdamW training over ``dataset``'s training data, checkpointing after every epoch."""
    train = training_set(dataset, recipe, data_dir)
    labels = train.labels
    steps_per_epoch = math.ceil(len(labels) / recipe.batch_size)
    total, warmup = epochs * steps_per_epoch, recipe.warmup_epochs * steps_per_epoch
    decayed = {n for n, p in model.named_parameters() if p.ndim > 1 and "token" not in n and "pos_embed" not in n}
    decay = [p for n, p in model.named_parameters() if n in decayed]
    no_decay = [p for n, p in model.named_parameters() if n not in decayed]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr)
    gen = torch.Generator().manual_seed(recipe.seed)
    start_epoch = 0
    if ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        start_epoch = int(state["epoch"])
        log(f"resumed {ckpt} at epoch {start_epoch}/{epochs}")
    model.train()
    for epoch in range(start_epoch, epochs):
        t0, seen, loss_sum = time.time(), 0, 0.0
        order = torch.randperm(len(labels), generator=gen)
        for i in range(steps_per_epoch):
            idx = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            x = normalize_batch(train.batch(idx, epoch, gen), data_config)
            for group in opt.param_groups:
                group["lr"] = warmup_cosine_lr(epoch * steps_per_epoch + i, total, warmup, recipe.lr)
            loss = loss_fn(model, x, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen, loss_sum = seen + len(idx), loss_sum + loss.item() * len(idx)
            if (i + 1) % max(1, steps_per_epoch // PROGRESS_LINES) == 0 and i + 1 < steps_per_epoch:
                log(f"  epoch {epoch + 1}/{epochs} step {i + 1}/{steps_per_epoch} loss {loss_sum / seen:.4f} "
                    f"({time.time() - t0:.0f}s)")
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "generator": gen.get_state(), "epoch": epoch + 1}, tmp)
        tmp.replace(ckpt)
        log(f"epoch {epoch + 1}/{epochs} loss {loss_sum / seen:.4f} ({time.time() - t0:.0f}s)")
    model.eval()


def evaluation_batches(entry: ZooModel, data_config: dict, data_dir=None):
    return eval_batches(entry.dataset, data_config, EVAL_BATCH, data_dir=data_dir, split="test")


def teacher_for(entry: ZooModel, run_dir: Path, log: Log, data_dir=None) -> nn.Module | None:
    """Train (or resume) the DeiT's CNN teacher named by the recipe (the student's augmentation, its own seed)."""
    recipe = entry.recipe
    if recipe.distill is None:
        return None
    teacher = TEACHERS[recipe.teacher]()
    cfg = entry.build().pretrained_cfg
    teacher_recipe = TrainRecipe(epochs=recipe.teacher_epochs, seed=recipe.seed + 1000, weight_decay=5e-4,
                                 label_smoothing=0.0, train_split=recipe.train_split,
                                 crop_padding=recipe.crop_padding, hflip=recipe.hflip)
    log(f"training teacher {recipe.teacher} for {recipe.teacher_epochs} epochs")
    train_loop(teacher, teacher_recipe, teacher_recipe.epochs, run_dir / entry.name / "teacher.pt", log, cfg,
               lambda m, x, y: F.cross_entropy(m(x), y), data_dir, entry.dataset)
    acc = evaluate(teacher, evaluation_batches(entry, cfg, data_dir))
    log(f"teacher {recipe.teacher} top-1 {acc.top1:.2f}")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def make_loss(recipe: TrainRecipe, teacher: nn.Module | None) -> Callable:
    def loss_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = model(x)
        if teacher is None:
            return F.cross_entropy(out, y, label_smoothing=recipe.label_smoothing)
        cls_logits, dist_logits = out
        with torch.no_grad():
            hard = teacher(x).argmax(-1)
        return 0.5 * F.cross_entropy(cls_logits, y, label_smoothing=recipe.label_smoothing) + \
            0.5 * F.cross_entropy(dist_logits, hard)
    return loss_fn


def train_zoo_model(entry: ZooModel, run_dir: Path, out_dir: Path | None = None, log: Log = print,
                    data_dir=None) -> dict:
    """Train ``entry`` from its recipe, write its safetensors and manifest entry; return the entry."""
    recipe = entry.recipe
    torch.manual_seed(recipe.seed)
    model = entry.build()
    cfg = model.pretrained_cfg
    t0 = time.time()
    teacher = teacher_for(entry, run_dir, log, data_dir)
    if teacher is not None:
        model.set_distilled_training(True)
    train_loop(model, recipe, recipe.epochs, run_dir / entry.name / "last.pt", log, cfg,
               make_loss(recipe, teacher), data_dir, entry.dataset)
    if teacher is not None:
        model.set_distilled_training(False)
    acc = evaluate(model, evaluation_batches(entry, cfg, data_dir))
    out = (out_dir or entry.weights_path.parent) / f"{entry.name}.safetensors"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out))
    record = {"family": entry.family, "dataset": entry.dataset, "sha256": sha256_file(out), "top1": round(acc.top1, 2),
              "top5": round(acc.top5, 2), "recipe": recipe.to_dict(),
              "train_seconds": round(time.time() - t0), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "machine": platform.machine()}
    if out_dir is None:
        write_manifest_entry(entry.name, record)
    log(f"{entry.name}: top-1 {acc.top1:.2f} top-5 {acc.top5:.2f}; weights {out}")
    return record
