"""Fashion-MNIST from its gzip IDX files, verified by the SHA-256 of the decompressed bytes.

Debian's package ``dataset-fashion-mnist`` installs the four files under
``/usr/share/datasets/fashion-mnist``; Debian recompressed them, so the
compressed bytes differ from the official ones while the decompressed
contents are identical. We therefore verify the decompressed contents.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import torch

from dfqbench.data.image_split import ImageSplit
from dfqbench.errors import UserError

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "DFQBENCH_DATA"
APT_HINT = (
    "install it with 'apt-get install -y dataset-fashion-mnist' "
    "or 'dfqbench data fetch fashion-mnist --dest DIR' and pass --data-dir DIR"
)

# SHA-256 of the decompressed IDX files (official Fashion-MNIST release).
FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
FILE_SPLITS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
VALIDATION_EVERY = 12  # the validation split: the training images whose index is a multiple of 12 (5,000)
SPLITS = {
    "train": "the training file minus the validation split (55,000 images)",
    "val": f"every {VALIDATION_EVERY}th training image, index 0, 12, 24, ... (5,000 images), held out for tuning",
    "train+val": "the whole training file (60,000 images; how the fmnist_* zoo models were trained)",
    "test": "the test file (10,000 images)",
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """--data-dir, then $DFQBENCH_DATA, then Debian's location."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_DIR


def read_verified(path: Path) -> bytes:
    """Decompressed bytes of one IDX file, checked against its recorded SHA-256."""
    expected = FILES[path.name]
    if not path.is_file():
        raise UserError(f"Fashion-MNIST file missing: {path}; {APT_HINT}")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise UserError(f"Fashion-MNIST file corrupt (not gzip: {exc}): {path}; {APT_HINT}") from None
    if hashlib.sha256(raw).hexdigest() != expected:
        raise UserError(f"Fashion-MNIST file corrupt (SHA-256 mismatch): {path}; {APT_HINT}")
    return raw


def parse_idx(raw: bytes) -> torch.Tensor:
    """An IDX byte string (unsigned-byte payload) as a uint8 tensor of its declared shape."""
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8)
    return data.reshape(shape)


class FashionMNIST(ImageSplit):
    """One Fashion-MNIST split: uint8 images (N, 28, 28), int64 labels (N,), the ten class names."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...] = CLASSES) -> None:
        super().__init__(images, labels, classes)


def validation_mask(n: int = 60000) -> torch.Tensor:
    """True for the training-file indices of the validation split (every ``VALIDATION_EVERY``-th, from 0)."""
    return torch.arange(n) % VALIDATION_EVERY == 0


def load_fashion_mnist(split: str = "test", data_dir: str | os.PathLike | None = None) -> FashionMNIST:
    """Load and verify one split: 'train' (minus validation), 'val', 'train+val' (the whole file) or 'test'."""
    if split not in SPLITS:
        raise UserError(f"unknown Fashion-MNIST split '{split}' (choose from: {', '.join(SPLITS)})")
    root = resolve_data_dir(data_dir)
    image_file, label_file = FILE_SPLITS["test" if split == "test" else "train"]
    images = parse_idx(read_verified(root / image_file))
    labels = parse_idx(read_verified(root / label_file)).long()
    if split in ("train", "val"):
        keep = validation_mask(len(labels))
        keep = keep if split == "val" else ~keep
        images, labels = images[keep], labels[keep]
    return FashionMNIST(images=images, labels=labels)


def fashion_mnist_batches(data_config: dict, split: str = "test", batch_size: int = 256,
                          limit: int | None = None, data_dir: str | os.PathLike | None = None):
    """Preprocessed (input, label) batches of a split in file order; ``limit`` keeps the first N."""
    from dfqbench.data.transforms import normalize_batch

    data = load_fashion_mnist(split, data_dir)
    n = len(data) if limit is None else min(limit, len(data))
    pixels, labels = data.as_float()[:n], data.labels[:n]
    for start in range(0, n, batch_size):
        yield normalize_batch(pixels[start:start + batch_size], data_config), labels[start:start + batch_size]
