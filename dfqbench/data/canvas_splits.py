"""The splits of the canvas datasets: generated from Fashion-MNIST, cached, verified, batched and sampled.

A fixed split (``train``, ``val``, ``test``: see :mod:`dfqbench.data.canvas`) is cached as
``<cache>/<dataset>/<split>.safetensors`` (``images`` uint8 (N, 56, 56), ``labels`` int64 (N,)), where ``<cache>``
is ``cache_dir``, else ``$DFQBENCH_DATA_CACHE``, else ``runs/data``. Its SHA-256 (:func:`content_sha256`) is
recorded in the file's metadata and must equal the constant ``EXPECTED_SHA256`` on every load; a missing,
unreadable or mismatching file is regenerated with one line on stderr. Training does not read the cached ``train``
split: it re-draws every epoch (:func:`training_batch`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from dfqbench.atomic import atomic_path
from dfqbench.data.canvas import CANVAS_SPECS, CanvasSpec, epoch_key, render_canvases, split_key
from dfqbench.data.fashion_mnist import CLASSES, load_fashion_mnist
from dfqbench.data.image_split import ImageSplit
from dfqbench.errors import UserError, stderr_line
from dfqbench.naming import did_you_mean

CACHE_ENV = "DFQBENCH_DATA_CACHE"
DEFAULT_CACHE_DIR = Path("runs/data")
SPLITS = ("train", "val", "test")

# SHA-256 of each generated split (content_sha256); a change to the recipe must change these, on purpose.
EXPECTED_SHA256: dict[str, dict[str, str]] = {
    "canvas56-a": {
        "train": "039a7fde93479565be45903ed923ab1d2a899984ce8ff949f595a91dc171fb06",
        "val": "de5c1cc36937c0104c045132f668e7dfc8a5efca97d1e9256517dbf66cf6c77b",
        "test": "59ee906eb1c129a51653fbff982c6e781f8f917ce406ea04adc05c3f94a78fdc",
    },
    "canvas56-b": {
        "train": "ce6535cc40b6d7099a379ee4237a326677a9cd315bd110a9ab1847e45ef8ea69",
        "val": "f5fdc5a23753f453ecb13216f72153e69db33fc9f510f68cb7b74628cf2e93f4",
        "test": "98f4d20c1470a46da2d2629f78a7f60bd2061511473977e8162358bcbe765cf8",
    },
}

Log = Callable[[str], None]


def get_canvas_spec(name: str) -> CanvasSpec:
    if name not in CANVAS_SPECS:
        raise UserError(f"unknown canvas dataset '{name}'{did_you_mean(name, CANVAS_SPECS)}")
    return CANVAS_SPECS[name]


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise UserError(f"unknown canvas split '{split}' (choose from: {', '.join(SPLITS)})")


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, then ``$DFQBENCH_DATA_CACHE``, then ``runs/data``."""
    if cache_dir:
        return Path(cache_dir)
    return Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else DEFAULT_CACHE_DIR


def cache_path(name: str, split: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return resolve_cache_dir(cache_dir) / name / f"{split}.safetensors"


def content_sha256(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the images' bytes (uint8, C order) followed by the labels' (int64 little-endian)."""
    digest = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    digest.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return digest.hexdigest()


def generate_split(spec: CanvasSpec, split: str, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The fixed split, drawn afresh from Fashion-MNIST's split of the same name: (images uint8, labels int64)."""
    check_split(split)
    source = load_fashion_mnist(split, data_dir)
    rendered = render_canvases(spec, source.images.numpy(), np.arange(len(source)), split_key(spec, split))
    return rendered.images, source.labels.numpy().astype(np.int64)


def read_cache(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, their SHA-256) of a cache file; raises ValueError or OSError when unreadable."""
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for a damaged header
        raise ValueError(f"unreadable: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") from None
    images, labels = tensors.get("images"), tensors.get("labels")
    if images is None or labels is None or images.dtype != np.uint8 or len(images) != len(labels):
        raise ValueError("not a canvas split file")
    return images, labels, content_sha256(images, labels)


def cache_status(name: str, split: str, cache_dir=None) -> str:
    """'cached' (present and matching its recorded SHA-256), 'missing' or 'corrupt (...)'."""
    path = cache_path(name, split, cache_dir)
    if not path.is_file():
        return "missing"
    try:
        _, _, digest = read_cache(path)
    except (ValueError, OSError) as exc:
        return f"corrupt ({exc})"
    return "cached" if digest == EXPECTED_SHA256[name][split] else "corrupt (SHA-256 mismatch)"


def write_cache(path: Path, spec: CanvasSpec, split: str, images: np.ndarray, labels: np.ndarray, digest: str) -> None:
    metadata = {"dataset": spec.name, "split": split, "sha256": digest, "spec": json.dumps(asdict(spec))}
    with atomic_path(path) as tmp:
        save_file({"images": np.ascontiguousarray(images), "labels": np.ascontiguousarray(labels)}, tmp,
                  metadata=metadata)  # safetensors writes the raw buffer: C order is a must


def load_canvas_split(name: str, split: str = "test", data_dir=None, cache_dir=None,
                      log: Log = stderr_line) -> ImageSplit:
    """A fixed split from its verified cache, (re)generating and caching it when missing or corrupt."""
    spec, path = get_canvas_spec(name), cache_path(name, split, cache_dir)
    check_split(split)
    expected = EXPECTED_SHA256[name][split]
    status = cache_status(name, split, cache_dir)
    if status == "cached":
        images, labels, _ = read_cache(path)
    else:
        log(f"{name} {split}: cache {path} {status}; generating it from Fashion-MNIST")
        images, labels = generate_split(spec, split, data_dir)
        digest = content_sha256(images, labels)
        if digest != expected:
            raise UserError(f"generated {name} {split} has SHA-256 {digest[:12]}, not the recorded "
                            f"{expected[:12] or '(none)'}: the canvas recipe changed without updating EXPECTED_SHA256")
        write_cache(path, spec, split, images, labels, digest)
    return ImageSplit(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels.astype(np.int64)),
                      CLASSES)


Batch = tuple[torch.Tensor, torch.Tensor]


def canvas_batches(name: str, data_config: dict, split: str = "test", batch_size: int = 256,
                   limit: int | None = None, data_dir=None, cache_dir=None) -> Iterator[Batch]:
    """Preprocessed (input, label) batches of a fixed split in order; ``limit`` keeps the first N."""
    from dfqbench.data.transforms import normalize_batch

    data = load_canvas_split(name, split, data_dir, cache_dir)
    n = len(data) if limit is None else min(limit, len(data))
    for start in range(0, n, batch_size):
        pixels = data.images[start:min(n, start + batch_size)].unsqueeze(1).float().div_(255.0)
        yield normalize_batch(pixels, data_config), data.labels[start:start + len(pixels)]


def sample_canvas_train(name: str, data_config: dict, n: int, generator: torch.Generator,
                        data_dir=None) -> torch.Tensor:
    """``n`` distinct preprocessed images of the fixed ``train`` split, drawn uniformly with ``generator``.

    Only the chosen images are rendered (the same pixels as those rows of the cached split).
    """
    from dfqbench.data.transforms import normalize_batch

    spec = get_canvas_spec(name)
    train = load_fashion_mnist("train", data_dir)
    index = torch.randperm(len(train), generator=generator)[:n].numpy()
    rendered = render_canvases(spec, train.images.numpy()[index], index, split_key(spec, "train"))
    return normalize_batch(torch.from_numpy(rendered.images).unsqueeze(1).float().div_(255.0), data_config)


def training_batch(spec: CanvasSpec, items: np.ndarray, indices: np.ndarray, epoch: int, recipe_seed: int,
                   flip: bool = True) -> torch.Tensor:
    """Float pixels in [0, 1] (B, 1, H, W) of training items (B, 28, 28) uint8 drawn afresh for ``epoch``: new size,
    placement, background and (``flip``) left-right flip per item, keyed by the item's index in its split."""
    rendered = render_canvases(spec, items, indices, epoch_key(spec, epoch, recipe_seed), flip=flip)
    return torch.from_numpy(rendered.images).unsqueeze(1).float().div_(255.0)
