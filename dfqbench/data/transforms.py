"""Preprocessing from a model's timm data config, for in-memory tensor datasets."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalize_batch(pixels: torch.Tensor, data_config: dict) -> torch.Tensor:
    """Pixels in [0, 1] (B, C, H, W) -> model input: resized to the config's size, then normalised."""
    _, height, width = data_config["input_size"]
    if pixels.shape[-2:] != (height, width):
        mode = data_config.get("interpolation", "bilinear")
        mode = mode if mode in ("bilinear", "bicubic", "nearest") else "bilinear"
        pixels = F.interpolate(pixels, size=(height, width), mode=mode, align_corners=False)
    mean = torch.tensor(data_config["mean"], dtype=pixels.dtype).view(1, -1, 1, 1)
    std = torch.tensor(data_config["std"], dtype=pixels.dtype).view(1, -1, 1, 1)
    return (pixels - mean) / std


def to_pixels(images: torch.Tensor, data_config: dict) -> torch.Tensor:
    """Model input (B, C, H, W) -> pixels in [0, 1]: the inverse of the normalisation, clamped."""
    mean = torch.tensor(data_config["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(data_config["std"]).view(1, -1, 1, 1)
    return (images.detach().float().cpu() * std + mean).clamp(0, 1)


def pixel_bounds(data_config: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (low, high) of the model-input range that maps back to [0, 1] pixels, (1, C, 1, 1)."""
    mean = torch.tensor(data_config["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(data_config["std"]).view(1, -1, 1, 1)
    return (0 - mean) / std, (1 - mean) / std
