"""A test plugin with a tunable hyper-parameter: Gaussian noise of a tunable scale, calibrated with kd."""

import dataclasses

import torch

from dfqbench.api import ModelContext, Synthesizer, SyntheticSet, register_method, register_synthesizer
from dfqbench.config import Config


@register_synthesizer("scaled-noise")
class ScaledNoise(Synthesizer):
    """``x = scale * N(0, 1)``, clamped to the valid pixels; ``scale`` is left to tuning."""

    version = 1
    tunable = {"scale": (0.25, 1.0)}

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        scale: float = 1.0

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        low, high = ctx.pixel_bounds()
        x = self.config.scale * torch.randn(ctx.profile.n_images, *ctx.input_size, generator=ctx.generator)
        return SyntheticSet(torch.max(torch.min(x.to(ctx.device), high), low))


register_method("scaled-noise", "scaled-noise", "kd", paper="test plugin", description="noise of a tuned scale")
