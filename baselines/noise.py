"""``noise``: Gaussian-noise calibration images, the lower reference."""

from __future__ import annotations

import dataclasses

import torch

from dfqbench.api import ModelContext, Synthesizer, SyntheticSet, register_synthesizer
from dfqbench.config import Config


@register_synthesizer("noise")
class GaussianNoise(Synthesizer):
    """``x ~ N(0, 1)`` in model-input (normalised) space, clamped to valid pixels [choice]."""

    version = 1
    role = "reference"
    paper = "Gaussian-noise reference row (dfqbench/PROTOCOL.md)"

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        std: float = 1.0
        clamp: bool = True

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        n = ctx.profile.n_images
        images = torch.randn(n, *ctx.input_size, generator=ctx.generator) * self.config.std
        images = images.to(ctx.device)
        if self.config.clamp:
            low, high = ctx.pixel_bounds()
            images = torch.max(torch.min(images, high), low)
        ctx.progress(n, n)
        return SyntheticSet(images)
