"""``real``: real training images, the oracle upper reference."""

from __future__ import annotations

from dfqbench.api import ModelContext, Synthesizer, SyntheticSet, register_synthesizer


@register_synthesizer("real")
class RealImages(Synthesizer):
    """``profile.n_images`` training images drawn with the stage's generator (not data-free), from the training
    split minus the validation split (version 2; version 1 drew from all training images)."""

    version = 2
    role = "oracle"
    paper = "real-data reference row (dfqbench/PROTOCOL.md)"

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        if ctx.real_images is None:
            raise RuntimeError("this run has no training images for the 'real' row")
        n = ctx.profile.n_images
        images = ctx.real_images(n, ctx.generator).to(ctx.device)
        ctx.progress(n, n)
        return SyntheticSet(images)
