"""SARDFQ (Zhong et al., ICCV 2025): semantics alignment and reinforcement. Method ``sardfq``.

**The authors' code was not available: this is a re-implementation from the paper**
(its abstract and third-party notes).
Every detail the paper leaves open is a config field.

Synthesizer ``sardfq``: ``L = alpha1 L_APA + L_SL + 0.05 |R(x) - tau|``

- **Attention Priors Alignment** ``L_APA``: for ViT/DeiT the CLS query's
  attention over the patch keys, renormalised to sum 1 (Swin, or no CLS: the
  attention each patch receives, the mean over queries per window, stitched
  onto the grid), per head, pulled by MSE toward a random 2-D Gaussian
  mixture drawn per image, block and head at initialisation (5 components,
  means uniform on the grid, isotropic sigma ~ U(0.5, 2) patches, sum 1);
  only the deeper half of the blocks, weighted by depth:
  ``L_APA = sum_{l >= L/2} (l/L) sum_h MSE(A^c_{l,h}, prior_{l,h})`` (``l``
  the 0-based block index). The prior follows each step's roll/flip, so
  that it stays attached to the image content [choice].
- **Multi-Semantic Reinforcement**: per image, m ~ U{1..4} of its four
  quadrants (non-overlapping) each get their own label; at every step each
  region is cropped, resized (bilinear) to the input size, augmented and
  optimised with its own soft-label loss; the whole image keeps its loss.
- **Soft-label learning** ``L_SL``: target ``softmax(z)``, ``z`` 0 except the
  relevant classes, drawn from U(5, 10) at initialisation; soft
  cross-entropy. The whole image's relevant classes are those of its
  regions (their values reused).
- Adam (lr 0.25, betas (0.5, 0.9)), PSAQ-ViT's roll/flip and clamping and
  its 2-round warm-up + cosine schedule [choice], ``profile.synth_steps``
  steps per batch (the paper: 1000, batch 32).

Calibrator: ``block-recon`` (``methods/block_recon.py``), block-wise reconstruction.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from dfqbench.api import ModelContext, SyntheticSet, register_method, register_synthesizer
from dfqbench.config import Config
from dfqbench.kit.attention import AttentionRecord, AttentionTaps, taps_if
from dfqbench.kit.images import init_images, pixel_step
from dfqbench.kit.iterative import IterativeSynthesizer
from dfqbench.kit.priors import psaq_tau, tv_psaq
from dfqbench.kit.schedules import round_lr_multiplier
from dfqbench.kit.synth_augment import psaq_augment

PAPER = ("Zhong et al., Semantic Alignment and Reinforcement for Data-Free Quantization of Vision Transformers, "
         "ICCV 2025")
NOTES = "re-implementation from the paper (the authors' code was not available); choices are config fields."
QUADRANTS = 4


# ---------------------------------------------------------------- Attention Priors Alignment

def draw_mixture(n: int, grid: tuple[int, int], components: int, sigma_range: tuple[float, float],
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random mixtures: means (n, K, 2) uniform on the grid (patch-centre coordinates, rows then
    columns), isotropic sigmas (n, K) uniform in ``sigma_range`` patches."""
    scale = torch.tensor([grid[0] - 1, grid[1] - 1], dtype=torch.float32)
    means = torch.rand(n, components, 2, generator=generator) * scale
    low, high = sigma_range
    sigmas = low + (high - low) * torch.rand(n, components, generator=generator)
    return means, sigmas


def mixture_map(means: torch.Tensor, sigmas: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """``prior(p) = sum_k exp(-||p - mu_k||^2 / (2 sigma_k^2)) / Z`` at every patch centre ``p``,
    ``Z`` such that the map sums to 1: (n, K, 2), (n, K) -> (n, gh, gw)."""
    rows = torch.arange(grid[0], dtype=means.dtype, device=means.device).view(1, 1, -1, 1)
    cols = torch.arange(grid[1], dtype=means.dtype, device=means.device).view(1, 1, 1, -1)
    d2 = (rows - means[..., 0, None, None]) ** 2 + (cols - means[..., 1, None, None]) ** 2   # (n, K, gh, gw)
    prior = torch.exp(-d2 / (2 * sigmas[..., None, None] ** 2)).sum(dim=1)
    return prior / prior.sum(dim=(-2, -1), keepdim=True)


def attention_to_patches(record: AttentionRecord, images: int) -> torch.Tensor:
    """``A^c_{l,h}`` of the first ``images`` images: (images, H, gh, gw), each map renormalised to sum 1.

    With a CLS token: the CLS query's attention row over the patch keys.
    Otherwise (Swin): the attention each patch receives, the mean of ``A``
    over the (non-pad) queries of its window, stitched onto the un-shifted
    grid. Special and pad keys are dropped.
    """
    layout = record.layout
    probs = record.per_image(record.probs)[:images]                                 # (b, W, H, N, N)
    if "cls" in layout.special_tokens:
        values = probs[:, :, :, layout.special_tokens.index("cls"), :].transpose(1, 2)  # (b, H, W=1, N)
    else:
        queries = layout.patch_mask.to(probs)                                      # (W, N)
        received = (probs * queries[None, :, None, :, None]).sum(dim=-2)
        received = received / queries.sum(dim=-1).clamp_min(1)[None, :, None, None]  # (b, W, H, N)
        values = received.transpose(1, 2)                                          # (b, H, W, N)
    maps = layout.to_grid(values)
    return maps / maps.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def attention_prior_alignment(maps: list[torch.Tensor], priors: list[torch.Tensor],
                              weights: list[float]) -> torch.Tensor:
    """``L_APA = sum_l w_l sum_h MSE(A^c_{l,h}, prior_{l,h})``, ``w_l = l/L``; MSE over images and patches."""
    return sum(w * (a - p).square().mean(dim=(0, 2, 3)).sum() for a, p, w in zip(maps, priors, weights, strict=True))


def follow_roll_flip(priors: list[torch.Tensor], rows: torch.Tensor, cols: torch.Tensor,
                     size: tuple[int, int]) -> list[torch.Tensor]:
    """The priors moved like the pixels: ``rows`` (b, H) / ``cols`` (b, W) give each output pixel's source
    row / column; each map is upsampled (nearest) to pixels, permuted, pooled back to its grid and
    renormalised, computed as ``R @ prior @ C^T`` with per-image pooling matrices."""
    moved = []
    for prior in priors:
        gh, gw = prior.shape[-2:]
        r = F.one_hot(rows * gh // size[0], gh).to(prior).transpose(1, 2)        # (b, gh_src, H)
        c = F.one_hot(cols * gw // size[1], gw).to(prior).transpose(1, 2)        # (b, gw_src, W)
        r = F.adaptive_avg_pool1d(r, gh).transpose(1, 2)                          # (b, gh_out, gh_src)
        c = F.adaptive_avg_pool1d(c, gw).transpose(1, 2)
        out = torch.einsum("bis,bhst,bjt->bhij", r, prior, c)
        moved.append(out / out.sum(dim=(-2, -1), keepdim=True))
    return moved


# ---------------------------------------------------------------- Multi-Semantic Reinforcement

def quadrant_boxes(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The four non-overlapping quadrants covering the image, as (top, left, height, width)."""
    h2, w2 = height // 2, width // 2
    return [(0, 0, h2, w2), (0, w2, h2, width - w2), (h2, 0, height - h2, w2), (h2, w2, height - h2, width - w2)]


@dataclasses.dataclass
class Regions:
    """The MSR regions of a batch, ordered by quadrant: region i is quadrant ``quadrant[i]`` of image
    ``image[i]`` with label ``labels[i]`` and soft-label logit ``values[i]``."""

    image: torch.Tensor
    quadrant: torch.Tensor
    labels: torch.Tensor
    values: torch.Tensor

    def __len__(self) -> int:
        return len(self.image)


def draw_regions(n: int, num_classes: int, max_regions: int, value_range: tuple[float, float],
                 generator: torch.Generator) -> Regions:
    """Per image, m ~ U{1..max_regions} distinct quadrants, each with a uniform label and a logit value
    ``~ U(value_range)``."""
    image, quadrant = [], []
    for b in range(n):
        m = int(torch.randint(1, max_regions + 1, (), generator=generator))
        chosen = torch.randperm(QUADRANTS, generator=generator)[:m]
        image += [b] * m
        quadrant += chosen.tolist()
    image, quadrant = torch.tensor(image, dtype=torch.long), torch.tensor(quadrant, dtype=torch.long)
    order = torch.argsort(quadrant * n + image)
    image, quadrant = image[order], quadrant[order]
    labels = torch.randint(0, num_classes, (len(image),), generator=generator)
    low, high = value_range
    values = low + (high - low) * torch.rand(len(image), generator=generator)
    return Regions(image, quadrant, labels, values)


def crop_regions(x: torch.Tensor, regions: Regions) -> torch.Tensor:
    """Each region cropped from its image and resized (bilinear) to the input size: (R, C, H, W)."""
    height, width = x.shape[-2:]
    crops = []
    for q, (top, left, h, w) in enumerate(quadrant_boxes(height, width)):
        index = (regions.image[regions.quadrant == q]).to(x.device)
        if len(index):
            patch = x[index, :, top:top + h, left:left + w]
            crops.append(F.interpolate(patch, size=(height, width), mode="bilinear", align_corners=False))
    return torch.cat(crops) if crops else x.new_zeros(0, *x.shape[1:])


# ---------------------------------------------------------------- soft labels

def soft_label_target(classes: torch.Tensor, values: torch.Tensor, num_classes: int, soft: bool) -> torch.Tensor:
    """Rows of targets: ``softmax(z)`` with ``z[classes[i]] = values[i]`` and 0 elsewhere (``soft``), or the
    hard target, uniform over the relevant classes (one-hot for one class). ``classes`` and ``values`` are
    (n, k) with -1 marking unused slots; a class in two slots keeps the larger value."""
    used = classes >= 0
    index = classes.clamp_min(0)
    if soft:
        # amax, not a plain scatter: an unused slot (index 0, value -inf) must not overwrite class 0, and a
        # class named by two regions keeps its larger value.
        z = torch.full((len(classes), num_classes), -torch.inf)
        z = z.scatter_reduce(1, index, torch.where(used, values, -torch.inf), reduce="amax")
        return torch.where(z.isinf(), 0.0, z).softmax(dim=-1)
    hot = torch.zeros(len(classes), num_classes).scatter_reduce(1, index, used.float(), reduce="amax")
    return hot / hot.sum(dim=-1, keepdim=True)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``CE(z, t) = - sum_c t_c log softmax(z)_c`` per row."""
    return -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1)


def soft_label_loss(image_logits: torch.Tensor, image_targets: torch.Tensor, region_logits: torch.Tensor,
                    region_targets: torch.Tensor) -> torch.Tensor:
    """``L_SL = 1/B sum_b [CE(f(x_b), t_b) + sum_{r in regions(b)} CE(f(crop_r), t_r)]``."""
    total = soft_cross_entropy(image_logits, image_targets).sum()
    if len(region_logits):
        total = total + soft_cross_entropy(region_logits, region_targets).sum()
    return total / len(image_logits)


# ---------------------------------------------------------------- the synthesizer

@dataclasses.dataclass
class SARState:
    images: torch.Tensor
    labels: torch.Tensor                 # each image's first relevant class
    image_targets: torch.Tensor          # (B, classes)
    regions: Regions | None
    region_targets: torch.Tensor | None  # (R, classes), in the order of crop_regions
    blocks: list[int]                    # indices of the attention calls under APA (deeper half)
    weights: list[float]                 # their depth weights
    priors: list[torch.Tensor]           # (B, H_l, gh, gw) each, summing to 1 per map
    tau: float
    optimizer: torch.optim.Optimizer
    last: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)  # the last step's terms


@register_synthesizer("sardfq")
class SARDFQ(IterativeSynthesizer):
    """``L = alpha1 L_APA + L_SL + 0.05 |R(x) - tau|`` over whole images and their MSR crops."""

    version = 2  # 2: class 0's target value no longer overwritten by an unused slot (hard targets were NaN)
    paper_budget = {"synth_steps": 1000}  # 1000 synthesis steps in all, as its paper and PSAQ-ViT's code
    independent_batches = True  # each batch: its own labels, noise, priors and optimiser
    tunable = {"apa_weight": (1.0, 10.0, 1e2, 1e3, 1e4, 1e5)}  # alpha1: the paper tunes it per model in [1, 1e5]
    paper = PAPER
    notes = NOTES

    @dataclasses.dataclass(frozen=True)
    class Config(Config):
        apa: bool = True                        # Attention Priors Alignment
        apa_weight: float = 1e3                 # alpha1: our untuned default; the paper tunes it per model in
                                                # [1, 1e5] (`dfqbench tune`)
        apa_components: int = 5                 # K_APA
        apa_sigma: tuple[float, float] = (0.5, 2.0)  # isotropic sigma range, in patches
        apa_start: float = 0.5                  # blocks l >= apa_start * L (the deeper half)
        apa_depth_weights: bool = True          # weight l / L (else 1)
        apa_follow_augment: bool = True         # the prior rolls and flips with the image
        msr: bool = True                        # Multi-Semantic Reinforcement
        msr_regions: int = 4                    # K_MSR: m ~ U{1..K_MSR} quadrants per image
        soft_labels: bool = True                # soft-label learning (else hard, uniform over the classes)
        soft_range: tuple[float, float] = (5.0, 10.0)
        tv: bool = True
        tv_weight: float = 0.05
        tau_scaled: bool = True                # tau times sqrt(values / (32*3*224*224)) [choice]
        augment: bool = True                    # PSAQ-ViT's roll + flip
        lr: float = 0.25
        betas: tuple[float, float] = (0.5, 0.9)
        rounds: int = 2                         # PSAQ-ViT's schedule over profile.synth_steps
        warmup: float = 0.2

        def __post_init__(self) -> None:
            if not 1 <= self.msr_regions <= QUADRANTS:
                raise ValueError(f"msr_regions must be in 1..{QUADRANTS} (the regions are quadrants)")

    def start_batch(self, ctx: ModelContext, n: int) -> SARState:
        cfg, gen = self.config, ctx.generator
        images = init_images(ctx, n)
        classes = ctx.num_classes
        if cfg.msr:
            regions = draw_regions(n, classes, cfg.msr_regions, cfg.soft_range, gen)
            region_targets = soft_label_target(regions.labels[:, None], regions.values[:, None], classes,
                                               cfg.soft_labels)
            slots = torch.full((n, QUADRANTS), -1, dtype=torch.long)
            values = torch.zeros(n, QUADRANTS)
            slots[regions.image, regions.quadrant] = regions.labels
            values[regions.image, regions.quadrant] = regions.values
            first = torch.argmax((slots >= 0).int(), dim=1)
            labels = slots[torch.arange(n), first]
        else:
            regions, region_targets = None, None
            labels = torch.randint(0, classes, (n,), generator=gen)
            low, high = cfg.soft_range
            slots, values = labels[:, None], low + (high - low) * torch.rand(n, 1, generator=gen)
        image_targets = soft_label_target(slots, values, classes, cfg.soft_labels)
        blocks, weights, priors = self._draw_priors(ctx, images) if cfg.apa else ([], [], [])
        tau = psaq_tau(images, gen, cfg.tau_scaled)
        optimizer = torch.optim.Adam([images], lr=cfg.lr, betas=tuple(cfg.betas), eps=1e-8)
        device = ctx.device
        return SARState(images, labels.to(device), image_targets.to(device), regions,
                        None if region_targets is None else region_targets.to(device),
                        blocks, weights, [p.to(device) for p in priors], tau, optimizer)

    def _draw_priors(self, ctx: ModelContext, images: torch.Tensor):
        """One no-grad pass reads every block's grid and head count; the deeper blocks get their priors."""
        cfg = self.config
        with torch.no_grad(), AttentionTaps(ctx.teacher, keep=("probs",), detach=True) as taps:
            ctx.teacher(images[:1])
        depth = len(taps.records)
        blocks = [i for i in range(depth) if i >= cfg.apa_start * depth]
        weights = [(i / depth if cfg.apa_depth_weights else 1.0) for i in blocks]
        priors = []
        n = len(images)
        for i in blocks:
            record = taps.records[i]
            heads, grid = record.probs.shape[1], record.layout.grid
            means, sigmas = draw_mixture(n * heads, grid, cfg.apa_components, cfg.apa_sigma, ctx.generator)
            priors.append(mixture_map(means, sigmas, grid).view(n, heads, *grid))
        return blocks, weights, priors

    def objective(self, ctx: ModelContext, state: SARState, images: torch.Tensor, crops: torch.Tensor | None,
                  priors: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The weighted terms on (augmented) whole ``images``, their ``crops`` and the (moved) ``priors``."""
        cfg, terms, n = self.config, {}, len(images)
        batch = images if crops is None else torch.cat([images, crops])
        with taps_if(cfg.apa, ctx.teacher, ("probs",)) as taps:
            logits = ctx.teacher(batch)
        if cfg.apa:
            maps = [attention_to_patches(taps.records[i], n) for i in state.blocks]
            terms["apa"] = cfg.apa_weight * attention_prior_alignment(maps, priors, state.weights)
        region_targets = state.region_targets if crops is not None else logits.new_zeros(0, logits.shape[1])
        terms["sl"] = soft_label_loss(logits[:n], state.image_targets, logits[n:], region_targets)
        if cfg.tv:
            terms["tv"] = cfg.tv_weight * tv_psaq(state.images, state.tau)
        return terms

    def step(self, ctx: ModelContext, state: SARState, step: int, total: int) -> None:
        cfg, x = self.config, state.images
        for group in state.optimizer.param_groups:
            group["lr"] = cfg.lr * round_lr_multiplier(step, total, cfg.rounds, cfg.warmup)
        crops = crop_regions(x, state.regions) if state.regions is not None else None
        images, priors = x, state.priors
        if cfg.augment:
            progress = step / total
            if cfg.apa and cfg.apa_follow_augment:
                images, priors = self._augment_with_priors(x, priors, progress, ctx.generator)
            else:
                images = psaq_augment(x, progress, ctx.generator)
            if crops is not None:
                crops = psaq_augment(crops, progress, ctx.generator)
        state.last = pixel_step(ctx, x, state.optimizer, self.objective(ctx, state, images, crops, priors))

    @staticmethod
    def _augment_with_priors(x: torch.Tensor, priors: list[torch.Tensor], progress: float,
                             generator: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Roll/flip the images together with two coordinate channels (one draw for the batch), and move
        the priors with the pixel permutation those channels reveal."""
        b, c, h, w = x.shape
        rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, 1, h, 1).expand(b, 1, h, w)
        cols = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, 1, w).expand(b, 1, h, w)
        moved = psaq_augment(torch.cat([x, rows, cols], dim=1), progress, generator)
        src_rows = moved[:, c, :, 0].round().long()
        src_cols = moved[:, c + 1, 0, :].round().long()
        return moved[:, :c], follow_roll_flip(priors, src_rows, src_cols, (h, w))

    def finish_batch(self, ctx: ModelContext, state: SARState) -> SyntheticSet:
        return SyntheticSet(state.images.detach(), state.labels)


register_method("sardfq", "sardfq", "block-recon", paper=PAPER,
                description="attention priors alignment, multi-semantic reinforcement, soft labels; "
                            "block-wise reconstruction",
                ablations={"apa": ("synth.apa=false",), "msr": ("synth.msr=false",),
                           "soft_labels": ("synth.soft_labels=false",), "recon": ("calib.recon=false",)})
