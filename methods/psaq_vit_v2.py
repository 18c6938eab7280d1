"""PSAQ-ViT V2 (Li et al., TNNLS 2023): the adaptive teacher-student loop. Method ``psaq-vit-v2``.

**No public code exists for PSAQ-ViT V2: this is a re-implementation from the paper**
(methods/README.md, "psaq-vit-v2"); every choice we made is a config field.

From the paper: V2 keeps PSAQ-ViT's patch-similarity entropy ``L_PSE``,
drops the one-hot label loss (task-agnostic priors), and lets the samples
and the quantized student evolve in turns under the FP teacher. Ours:

- sample phase (synthesizer ``psaq-vit-v2``): Adam on the pixels minimising
  ``L_PSE + 0.05 |R(x) - tau| - lambda_adv T^2 KL(softmax(T(x)/T) || softmax(Q(x)/T))``
  (the samples seek teacher/student disagreement; ``lambda_adv = 1``, ``T = 5``),
  PSAQ-ViT's roll/flip augmentation and clamping. The initial samples
  (``synthesize``, round 1) come from noise and already play against
  ``ctx.student``, the quantized model before any calibration (its activation
  ranges set themselves on the first batch it sees, as MaskAQ's ``q_init=noise``;
  ``adversarial_first=false``: round 1 from the teacher alone); every later
  phase (``refresh``) *continues* the current samples against the current
  quantized model (they are not redrawn);
- student phase (calibrator ``psaq-vit-v2``): ``T^2 KL(softmax(T(x)/T) || softmax(Q(x)/T))``
  on the current samples with the shared QAT optimiser (SGD-Nesterov, cosine
  over all student steps, state kept across rounds) and the shared calibration
  augmentation, as every QAT row (``calib.augment=false`` shows the samples as
  optimised, the behaviour of calibrator version 2);
- 4 rounds, each a sample phase then a student phase: the initial synthesis
  is round 1's sample phase, ``source.refresh()`` the later ones.
  ``profile.calib_steps`` is split over the rounds; each sample phase runs
  ``phase_steps * profile.synth_steps`` steps (1/4 by default, so the loop
  spends the profile's synthesis budget). No KD calibration follows the loop.
"""

from __future__ import annotations

import dataclasses

import torch

from dfqbench.api import (
    CalibrationSource,
    ModelContext,
    SyntheticSet,
    register_calibrator,
    register_method,
    register_synthesizer,
)
from dfqbench.config import Config
from dfqbench.kit.attention import taps_if
from dfqbench.kit.images import batch_sizes, init_images, pixel_step
from dfqbench.kit.iterative import IterativeSynthesizer
from dfqbench.kit.kd_loss import logit_kd
from dfqbench.kit.priors import psaq_tau, tv_psaq
from dfqbench.kit.qat import QATCalibrator, QATConfig
from dfqbench.kit.schedules import linear_warmup_cosine, round_bounds
from dfqbench.kit.synth_augment import psaq_augment
from dfqbench.methods.psaq_vit import patch_similarity_entropy_loss

EXTENDS = "psaq_vit"  # the parent plugin this paper builds on (the only plugin this file imports)
PAPER = ("Li et al., PSAQ-ViT V2: Towards Accurate and General Data-Free Quantization for Vision Transformers, "
         "TNNLS 2023")
NOTES = "re-implementation from the paper (no public code exists); every choice is a config field."


def adversarial_loss(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``L_ADV = - T^2 KL(softmax(z_T/T) || softmax(z_Q/T))``, batch mean: minimised by the samples, so they
    seek the inputs on which the quantized student disagrees with the FP teacher."""
    return -logit_kd(student_logits, teacher_logits, temperature)


def student_loss(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``L_S = T^2 KL(softmax(z_T/T) || softmax(z_Q/T))``, batch mean: minimised by the student."""
    return logit_kd(student_logits, teacher_logits, temperature)


@dataclasses.dataclass
class V2State:
    images: torch.Tensor           # leaf being optimised
    tau: float
    optimizer: torch.optim.Optimizer
    adversarial: bool              # this phase plays against ctx.student
    last: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)  # the last step's terms


@register_synthesizer("psaq-vit-v2")
class PSAQViTV2(IterativeSynthesizer):
    """Every sample phase: ``L_PSE + 0.05 TV_PSAQ - L_ADV`` against the current quantized model; refresh continues
    the same samples."""

    version = 3  # 2: psaq-vit 2's KDE; 3: round 1 plays against the initial quantized model too
    needs_quantized_model = True
    paper = PAPER
    notes = NOTES

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        pse: bool = True                       # patch-similarity entropy
        pse_weight: float = 1.0
        tv: bool = True                        # |R(x) - tau|
        tv_weight: float = 0.05
        tau_scaled: bool = True                # tau times sqrt(values / (32*3*224*224)) [choice]
        adversarial: bool = True               # -lambda_adv T^2 KL(T || Q) in the sample phases
        adversarial_first: bool = True         # round 1 as well (against the not yet calibrated Q) [choice]
        adv_weight: float = 1.0                # lambda_adv
        temperature: float = 5.0
        augment: bool = True                   # PSAQ-ViT's roll + flip
        bandwidth: float = 0.01
        kde_points: int = 10
        lr: float = 0.2                        # PSAQ-ViT's Adam
        betas: tuple[float, float] = (0.5, 0.9)
        warmup: float = 0.2                    # linear warm-up fraction of every sample phase, then cosine to 0
        phase_steps: float = 0.25              # steps of a sample phase, as a fraction of profile.synth_steps
        refresh: bool = True                   # continue the samples when a calibrator refreshes the source

    def steps_per_batch(self, ctx: ModelContext) -> int:
        return max(1, round(self.config.phase_steps * ctx.profile.synth_steps))

    def _state(self, ctx: ModelContext, images: torch.Tensor, adversarial: bool) -> V2State:
        cfg = self.config
        optimizer = torch.optim.Adam([images], lr=cfg.lr, betas=tuple(cfg.betas), eps=1e-8)
        return V2State(images, psaq_tau(images, ctx.generator, cfg.tau_scaled), optimizer, adversarial)

    def start_batch(self, ctx: ModelContext, n: int) -> V2State:
        """Round 1: noise, against the quantized model before calibration (``adversarial_first``)."""
        cfg = self.config
        return self._state(ctx, init_images(ctx, n), adversarial=cfg.adversarial and cfg.adversarial_first)

    def continue_batch(self, ctx: ModelContext, images: torch.Tensor) -> V2State:
        """A later round: the given samples (copied, not redrawn) against the current ``ctx.student``."""
        return self._state(ctx, images.detach().clone().requires_grad_(), adversarial=self.config.adversarial)

    def objective(self, ctx: ModelContext, state: V2State, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg, terms = self.config, {}
        with taps_if(cfg.pse, ctx.teacher, ("outputs",)) as taps:
            teacher_logits = ctx.teacher(inputs)
        if cfg.pse:
            terms["pse"] = cfg.pse_weight * patch_similarity_entropy_loss(taps.records, cfg.bandwidth,
                                                                          cfg.kde_points)
        if cfg.tv:
            terms["tv"] = cfg.tv_weight * tv_psaq(state.images, state.tau)
        if state.adversarial:
            terms["adv"] = cfg.adv_weight * adversarial_loss(teacher_logits, ctx.student(inputs), cfg.temperature)
        return terms

    def step(self, ctx: ModelContext, state: V2State, step: int, total: int) -> None:
        cfg = self.config
        for group in state.optimizer.param_groups:
            group["lr"] = cfg.lr * linear_warmup_cosine(step, total, round(cfg.warmup * total))
        x = state.images
        inputs = psaq_augment(x, step / total, ctx.generator) if cfg.augment else x
        state.last = pixel_step(ctx, x, state.optimizer, self.objective(ctx, state, inputs))

    def finish_batch(self, ctx: ModelContext, state: V2State) -> SyntheticSet:
        return SyntheticSet(state.images.detach())

    def refresh(self, ctx: ModelContext, previous: SyntheticSet) -> SyntheticSet:
        """Continue ``previous`` for one sample phase against the current quantized model ``ctx.student``."""
        steps = self.steps_per_batch(ctx)
        sizes = batch_sizes(len(previous), ctx.profile.synth_batch_size)
        parts, start = [], 0
        for i, n in enumerate(sizes):
            state = self.continue_batch(ctx, previous.images[start:start + n])
            for s in range(steps):
                self.step(ctx, state, s, steps)
                ctx.progress(i * steps + s + 1, steps * len(sizes))
            parts.append(state.images.detach())
            start += n
        images = torch.cat(parts)
        if not torch.isfinite(images).all():
            raise FloatingPointError(f"{self.name}: refresh produced NaN or infinite pixels")
        return SyntheticSet(images, previous.labels)


@register_calibrator("psaq-vit-v2")
class AdaptiveTeacherStudent(QATCalibrator):
    """Rounds of (sample phase, student phase); the student phase is logit-KL QAT on the current samples: the
    shared QAT loop with ``L_S``, the samples continued (refreshed) at the start of every round after the first."""

    version = 3  # 2: psaq-vit 2's KDE; 3: the shared calibration augmentation on by default
    paper = PAPER
    notes = "re-implementation: the student turns and the round schedule of the V2 loop (no public code exists)."

    @dataclasses.dataclass(frozen=True)
    class Config(QATConfig):
        augment: bool = True                   # the shared SimCLR augmentation, as every QAT row; false: the
                                               # samples are shown as optimised (version 2's behaviour)
        rounds: int = 4                        # sample/student turns; profile.calib_steps split over them
        adaptive: bool = True                  # refresh (continue) the samples between rounds

    def refresh_steps(self, ctx: ModelContext, source: CalibrationSource, steps: int) -> set[int]:
        """The starts of rounds 2, 3, ...: the sample phase runs before the round's first student step."""
        if not (self.config.adaptive and source.synthesizer.wants_refresh):
            return set()
        return set(round_bounds(steps, self.config.rounds)[1:-1])

    def loss(self, ctx: ModelContext, images: torch.Tensor) -> torch.Tensor:
        """``L_S`` on one (augmented) batch."""
        with torch.no_grad():
            teacher_logits = ctx.teacher(images)
        return self.config.kd_weight * student_loss(teacher_logits, ctx.student(images), self.config.temperature)


register_method("psaq-vit-v2", "psaq-vit-v2", "psaq-vit-v2", paper=PAPER,
                description="adaptive teacher-student loop: PSE samples continued adversarially in turns "
                            "with logit-KL student steps (4 rounds)",
                ablations={"pse": ("synth.pse=false",), "tv": ("synth.tv=false",),
                           "adversarial": ("synth.adversarial=false",), "adaptive": ("calib.adaptive=false",)})
