"""MaskAQ (Qian et al., ICML 2026): MimiQ's synthesis steered by an informative-region mask and the current
quantized model, periodic refresh of the synthetic set, and token-weighted structural distillation
(methods/README.md, "maskaq").

Synthesizer ``maskaq`` (FP teacher and current quantized model Q run every step)::

    L = 1.0 L_SSIM + 1.0 L_OH + 2.5e-5 TV + 0.1 L_MAA + 1.0 L_SE

Calibrator ``masked-hsad``::

    L = KD + gamma L_mHSAD, gamma = 10

Method ``maskaq`` pairs them; the whole set is regenerated from fresh noise with the current Q every 15 % of
the calibration (the code: every 30 of 200 epochs, scaled proportionally: 6 refreshes at every profile).
Ablations (the paper's Table 2)::

    --set synth.se=false      without the similarity-entropy term
    --set synth.maa=false     without the masked attention alignment
    --set calib.mask=false    without the calibration mask (plain HSAD)
    --set synth.refresh=false without refresh
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from dfqbench.api import (
    ModelContext,
    Profile,
    SyntheticSet,
    register_calibrator,
    register_method,
    register_synthesizer,
)
from dfqbench.kit.attention import AttentionRecord, AttentionTaps, attention_modules
from dfqbench.kit.ranges import quantizers_ready
from dfqbench.methods.mimiq import (
    BatchState,
    HSADCalibrator,
    HSADConfig,
    MimiQSynthesizer,
    hsad_loss,
    patch_logits,
    window_mask,
)

EXTENDS = "mimiq"  # the parent plugin this paper builds on (the only plugin this file imports)
PAPER = "Qian et al., MaskAQ, ICML 2026"
MASK_SOURCES = ("fp", "q")
Q_INITS = ("noise", "synthetic")
SE_EPS = 1e-8


# --- the informative-region mask ---------------------------------------------------------------------------------


def mask_ratio(step: int, total: int, start: float = 0.5, end: float = 0.1) -> float:
    """``r_t = (1 - t) r_0 + t r_1``, ``t = step / (steps - 1)``: 0.5 at a batch's first step, 0.1 at its last."""
    t = step / max(1, total - 1)
    return (1 - t) * start + t * end


def top_count(patches: int, ratio: float) -> int:
    """``k = max(1, floor(P r))`` patches kept by the top-k."""
    return max(1, math.floor(patches * ratio + 1e-9))


def kept_count(k: int, drop: float) -> int:
    """``max(1, round((1 - p) k))`` of the top-k survive the stochastic drop (p = 0.3: ``round(0.7 k)``)."""
    return max(1, round((1 - drop) * k))


def informative_mask(scores: torch.Tensor, ratio: float, drop: float, generator: torch.Generator) -> torch.Tensor:
    """``M`` (B, P) in {0, 1}: the top ``k = max(1, floor(P r))`` patches of each image's score, of which a random
    ``max(1, round((1 - p) k))`` are kept (stochastic drop with probability p)."""
    batch, patches = scores.shape
    k = top_count(patches, ratio)
    top = scores.topk(k, dim=-1).indices
    keep = kept_count(k, drop)
    if keep < k:
        pick = torch.rand(batch, k, generator=generator).argsort(-1)[:, :keep].to(top.device)
        top = top.gather(1, pick)
    return torch.zeros_like(scores).scatter_(1, top, 1.0)


def logit_unscale(model: nn.Module) -> dict[str, float]:
    """Per attention module, ``1 / scale = sqrt(d)``: ``S_l * sqrt(d)`` is the authors' unscaled ``q @ k^T``."""
    return {name: 1.0 / float(module.scale) for name, module in attention_modules(model)}


def cls_map(rec: AttentionRecord, unscale: float) -> torch.Tensor:
    """``mean_h S_l[b, h, cls, patches] * sqrt(d)``: the CLS query's unscaled logits on the patch grid, (B, h, w)."""
    cls = rec.layout.special_tokens.index("cls")
    row = rec.logits[:, :, cls, :].mean(1) * unscale                    # (B, N)
    return rec.layout.to_grid(rec.per_image(row))


def received_map(rec: AttentionRecord) -> torch.Tensor:
    """The attention each patch receives, ``mean over queries and heads of A_l``, per window (pad queries
    excluded), stitched back onto the un-shifted patch grid: (B, h, w). Replaces the CLS query without one."""
    probs = rec.probs if rec.probs is not None else rec.probs_from_logits()
    queries = window_mask(rec).to(probs.dtype)                         # (B', N)
    received = (probs.mean(1) * queries[:, :, None]).sum(1) / queries.sum(1, keepdim=True)
    return rec.layout.to_grid(rec.per_image(received))


def attention_maps(records: list[AttentionRecord], unscale: dict[str, float]) -> list[torch.Tensor]:
    """Per block, the map the mask and ``L_MAA`` look at: the CLS query's logits over the patches, or (no CLS
    token: Swin) the received-attention map, each on its own block's grid."""
    return [cls_map(rec, unscale[rec.name]) if "cls" in rec.layout.special_tokens else received_map(rec)
            for rec in records]


def score_map(maps: list[torch.Tensor]) -> torch.Tensor:
    """Mean over blocks of the maps, each brought to the finest grid by nearest-neighbour upsampling: (B, H, W)."""
    finest = max((m.shape[-2:] for m in maps), key=lambda size: size[0] * size[1])
    upsampled = [m if m.shape[-2:] == finest else F.interpolate(m.unsqueeze(1), size=tuple(finest)).squeeze(1)
                 for m in maps]
    return torch.stack(upsampled).mean(0)


# --- L_MAA: masked attention alignment ---------------------------------------------------------------------------


def masked_alignment(fp_maps: list[torch.Tensor], q_maps: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """``L_MAA = mean_l  sum_{b,p} M_l[b,p] |a^FP_l[b,p] - a^Q_l[b,p]| / sum_{b,p} M_l[b,p]``.

    ``a_l``: per block, the head-averaged CLS-to-patch logits (unscaled) or Swin's received-attention map, on the
    block's grid (B, h, w); ``mask``: (B, H, W) on the finest grid, max-pooled to each block's grid.
    """
    per_layer = []
    for fp, q in zip(fp_maps, q_maps, strict=True):
        m = mask if mask.shape[-2:] == fp.shape[-2:] else F.adaptive_max_pool2d(mask.unsqueeze(1),
                                                                                 fp.shape[-2:]).squeeze(1)
        per_layer.append(((fp - q).abs() * m).sum() / m.sum().clamp_min(1.0))
    return torch.stack(per_layer).mean()


# --- L_SE: similarity entropy ------------------------------------------------------------------------------------


def gaussian_entropy(variance: torch.Tensor) -> torch.Tensor:
    """Differential entropy of a Gaussian of variance v: ``h = 0.5 (log(2 pi e) + log v)``."""
    return 0.5 * (math.log(2 * math.pi * math.e) + torch.log(variance))


def similarity_variance(matrix: torch.Tensor, rows: int, generator: torch.Generator,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """``var`` of every entry (diagonal included; unbiased) of the cosine-similarity matrix of ``rows`` rows of
    ``matrix`` (B', P, P) drawn at random per image (all rows if fewer). ``mask`` (B', P) drops pad tokens: as
    rows, as coordinates and as entries of the variance."""
    batch, patches, _ = matrix.shape
    valid = mask
    if mask is not None:
        matrix = matrix * mask[:, None, :].to(matrix.dtype)            # a zero coordinate is a dropped one
    if patches > rows:
        keys = torch.rand(batch, patches, generator=generator).to(matrix.device)
        if mask is not None:
            keys = keys + 2.0 * (~mask).to(keys.dtype)                  # pad rows sort last
        index = keys.argsort(-1)[:, :rows]
        matrix = matrix.gather(1, index.unsqueeze(-1).expand(-1, -1, patches))
        valid = None if mask is None else mask.gather(1, index)
    unit = F.normalize(matrix, dim=-1)
    sim = unit @ unit.transpose(-1, -2)
    if valid is None:
        return sim.flatten(1).var(-1)
    pairs = (valid[:, :, None] & valid[:, None, :]).to(sim.dtype)
    count = pairs.sum((1, 2))
    mean = (sim * pairs).sum((1, 2)) / count.clamp_min(1)
    return ((sim - mean[:, None, None]).square() * pairs).sum((1, 2)) / (count - 1).clamp_min(1)


def similarity_entropy_loss(records: list[AttentionRecord], rows: int, generator: torch.Generator) -> torch.Tensor:
    """``L_SE = - mean_{l,b} 0.5 (log(2 pi e) + log(v_{l,b} + 1e-8))``, with ``v_{l,b}`` the variance of the cosine
    similarities between (up to 64 sampled) rows of the head-averaged patch-to-patch logits of the FP model.
    Swin: per window; a window with fewer than two real tokens has no similarity to spread and is left out."""
    per_layer = []
    for rec in records:
        logits, mask = patch_logits(rec)
        variance = similarity_variance(logits.mean(1), rows, generator, mask)
        entropy = gaussian_entropy(variance + SE_EPS)
        if mask is not None:
            entropy = entropy[mask.sum(-1) >= 2]
        if len(entropy):
            per_layer.append(entropy.mean())
    return -torch.stack(per_layer).mean() if per_layer else torch.zeros(())


# --- the synthesizer ---------------------------------------------------------------------------------------------


@register_synthesizer("maskaq")
class MaskAQSynthesizer(MimiQSynthesizer):
    """MimiQ's objective plus ``0.1 L_MAA + 1.0 L_SE``, FP model and current quantized model Q every step.

    Confirmed from the authors' code [code]: the loss and its weights; both models run every step and the
    pixels get gradients through both (Q through the straight-through estimator); the mask (ratio 0.5 -> 0.1
    over each batch's steps, score = CLS-query logits averaged over layers and heads, top-k, stochastic drop
    p = 0.3) scored with the FP model by default (``mask_source``; the paper says Q); ``L_MAA`` on the unscaled
    head-averaged CLS-to-patch logits, masked L1 normalised by the active mask entries, mean over blocks;
    ``L_SE`` on at most 64 rows, diagonal included, +1e-8; Q's ranges initialised on the first (noise) batch it
    sees (``q_init = noise``); regeneration of the whole set from fresh noise with the current Q (refresh).
    Our choices [choice]: everything MimiQ's synthesizer chose; the linear ratio reaches 0.1 at the last step;
    ``k`` and the kept count as ``max(1, floor(P r))`` and ``max(1, round(0.7 k))``; the mask is redrawn every
    step on the augmented batch that both models see; ``L_SE``'s rows are drawn per image and block, its
    variance is unbiased; Swin replaces the CLS query by the received-attention map (per window, un-shifted,
    stages nearest-upsampled to the finest grid for the score, mask max-pooled to each stage's grid for
    ``L_MAA``) and takes ``L_SE`` per window; ``q_init = synthetic`` synthesises the first batch without
    ``L_MAA`` and initialises Q on its final images; the refreshes fall at 15 %, 30 %, ..., 90 % of the
    calibration steps (``refresh_every``; 0 takes ``profile.refreshes`` evenly spaced points).
    """

    version = 4  # 2, 3: mimiq 2's and 3's SSIM moments; 4: refresh every 15 % of calibration, not per profile
    paper = PAPER
    needs_quantized_model = True
    cache_exclude = ("refresh", "refresh_every")
    independent_batches = False  # Q's ranges are set on the first batch and steer the later ones

    @dataclasses.dataclass(frozen=True)
    class Config(MimiQSynthesizer.Config):
        maa: bool = True                    # L_MAA, masked attention alignment between FP and Q
        maa_weight: float = 0.1
        se: bool = True                     # L_SE, similarity-entropy regulariser
        se_weight: float = 1.0
        se_rows: int = 64                   # rows sampled for L_SE
        mask_start: float = 0.5             # informative-region ratio at a batch's first step
        mask_end: float = 0.1               # ... and at its last step
        mask_drop: float = 0.3              # stochastic drop probability of the top-k patches
        mask_source: str = "fp"             # fp (the code) or q (the paper)
        q_init: str = "noise"               # noise (the code) or synthetic
        refresh: bool = True                # regenerate the set with the current Q during calibration
        refresh_every: float = 0.15         # ... every this fraction of it (30 of 200 epochs); 0: the profile's

        def __post_init__(self) -> None:
            if self.mask_source not in MASK_SOURCES:
                raise ValueError(f"mask_source must be one of {', '.join(MASK_SOURCES)}, got '{self.mask_source}'")
            if self.q_init not in Q_INITS:
                raise ValueError(f"q_init must be one of {', '.join(Q_INITS)}, got '{self.q_init}'")
            if not 0 <= self.refresh_every < 1:
                raise ValueError(f"refresh_every must be in [0, 1), got {self.refresh_every}")

    def refresh_fractions(self, profile: Profile) -> tuple[float, ...]:
        """``refresh_every``, 2x, ... up to the end of the calibration (0.15: 6 refreshes, at 15 % ... 90 %)."""
        every = self.config.refresh_every
        if not self.wants_refresh or every == 0:
            return super().refresh_fractions(profile)
        return tuple(k * every for k in range(1, math.ceil(1 / every - 1e-9)))

    def start_batch(self, ctx: ModelContext, n: int) -> BatchState:
        state = super().start_batch(ctx, n)
        cfg, ready = self.config, quantizers_ready(ctx.student)
        state.extra["use_q"] = cfg.maa and (ready or cfg.q_init == "noise")
        state.extra["init_q"] = not ready and cfg.q_init == "synthetic"
        state.extra["unscale"] = (logit_unscale(ctx.teacher), logit_unscale(ctx.student))
        return state

    def losses(self, ctx: ModelContext, state: BatchState, step: int, total: int) -> dict[str, torch.Tensor]:
        cfg = self.config
        images = self.augmented(ctx, state, step, total)
        with AttentionTaps(ctx.teacher, keep=("logits", "probs")) as fp:
            logits = ctx.teacher(images)
        terms = self.mimiq_terms(fp.records, logits, state)
        if cfg.se:
            terms["se"] = cfg.se_weight * similarity_entropy_loss(fp.records, cfg.se_rows, ctx.generator)
        if state.extra["use_q"]:
            with AttentionTaps(ctx.student, keep=("logits", "probs")) as q:
                ctx.student(images)
            unscale_fp, unscale_q = state.extra["unscale"]
            fp_maps, q_maps = attention_maps(fp.records, unscale_fp), attention_maps(q.records, unscale_q)
            with torch.no_grad():
                scores = score_map(fp_maps if cfg.mask_source == "fp" else q_maps)
                ratio = mask_ratio(step, total, cfg.mask_start, cfg.mask_end)
                mask = informative_mask(scores.flatten(1), ratio, cfg.mask_drop, ctx.generator).view_as(scores)
            state.extra["mask"] = mask
            terms["maa"] = cfg.maa_weight * masked_alignment(fp_maps, q_maps, mask)
        return terms

    def finish_batch(self, ctx: ModelContext, state: BatchState) -> SyntheticSet:
        part = super().finish_batch(ctx, state)
        if state.extra["init_q"]:  # q_init = synthetic: Q's ranges set themselves on this first synthetic batch
            with torch.no_grad():
                ctx.student(part.images)
        return part

    def refresh(self, ctx: ModelContext, previous: SyntheticSet) -> SyntheticSet:
        """The whole set again, from fresh noise, steered by the current quantized model ``ctx.student``."""
        return self.synthesize(ctx)


# --- the calibrator ----------------------------------------------------------------------------------------------


def top_token_weights(rec: AttentionRecord, ratio: float, weight: float) -> torch.Tensor:
    """(B', 1, N, 1) token weights: per image, the top ``max(1, floor(ratio T))`` of its T patch tokens ranked by
    the teacher's ``mean |O_l|`` over heads and channels get ``weight``, the others 1; special and pad tokens 0.
    Swin ranks all windows of an image together."""
    valid = window_mask(rec)                                            # (B', N)
    energy = rec.outputs.abs().mean((1, 3))
    images = rec.images
    valid, energy = valid.view(images, -1), energy.view(images, -1)
    k = max(1, math.floor(ratio * int(valid[0].sum()) + 1e-9))
    top = energy.masked_fill(~valid, -math.inf).topk(k, dim=-1).indices
    weights = valid.to(energy.dtype).scatter(1, top, weight)
    return weights.view(rec.outputs.shape[0], 1, -1, 1)


def masked_hsad_loss(teacher: list[AttentionRecord], student: list[AttentionRecord], ratio: float = 0.1,
                     weight: float = 2.0) -> torch.Tensor:
    """``L_mHSAD = 1 - mean_l mean_{b,h,c} cs_w(O^FP_l[b,h,:,c], O^Q_l[b,h,:,c])``: HSAD with weighted moments over
    the tokens, ``w_t = 2`` for the top 10% of tokens by ``mean_{h,c} |O^FP_l[b,h,t,c]|`` per (block, image),
    ``w_t = 1`` for the others (see :func:`methods.mimiq.structure_similarity`)."""
    return hsad_loss(teacher, student, [top_token_weights(rec, ratio, weight) for rec in teacher])


@dataclasses.dataclass(frozen=True)
class MaskedHSADConfig(HSADConfig):
    """HSAD plus the calibration mask (token weights)."""

    mask: bool = True          # token-weighted statistics (off: plain HSAD, the paper's "w/o calibration mask")
    top_ratio: float = 0.1     # fraction of tokens ranked highest by the teacher's mean |O|
    top_weight: float = 2.0    # their weight (the others 1)


@register_calibrator("masked-hsad")
class MaskedHSADCalibrator(HSADCalibrator):
    """``L = KD + gamma L_mHSAD``: HSAD's contrast-structure SSIM with token-weighted moments.

    Confirmed from the authors' code [code]: per (block, image) the top 10% of tokens by the teacher's mean
    ``|O_l|`` over heads and channels weigh 2, the others 1, in weighted means, variances and covariance over
    the tokens; gamma = 10; logit KD; the shared QAT loop; refreshing the set at the refresh points.
    Our choices [choice]: the top count is ``max(1, floor(0.1 T))`` of the T patch tokens (special tokens never
    ranked); Swin ranks the tokens of all windows of an image together and computes the statistics per window.
    """

    version = 1
    paper = PAPER
    Config = MaskedHSADConfig

    def distillation(self, teacher: list[AttentionRecord], student: list[AttentionRecord]) -> torch.Tensor:
        """``L_mHSAD``, or plain ``L_HSAD`` without the calibration mask (``mask = false``)."""
        cfg = self.config
        if not cfg.mask:
            return super().distillation(teacher, student)
        return masked_hsad_loss(teacher, student, cfg.top_ratio, cfg.top_weight)


register_method("maskaq", "maskaq", "masked-hsad", paper=PAPER,
                description="MimiQ synthesis + informative-region masked alignment to the quantized model, "
                            "similarity entropy, periodic refresh; token-weighted HSAD",
                ablations={"se": ("synth.se=false",), "maa": ("synth.maa=false",), "mask": ("calib.mask=false",),
                           "refresh": ("synth.refresh=false",)})
