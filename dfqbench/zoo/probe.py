"""Test-bed probes: does a model exercise what the DFQ methods are built for?

Two measurements per model (``dfqbench zoo probe``):

**Gradient shares.** On one synthesis batch made as the ``bench`` profile makes it (batch 32, MaskAQ's image
initialisation and labels from the seed's ``synthesis`` generator, MaskAQ's default config, the quantized
student of the ``standard`` preset at 4w4a), the norm of the pixel gradient of each weighted term of MaskAQ's
synthesis loss divided by the norm of the pixel gradient of its one-hot cross-entropy term. The terms come from
the synthesizer's own ``losses`` (nothing re-implemented); the batch follows the bench trajectory exactly
(``step`` unchanged; the terms of a measured step are the ones that step optimises). ``L2`` norms over the
whole batch's pixels, before AdamW's per-pixel normalisation.

**Attention concentration.** On the first real test images, the share of attention mass held by the top
``ceil(10 % of P)`` of the P patches of a block's grid: ViT/DeiT (a CLS token) the CLS query's attention over
the patch keys (special tokens dropped, so renormalised over the patches); without a CLS token (Swin) the
attention each patch receives, summed over the real queries of its window, per head, stitched onto the block's
grid (pad tokens dropped). Mean over images and heads per block, then over blocks. FP model, quantizers OFF.
Uniform attention gives ``ceil(0.1 P) / P`` (about 0.1), attention on a single patch gives 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from dfqbench.api import SYNTHESIZERS, ModelContext
from dfqbench.kit.attention import AttentionRecord, AttentionTaps
from dfqbench.profiles import Profile, get_profile
from dfqbench.quant import get_preset, set_quant_state, wrap_model
from dfqbench.quant.state import QuantState
from dfqbench.runner.seeds import stage_generator

SYNTHESIZER = "maskaq"
PROFILE = "bench"
PRESET = "standard"
BITS = "4w4a"
REFERENCE = "one_hot"                         # the term every share is divided by
TERMS = ("se", "maa", "ssim", "tv")           # the other weighted terms of MaskAQ's synthesis loss
TERM_LABELS = {"se": "SE", "maa": "MAA", "ssim": "SSIM", "tv": "TV", "one_hot": "CE"}
DEFAULT_STEPS = (0, 50)
TOP_FRACTION = 0.1
EVAL_IMAGES = 512
EVAL_BATCH = 128


# --- attention concentration ---------------------------------------------------------------------------------------


def top_count(patches: int, fraction: float = TOP_FRACTION) -> int:
    """``ceil(fraction * patches)`` (at least 1), robust to the float rounding of ``0.1 * 70``."""
    return max(1, math.ceil(fraction * patches - 1e-9))


def top_share(mass: torch.Tensor, fraction: float = TOP_FRACTION) -> torch.Tensor:
    """Share of the total of ``mass`` (..., P), non-negative, held by its top ``ceil(fraction P)`` entries: (...)."""
    k = top_count(mass.shape[-1], fraction)
    return mass.topk(k, dim=-1).values.sum(-1) / mass.sum(-1)


def cls_patch_mass(rec: AttentionRecord) -> torch.Tensor:
    """The CLS query's attention probabilities over the patch keys (special tokens dropped): (B, H, P)."""
    layout = rec.layout
    if layout.num_windows != 1:
        raise ValueError(f"{rec.name}: a CLS query needs global attention, got {layout.num_windows} windows")
    cls = layout.special_tokens.index("cls")
    patches = layout.patch_mask[0].nonzero().squeeze(-1).to(rec.probs.device)
    return rec.probs[:, :, cls, :].index_select(-1, patches)


def received_mass(rec: AttentionRecord) -> torch.Tensor:
    """Per head, the attention each patch receives, summed over the real (patch) queries of its window, on the
    block's patch grid with special and pad tokens dropped: (B, H, P), P = the grid's patch count."""
    layout = rec.layout
    queries = layout.patch_mask.to(rec.probs.device, rec.probs.dtype)          # (windows, N)
    probs = rec.per_image(rec.probs)                                           # (B, windows, H, N, N)
    received = (probs * queries[None, :, None, :, None]).sum(-2)               # (B, windows, H, N keys)
    grid = layout.to_grid(received.transpose(1, 2))                            # (B, H, h, w)
    return grid.flatten(-2)


def patch_mass(rec: AttentionRecord) -> torch.Tensor:
    """What the concentration is measured on: the CLS query's attention, or the received attention without one."""
    return cls_patch_mass(rec) if "cls" in rec.layout.special_tokens else received_mass(rec)


def mass_kind(records: Sequence[AttentionRecord]) -> str:
    return "CLS query" if all("cls" in r.layout.special_tokens for r in records) else "received"


def block_concentration(records: Sequence[AttentionRecord], fraction: float = TOP_FRACTION) -> torch.Tensor:
    """Per block, the top-``fraction`` share summed over the batch's images and heads, divided by the head count:
    (blocks,) sums over images of the per-image head mean (divide by the image count for the mean)."""
    return torch.stack([top_share(patch_mass(rec), fraction).mean(-1).sum(0) for rec in records])


@dataclasses.dataclass(frozen=True)
class Concentration:
    """Top-10 % attention mass of one model on real images."""

    mean: float                  # over blocks, heads and images
    by_block: tuple[float, ...]  # over heads and images, per block in execution order
    kind: str                    # 'CLS query' or 'received'
    images: int


@torch.no_grad()
def attention_concentration(model: nn.Module, batches, limit: int = EVAL_IMAGES,
                            fraction: float = TOP_FRACTION) -> Concentration:
    """Top-``fraction`` attention mass of the wrapped FP ``model`` (quantizers OFF) on up to ``limit`` images of
    ``batches`` ((images, labels) pairs)."""
    total, seen, kind = None, 0, None
    for images, _ in batches:
        images = images[: limit - seen]
        if not len(images):
            break
        with AttentionTaps(model, keep=("probs",), detach=True) as taps:
            model(images)
        sums = block_concentration(taps.records, fraction).double()
        total = sums if total is None else total + sums
        kind = kind or mass_kind(taps.records)
        seen += len(images)
        if seen >= limit:
            break
    if not seen:
        raise ValueError("no images to measure the attention on")
    by_block = (total / seen).tolist()
    return Concentration(sum(by_block) / len(by_block), tuple(by_block), kind, seen)


# --- gradient shares -----------------------------------------------------------------------------------------------


def probe_context(model: nn.Module, data_config: dict, num_classes: int, seed: int,
                  profile: Profile, preset: str = PRESET, bits: str = BITS) -> ModelContext:
    """The synthesis context of a grid cell (``runner.cell``): wrapped FP teacher (quantizers OFF, no parameter
    gradients), quantized student (QUANTIZE, ranges set on the first batch it sees), the seed's synthesis
    generator, the CPU."""
    teacher = wrap_model(model, get_preset(preset), bits).eval().requires_grad_(False)
    student = wrap_model(model, get_preset(preset), bits).eval()
    set_quant_state(student, QuantState.QUANTIZE)
    return ModelContext(teacher=teacher, student=student, data_config=data_config, num_classes=num_classes,
                        profile=profile, generator=stage_generator(seed, "synthesis"), device=torch.device("cpu"))


def term_gradient_norms(terms: dict[str, torch.Tensor], images: torch.Tensor) -> dict[str, float]:
    """``|d term / d images|`` (L2 over the whole batch) of each (weighted) term; the graph is kept."""
    norms = {}
    for name, term in terms.items():
        (grad,) = torch.autograd.grad(term, images, retain_graph=True, allow_unused=True)
        norms[name] = 0.0 if grad is None else float(grad.double().norm())
    return norms


def synthesis_gradient_norms(synth, ctx: ModelContext, steps: Sequence[int],
                             batch: int | None = None) -> dict[int, dict[str, float]]:
    """Per measured step, the gradient norm of each term of ``synth.losses`` on one batch that ``synth.step``
    optimises as the profile's synthesis does (its ``synth_steps`` set the schedules). The terms of a measured
    step are the very ones its update uses (no extra forward, no extra draw from the generator); the last measured
    step is evaluated without its update."""
    total = ctx.profile.synth_steps
    steps = sorted(set(steps))
    if not steps or steps[0] < 0 or steps[-1] >= total:
        raise ValueError(f"steps must lie in [0, {total}), got {steps}")
    state = synth.start_batch(ctx, batch or ctx.profile.synth_batch_size)
    measured: dict[int, dict[str, float]] = {}
    original = synth.losses

    def losses(ctx_, state_, step, total_):
        terms = original(ctx_, state_, step, total_)
        if step in steps:
            measured[step] = term_gradient_norms(terms, state_.images)
        return terms

    synth.losses = losses  # the instance's own step() calls self.losses
    try:
        for step in range(steps[-1]):
            synth.step(ctx, state, step, total)
        synth.losses(ctx, state, steps[-1], total)
    finally:
        del synth.losses
    return measured


def shares(norms: dict[str, float], reference: str = REFERENCE) -> dict[str, float]:
    """Each term's gradient norm over the reference term's (the reference's own share is 1)."""
    return {name: value / norms[reference] for name, value in norms.items()}


def default_synthesizer():
    """MaskAQ's synthesizer with its default config."""
    return SYNTHESIZERS.get(SYNTHESIZER)()


def seed_shares(model: nn.Module, data_config: dict, num_classes: int, seed: int,
                steps: Sequence[int] = DEFAULT_STEPS, profile: str | Profile = PROFILE,
                make_synth: Callable = default_synthesizer) -> dict[int, dict[str, float]]:
    """Per measured step, each term's gradient share and, as ``norm:one_hot``, the CE gradient's own norm."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    ctx = probe_context(model, data_config, num_classes, seed, profile)
    norms = synthesis_gradient_norms(make_synth(), ctx, steps)
    return {step: {**shares(values), f"norm:{REFERENCE}": values[REFERENCE]} for step, values in norms.items()}


# --- the table -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ProbeRow:
    model: str
    dataset: str
    seeds: tuple[int, ...]
    steps: tuple[int, ...]
    per_seed: list[dict[int, dict[str, float]]]   # seed_shares of each seed
    attention: Concentration

    def values(self, step: int, key: str) -> list[float]:
        return [s[step][key] for s in self.per_seed if key in s[step]]


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def percent(mean: float, std: float | None) -> str:
    """``25.1 ± 0.8``: percent, about three significant digits on the mean, the std to the same decimals."""
    value = 100 * mean
    decimals = 1 if value == 0 else min(4, max(1, 2 - math.floor(math.log10(abs(value)))))
    text = f"{value:.{decimals}f}"
    return text if std is None else f"{text} ± {100 * std:.{decimals}f}"


def share_columns(steps: Sequence[int]) -> list[tuple[int, str]]:
    return [(step, term) for step in steps for term in TERMS]


def to_markdown(rows: Sequence[ProbeRow]) -> str:
    steps = rows[0].steps
    seeds = rows[0].seeds
    head = ["model", "dataset"] + [f"{TERM_LABELS[t]} / CE @{s} (%)" for s, t in share_columns(steps)]
    head += ["top-10% attention mass", "measured on"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["--:"] * (len(head) - 3) + ["---"]) + "|"]
    for row in rows:
        cells = [row.model, row.dataset]
        for step, term in share_columns(steps):
            values = row.values(step, term)
            cells.append(percent(*mean_std(values)) if values else "-")
        cells += [f"{row.attention.mean:.3f}", row.attention.kind]
        lines.append("| " + " | ".join(cells) + " |")
    seed_text = ",".join(map(str, seeds))
    total, batch = get_profile(PROFILE).synth_steps, get_profile(PROFILE).synth_batch_size
    images = rows[0].attention.images
    lines += ["", f"Gradient shares: `|grad_x (w_i L_i)| / |grad_x (w_CE L_CE)|` (L2 over the batch's pixels) of "
              f"MaskAQ's weighted synthesis terms on one {PROFILE}-profile batch (batch {batch}, MaskAQ's default "
              f"config, student `{PRESET}` {BITS}); @s: after s of the {total} AdamW steps of the {PROFILE} "
              f"schedule (@0: the initial images); in percent, mean ± sample std over seeds {seed_text}. "
              "Top-10% attention mass: share of the attention held by the top ceil(10% of the patches) patches, "
              f"FP model, first {images} test images; CLS query: the CLS query's attention over the patch keys; "
              "received: the attention each patch receives, summed over its window's queries, per head. Mean over "
              "blocks, heads and images; uniform attention gives about 0.1, one patch 1.", ""]
    return "\n".join(lines)


def to_csv(rows: Sequence[ProbeRow]) -> str:
    import csv
    import io

    steps = rows[0].steps
    keys = [*TERMS, f"norm:{REFERENCE}"]
    head = ["model", "dataset", "seeds"]
    for step in steps:
        for key in keys:
            name = "ce_grad_norm" if key.startswith("norm:") else f"{key}_over_ce"
            head += [f"{name}_step{step}_mean", f"{name}_step{step}_std"]
    head += ["top10_attention_mass", "top10_attention_by_block", "attention_measured_on", "attention_images"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for row in rows:
        cells: list = [row.model, row.dataset, " ".join(map(str, row.seeds))]
        for step in steps:
            for key in keys:
                values = row.values(step, key)
                mean, std = mean_std(values) if values else (None, None)
                cells += [_num(mean), _num(std)]
        cells += [_num(row.attention.mean), " ".join(f"{v:.6g}" for v in row.attention.by_block),
                  row.attention.kind, row.attention.images]
        writer.writerow(cells)
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def probe_zoo_model(name: str, seeds: Sequence[int], steps: Sequence[int] = DEFAULT_STEPS,
                    images: int = EVAL_IMAGES, data_dir=None, log: Callable[[str], None] = lambda m: None) -> ProbeRow:
    """Both measurements for one zoo model (its committed weights, its own test split)."""
    from dfqbench.data.splits import eval_batches
    from dfqbench.zoo.backbones import load_zoo

    backbone = load_zoo(name)
    model = backbone.model.eval()
    data_config = backbone.data_config
    batches = eval_batches(backbone.dataset, data_config, EVAL_BATCH, images, data_dir)
    fp = wrap_model(model, get_preset(PRESET), BITS).eval().requires_grad_(False)
    attention = attention_concentration(fp, batches, images)
    log(f"{name}: top-10% attention mass {attention.mean:.3f} ({attention.kind}, {attention.images} images)")
    per_seed = []
    for seed in seeds:
        per_seed.append(seed_shares(model, data_config, model.num_classes, seed, steps))
        first = per_seed[-1][min(steps)]
        log(f"{name} seed {seed}: " + ", ".join(f"{TERM_LABELS[t]}/CE {first[t]:.3f}" for t in TERMS if t in first)
            + f" at step {min(steps)}")
    return ProbeRow(name, backbone.dataset, tuple(seeds), tuple(sorted(set(steps))), per_seed, attention)
