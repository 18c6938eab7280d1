"""The evaluation split of a backbone's dataset: Fashion-MNIST for the zoo, an ImageNet folder for timm models."""

from __future__ import annotations

from pathlib import Path

from dfqbench.errors import UserError


def test_batches(dataset: str, data_config: dict, batch_size: int, limit: int | None = None,
                 data_dir: Path | None = None, imagenet: Path | None = None):
    """Preprocessed (input, label) batches of the test split, in a fixed order."""
    if dataset == "fashion-mnist":
        from dfqbench.data.fashion_mnist import fashion_mnist_batches

        return fashion_mnist_batches(data_config, "test", batch_size, limit, data_dir)
    if dataset == "imagenet":
        if imagenet is None:
            raise UserError("ImageNet models are evaluated on an ImageFolder tree: pass --imagenet DIR (with val/)")
        from dfqbench.data.imagefolder import imagefolder_batches

        return imagefolder_batches(imagenet, "val", data_config, batch_size, limit)
    raise UserError(f"unknown dataset '{dataset}'")
