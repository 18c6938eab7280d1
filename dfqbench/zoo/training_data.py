"""What the zoo trainer learns from: per-epoch batches of augmented training pixels in [0, 1].

``fashion-mnist``: the 28 px items with a padded random crop or a random resized crop, then flip
(:func:`augment`, drawn from the trainer's torch generator). A canvas dataset: the items of Fashion-MNIST's
``recipe.train_split`` drawn afresh on the canvas every epoch (size, placement, clutter and flip,
:func:`dfqbench.data.canvas_splits.training_batch`, keyed by epoch, recipe seed and item index, so a resumed
training sees exactly the canvases it would have seen); crops are refused there, since they could cut the item out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dfqbench.data.canvas_splits import get_canvas_spec, training_batch
from dfqbench.data.fashion_mnist import FashionMNIST, load_fashion_mnist
from dfqbench.kit.calib_augment import resized_crop_flip
from dfqbench.zoo.recipe import TrainRecipe


def augment(pixels: torch.Tensor, recipe: TrainRecipe, gen: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding, or a random resized crop (``recipe.resized_crop``, the area range, aspect
    3/4-4/3), then horizontal flip, one draw per image."""
    b, c, h, w = pixels.shape
    if recipe.resized_crop is not None:
        return resized_crop_flip(pixels, gen, scale=tuple(recipe.resized_crop), flip_p=0.5 if recipe.hflip else 0.0)
    pad = recipe.crop_padding
    if pad:
        padded = F.pad(pixels, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)).view(b, 1, h, 1).expand(b, c, h, w + 2 * pad)
        cols = (dx[:, None] + torch.arange(w)).view(b, 1, 1, w).expand(b, c, h, w)
        pixels = padded.gather(2, rows).gather(3, cols)
    if recipe.hflip:
        flip = torch.rand(b, generator=gen) < 0.5
        pixels = torch.where(flip.view(b, 1, 1, 1), pixels.flip(-1), pixels)
    return pixels


class FashionMNISTTraining:
    """The 28 px items, cropped and flipped per batch with the trainer's generator."""

    def __init__(self, data: FashionMNIST, recipe: TrainRecipe):
        self.pixels, self.labels, self.recipe = data.as_float(), data.labels, recipe

    def batch(self, index: torch.Tensor, epoch: int, gen: torch.Generator) -> torch.Tensor:
        return augment(self.pixels[index], self.recipe, gen)


class CanvasTraining:
    """The items re-drawn on a canvas dataset's canvas every epoch (the generator only orders the batches)."""

    def __init__(self, dataset: str, data: FashionMNIST, recipe: TrainRecipe):
        if recipe.crop_padding or recipe.resized_crop is not None:
            raise ValueError(f"{dataset}: a canvas recipe re-draws the placement; crops would cut the item out "
                             "(set crop_padding=0 and resized_crop=None)")
        self.spec, self.items, self.labels, self.recipe = get_canvas_spec(dataset), data.images.numpy(), \
            data.labels, recipe

    def batch(self, index: torch.Tensor, epoch: int, gen: torch.Generator) -> torch.Tensor:
        chosen = index.numpy()
        return training_batch(self.spec, self.items[chosen], chosen, epoch, self.recipe.seed, flip=self.recipe.hflip)


def training_set(dataset: str, recipe: TrainRecipe, data_dir=None) -> FashionMNISTTraining | CanvasTraining:
    """The training data of a zoo model's dataset, from Fashion-MNIST's ``recipe.train_split``."""
    data = load_fashion_mnist(recipe.train_split, data_dir)
    if dataset == "fashion-mnist":
        return FashionMNISTTraining(data, recipe)
    return CanvasTraining(dataset, data, recipe)
