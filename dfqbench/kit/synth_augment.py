"""Per-step augmentations during synthesis (a fresh draw every step, one per image).

Offsets are given for 224-pixel images and scale with the image size.
"""

from __future__ import annotations

import torch


def scaled_limit(pixels_at_224: int, size: int) -> int:
    return max(1, round(pixels_at_224 * size / 224))


def _offset(limit: int, generator: torch.Generator) -> int:
    return int(torch.randint(-limit, limit + 1, (), generator=generator))


def psaq_augment(x: torch.Tensor, progress: float, generator: torch.Generator) -> torch.Tensor:
    """PSAQ-ViT [code]: the whole batch rolled by one random offset on both axes (limit 15 px in the first half
    of the steps, 30 px in the second, at 224 px), then the whole batch flipped horizontally with p = 0.5."""
    offset = _offset(scaled_limit(15 if progress < 0.5 else 30, x.shape[-1]), generator)
    x = torch.roll(x, shifts=(offset, offset), dims=(2, 3))
    return x.flip(-1) if torch.rand((), generator=generator).item() < 0.5 else x


def mimiq_augment(x: torch.Tensor, progress: float, generator: torch.Generator) -> torch.Tensor:
    """MimiQ / MaskAQ [code]: the batch rolled by independent (dy, dx) up to 8 then 16 px (at 224 px); a per-image
    per-channel additive offset with std decaying linearly from 0.5 to 0; a per-image per-channel affine jitter
    ``(x - m) / s``, ``m ~ U(-1,1)``, ``s = exp(U(-1,1))``; no flip."""
    b, c = x.shape[:2]
    limit = scaled_limit(8 if progress < 0.5 else 16, x.shape[-1])
    x = torch.roll(x, shifts=(_offset(limit, generator), _offset(limit, generator)), dims=(2, 3))
    std = 0.5 * (1.0 - progress)
    offset = torch.randn(b, c, 1, 1, generator=generator) * std
    m = torch.rand(b, c, 1, 1, generator=generator) * 2 - 1
    s = torch.exp(torch.rand(b, c, 1, 1, generator=generator) * 2 - 1)
    return (x + offset.to(x) - m.to(x)) / s.to(x)
