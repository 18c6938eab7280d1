"""The seeded training recipe of a zoo model (recorded with its weights)."""

from __future__ import annotations

import dataclasses

from dfqbench.config import Config


@dataclasses.dataclass(frozen=True)
class TrainRecipe(Config):
    """How a zoo model is trained from scratch on its dataset (Fashion-MNIST, or a canvas dataset made from it).

    ``train_split`` is the Fashion-MNIST split it learns from: models trained from the validation split's
    introduction on use ``train`` (the validation split held out); the first zoo models used ``train+val``.
    On a canvas dataset every epoch re-draws the items' canvases (size, placement, clutter, flip when ``hflip``;
    :mod:`dfqbench.zoo.training_data`), and crops are off (``crop_padding=0``, ``resized_crop=None``).
    ``distill='hard'`` trains a DeiT with hard distillation from a teacher
    (``teacher``, a zoo-internal CNN) that the same command trains first.
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    crop_padding: int = 2
    hflip: bool = True
    resized_crop: tuple[float, float] | None = None  # random resized crop: area fraction range (then flip)
    seed: int = 0
    distill: str | None = None
    teacher: str | None = None
    teacher_epochs: int = 0
    train_split: str = "train+val"  # 'train' holds out the validation split; the fmnist_* models saw all 60,000
