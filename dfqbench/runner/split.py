"""Split synthesis (``--split-synthesis``): a synthetic set made batch by batch, each batch on its own.

In the default (whole) mode a synthesizer makes its batches one after the other from one generator, so batch k's
draws depend on batches 0..k-1. In split mode batch k is made from a generator of its own, seeded from the
cell's master seed and k (:func:`batch_generator`), so the batches can be made by parallel tasks and the set is
the same whatever the number of workers or their order. Only synthesizers that declare
``independent_batches`` split (psaq-vit, mimiq, sardfq: nothing but the generator passes from batch to batch);
MaskAQ (its quantized model's ranges are set on the first batch) and PSAQ-ViT V2 (its rounds play against the
student) stay whole, and so does every refresh during calibration.

A split set is another set: the cell's row label says ``[split]`` (so its cell id differs and tables keep it
apart) and the synthesis cache key holds the mode. Without ``--split-synthesis`` nothing changes.
"""

from __future__ import annotations

import dataclasses

import torch

from dfqbench.api import SYNTHESIZERS, Checkpoint, ModelContext, SyntheticSet
from dfqbench.kit.images import batch_sizes
from dfqbench.kit.iterative import concatenate
from dfqbench.profiles import Profile
from dfqbench.runner.grid import Cell, MethodSpec
from dfqbench.runner.seeds import stage_generator

SPLIT = "split"


def batch_generator(master: int, index: int) -> torch.Generator:
    """The generator of batch ``index`` of a split set (stable across platforms, like every stage's)."""
    return stage_generator(master, f"synthesis/batch{index}")


def batch_count(profile: Profile) -> int:
    """How many batches a set of the profile has."""
    return len(batch_sizes(profile.n_images, profile.synth_batch_size))


def can_split(spec: MethodSpec) -> bool:
    return not spec.is_fp and SYNTHESIZERS.get(spec.synthesizer).independent_batches


def split_label(label: str) -> str:
    """``psaq-vit`` -> ``psaq-vit[split]``; ``sardfq[tuned]`` -> ``sardfq[tuned,split]``."""
    return f"{label[:-1]},{SPLIT}]" if label.endswith("]") else f"{label}[{SPLIT}]"


def with_split(cells: list[Cell]) -> list[Cell]:
    """The cells of ``--split-synthesis``: those whose synthesizer can split, marked split; the others as they
    are."""
    return [dataclasses.replace(cell, method=dataclasses.replace(cell.method, label=split_label(cell.method.label),
                                                                 split=True))
            if can_split(cell.method) else cell for cell in cells]


def batch_context(ctx: ModelContext, master: int, index: int) -> ModelContext:
    """``ctx`` for batch ``index`` alone: its own generator, progress over its own steps, no checkpoint."""
    return dataclasses.replace(ctx, generator=batch_generator(master, index), checkpoint=Checkpoint())


def split_synthesize(synth, ctx: ModelContext, master: int) -> SyntheticSet:
    """The split set made in this process, batch after batch, resuming from the batches ``ctx.checkpoint`` holds
    (a checkpoint after each batch)."""
    state, parts = ctx.checkpoint.load(), []
    for index in range((state or {}).get("batches", 0)):
        part = ctx.checkpoint.load_part(index)
        parts.append(SyntheticSet(part["images"].to(ctx.device),
                                  None if part["labels"] is None else part["labels"].to(ctx.device)))
    total = batch_count(ctx.profile)
    for index in range(len(parts), total):
        inner = batch_context(ctx, master, index)
        inner.progress = lambda done, steps, k=index: ctx.progress(k * steps + done, total * steps)
        parts.append(synth.synthesize_batch(inner, index))
        last = parts[-1]
        ctx.checkpoint.save_part(index, {"images": last.images.detach().cpu(),
                                         "labels": None if last.labels is None else last.labels.cpu()})
        ctx.checkpoint.save({"batches": len(parts)})
    return concatenate(parts)
