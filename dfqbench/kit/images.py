"""Image tensors being optimised: initialisation, labels, the pixel-range projection and the pixel step."""

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


def pixel_gradient(loss: torch.Tensor, images: torch.Tensor) -> None:
    """``images.grad = dL/dx``; model parameters get no gradient (only pixels are optimised)."""
    (images.grad,) = torch.autograd.grad(loss, [images])


def pixel_step(ctx: ModelContext, images: torch.Tensor, optimizer: torch.optim.Optimizer,
               terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One optimiser step on the pixels: ``x <- P(x - step(dL/dx))`` with ``L`` the sum of the weighted ``terms``
    and ``P`` the projection to valid pixels. Returns each term's value, detached (no float conversion: the step
    runs thousands of times and would wait on the device for each term); without a term that depends on the
    pixels (every one switched off) nothing moves."""
    loss = sum(terms.values(), images.new_zeros(()))
    if not loss.requires_grad:
        return {}
    pixel_gradient(loss, images)
    optimizer.step()
    project_to_pixels(images, ctx)
    return {name: value.detach() for name, value in terms.items()}
