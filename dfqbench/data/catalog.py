"""The named image datasets held in memory (Fashion-MNIST and the canvas variants): their splits, sizes and state.

What ``dfqbench data list`` and ``dfqbench data show`` read. ImageNet folders are not listed: they are the user's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dfqbench.data.canvas import CANVAS_SPECS
from dfqbench.data.canvas_splits import EXPECTED_SHA256, cache_path, cache_status, load_canvas_split, read_cache
from dfqbench.data.fashion_mnist import (
    FILE_SPLITS,
    FILES,
    SPLITS,
    load_fashion_mnist,
    parse_idx,
    read_verified,
    resolve_data_dir,
    validation_mask,
)
from dfqbench.errors import UserError
from dfqbench.naming import did_you_mean

FASHION_MNIST = "fashion-mnist"
CANVAS_SPLITS = ("train", "val", "test")
FASHION_MNIST_SOURCES = {"train": "train file minus val", "val": "every 12th of the train file",
                         "train+val": "train file", "test": "test file"}


def dataset_names() -> list[str]:
    return [FASHION_MNIST, *CANVAS_SPECS]


def check_dataset(name: str) -> None:
    if name not in dataset_names():
        raise UserError(f"unknown dataset '{name}'{did_you_mean(name, dataset_names())} "
                        f"(known: {', '.join(dataset_names())})")


def summary(name: str) -> str:
    """One line on what the dataset is."""
    check_dataset(name)
    return "Fashion-MNIST, 28 px" if name == FASHION_MNIST else CANVAS_SPECS[name].summary


def split_names(name: str) -> tuple[str, ...]:
    check_dataset(name)
    return tuple(SPLITS) if name == FASHION_MNIST else CANVAS_SPLITS


@dataclass(frozen=True)
class SplitInfo:
    """One row of ``dfqbench data list``."""

    dataset: str
    split: str
    images: int | None
    image_size: str
    status: str
    sha256: str
    source: str


def fashion_mnist_counts(data_dir=None) -> dict[str, int]:
    """Images per Fashion-MNIST split, after verifying the four files (UserError when one is missing or corrupt)."""
    root = resolve_data_dir(data_dir)
    for name in FILES:
        read_verified(root / name)
    train_total = len(parse_idx(read_verified(root / FILE_SPLITS["train"][1])))
    val = int(validation_mask(train_total).sum())
    test = len(parse_idx(read_verified(root / FILE_SPLITS["test"][1])))
    return {"train": train_total - val, "val": val, "train+val": train_total, "test": test}


def describe(name: str, data_dir=None, cache_dir=None) -> list[SplitInfo]:
    """A row per split: images, image size, whether present and verified (or cached), and the SHA-256 checked."""
    check_dataset(name)
    try:
        counts, problem = fashion_mnist_counts(data_dir), None
    except UserError as exc:
        counts, problem = {}, str(exc)
    if name == FASHION_MNIST:
        status = "verified" if problem is None else f"unavailable: {problem}"
        return [SplitInfo(name, split, counts.get(split), "28x28x1", status,
                          FILES[FILE_SPLITS["test" if split == "test" else "train"][0]][:12],
                          FASHION_MNIST_SOURCES.get(split, split))
                for split in SPLITS]
    spec, rows = CANVAS_SPECS[name], []
    for split in CANVAS_SPLITS:
        status, images = cache_status(name, split, cache_dir), counts.get(split)
        if status == "cached":
            images = len(read_cache(cache_path(name, split, cache_dir))[1])
        elif problem is not None:
            status = f"{status}; source {problem}"
        rows.append(SplitInfo(name, split, images, f"{spec.canvas}x{spec.canvas}x1", status,
                              EXPECTED_SHA256[name][split][:12], f"Fashion-MNIST {split}"))
    return rows


def load_labelled(name: str, split: str, data_dir=None, cache_dir=None) -> tuple[torch.Tensor, torch.Tensor,
                                                                               tuple[str, ...]]:
    """(uint8 images (N, H, W), int64 labels (N,), class names) of one split."""
    if split not in split_names(name):
        raise UserError(f"unknown split '{split}' of {name} (choose from: {', '.join(split_names(name))})")
    data = load_fashion_mnist(split, data_dir) if name == FASHION_MNIST else \
        load_canvas_split(name, split, data_dir, cache_dir)
    return data.images, data.labels, data.classes
