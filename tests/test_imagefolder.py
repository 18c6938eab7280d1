"""ImageNet-style image folders on a tiny generated tree (2 classes x 3 images per split)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from dfqbench.data.imagefolder import (
    balanced_indices,
    imagefolder_batches,
    imagefolder_dataset,
    sample_train_images,
)
from dfqbench.errors import UserError

CONFIG = {"input_size": (3, 32, 32), "interpolation": "bicubic", "mean": (0.5, 0.5, 0.5),
          "std": (0.5, 0.5, 0.5), "crop_pct": 0.9, "crop_mode": "center"}
CLASSES = ("beetle", "ant")  # created out of order: labels must follow sorted names
FILES = ("b.JPEG", "a.png", "c.jpg")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """root/{train,val}/{ant,beetle}/ with three images of random sizes each, plus a stray text file."""
    root = tmp_path_factory.mktemp("imagenet")
    gen = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True)
            for file in FILES:
                height, width = torch.randint(36, 64, (2,), generator=gen).tolist()
                pixels = torch.randint(0, 256, (height, width, 3), dtype=torch.uint8, generator=gen)
                Image.fromarray(pixels.numpy()).save(folder / file)
            (folder / "notes.txt").write_text("not an image")
    return root


def test_dataset_classes_shapes_and_labels(tree):
    dataset = imagefolder_dataset(tree, "val", CONFIG)
    assert dataset.classes == ["ant", "beetle"]
    assert len(dataset) == 6
    assert [Path(path).name for path, _ in dataset.samples] == ["a.png", "b.JPEG", "c.jpg"] * 2
    image, label = dataset[4]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 1
    assert dataset.targets == [0, 0, 0, 1, 1, 1]


def test_batches_are_deterministic(tree):
    first = list(imagefolder_batches(tree, "val", CONFIG, batch_size=4))
    second = list(imagefolder_batches(tree, "val", CONFIG, batch_size=4))
    assert [tuple(x.shape) for x, _ in first] == [(4, 3, 32, 32), (2, 3, 32, 32)]
    assert torch.cat([y for _, y in first]).tolist() == [0, 0, 0, 1, 1, 1]
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_limit_keeps_a_balanced_subset(tree):
    batches = list(imagefolder_batches(tree, "val", CONFIG, batch_size=3, limit=4))
    assert torch.cat([y for _, y in batches]).tolist() == [0, 0, 1, 1]
    full = torch.cat([x for x, _ in imagefolder_batches(tree, "val", CONFIG, batch_size=6)])
    assert torch.equal(torch.cat([x for x, _ in batches]), full[[0, 1, 3, 4]])
    assert sum(len(y) for _, y in imagefolder_batches(tree, "val", CONFIG, limit=100)) == 6


def test_balanced_indices():
    targets = [0, 0, 0, 0, 1, 2, 2]
    assert balanced_indices(targets, 3) == [0, 4, 5]
    assert balanced_indices(targets, 5) == [0, 1, 4, 5, 6]
    assert balanced_indices(targets, 99) == list(range(7))


def test_partial_config_and_timm_model_config(tree):
    import timm
    from timm.data import resolve_data_config

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=2).eval()
    config = {**resolve_data_config(model=model), "input_size": (3, 32, 32)}
    x, y = next(iter(imagefolder_batches(tree, "train", config, batch_size=6)))
    with torch.no_grad():
        assert model(x).shape == (6, 2)
    x_partial, _ = next(iter(imagefolder_batches(tree, "train", {"input_size": (3, 24, 24)}, batch_size=2)))
    assert x_partial.shape == (2, 3, 24, 24)


def test_sampling_is_seeded(tree):
    def draw(seed: int) -> torch.Tensor:
        return sample_train_images(tree, CONFIG, 3, torch.Generator().manual_seed(seed))

    first = draw(0)
    assert first.shape == (3, 3, 32, 32)
    assert torch.equal(first, draw(0))
    assert not torch.equal(first, draw(1))
    train = torch.stack([image for image, _ in imagefolder_dataset(tree, "train", CONFIG)])
    assert all(any(torch.equal(image, t) for t in train) for image in first)
    assert len({tuple(image.flatten()[:8].tolist()) for image in first}) == 3  # drawn without replacement


def test_sampling_too_many(tree):
    with pytest.raises(UserError, match="cannot sample 7 training images"):
        sample_train_images(tree, CONFIG, 7, torch.Generator().manual_seed(0))


def test_missing_root_and_split(tmp_path):
    with pytest.raises(UserError, match="image folder .*absent/val not found") as info:
        imagefolder_dataset(tmp_path / "absent", "val", CONFIG)
    assert "\n" not in str(info.value)
    (tmp_path / "train").mkdir()
    with pytest.raises(UserError, match="val not found"):
        imagefolder_dataset(tmp_path, "val", CONFIG)


def test_empty_split_and_empty_class(tmp_path):
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "flat.JPEG").write_bytes(b"")
    with pytest.raises(UserError, match="no class folders in .*val"):
        imagefolder_dataset(tmp_path, "val", CONFIG)
    (tmp_path / "val" / "n01440764").mkdir()
    with pytest.raises(UserError, match="no images in 1 class folder.*n01440764"):
        imagefolder_dataset(tmp_path, "val", CONFIG)


def test_unknown_split(tree):
    with pytest.raises(UserError, match="unknown image-folder split 'test'"):
        imagefolder_dataset(tree, "test", CONFIG)


def test_unreadable_image(tmp_path):
    (tmp_path / "val" / "cls").mkdir(parents=True)
    (tmp_path / "val" / "cls" / "broken.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="cannot read image .*broken.JPEG"):
        list(imagefolder_batches(tmp_path, "val", CONFIG))


def test_validation_part_is_spread_evenly_and_disjoint():
    from dfqbench.data.imagefolder import train_part_indices

    val, train = train_part_indices(1000, 0.02, "val"), train_part_indices(1000, 0.02, "train")
    assert len(val) == 20 and val[:2] == [49, 99]
    assert sorted(val + train) == list(range(1000)) and not set(val) & set(train)
    with pytest.raises(UserError, match="--val-from-train must be in"):
        train_part_indices(10, 1.5, "val")
