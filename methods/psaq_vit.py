"""PSAQ-ViT (Li et al., ECCV 2022): patch-similarity-aware data-free quantization. Method ``psaq-vit``.

Synthesis (``psaq-vit``, methods/README.md; behaviour of the authors' code):

- **Patch-similarity entropy** ``L_PSE``: per block, the per-head context
  vectors ``O_l = A_l @ v`` averaged over heads, special tokens dropped; per
  image the cosine similarity of every (ordered) pair of patch features,
  the self-pairs included as in the code; a Gaussian kernel density
  estimate of those similarities (bandwidth 0.01) on 10 points spanning the
  batch-wide min to max (grid detached); differential entropy by the
  trapezoid rule; ``L_PSE = - sum_l mean_b H_{l,b}``. Swin: pairs within
  each window, every window of an image pooled into one sample set, pad
  tokens excluded and no token dropped (the authors drop the first token of
  every window, a bug).
- ``L = L_PSE + 1.0 L_OH + 0.05 |R(x) - tau|`` with the one-hot loss on
  the augmented batch and PSAQ-ViT's target-TV on the un-augmented batch.
- Adam (lr 0.2, betas (0.5, 0.9)); 2 rounds of half the steps each, every
  round a linear warm-up over its first 20% (100 of 500) then cosine to 0,
  Adam's state kept; roll (up to 15 px, then 30 px at 224 px) and flip
  p = 0.5, a fresh draw every step; pixels clamped after every step.

The schedule is written as fractions of ``profile.synth_steps``, so it keeps
its shape at every budget. Calibration: the ``ptq`` calibrator (activation
ranges from min/max over the calibration set, no training), as the paper.
``--preset psaq`` gives the paper's own quantizer setting.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from dfqbench.api import ModelContext, SyntheticSet, register_method, register_synthesizer
from dfqbench.config import Config
from dfqbench.kit.attention import AttentionRecord, taps_if
from dfqbench.kit.images import init_images, pixel_step, random_labels
from dfqbench.kit.iterative import IterativeSynthesizer
from dfqbench.kit.priors import one_hot_loss, psaq_tau, tv_psaq
from dfqbench.kit.schedules import round_lr_multiplier
from dfqbench.kit.synth_augment import psaq_augment

PAPER = "Li et al., PSAQ-ViT: Patch Similarity Aware Data-Free Quantization for Vision Transformers, ECCV 2022"
DENSITY_FLOOR = 1e-4  # the code integrates -(p + 1e-4) log(p + 1e-4)


# ---------------------------------------------------------------- patch-similarity entropy

def patch_similarities(record: AttentionRecord) -> torch.Tensor:
    """Cosine similarities ``cos(o_i, o_j)`` of the head-averaged context vectors ``o = mean_h O_{l,h}``.

    Every ordered pair (i, j) of patch tokens of the same window (global
    attention: one window), self-pairs included; special and pad tokens
    excluded. All windows of an image are pooled: returns (B, M) with
    ``M = sum_windows P_w^2``.
    """
    features = record.per_image(record.outputs.mean(dim=1))               # (B, windows, N, d)
    patches = record.layout.shared_patch_index
    if patches is not None:  # the same patch tokens in every window: select tokens, not pairs
        unit = F.normalize(features.index_select(-2, patches.to(features.device)), dim=-1, eps=1e-8)
        return (unit @ unit.transpose(-1, -2)).flatten(1)                 # (B, windows * P * P)
    unit = F.normalize(features, dim=-1, eps=1e-8)
    sims = unit @ unit.transpose(-1, -2)                                  # (B, windows, N, N)
    valid = record.layout.patch_mask.to(sims.device)                      # (windows, N)
    pairs = valid.unsqueeze(-1) & valid.unsqueeze(-2)                     # (windows, N, N)
    return sims[:, pairs]


class GaussianKDE(torch.autograd.Function):
    """``p_b(t) = 1/M sum_i N(t - s_{b,i}; 0, h^2)`` with a hand-written backward.

    ``dp_b(t)/ds_{b,i} = 1/M N(t - s_{b,i}; 0, h^2) (t - s_{b,i}) / h^2``: the forward keeps only the
    product ``N * (t - s)``, one (B, K, M) tensor, where autograd would keep four. Exponents are floored
    at the log of the smallest normal float and that floor's exp is subtracted, so that far terms are
    exactly 0: the CPU's exp and multiplies leave their vectorised paths (about 30x slower) on
    subnormal numbers. Every term changes by less than 1.2e-38 (float32).
    """

    @staticmethod
    def forward(ctx, samples: torch.Tensor, points: torch.Tensor, bandwidth: float) -> torch.Tensor:
        diffs = points.unsqueeze(-1) - samples.unsqueeze(-2)                  # (B, K, M): t - s
        floor = math.ceil(math.log(torch.finfo(diffs.dtype).tiny))
        kernel = diffs.square().mul_(-0.5 / bandwidth ** 2).clamp_(min=floor).exp_().sub_(math.exp(floor))
        norm = 1.0 / (samples.shape[-1] * math.sqrt(2 * math.pi * bandwidth ** 2))
        density = kernel.sum(dim=-1).mul_(norm)
        ctx.save_for_backward(kernel.mul_(diffs))                            # N * (t - s), unnormalised
        ctx.scale = norm / bandwidth ** 2
        return density

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (kernel_diffs,) = ctx.saved_tensors
        weighted = grad.mul(ctx.scale).unsqueeze(-2)                         # (B, 1, K)
        grad_samples = (weighted @ kernel_diffs).squeeze(-2) if ctx.needs_input_grad[0] else None
        grad_points = -(weighted.squeeze(-2) * kernel_diffs.sum(-1)) if ctx.needs_input_grad[1] else None
        return grad_samples, grad_points, None


def gaussian_kde(samples: torch.Tensor, points: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """``p_b(t) = 1/M sum_i N(t - s_{b,i}; 0, h^2)``: samples (B, M), points (B, K) -> densities (B, K)."""
    return GaussianKDE.apply(samples, points, bandwidth)


def differential_entropy(density: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``H_b = int -(p_b + 1e-4) log(p_b + 1e-4) dt`` by the trapezoid rule over the points: (B, K) -> (B,)."""
    p = density + DENSITY_FLOOR
    return torch.trapezoid(-p * torch.log(p), points, dim=-1)


def similarity_entropy(sims: torch.Tensor, bandwidth: float = 0.01, num_points: int = 10) -> torch.Tensor:
    """``H_{l,b}``: KDE of each image's similarities on ``num_points`` points spanning the batch-wide min to
    max (the grid is detached), then its differential entropy. (B, M) -> (B,)."""
    with torch.no_grad():
        grid = torch.linspace(float(sims.min()), float(sims.max()), num_points, device=sims.device, dtype=sims.dtype)
    points = grid.expand(sims.shape[0], num_points)
    return differential_entropy(gaussian_kde(sims, points, bandwidth), points)


def patch_similarity_entropy_loss(records: list[AttentionRecord], bandwidth: float = 0.01,
                                  num_points: int = 10) -> torch.Tensor:
    """``L_PSE = - sum_l mean_b H_{l,b}`` (the entropy of every block is maximised)."""
    return -sum(similarity_entropy(patch_similarities(r), bandwidth, num_points).mean() for r in records)


# ---------------------------------------------------------------- the synthesizer

@dataclasses.dataclass
class PSAQState:
    images: torch.Tensor           # leaf being optimised, model-input space
    labels: torch.Tensor
    tau: float                     # target of the TV prior, drawn once per batch
    optimizer: torch.optim.Optimizer
    last: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)  # the last step's terms


@register_synthesizer("psaq-vit")
class PSAQViT(IterativeSynthesizer):
    """``L = L_PSE + 1.0 CE(f(aug x), y) + 0.05 |R(x) - tau|``; Adam, 2 rounds of warm-up + cosine."""

    version = 2  # 2: hand-written KDE backward (float rounding, terms below 1e-38)
    paper_budget = {"synth_steps": 1000}  # the paper's 2 rounds of 500 steps, where the paper profile has 2000
    independent_batches = True  # each batch: its own labels, noise, tau and optimiser
    paper = PAPER
    notes = "Swin: no token dropped (the authors' code drops the first token of every window)."

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        pse: bool = True                       # patch-similarity entropy
        pse_weight: float = 1.0
        one_hot: bool = True                   # one-hot label loss
        one_hot_weight: float = 1.0
        tv: bool = True                        # |R(x) - tau|
        tv_weight: float = 0.05
        tau_scaled: bool = True                # tau times sqrt(values / (32*3*224*224)) [choice]
        augment: bool = True                   # roll + flip
        bandwidth: float = 0.01                # KDE bandwidth
        kde_points: int = 10
        lr: float = 0.2
        betas: tuple[float, float] = (0.5, 0.9)
        rounds: int = 2                        # rounds over profile.synth_steps, Adam state kept
        warmup: float = 0.2                    # warm-up fraction of each round (100 of 500)

    def start_batch(self, ctx: ModelContext, n: int) -> PSAQState:
        images = init_images(ctx, n)
        labels = random_labels(ctx, n)
        cfg = self.config
        tau = psaq_tau(images, ctx.generator, cfg.tau_scaled)
        optimizer = torch.optim.Adam([images], lr=cfg.lr, betas=tuple(cfg.betas), eps=1e-8)
        return PSAQState(images, labels, tau, optimizer)

    def objective(self, ctx: ModelContext, state: PSAQState, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every enabled, weighted term of ``L`` on ``inputs`` (the augmented batch) and ``state.images``."""
        cfg, terms = self.config, {}
        with taps_if(cfg.pse, ctx.teacher, ("outputs",)) as taps:
            logits = ctx.teacher(inputs)
        if cfg.pse:
            terms["pse"] = cfg.pse_weight * patch_similarity_entropy_loss(taps.records, cfg.bandwidth,
                                                                          cfg.kde_points)
        if cfg.one_hot:
            terms["one_hot"] = cfg.one_hot_weight * one_hot_loss(logits, state.labels)
        if cfg.tv:
            terms["tv"] = cfg.tv_weight * tv_psaq(state.images, state.tau)
        return terms

    def step(self, ctx: ModelContext, state: PSAQState, step: int, total: int) -> None:
        cfg = self.config
        for group in state.optimizer.param_groups:
            group["lr"] = cfg.lr * round_lr_multiplier(step, total, cfg.rounds, cfg.warmup)
        x = state.images
        inputs = psaq_augment(x, step / total, ctx.generator) if cfg.augment else x
        state.last = pixel_step(ctx, x, state.optimizer, self.objective(ctx, state, inputs))

    def finish_batch(self, ctx: ModelContext, state: PSAQState) -> SyntheticSet:
        return SyntheticSet(state.images.detach(), state.labels)


register_method("psaq-vit", "psaq-vit", "ptq", paper=PAPER,
                description="patch-similarity entropy synthesis; PTQ (min/max ranges, no training)",
                ablations={"pse": ("synth.pse=false",), "one_hot": ("synth.one_hot=false",),
                           "tv": ("synth.tv=false",), "augment": ("synth.augment=false",)})
