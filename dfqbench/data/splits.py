"""The splits of a backbone's dataset: Fashion-MNIST or a canvas dataset for the zoo, an ImageNet folder for timm.

The dataset names are the ``dataset`` of a :class:`~dfqbench.zoo.backbones.Backbone`: ``fashion-mnist``, the canvas
datasets of :data:`dfqbench.data.canvas.CANVAS_SPECS` (``canvas56-a``, ...) and ``imagenet``. Every dataset has
three disjoint parts: ``train`` (what the ``real`` reference row samples), ``val`` (carved
deterministically from the training data, for tuning: ``dfqbench tune``) and ``test`` (what tables report).
"""

from __future__ import annotations

from pathlib import Path

import torch

from dfqbench.errors import UserError

EVAL_SPLITS = ("test", "val")


def unknown_dataset(dataset: str) -> UserError:
    from dfqbench.data.canvas import CANVAS_SPECS
    from dfqbench.naming import did_you_mean

    known = ["fashion-mnist", *CANVAS_SPECS, "imagenet"]
    return UserError(f"unknown dataset '{dataset}'{did_you_mean(dataset, known)} (known: {', '.join(known)})")


def is_canvas(dataset: str) -> bool:
    from dfqbench.data.canvas import CANVAS_SPECS

    return dataset in CANVAS_SPECS


def eval_batches(dataset: str, data_config: dict, batch_size: int, limit: int | None = None,
                 data_dir: Path | None = None, imagenet: Path | None = None, split: str = "test",
                 val_from_train: float | None = None):
    """Preprocessed (input, label) batches of the ``test`` or ``val`` split, in a fixed order."""
    if split not in EVAL_SPLITS:
        raise UserError(f"unknown evaluation split '{split}' (choose from: {', '.join(EVAL_SPLITS)})")
    if dataset == "fashion-mnist":
        from dfqbench.data.fashion_mnist import fashion_mnist_batches

        return fashion_mnist_batches(data_config, split, batch_size, limit, data_dir)
    if is_canvas(dataset):
        from dfqbench.data.canvas_splits import canvas_batches

        return canvas_batches(dataset, data_config, split, batch_size, limit, data_dir)
    if dataset == "imagenet":
        if imagenet is None:
            raise UserError("ImageNet models are evaluated on an ImageFolder tree: pass --imagenet DIR (with val/)")
        from dfqbench.data.imagefolder import imagefolder_batches

        if split == "val":  # the tree's own val/ is the test split; validation is carved from train/
            return imagefolder_batches(imagenet, "train", data_config, batch_size, limit,
                                       part="val", val_from_train=val_from_train)
        return imagefolder_batches(imagenet, "val", data_config, batch_size, limit)
    raise unknown_dataset(dataset)


def test_batches(dataset: str, data_config: dict, batch_size: int, limit: int | None = None,
                 data_dir: Path | None = None, imagenet: Path | None = None):
    """Preprocessed (input, label) batches of the test split, in a fixed order."""
    return eval_batches(dataset, data_config, batch_size, limit, data_dir, imagenet, "test")


def train_image_sampler(dataset: str, data_config: dict, data_dir: Path | None = None,
                        imagenet: Path | None = None, val_from_train: float | None = None):
    """``sample(n, generator)``: n preprocessed training images (the validation split excluded)."""
    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        if dataset == "fashion-mnist":
            from dfqbench.data.fashion_mnist import load_fashion_mnist
            from dfqbench.data.transforms import normalize_batch

            train = load_fashion_mnist("train", data_dir)
            index = torch.randperm(len(train), generator=generator)[:n]
            return normalize_batch(train.as_float()[index], data_config)
        if is_canvas(dataset):
            from dfqbench.data.canvas_splits import sample_canvas_train

            return sample_canvas_train(dataset, data_config, n, generator, data_dir)
        if dataset == "imagenet":
            from dfqbench.data.imagefolder import sample_train_images

            return sample_train_images(imagenet, data_config, n, generator, val_from_train=val_from_train)
        raise unknown_dataset(dataset)
    return sample
