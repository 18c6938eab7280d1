"""MimiQ (Choi et al., AAAI 2025): images whose attention heads look alike, then head-wise structural
attention distillation (methods/README.md, "mimiq").

Synthesizer ``mimiq``::

    L = 1.0 L_SSIM + 1.0 L_OH + 2.5e-5 TV        AdamW (lr 0.1, wd 1e-6), cosine to 1e-3, MimiQ augmentations

Calibrator ``hsad``::

    L = KD + gamma L_HSAD, gamma = 10            SGD-Nesterov QAT (the shared QAT loop)

Method ``mimiq`` pairs them. Notation as in methods/README.md: ``S_l`` the tapped logits ``(q d^-0.5) k^T``
(B' x H x N x N, B' = B x windows), ``O_l`` the per-head attention outputs (B' x H x N x d).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from dfqbench.api import ModelContext, SyntheticSet, register_calibrator, register_method, register_synthesizer
from dfqbench.config import Config
from dfqbench.kit.attention import AttentionRecord, AttentionTaps
from dfqbench.kit.images import init_images, pixel_step, random_labels
from dfqbench.kit.iterative import IterativeSynthesizer
from dfqbench.kit.kd_loss import logit_kd
from dfqbench.kit.priors import one_hot_loss, tv_mimiq
from dfqbench.kit.qat import QATCalibrator, QATConfig
from dfqbench.kit.schedules import cosine_to
from dfqbench.kit.synth_augment import mimiq_augment

SSIM_C1, SSIM_C2 = 0.01 ** 2, 0.03 ** 2
MINMAX_EPS = 1e-8  # added to the min-max normalisation's denominator [code]
PAPER = "Choi et al., MimiQ: Low-Bit Data-Free Quantization of Vision Transformers, AAAI 2025"


# --- token selection --------------------------------------------------------------------------------------------


def patch_logits(rec: AttentionRecord) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``S_l`` restricted to the patch queries and patch keys, and a (B', N) mask of valid tokens or None.

    Global attention (ViT, DeiT): the special tokens' rows and columns are dropped, giving (B, H, P, P).
    Windowed attention (Swin): each window's own tokens, (B·nW, H, w², w²); where timm padded the grid, the
    pad tokens stay in the tensor and the returned mask excludes them from every statistic.
    """
    index = rec.layout.shared_patch_index
    if index is None:  # windows with pad tokens in different places
        return rec.logits, window_mask(rec)
    if index.numel() == rec.layout.num_tokens:
        return rec.logits, None
    first, last = int(index[0]), int(index[-1])
    if last - first + 1 == index.numel():  # special tokens first (timm): a view, no copy
        return rec.logits[:, :, first:last + 1, first:last + 1], None
    index = index.to(rec.logits.device)
    return rec.logits.index_select(2, index).index_select(3, index), None


def window_mask(rec: AttentionRecord) -> torch.Tensor:
    """(B', N) bool: True for the real patch tokens of every (image, window) row of the record's tensors."""
    mask = rec.layout.patch_mask.to(_tensor_of(rec).device)
    return mask.repeat(rec.images, 1)  # rows are ordered (image, window)


def token_weights(rec: AttentionRecord) -> torch.Tensor:
    """(B', 1, N, 1) weights over the tokens of ``O_l``: 1 for patch tokens, 0 for special and pad tokens."""
    return window_mask(rec).to(_tensor_of(rec).dtype)[:, None, :, None]


def _tensor_of(rec: AttentionRecord) -> torch.Tensor:
    return next(t for t in (rec.logits, rec.probs, rec.outputs) if t is not None)


# --- L_SSIM: inter-head attention similarity ---------------------------------------------------------------------


class RowMoments(torch.autograd.Function):
    """Per (image, query, head) row of logits ``s`` over the keys: ``min s``, ``max s``, ``mean(s - min s)``
    (each (B', Q, H)) and the head-by-head covariance ``C_hg = <s_h - mean s_h, s_g - mean s_g> / K``
    (B', Q, H, H), from ``rows`` (B', H, Q, K). The mean is taken after the shift, so that a constant row
    gives exactly 0.

    A hand-written backward, because these are the only steps that touch the full attention map::

        d rows = e_argmin (dmin - dmean) + e_argmax dmax + dmean / K + (dC + dC^T) (s - mean s) / K

    (the centring's own gradient vanishes because centred rows sum to 0). Autograd's version of the same
    takes several times longer on a CPU: it keeps masks for min and max and copies the map at every
    transpose. Ties at the min or max send the whole gradient to one element (a valid subgradient).
    """

    @staticmethod
    def forward(ctx, rows: torch.Tensor):
        per_query = rows.transpose(1, 2).clone(memory_format=torch.contiguous_format)  # (B', Q, H, K), one copy
        low, low_at = per_query.min(-1)
        high, high_at = per_query.max(-1)
        shifted = per_query.sub_(low.unsqueeze(-1))
        mean = shifted.mean(-1)
        centred = shifted.sub_(mean.unsqueeze(-1))
        cov = (centred @ centred.transpose(-1, -2)).div_(rows.shape[-1])
        ctx.save_for_backward(centred, low_at, high_at)
        return low, high, mean, cov

    @staticmethod
    def backward(ctx, grad_low, grad_high, grad_mean, grad_cov):
        centred, low_at, high_at = ctx.saved_tensors
        keys = centred.shape[-1]
        if grad_cov is None:
            grad = torch.zeros_like(centred)
        else:
            grad = ((grad_cov + grad_cov.transpose(-1, -2)) @ centred).div_(keys)
        if grad_mean is not None:
            grad.add_((grad_mean / keys).unsqueeze(-1))
            grad_low = -grad_mean if grad_low is None else grad_low - grad_mean
        for g, at in ((grad_low, low_at), (grad_high, high_at)):
            if g is not None:
                grad.scatter_add_(-1, at.unsqueeze(-1), g.unsqueeze(-1))
        return grad.transpose(1, 2)


def normalised_row_moments(rows: torch.Tensor, mask: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Moments of the min-max-normalised rows from the raw logits: ``(mean - min, max - min + 1e-8, C)``.

    ``rows``: (B', H, Q, K); ``mask``: (B', K) bool of valid keys or None. Returns (B', Q, H) twice and the
    head-by-head covariance (B', Q, H, H) of the raw rows (population moments over the valid keys).
    """
    if mask is None:
        low, high, shifted_mean, cov = RowMoments.apply(rows)           # (B', Q, H) x3, (B', Q, H, H)
        return shifted_mean, high - low + MINMAX_EPS, cov
    keys = mask[:, None, None, :]
    low = rows.masked_fill(~keys, math.inf).amin(-1)
    high = rows.masked_fill(~keys, -math.inf).amax(-1)
    count = keys.sum(-1).to(rows.dtype)                                 # (B', 1, 1)
    shifted = (rows - low.unsqueeze(-1)).masked_fill(~keys, 0.0)
    mean = shifted.sum(-1) / count
    centred = (shifted - mean.unsqueeze(-1)).masked_fill(~keys, 0.0).transpose(1, 2)       # (B', Q, H, K)
    cov = centred @ centred.transpose(-1, -2) / count.unsqueeze(-1)     # (B', Q, H, H)
    return mean.transpose(1, 2), (high - low + MINMAX_EPS).transpose(1, 2), cov


def ssim_from_moments(shifted_mean: torch.Tensor, scale: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``SSIM(h, g) = (2 mu_h mu_g + C1) (2 cov_hg + C2) / ((mu_h^2 + mu_g^2 + C1) (var_h + var_g + C2))`` of the
    normalised rows, from :func:`normalised_row_moments`: ``mu = (mean - min) / r``, ``cov_x = C / (r_h r_g)``."""
    mu = shifted_mean / scale
    var = cov.diagonal(dim1=-2, dim2=-1) / scale.square()
    cov = cov / (scale.unsqueeze(-1) * scale.unsqueeze(-2))
    mu_h, mu_g = mu.unsqueeze(-1), mu.unsqueeze(-2)
    luminance = (2 * mu_h * mu_g + SSIM_C1) / (mu_h.square() + mu_g.square() + SSIM_C1)
    structure = (2 * cov + SSIM_C2) / (var.unsqueeze(-1) + var.unsqueeze(-2) + SSIM_C2)
    return luminance * structure


def inter_head_ssim(rows: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """SSIM between every ordered pair of heads, per query, over the min-max-normalised key logits.

    ``rows``: (B', H, Q, K) logits; ``mask``: (B', K) bool of valid keys or None. Returns (B', Q, H, H)::

        x_h = (s_h - min s_h) / (max s_h - min s_h + 1e-8)
        SSIM(h, g) = (2 mu_h mu_g + C1) (2 cov_hg + C2) / ((mu_h^2 + mu_g^2 + C1) (var_h + var_g + C2))

    one global window over the whole row, population moments, C1 = 0.01^2, C2 = 0.03^2. The normalisation is
    affine per row (``mu_x = (mu_s - min) / r``, ``cov_x = cov_s / (r_h r_g)`` with ``r = max - min + 1e-8``),
    so the moments come from the raw logits and the head-by-head covariance is one batched matmul over the
    keys: nothing larger than the attention map is formed (the naive form holds B'·Q·H²·K values).
    """
    return ssim_from_moments(*normalised_row_moments(rows, mask))


def inter_head_ssim_loss(records: list[AttentionRecord]) -> torch.Tensor:
    """``L_SSIM = mean_l mean_{b, query, h, h'} (1 - SSIM_l(b, query; h, h')^2)``.

    Patch queries over patch keys of ``S_l``; all ordered head pairs, h = h' included (those terms are 0).
    Swin: per window (bias and shift mask not added), mean per layer, then over layers. Layers whose
    moments have the same shape share one evaluation of the SSIM formula (its many small ops, once).
    """
    per_layer, same_shape = [], {}
    for rec in records:
        rows, mask = patch_logits(rec)
        moments = normalised_row_moments(rows, mask)
        if mask is None:
            same_shape.setdefault(moments[2].shape, []).append(moments)
            continue
        dissimilarity = 1 - ssim_from_moments(*moments).square()       # (B', Q, H, H)
        queries = mask.to(rows.dtype)[:, :, None, None]
        heads = dissimilarity.shape[-1] ** 2
        per_layer.append((dissimilarity * queries).sum() / (queries.sum() * heads))
    for group in same_shape.values():
        stacked = (torch.stack(parts) for parts in zip(*group, strict=True))   # (layers, B', Q, H[, H])
        dissimilarity = 1 - ssim_from_moments(*stacked).square()
        per_layer.extend(dissimilarity.flatten(1).mean(1).unbind())
    return torch.stack(per_layer).mean()


# --- L_HSAD: head-wise structural attention distillation ---------------------------------------------------------


def structure_similarity(u: torch.Tensor, v: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Contrast-structure part of SSIM over the tokens, with token weights ``w`` (0 drops a token)::

        cs(u, v) = (2 cov_w(u, v) + C2) / (var_w(u) + var_w(v) + C2)

    ``u``, ``v``: (B', H, N, d) teacher and student ``O_l``; ``weights``: (B', 1, N, 1). Weighted population
    moments over the token axis; returns (B', H, d), one value per (image or window, head, channel).
    """
    total = weights.sum(-2, keepdim=True)
    du = u - (weights * u).sum(-2, keepdim=True) / total
    dv = v - (weights * v).sum(-2, keepdim=True) / total
    var_u = (weights * du.square()).sum(-2) / total.squeeze(-2)
    var_v = (weights * dv.square()).sum(-2) / total.squeeze(-2)
    cov = (weights * du * dv).sum(-2) / total.squeeze(-2)
    return (2 * cov + SSIM_C2) / (var_u + var_v + SSIM_C2)


def hsad_loss(teacher: list[AttentionRecord], student: list[AttentionRecord],
              weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """``L_HSAD = 1 - mean_l mean_{b, h, c} cs(O^FP_l[b, h, :, c], O^Q_l[b, h, :, c])``.

    Special-token query rows (and Swin's pad tokens) get weight 0; ``weights`` (per block, (B', 1, N, 1))
    default to 1 on every patch token. Swin: per window, mean per layer, then over layers.
    """
    if weights is None:
        weights = [token_weights(rec) for rec in teacher]
    per_layer = [structure_similarity(t.outputs, s.outputs, w).mean()
                 for t, s, w in zip(teacher, student, weights, strict=True)]
    return 1 - torch.stack(per_layer).mean()


# --- the synthesizer ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class BatchState:
    """One synthesis batch: the pixels being optimised (a leaf), their labels and the optimiser."""

    images: torch.Tensor
    labels: torch.Tensor
    optimizer: torch.optim.Optimizer
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@register_synthesizer("mimiq")
class MimiQSynthesizer(IterativeSynthesizer):
    """``L = 1.0 L_SSIM + 1.0 L_OH + 2.5e-5 TV`` on the FP teacher; only the pixels are optimised.

    Confirmed from the authors' code [code]: the SSIM form (patch queries over patch keys, min-max
    normalisation with 1e-8, one global window, population moments, C1 = 0.01², C2 = 0.03², mean of
    ``1 - SSIM²`` over all ordered head pairs including h = h'), the Swin path (per window, logits before the
    bias and the shift mask), the weights, AdamW (lr 0.1, betas (0.9, 0.999), wd 1e-6) with cosine annealing to
    1e-3, the TV form and the augmentations (roll 8 then 16 px at 224, decaying per-channel offset, per-channel
    affine jitter).
    Our choices [choice]: moments instead of the materialised pairwise tensor (same values, less memory);
    SSIM and CE on the same augmented forward, TV on the un-augmented batch; a Swin layer's mean runs over
    all its windows; ``cosine_to`` reaches ``final_lr`` after the last step (CosineAnnealingLR, T_max = steps);
    the budget (images, batch, steps) comes from the profile (paper: 2000 steps per batch of 16).
    """

    version = 3  # 2: hand-written backward of the SSIM moments (float rounding, min/max ties); 3: mean after the shift
    independent_batches = True  # each batch: its own labels, noise and optimiser; the FP model only
    paper = PAPER

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        ssim: bool = True                   # L_SSIM, inter-head attention similarity
        ssim_weight: float = 1.0
        one_hot: bool = True                # L_OH, cross-entropy to uniformly drawn labels
        one_hot_weight: float = 1.0
        tv: bool = True                     # total variation on the un-augmented batch
        tv_weight: float = 2.5e-5
        augment: bool = True                # MimiQ augmentations, a fresh draw every step
        lr: float = 0.1
        betas: tuple[float, float] = (0.9, 0.999)
        weight_decay: float = 1e-6
        final_lr: float = 1e-3              # cosine annealing target

    def start_batch(self, ctx: ModelContext, n: int) -> BatchState:
        images = init_images(ctx, n)
        labels = random_labels(ctx, n)
        cfg = self.config
        optimizer = torch.optim.AdamW([images], lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        return BatchState(images, labels, optimizer)

    def augmented(self, ctx: ModelContext, state: BatchState, step: int, total: int) -> torch.Tensor:
        if not self.config.augment:
            return state.images
        return mimiq_augment(state.images, step / max(1, total), ctx.generator)

    def mimiq_terms(self, records: list[AttentionRecord], logits: torch.Tensor, state: BatchState
                    ) -> dict[str, torch.Tensor]:
        """The weighted terms of MimiQ's objective from one tapped teacher forward on ``aug(x)``."""
        cfg, terms = self.config, {}
        if cfg.ssim:
            terms["ssim"] = cfg.ssim_weight * inter_head_ssim_loss(records)
        if cfg.one_hot:
            terms["one_hot"] = cfg.one_hot_weight * one_hot_loss(logits, state.labels)
        if cfg.tv:
            terms["tv"] = cfg.tv_weight * tv_mimiq(state.images)
        return terms

    def losses(self, ctx: ModelContext, state: BatchState, step: int, total: int) -> dict[str, torch.Tensor]:
        """Every weighted term of the objective at this step (one forward of the teacher)."""
        images = self.augmented(ctx, state, step, total)
        if not self.config.ssim:
            return self.mimiq_terms([], ctx.teacher(images), state)
        with AttentionTaps(ctx.teacher, keep=("logits",)) as taps:
            logits = ctx.teacher(images)
        return self.mimiq_terms(taps.records, logits, state)

    def step(self, ctx: ModelContext, state: BatchState, step: int, total: int) -> None:
        cfg = self.config
        for group in state.optimizer.param_groups:
            group["lr"] = cosine_to(step, total, cfg.lr, cfg.final_lr)
        terms = self.losses(ctx, state, step, total)
        if not terms:
            raise ValueError(f"{self.name}: every loss term is switched off")
        pixel_step(ctx, state.images, state.optimizer, terms)

    def finish_batch(self, ctx: ModelContext, state: BatchState) -> SyntheticSet:
        return SyntheticSet(state.images.detach(), state.labels)


# --- the calibrator ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HSADConfig(QATConfig):
    """The shared QAT settings plus head-wise structural attention distillation."""

    hsad: bool = True       # the L_HSAD term (off: plain logit-KD QAT)
    gamma: float = 10.0     # weight of L_HSAD


@register_calibrator("hsad")
class HSADCalibrator(QATCalibrator):
    """``L = KD + gamma L_HSAD``, gamma = 10, on one augmented batch seen by teacher and student.

    Confirmed from the authors' code [code]: logit KD (T = 5), the contrast-structure SSIM per (block,
    image, head, channel) of ``O_l`` over the tokens with the special-token query rows dropped, ``1 - mean``,
    gamma = 10, the SGD-Nesterov cosine QAT with LSQ range initialisation.
    Our choices [choice]: population moments over the tokens (C2 = 0.03²); Swin computes the statistic per
    window with pad tokens excluded, and every layer is averaged first, then the layers (ViT: the same as
    the global mean); the SimCLR per-image augmentation of the shared QAT loop.
    """

    version = 1
    paper = PAPER
    Config = HSADConfig

    def distillation(self, teacher: list[AttentionRecord], student: list[AttentionRecord]) -> torch.Tensor:
        """The structural term weighted by gamma: ``L_HSAD``."""
        return hsad_loss(teacher, student)

    def loss(self, ctx: ModelContext, images: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if not cfg.hsad:
            return super().loss(ctx, images)
        with torch.no_grad(), AttentionTaps(ctx.teacher, keep=("outputs",)) as teacher:
            teacher_logits = ctx.teacher(images)
        with AttentionTaps(ctx.student, keep=("outputs",)) as student:
            student_logits = ctx.student(images)
        kd = logit_kd(student_logits, teacher_logits, cfg.temperature)
        return cfg.kd_weight * kd + cfg.gamma * self.distillation(teacher.records, student.records)


register_method("mimiq", "mimiq", "hsad", paper=PAPER,
                description="inter-head attention similarity synthesis + head-wise structural attention distillation",
                ablations={"ssim": ("synth.ssim=false",), "one_hot": ("synth.one_hot=false",),
                           "hsad": ("calib.hsad=false",)})
