"""Base class of the synthesizers that optimise images batch by batch.

A subclass implements three hooks; the base runs the batches, reports
progress, checkpoints after each batch (the images so far, the generator, and
the quantized model when the synthesizer uses it), resumes from the
checkpoint, and concatenates the result. Benchmarks time one call of
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
from dfqbench.kit.images import batch_sizes


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
        parts = self.resume(ctx)
        done = len(parts) * steps
        for n in sizes[len(parts):]:
            parts.append(self.run_batch(ctx, n, steps, done, steps * len(sizes)))
            done += steps
            self.checkpoint(ctx, parts)
        return concatenate(parts)

    def synthesize_batch(self, ctx: ModelContext, index: int) -> SyntheticSet:
        """Batch ``index`` of the set alone, drawn from ``ctx.generator`` only: the unit of split synthesis, where
        each batch gets a generator of its own (:func:`dfqbench.runner.split.batch_generator`), so that the set
        does not depend on how many workers make it. Only for ``independent_batches`` synthesizers."""
        if not self.independent_batches:
            raise TypeError(f"{self.name}: its batches depend on each other; it cannot make one alone")
        steps = self.steps_per_batch(ctx)
        return self.run_batch(ctx, batch_sizes(ctx.profile.n_images, ctx.profile.synth_batch_size)[index], steps,
                              0, steps)

    def run_batch(self, ctx: ModelContext, n: int, steps: int, done: int, total: int) -> SyntheticSet:
        """One batch of ``n`` images through every step (progress counted from ``done`` of ``total``)."""
        state = self.start_batch(ctx, n)
        for i in range(steps):
            self.step(ctx, state, i, steps)
            ctx.progress(done + i + 1, total)
        part = self.finish_batch(ctx, state)
        if not torch.isfinite(part.images).all():
            raise FloatingPointError(f"{self.name}: synthesis produced NaN or infinite pixels")
        return part

    def checkpoint(self, ctx: ModelContext, parts: list[SyntheticSet]) -> None:
        """After ``len(parts)`` batches: the last batch as a part, then the state that refers to it."""
        last = parts[-1]
        ctx.checkpoint.save_part(len(parts) - 1, {
            "images": last.images.detach().cpu(), "labels": None if last.labels is None else last.labels.cpu()})
        ctx.checkpoint.save({"batches": len(parts), "generator": ctx.generator.get_state(),
                             "student": ctx.student.state_dict() if self.needs_quantized_model else None})

    def resume(self, ctx: ModelContext) -> list[SyntheticSet]:
        """The batches a checkpoint holds, generator and quantized model restored (none without one)."""
        state = ctx.checkpoint.load()
        if state is None:
            return []
        parts = []
        for index in range(state["batches"]):
            part = ctx.checkpoint.load_part(index)
            parts.append(SyntheticSet(part["images"].to(ctx.device),
                                      None if part["labels"] is None else part["labels"].to(ctx.device)))
        ctx.generator.set_state(state["generator"])
        if state["student"] is not None:
            ctx.student.load_state_dict(state["student"])
        return parts


def concatenate(parts: list[SyntheticSet]) -> SyntheticSet:
    labels = None if parts[0].labels is None else torch.cat([p.labels for p in parts])
    return SyntheticSet(torch.cat([p.images.detach() for p in parts]), labels)
