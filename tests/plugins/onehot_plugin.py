"""An example dfqbench plugin: images inverted from the FP model with a one-hot loss, calibrated with kd.

Run it with:  dfqbench run --plugin tests/plugins/onehot_plugin.py --methods onehot,noise,real
"""

import dataclasses

import torch

from dfqbench.api import ModelContext, SyntheticSet, register_method, register_synthesizer
from dfqbench.config import Config
from dfqbench.kit.images import init_images, pixel_step, random_labels
from dfqbench.kit.iterative import IterativeSynthesizer
from dfqbench.kit.priors import one_hot_loss
from dfqbench.kit.schedules import cosine_to


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """``TV(x) = ||dx|| + ||dy||`` over the whole batch (Frobenius norms, not squared)."""
    return (x[..., 1:, :] - x[..., :-1, :]).norm() + (x[..., :, 1:] - x[..., :, :-1]).norm()


@dataclasses.dataclass
class Batch:
    images: torch.Tensor               # the pixels being optimised (a leaf)
    labels: torch.Tensor
    optimizer: torch.optim.Optimizer


@register_synthesizer("onehot")
class OneHotInversion(IterativeSynthesizer):
    """``L = CE(f_FP(x), y) + w_TV TV(x)``, labels drawn uniformly; Adam on the pixels, cosine to 0."""

    version = 2  # 2: the kit's batch loop and a cosine schedule
    paper = "example plugin (README: Add a method)"

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        one_hot: bool = True
        tv: bool = True
        tv_weight: float = 1e-4
        lr: float = 0.1

    def start_batch(self, ctx: ModelContext, n: int) -> Batch:
        images = init_images(ctx, n)
        return Batch(images, random_labels(ctx, n), torch.optim.Adam([images], lr=self.config.lr))

    def step(self, ctx: ModelContext, state: Batch, step: int, total: int) -> None:
        cfg, terms = self.config, {}
        for group in state.optimizer.param_groups:
            group["lr"] = cosine_to(step, total, cfg.lr, 0.0)
        if cfg.one_hot:
            terms["one_hot"] = one_hot_loss(ctx.teacher(state.images), state.labels)
        if cfg.tv:
            terms["tv"] = cfg.tv_weight * total_variation(state.images)
        pixel_step(ctx, state.images, state.optimizer, terms)

    def finish_batch(self, ctx: ModelContext, state: Batch) -> SyntheticSet:
        return SyntheticSet(state.images.detach(), state.labels)


register_method("onehot", "onehot", "kd", paper="example plugin", description="one-hot inversion + logit KD",
                ablations={"tv": ("synth.tv=false",)})
