"""Test plugins for the Ray executor (tests/test_ray.py): a synthesizer that counts its calls, and one whose worker
dies once in the middle of its synthesis. They talk to the test through files named by environment variables,
which Ray's workers inherit from the process that started the cluster."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import torch

from dfqbench.api import ModelContext, Synthesizer, SyntheticSet, register_synthesizer
from dfqbench.config import Config
from dfqbench.kit.images import init_images, pixel_step, random_labels
from dfqbench.kit.iterative import IterativeSynthesizer
from dfqbench.kit.priors import one_hot_loss

COUNT_FILE, SLEEP_S, KILL_MARKER = "DFQBENCH_TEST_COUNT", "DFQBENCH_TEST_SLEEP", "DFQBENCH_TEST_KILL_MARKER"


def note(variable: str, text: str) -> None:
    path = os.environ.get(variable)
    if path:
        with open(path, "a") as fh:
            fh.write(text + "\n")


@register_synthesizer("counted-noise")
class CountedNoise(Synthesizer):
    """Gaussian noise clamped to valid pixels; each call appends a line to ``$DFQBENCH_TEST_COUNT`` and sleeps
    ``$DFQBENCH_TEST_SLEEP`` seconds."""

    role = "reference"

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        pass

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        note(COUNT_FILE, f"synthesize pid={os.getpid()}")
        time.sleep(float(os.environ.get(SLEEP_S, "0")))
        images = torch.randn(ctx.profile.n_images, *ctx.input_size, generator=ctx.generator)
        low, high = ctx.pixel_bounds()
        return SyntheticSet(torch.max(torch.min(images, high), low))


@dataclasses.dataclass
class Batch:
    images: torch.Tensor
    labels: torch.Tensor
    optimizer: torch.optim.Optimizer


@register_synthesizer("dies-once")
class DiesOnce(IterativeSynthesizer):
    """One-hot inversion whose process kills itself after its first checkpointed batch, the first time only (the
    marker file ``$DFQBENCH_TEST_KILL_MARKER`` says it happened); a resumed run notes how many batches it found."""

    role = "reference"

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        pass

    def start_batch(self, ctx: ModelContext, n: int) -> Batch:
        images = init_images(ctx, n)
        return Batch(images, random_labels(ctx, n), torch.optim.Adam([images], lr=0.1))

    def step(self, ctx: ModelContext, state: Batch, step: int, total: int) -> None:
        pixel_step(ctx, state.images, state.optimizer, {"ce": one_hot_loss(ctx.teacher(state.images), state.labels)})

    def finish_batch(self, ctx: ModelContext, state: Batch) -> SyntheticSet:
        return SyntheticSet(state.images.detach(), state.labels)

    def resume(self, ctx: ModelContext) -> list[SyntheticSet]:
        parts = super().resume(ctx)
        if parts:
            note(COUNT_FILE, f"resumed batches={len(parts)}")
        return parts

    def checkpoint(self, ctx: ModelContext, parts: list[SyntheticSet]) -> None:
        super().checkpoint(ctx, parts)
        marker = os.environ.get(KILL_MARKER)
        if marker and len(parts) == 1 and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
