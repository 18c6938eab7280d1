"""One split of a labelled image dataset held in memory, as every dataset of the zoo stores it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageSplit:
    """uint8 images (N, H, W), one channel, and int64 labels (N,), with the class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def as_float(self) -> torch.Tensor:
        """Images as float pixels in [0, 1], shape (N, 1, H, W)."""
        return self.images.unsqueeze(1).float().div_(255.0)
