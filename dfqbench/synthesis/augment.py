"""Per-step augmentations during synthesis (a fresh draw every step, one per image).

Offsets are given for 224-pixel images and scale with the image size.
"""

from __future__ import annotations

import math

import torch


def scaled_limit(pixels_at_224: int, size: int) -> int:
    return max(1, round(pixels_at_224 * size / 224))


def random_roll(x: torch.Tensor, limit: int, generator: torch.Generator) -> torch.Tensor:
    """Roll each image by its own (dy, dx), each uniform in [-limit, limit]."""
    b, _, h, w = x.shape
    dy = torch.randint(-limit, limit + 1, (b,), generator=generator)
    dx = torch.randint(-limit, limit + 1, (b,), generator=generator)
    rows = (torch.arange(h).view(1, h) - dy.view(b, 1)) % h
    cols = (torch.arange(w).view(1, w) - dx.view(b, 1)) % w
    rows = rows.to(x.device).view(b, 1, h, 1).expand(b, x.shape[1], h, w)
    cols = cols.to(x.device).view(b, 1, 1, w).expand(b, x.shape[1], h, w)
    return x.gather(2, rows).gather(3, cols)


def random_hflip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def psaq_augment(x: torch.Tensor, progress: float, generator: torch.Generator) -> torch.Tensor:
    """PSAQ-ViT: roll by up to 15 px (first half of the steps) or 30 px (second half) at 224 px, then flip p=0.5."""
    limit = scaled_limit(15 if progress < 0.5 else 30, x.shape[-1])
    return random_hflip(random_roll(x, limit, generator), generator)


def mimiq_augment(x: torch.Tensor, progress: float, generator: torch.Generator) -> torch.Tensor:
    """MimiQ / MaskAQ: roll by up to 8 then 16 px (at 224 px); per-image per-channel additive offset with std
    decaying linearly from 0.5 to 0; per-channel affine jitter ``(x - m) / s``, ``m ~ U(-1,1)``,
    ``s = exp(U(-1,1))``; no flip."""
    b, c = x.shape[:2]
    x = random_roll(x, scaled_limit(8 if progress < 0.5 else 16, x.shape[-1]), generator)
    std = 0.5 * (1.0 - progress)
    offset = torch.randn(b, c, 1, 1, generator=generator) * std
    m = torch.rand(b, c, 1, 1, generator=generator) * 2 - 1
    s = torch.exp(torch.rand(b, c, 1, 1, generator=generator) * 2 - 1)
    return (x + offset.to(x) - m.to(x)) / s.to(x)


def linear_warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Multiplier: linear warm-up over ``warmup`` steps, then cosine to 0 (PSAQ-ViT's per-round schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
