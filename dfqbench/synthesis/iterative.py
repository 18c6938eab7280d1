"""Base class of the synthesizers that optimise images batch by batch.

A subclass implements three hooks; the base runs the batches, reports
progress and concatenates the result. Benchmarks time one call of
:meth:`IterativeSynthesizer.step` against the bare passes it needs.

    class Mine(IterativeSynthesizer):
        def start_batch(self, ctx, n): ...        # -> a state object (images, labels, optimiser, ...)
        def step(self, ctx, state, step, total):  # one optimiser step, images projected to valid pixels
        def finish_batch(self, ctx, state): ...   # -> SyntheticSet of this batch
"""

from __future__ import annotations

from typing import Any

import torch

from dfqbench.api import ModelContext, Synthesizer, SyntheticSet
from dfqbench.synthesis.images import batch_sizes


class IterativeSynthesizer(Synthesizer):
    def start_batch(self, ctx: ModelContext, n: int) -> Any:
        raise NotImplementedError

    def step(self, ctx: ModelContext, state: Any, step: int, total: int) -> None:
        raise NotImplementedError

    def finish_batch(self, ctx: ModelContext, state: Any) -> SyntheticSet:
        raise NotImplementedError

    def steps_per_batch(self, ctx: ModelContext) -> int:
        return ctx.profile.synth_steps

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        sizes = batch_sizes(ctx.profile.n_images, ctx.profile.synth_batch_size)
        steps = self.steps_per_batch(ctx)
        parts, done = [], 0
        for n in sizes:
            state = self.start_batch(ctx, n)
            for i in range(steps):
                self.step(ctx, state, i, steps)
                done += 1
                ctx.progress(done, steps * len(sizes))
            part = self.finish_batch(ctx, state)
            if not torch.isfinite(part.images).all():
                raise FloatingPointError(f"{self.name}: synthesis produced NaN or infinite pixels")
            parts.append(part)
        labels = None if parts[0].labels is None else torch.cat([p.labels for p in parts])
        return SyntheticSet(torch.cat([p.images.detach() for p in parts]), labels)
