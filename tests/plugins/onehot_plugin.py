"""An example dfqbench plugin: images inverted from the FP model with a one-hot loss, calibrated with kd.

Run it with:  dfqbench run --plugin tests/plugins/onehot_plugin.py --methods onehot,noise,real
"""

import dataclasses

import torch
import torch.nn.functional as F

from dfqbench.api import ModelContext, Synthesizer, SyntheticSet, register_method, register_synthesizer
from dfqbench.config import Config


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """``||dx|| + ||dy||`` over the whole batch (Frobenius norms, not squared)."""
    return (x[..., 1:, :] - x[..., :-1, :]).norm() + (x[..., :, 1:] - x[..., :, :-1]).norm()


@register_synthesizer("onehot")
class OneHotInversion(Synthesizer):
    """``L = CE(f_FP(x), y) + w_TV * TV(x)``, labels drawn uniformly, Adam on the pixels."""

    version = 1
    paper = "example plugin (README: Add a method)"

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        lr: float = 0.1
        tv_weight: float = 1e-4

    def synthesize(self, ctx: ModelContext) -> SyntheticSet:
        budget, low_high = ctx.profile, ctx.pixel_bounds()
        images, labels = [], []
        for start in range(0, budget.n_images, budget.synth_batch_size):
            n = min(budget.synth_batch_size, budget.n_images - start)
            y = torch.randint(0, ctx.num_classes, (n,), generator=ctx.generator).to(ctx.device)
            x = torch.randn(n, *ctx.input_size, generator=ctx.generator).to(ctx.device).requires_grad_()
            opt = torch.optim.Adam([x], lr=self.config.lr)
            for _ in range(budget.synth_steps):
                loss = F.cross_entropy(ctx.teacher(x), y) + self.config.tv_weight * total_variation(x)
                opt.zero_grad()
                loss.backward()
                opt.step()
                with torch.no_grad():
                    x.copy_(torch.max(torch.min(x, low_high[1]), low_high[0]))
            images.append(x.detach())
            labels.append(y)
            ctx.progress(start + n, budget.n_images)
        return SyntheticSet(torch.cat(images), torch.cat(labels))


register_method("onehot", "onehot", "kd", paper="example plugin", description="one-hot inversion + logit KD")
