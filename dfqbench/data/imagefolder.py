"""ImageNet-style image folders: ``root/train/<class>/*.JPEG`` and ``root/val/<class>/*.JPEG``.

Images are preprocessed with timm's evaluation transform for a data config
(``timm.data.resolve_data_config`` then ``timm.data.create_transform(..., is_training=False)``).
Classes are the sorted sub-folder names, as torchvision's ImageFolder numbers them,
so labels match a model trained on the usual ImageNet layout.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import torch
from PIL import Image
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import ImageFolder

from dfqbench.errors import UserError

SPLITS = ("train", "val")
EXTENSIONS = (".jpeg", ".jpg", ".png")  # matched case-insensitively (ImageNet uses .JPEG)
LAYOUT = "<root>/{split}/<class>/<image>.JPEG|jpg|png"


def eval_transform(data_config: dict):
    """timm's evaluation transform for a (possibly partial) data config."""
    from timm.data import create_transform, resolve_data_config

    return create_transform(**resolve_data_config(dict(data_config)), is_training=False)


def is_image_file(path: str) -> bool:
    """Whether a file name has one of ``EXTENSIONS`` (any case)."""
    return path.lower().endswith(EXTENSIONS)


def load_rgb(path: str) -> Image.Image:
    """One image file as RGB; an unreadable file is a UserError naming it."""
    try:
        with open(path, "rb") as fh:
            return Image.open(fh).convert("RGB")
    except OSError as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None


def imagefolder_dataset(root: str | os.PathLike, split: str, data_config: dict) -> ImageFolder:
    """The ``split`` ('train' or 'val') of an image-folder tree as a Dataset of (input tensor, label)."""
    if split not in SPLITS:
        raise UserError(f"unknown image-folder split '{split}' (choose from: {', '.join(SPLITS)})")
    folder = os.path.join(os.fspath(root), split)
    layout = LAYOUT.format(split=split)
    if not os.path.isdir(folder):
        raise UserError(f"image folder {folder} not found (expected {layout})")
    try:
        dataset = ImageFolder(folder, transform=eval_transform(data_config), loader=load_rgb,
                              is_valid_file=is_image_file, allow_empty=True)
    except FileNotFoundError:  # torchvision: no class sub-folders
        raise UserError(f"no class folders in {folder} (expected {layout}; "
                        "a flat ImageNet val folder must first be sorted into class folders)") from None
    present = set(dataset.targets)
    empty = [name for index, name in enumerate(dataset.classes) if index not in present]
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise UserError(f"no images in {len(empty)} class folder(s) of {folder}: {shown} (expected {layout})")
    return dataset


def balanced_indices(targets: list[int], limit: int) -> list[int]:
    """A fixed, class-balanced choice of ``limit`` indices: the i-th image of every class in turn, sorted."""
    by_class: dict[int, list[int]] = {}
    for index, target in enumerate(targets):
        by_class.setdefault(target, []).append(index)
    interleaved = (i for rank in itertools.zip_longest(*by_class.values()) for i in rank if i is not None)
    return sorted(itertools.islice(interleaved, limit))


DEFAULT_VAL_FROM_TRAIN = 0.02  # the share of train/ held out as the validation split (every 50th file)


def train_part_indices(n: int, val_from_train: float | None, part: str) -> list[int]:
    """The indices of ``part`` ('train' or 'val') among ``n`` training files in sorted order.

    Index ``i`` is validation when ``floor((i + 1) f) > floor(i f)`` for the fraction ``f``: the validation
    files are spread evenly over the sorted list (so over every class), the same on every machine.
    """
    f = DEFAULT_VAL_FROM_TRAIN if val_from_train is None else val_from_train
    if not 0.0 <= f < 1.0:
        raise UserError(f"--val-from-train must be in [0, 1), got {f}")
    is_val = [int((i + 1) * f) > int(i * f) for i in range(n)]
    return [i for i in range(n) if is_val[i] == (part == "val")]


def imagefolder_batches(root: str | os.PathLike, split: str, data_config: dict, batch_size: int = 64,
                        limit: int | None = None, num_workers: int = 0, part: str | None = None,
                        val_from_train: float | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Preprocessed (input, label) batches of a split in a fixed order (sorted class, then file name).

    ``part='val'`` keeps the validation part of the split (see :func:`train_part_indices`).
    ``limit`` keeps a fixed class-balanced subset of that many images (the first image
    of each class, then the second, ...), still in that order, so a smoke run on a
    slice of ImageNet val covers every class rather than only the first few.
    """
    dataset = imagefolder_dataset(root, split, data_config)
    indices = list(range(len(dataset)))
    if part is not None:
        indices = train_part_indices(len(dataset), val_from_train, part)
    if limit is not None:
        targets = [dataset.targets[i] for i in indices]
        indices = [indices[i] for i in balanced_indices(targets, limit)]
    if part is not None or limit is not None:
        dataset = Subset(dataset, indices)
    yield from DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)


def sample_train_images(root: str | os.PathLike, data_config: dict, n: int, generator: torch.Generator,
                        val_from_train: float | None = None) -> torch.Tensor:
    """``n`` distinct preprocessed training images (n, C, H, W), drawn uniformly with ``generator`` from
    train/ minus its validation part."""
    dataset = imagefolder_dataset(root, "train", data_config)
    pool = train_part_indices(len(dataset), val_from_train, "train")
    if not 1 <= n <= len(pool):
        raise UserError(f"cannot sample {n} training images from {dataset.root} ({len(pool)} available)")
    indices = torch.randperm(len(pool), generator=generator)[:n].tolist()
    return torch.stack([dataset[pool[i]][0] for i in indices])
