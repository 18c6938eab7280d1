"""The shared QAT loop: SGD (Nesterov), cosine learning rate, logit KD plus a method's extra terms.

Calibrators that distil (``kd``, ``hsad``, ``masked-hsad``) subclass
:class:`QATCalibrator` and override :meth:`QATCalibrator.loss`.
"""

from __future__ import annotations

import dataclasses

import torch

from dfqbench.api import CalibrationSource, Calibrator, ModelContext
from dfqbench.config import Config
from dfqbench.kit.calib_augment import simclr_augment
from dfqbench.kit.finite import FiniteWatch
from dfqbench.kit.kd_loss import logit_kd
from dfqbench.kit.ranges import init_activation_ranges
from dfqbench.kit.schedules import cosine_lr


@dataclasses.dataclass(frozen=True)
class QATConfig(Config):
    """Shared QAT settings (methods/README.md, "Shared pieces")."""

    lr: float = 1e-3
    momentum: float = 0.9
    final_lr_ratio: float = 0.01      # cosine from lr to lr * final_lr_ratio
    weight_decay: float = 0.0
    temperature: float = 5.0          # logit KD temperature
    kd_weight: float = 1.0
    augment: bool = True              # SimCLR-style augmentation
    augment_per_image: bool = True    # one draw per image [choice]; false: one per batch (the authors' code)
    act_init: str = "lsq"             # activation range initialisation on the first batch


def start_qat(ctx: ModelContext, source: CalibrationSource, cfg: QATConfig) -> torch.optim.Optimizer:
    """Initialise the student's activation ranges on a first batch (``cfg.act_init``) and return the shared
    SGD optimiser over every trainable student parameter (latent weights, LayerNorms, tokens, step sizes)."""
    init_activation_ranges(ctx.student, [source.batch(ctx.profile.calib_batch_size, ctx.generator)], cfg.act_init)
    params = [p for p in ctx.student.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                           weight_decay=cfg.weight_decay)


def checkpoint_calibration(ctx: ModelContext, source: CalibrationSource, opt: torch.optim.Optimizer,
                           step: int) -> None:
    """Save what resuming at ``step`` needs: student, optimiser, calibration source, generators."""
    ctx.checkpoint.save({"step": step, "student": ctx.student.state_dict(), "optimizer": opt.state_dict(),
                         "source": source.state(), "generator": ctx.generator.get_state()})


def resume_calibration(ctx: ModelContext, source: CalibrationSource, opt: torch.optim.Optimizer) -> int:
    """The step to go on from: 0 without a checkpoint, else its step, with everything it saved restored."""
    state = ctx.checkpoint.load()
    if state is None:
        return 0
    ctx.student.load_state_dict(state["student"])
    opt.load_state_dict(state["optimizer"])
    source.restore(state["source"])
    ctx.generator.set_state(state["generator"])
    return state["step"]


class QATCalibrator(Calibrator):
    """Logit-KD QAT on the calibration source; subclasses add terms in :meth:`loss`. Checkpoints after each
    refresh of the source."""

    Config = QATConfig

    def loss(self, ctx: ModelContext, images: torch.Tensor) -> torch.Tensor:
        """The objective on one (augmented) batch; the base is plain logit KD."""
        with torch.no_grad():
            teacher_logits = ctx.teacher(images)
        return self.config.kd_weight * logit_kd(ctx.student(images), teacher_logits, self.config.temperature)

    def refresh_steps(self, ctx: ModelContext, source: CalibrationSource, steps: int) -> set[int]:
        """The steps after which the source is refreshed: by default, where its synthesizer asks."""
        return source.refresh_points(steps)

    def calibrate(self, ctx: ModelContext, source: CalibrationSource) -> None:
        cfg, gen = self.config, ctx.generator
        steps, batch_size = ctx.profile.calib_steps, ctx.profile.calib_batch_size
        opt = start_qat(ctx, source, cfg)
        refresh_at = self.refresh_steps(ctx, source, steps)
        finite = FiniteWatch("calibration loss")
        for step in range(resume_calibration(ctx, source, opt), steps):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, steps, cfg.lr, cfg.final_lr_ratio)
            images = source.batch(batch_size, gen)
            if cfg.augment:
                images = simclr_augment(images, ctx.data_config, gen, cfg.augment_per_image)
            loss = self.loss(ctx, images)
            finite.add(loss, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step + 1 in refresh_at:
                finite.check()
                source.refresh()
                checkpoint_calibration(ctx, source, opt, step + 1)
            ctx.progress(step + 1, steps)
        finite.check()
