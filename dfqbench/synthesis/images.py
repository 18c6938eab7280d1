"""Image tensors being optimised: initialisation, the pixel-range projection, labels."""

from __future__ import annotations

import torch

from dfqbench.api import ModelContext


def init_images(ctx: ModelContext, n: int) -> torch.Tensor:
    """``N(0, 1)`` images in model-input space, projected to valid pixels, as a leaf that requires grad."""
    x = torch.randn(n, *ctx.input_size, generator=ctx.generator).to(ctx.device)
    return project_to_pixels(x, ctx).requires_grad_()


@torch.no_grad()
def project_to_pixels(x: torch.Tensor, ctx: ModelContext) -> torch.Tensor:
    """Clamp per channel, in place, to the model-input range that maps back to [0, 1] pixels."""
    low, high = ctx.pixel_bounds()
    return x.copy_(torch.maximum(torch.minimum(x, high), low))


def random_labels(ctx: ModelContext, n: int) -> torch.Tensor:
    """Labels drawn uniformly over the classes."""
    return torch.randint(0, ctx.num_classes, (n,), generator=ctx.generator).to(ctx.device)


def batch_sizes(total: int, batch: int) -> list[int]:
    """Split ``total`` images into synthesis batches of at most ``batch``."""
    return [min(batch, total - start) for start in range(0, total, batch)]
