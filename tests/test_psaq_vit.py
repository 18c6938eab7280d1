"""PSAQ-ViT: the patch-similarity entropy pieces against slow references, the schedule against the authors'
``lr_cosine_policy``, and the synthesizer on the three zoo families (objective, pixel range, no parameter
gradients, determinism, switches, method row)."""

from __future__ import annotations

import math

import pytest
import torch
from harness_fixtures import model_context

from dfqbench.api import METHODS, SYNTHESIZERS, ModelContext
from dfqbench.kit.attention import AttentionRecord
from dfqbench.kit.schedules import round_lr_multiplier
from dfqbench.layout import global_layout, window_layout
from dfqbench.methods.psaq_vit import (
    differential_entropy,
    gaussian_kde,
    patch_similarities,
    patch_similarity_entropy_loss,
    similarity_entropy,
)
from dfqbench.profiles import Profile
from dfqbench.runner.overrides import apply_overrides
from dfqbench.zoo.registry import get_zoo_model

ZOO = ("fmnist_vit", "fmnist_deit", "fmnist_swin")


def tiny_profile(**changes) -> Profile:
    fields = dict(name="test", n_images=4, synth_batch_size=4, synth_steps=24, calib_steps=8, calib_batch_size=4,
                  refreshes=1)
    return Profile(**{**fields, **changes})


def make_ctx(name: str = "fmnist_vit", profile: Profile | None = None, seed: int = 0, bits: str = "4w4a",
             preset: str = "standard", model_seed: int = 0, teacher_grad: bool = False) -> ModelContext:
    """A context like a grid cell's: wrapped FP teacher (quantizers OFF), quantized student (QUANTIZE)."""
    torch.manual_seed(model_seed)
    model = get_zoo_model(name).build().eval()
    return model_context(model, profile or tiny_profile(), seed, teacher_grad, bits, preset)


def fake_record(layout, outputs: torch.Tensor) -> AttentionRecord:
    return AttentionRecord(name="blk", index=0, layout=layout, logits=None, probs=None, outputs=outputs,
                           additive=None)


# ---------------------------------------------------------------- KDE and entropy

def test_gaussian_kde_matches_slow_reference():
    gen = torch.Generator().manual_seed(0)
    samples = torch.rand(2, 7, generator=gen, dtype=torch.float64)
    points = torch.rand(2, 5, generator=gen, dtype=torch.float64)
    h = 0.05
    got = gaussian_kde(samples, points, h)
    for b in range(2):
        for j in range(5):
            ref = sum(math.exp(-(points[b, j] - s) ** 2 / (2 * h * h)) / math.sqrt(2 * math.pi * h * h)
                      for s in samples[b].tolist()) / 7
            assert got[b, j].item() == pytest.approx(ref, rel=1e-12)


def test_differential_entropy_by_hand():
    # constant density c on [0, 2]: H = -2 (c + 1e-4) log(c + 1e-4)
    c = 0.5
    points = torch.linspace(0, 2, 10, dtype=torch.float64).unsqueeze(0)
    got = differential_entropy(torch.full_like(points, c), points)
    assert got.item() == pytest.approx(-2 * (c + 1e-4) * math.log(c + 1e-4), rel=1e-12)
    # three points 0, 1, 3 with densities 1, e - 1e-4, 0: f = (-1.0001 log 1.0001, -e, 1e-4 * log(1e4))
    points = torch.tensor([[0.0, 1.0, 3.0]], dtype=torch.float64)
    density = torch.tensor([[1.0, math.e - 1e-4, 0.0]], dtype=torch.float64)
    f = [-1.0001 * math.log(1.0001), -math.e, -1e-4 * math.log(1e-4)]
    assert differential_entropy(density, points).item() == pytest.approx((f[0] + f[1]) / 2 + 2 * (f[1] + f[2]) / 2)


def slow_similarity_entropy(sims: torch.Tensor, h: float = 0.01, k: int = 10) -> list[float]:
    lo, hi = float(sims.min()), float(sims.max())
    grid = [lo + (hi - lo) * j / (k - 1) for j in range(k)]
    out = []
    for row in sims.tolist():
        dens = [sum(math.exp(-(t - s) ** 2 / (2 * h * h)) / math.sqrt(2 * math.pi * h * h) for s in row) / len(row)
                for t in grid]
        f = [-(p + 1e-4) * math.log(p + 1e-4) for p in dens]
        out.append(sum((grid[j + 1] - grid[j]) * (f[j] + f[j + 1]) / 2 for j in range(k - 1)))
    return out


def test_similarity_entropy_matches_slow_reference():
    gen = torch.Generator().manual_seed(1)
    sims = (torch.rand(3, 40, generator=gen, dtype=torch.float64) * 0.2 - 0.1)
    got = similarity_entropy(sims, 0.01, 10)
    assert got.tolist() == pytest.approx(slow_similarity_entropy(sims), rel=1e-10)


def test_entropy_grid_is_detached_and_spans_the_batch():
    sims = torch.tensor([[0.0, 0.1, 0.2], [0.5, 0.6, 0.9]], dtype=torch.float64, requires_grad=True)
    h = similarity_entropy(sims, 0.05, 10)
    h.sum().backward()  # the grid's min/max carry no gradient: finite, and only through the KDE samples
    assert torch.isfinite(sims.grad).all()
    ref = slow_similarity_entropy(sims.detach(), 0.05, 10)  # grid 0 .. 0.9 for both images
    assert h.tolist() == pytest.approx(ref, rel=1e-10)


# ---------------------------------------------------------------- patch similarities

def slow_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a @ b) / (a.norm() * b.norm()))


@pytest.mark.parametrize("special", [("cls",), ("cls", "dist")])
def test_patch_similarities_drop_every_special_token(special):
    gen = torch.Generator().manual_seed(0)
    grid = (2, 3)
    layout = global_layout(special, grid)
    n = len(special) + 6
    outputs = torch.randn(2, 3, n, 4, generator=gen, dtype=torch.float64)
    sims = patch_similarities(fake_record(layout, outputs))
    assert sims.shape == (2, 36)
    feats = outputs.mean(dim=1)[:, len(special):]
    for b in range(2):
        ref = [slow_cosine(feats[b, i], feats[b, j]) for i in range(6) for j in range(6)]
        assert sims[b].tolist() == pytest.approx(ref, rel=1e-9)


def test_patch_similarities_swin_pool_windows_and_skip_pad_tokens():
    # a 5x5 grid in 3x3 windows: timm pads to 6x6, so the 4 windows hold 9, 6, 6 and 4 real patches
    layout = window_layout((5, 5), (3, 3), (1, 1))
    assert layout.has_pad and layout.num_windows == 4
    gen = torch.Generator().manual_seed(0)
    outputs = torch.randn(2 * 4, 2, 9, 5, generator=gen, dtype=torch.float64)
    sims = patch_similarities(fake_record(layout, outputs))
    assert sims.shape == (2, 81 + 36 + 36 + 16)
    feats = outputs.mean(dim=1).view(2, 4, 9, 5)
    for b in range(2):
        ref = []
        for w in range(4):
            real = [i for i in range(9) if layout.positions[w, i] >= 0]
            ref += [slow_cosine(feats[b, w, i], feats[b, w, j]) for i in real for j in real]
        assert sims[b].tolist() == pytest.approx(ref, rel=1e-9)  # no token dropped, none from another window


def test_pse_loss_is_minus_the_sum_over_blocks_of_the_batch_mean_entropy():
    gen = torch.Generator().manual_seed(2)
    layout = global_layout(("cls",), (2, 2))
    records = [fake_record(layout, torch.randn(3, 2, 5, 4, generator=gen, dtype=torch.float64)) for _ in range(2)]
    ref = -sum(sum(slow_similarity_entropy(patch_similarities(r))) / 3 for r in records)
    assert patch_similarity_entropy_loss(records).item() == pytest.approx(ref, rel=1e-9)


# ---------------------------------------------------------------- schedule

def psaq_code_lr(itr: int, base: float = 1.0, warmup: int = 100, epochs: int = 500) -> float:
    """The authors' lr_cosine_policy(base_lr, 100, 500), called with the step inside the round."""
    if itr < warmup:
        return base * (itr + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (itr - warmup) / (epochs - warmup))) * base


def test_schedule_is_two_rounds_of_the_authors_warmup_cosine():
    got = [round_lr_multiplier(s, 1000, 2, 0.2) for s in range(1000)]
    ref = [psaq_code_lr(s % 500) for s in range(1000)]
    assert got == pytest.approx(ref)
    assert round_lr_multiplier(0, 1, 2, 0.2) == 1.0  # keeps working when a round is empty


# ---------------------------------------------------------------- synthesizer

def objective_value(synth, ctx, state) -> float:
    with torch.no_grad():
        return float(sum(synth.objective(ctx, state, state.images).values()))


@pytest.mark.parametrize("name", ZOO)
def test_synthesizer_lowers_its_objective_in_range_without_parameter_gradients(name):
    ctx = make_ctx(name, teacher_grad=True)
    synth = SYNTHESIZERS.get("psaq-vit")()
    state = synth.start_batch(ctx, 4)
    before = objective_value(synth, ctx, state)
    for step in range(24):
        synth.step(ctx, state, step, 24)
    assert objective_value(synth, ctx, state) < 0.9 * before
    low, high = ctx.pixel_bounds()
    assert ((state.images >= low - 1e-6) & (state.images <= high + 1e-6)).all()
    assert all(p.grad is None for p in ctx.teacher.parameters())
    assert set(state.last) == {"pse", "one_hot", "tv"}


def test_synthesize_is_deterministic_per_seed():
    profile = tiny_profile(n_images=4, synth_batch_size=2, synth_steps=3)
    synth = SYNTHESIZERS.get("psaq-vit")()
    a = synth.synthesize(make_ctx(profile=profile, seed=5))
    b = synth.synthesize(make_ctx(profile=profile, seed=5))
    c = synth.synthesize(make_ctx(profile=profile, seed=6))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (4, 1, 28, 28) and a.labels.shape == (4,)


@pytest.mark.parametrize("switch, term", [("pse", "pse"), ("one_hot", "one_hot"), ("tv", "tv")])
def test_every_term_has_a_switch(switch, term):
    cls = SYNTHESIZERS.get("psaq-vit")
    config = apply_overrides(cls.Config, {}, {switch: "false"}, "synth", "psaq-vit")
    synth = cls(config)
    ctx = make_ctx()
    state = synth.start_batch(ctx, 2)
    synth.step(ctx, state, 0, 4)
    assert term not in state.last and state.last
    no_aug = cls(apply_overrides(cls.Config, {}, {"augment": "off"}, "synth", "psaq-vit"))
    state = no_aug.start_batch(ctx, 2)
    no_aug.step(ctx, state, 0, 4)


def test_method_row_pairs_the_synthesizer_with_ptq():
    method = METHODS.get("psaq-vit")
    assert (method.synthesizer, method.calibrator) == ("psaq-vit", "ptq")
    cfg = SYNTHESIZERS.get("psaq-vit").Config()
    assert (cfg.lr, cfg.betas, cfg.rounds, cfg.warmup, cfg.bandwidth, cfg.kde_points) == (0.2, (0.5, 0.9), 2, 0.2,
                                                                                          0.01, 10)
    assert (cfg.pse_weight, cfg.one_hot_weight, cfg.tv_weight) == (1.0, 1.0, 0.05)


def test_gaussian_kde_gradients_match_autograd_reference():
    gen = torch.Generator().manual_seed(3)
    samples = (torch.rand(2, 30, generator=gen, dtype=torch.float64) * 0.3).requires_grad_()
    points = torch.rand(2, 6, generator=gen, dtype=torch.float64).mul(0.3).requires_grad_()
    h = 0.02

    def reference(s, t):
        d = t.unsqueeze(-1) - s.unsqueeze(-2)
        return (torch.exp(-d.square() / (2 * h * h)) / math.sqrt(2 * math.pi * h * h)).mean(-1)

    weights = torch.rand(2, 6, generator=gen, dtype=torch.float64)
    got = torch.autograd.grad((gaussian_kde(samples, points, h) * weights).sum(), [samples, points])
    ref = torch.autograd.grad((reference(samples, points) * weights).sum(), [samples, points])
    for g, r in zip(got, ref, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda s, t: gaussian_kde(s, t, 0.05), (samples, points))


def test_gaussian_kde_far_points_are_zero_not_subnormal():
    samples = torch.zeros(1, 4)
    points = torch.tensor([[0.0, 1.0]])  # exponent -5000 at the far point
    density = gaussian_kde(samples, points, 0.01)
    assert density[0, 0].item() == pytest.approx(1 / math.sqrt(2 * math.pi * 1e-4))
    assert 0 <= density[0, 1].item() < 1e-37
