"""MaskAQ: the mask schedule and selection, the received-attention maps (Swin windows stitched un-shifted, pad
tokens), the similarity-entropy surrogate against its closed form, the masked alignment, masked HSAD against a
reference, the synthesizer (descent, pixel range, determinism, Q every step, mask source, q_init), refresh with
the current quantized model, the ablation switches and every family (ViT, GAP ViT, DeiT, Swin, padded Swin)."""

from __future__ import annotations

import math

import pytest
import torch
from harness_fixtures import attention_record as record
from harness_fixtures import model_context, tiny_backbone, tiny_settings
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS, CalibrationSource, ModelContext
from dfqbench.errors import UserError
from dfqbench.kit.attention import AttentionTaps
from dfqbench.kit.ranges import quantizers_ready
from dfqbench.layout import global_layout, window_layout
from dfqbench.methods.maskaq import (
    MaskAQSynthesizer,
    MaskedHSADCalibrator,
    attention_maps,
    cls_map,
    gaussian_entropy,
    informative_mask,
    kept_count,
    mask_ratio,
    masked_alignment,
    masked_hsad_loss,
    received_map,
    score_map,
    similarity_entropy_loss,
    top_count,
    top_token_weights,
)
from dfqbench.methods.mimiq import SSIM_C2, hsad_loss
from dfqbench.profiles import PROFILES, Profile
from dfqbench.quant import BitWidth, get_preset, wrap_model
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.overrides import apply_overrides, parse_set_options
from dfqbench.runner.run import run_grid
from dfqbench.store.sqlite import ResultStore
from dfqbench.zoo.models import fmnist_data_config

TINY = Profile("tiny", n_images=4, synth_batch_size=2, synth_steps=3, calib_steps=4, calib_batch_size=2, refreshes=1)


def make_context(model, profile: Profile = TINY, seed: int = 0, teacher_grad: bool = False) -> ModelContext:
    """Teacher: FP wrapped, quantizers OFF. Student: quantized (4w4a), ranges uninitialised."""
    return model_context(model, profile, seed, teacher_grad)


def padded_swin() -> torch.nn.Module:
    """20 px, patch 2: a 10x10 grid in 7x7 windows (timm pads to 14x14), then a 5x5 stage."""
    torch.manual_seed(0)
    model = SwinTransformer(img_size=20, patch_size=2, in_chans=1, num_classes=10, embed_dim=24, depths=(2, 2),
                            num_heads=(2, 4), window_size=7, mlp_ratio=2.0)
    return fmnist_data_config(model, size=20).eval()


def gap_vit() -> torch.nn.Module:
    """A ViT without special tokens (global average pooling): the received-attention map replaces the CLS query."""
    torch.manual_seed(0)
    model = VisionTransformer(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=24, depth=2,
                              num_heads=3, mlp_ratio=2.0, class_token=False, global_pool="avg")
    return fmnist_data_config(model).eval()


class CallCounter:
    def __init__(self, model: torch.nn.Module) -> None:
        self.calls = 0
        self.handle = model.register_forward_hook(self.hook)

    def hook(self, *args) -> None:
        self.calls += 1


# --- the mask ----------------------------------------------------------------------------------------------------


def test_mask_ratio_anneals_linearly_from_half_to_a_tenth():
    ratios = [mask_ratio(i, 11) for i in range(11)]
    assert ratios[0] == 0.5 and ratios[-1] == 0.1
    assert ratios[5] == pytest.approx(0.3)
    assert all(b - a == pytest.approx(-0.04) for a, b in zip(ratios, ratios[1:], strict=False))
    assert mask_ratio(0, 1) == 0.5


def test_top_and_kept_counts():
    assert top_count(49, 0.5) == 24 and top_count(196, 0.5) == 98 and top_count(196, 0.1) == 19
    assert top_count(20, mask_ratio(9, 10)) == 2           # floor(20 * 0.1), not 1.999...
    assert top_count(5, 0.1) == 1 and top_count(1, 0.5) == 1
    for k in range(1, 60):
        assert kept_count(k, 0.3) == max(1, round(0.7 * k))
    assert kept_count(24, 0.3) == 17 and kept_count(19, 0.3) == 13 and kept_count(1, 0.3) == 1
    assert kept_count(2, 0.3) == 1 and kept_count(10, 0.3) == 7 and kept_count(10, 0.0) == 10


def test_informative_mask_keeps_a_random_part_of_the_top_k():
    scores = torch.tensor([[5.0, 1, 4, 2, 3, 0, 9, 8, 7, 6], [0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
    top = informative_mask(scores, 0.5, 0.0, torch.Generator().manual_seed(0))
    assert top[0].nonzero().flatten().tolist() == [0, 6, 7, 8, 9]
    assert top[1].nonzero().flatten().tolist() == [5, 6, 7, 8, 9]
    scores = torch.randn(64, 49, generator=torch.Generator().manual_seed(1))
    k, kept = top_count(49, 0.3), kept_count(top_count(49, 0.3), 0.3)
    full = informative_mask(scores, 0.3, 0.0, torch.Generator())
    dropped = informative_mask(scores, 0.3, 0.3, torch.Generator().manual_seed(2))
    assert (full.sum(1) == k).all() and (dropped.sum(1) == kept).all()
    assert (dropped <= full).all()                                     # a subset of the top-k
    assert len({tuple(row.nonzero().flatten().tolist()) for row in dropped}) > 1
    again = informative_mask(scores, 0.3, 0.3, torch.Generator().manual_seed(2))
    assert torch.equal(dropped, again)
    other = informative_mask(scores, 0.3, 0.3, torch.Generator().manual_seed(3))
    assert not torch.equal(dropped, other)


# --- attention maps ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid, window, shift", [((4, 4), (2, 2), (1, 1)), ((5, 5), (3, 3), (1, 1))])
def test_received_map_is_stitched_back_unshifted_and_skips_pad_tokens(grid, window, shift):
    """Each token's received attention is ``mean over queries and heads``; it lands on its un-shifted grid cell."""
    layout = window_layout(grid, window, shift)
    batch, heads, n = 2, 3, window[0] * window[1]
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(batch * layout.num_windows, heads, n, n, generator=gen)
    pad = (layout.positions < 0).repeat(batch, 1)
    probs = probs.masked_fill(pad[:, None, :, None], 1e3)              # pad *queries*: must not count
    got = received_map(record(layout, probs=probs))
    expected = torch.zeros(batch, grid[0] * grid[1])
    for row in range(probs.shape[0]):
        b, w = divmod(row, layout.num_windows)
        positions = layout.positions[w]
        valid = (positions >= 0).nonzero().flatten()
        for key in valid:
            expected[b, positions[key]] = probs[row, :, valid, key].mean()
    assert got.shape == (batch, *grid)
    torch.testing.assert_close(got, expected.view(batch, *grid))


def test_cls_map_is_the_unscaled_head_mean_of_the_cls_row():
    layout = global_layout(("cls", "dist"), (2, 3))
    logits = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    got = cls_map(record(layout, logits=logits), unscale=4.0)
    torch.testing.assert_close(got, (logits[:, :, 0, 2:].mean(1) * 4.0).view(2, 2, 3))


def test_score_map_upsamples_coarse_stages_by_nearest_neighbour():
    fine = torch.arange(16.0).view(1, 4, 4)
    coarse = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    expected = (fine + coarse.repeat_interleave(2, 1).repeat_interleave(2, 2)) / 2
    torch.testing.assert_close(score_map([fine, coarse]), expected)
    torch.testing.assert_close(score_map([coarse, fine]), expected)


def test_attention_maps_per_family(zoo_model):
    """ViT/DeiT: the CLS row (7x7); Swin: received attention on each stage's grid (14x14, then 7x7)."""
    for name, grids in [("fmnist_vit", [(7, 7)] * 6), ("fmnist_deit", [(7, 7)] * 6),
                        ("fmnist_swin", [(14, 14)] * 2 + [(7, 7)] * 2)]:
        model = wrap_model(zoo_model(name), get_preset("standard"), "4w4a")
        with torch.no_grad(), AttentionTaps(model) as taps:
            model(torch.randn(2, 1, 28, 28))
        unscale = {r.name: 1 / model.get_submodule(r.name).scale for r in taps.records}
        maps = attention_maps(taps.records, unscale)
        assert [tuple(m.shape[-2:]) for m in maps] == grids, name
        if name == "fmnist_swin":  # the attention a window's keys receive sums to 1 (mean of rows summing to 1)
            torch.testing.assert_close(maps[0].sum((1, 2)), torch.full((2,), 4.0))  # 4 windows
            torch.testing.assert_close(maps[-1].sum((1, 2)), torch.full((2,), 1.0))


# --- L_MAA -------------------------------------------------------------------------------------------------------


def test_masked_alignment_is_zero_when_the_models_agree_and_grows_with_their_difference():
    gen = torch.Generator().manual_seed(0)
    fp = [torch.randn(2, 4, 4, generator=gen), torch.randn(2, 2, 2, generator=gen)]
    mask = (torch.rand(2, 4, 4, generator=gen) < 0.3).float()
    mask[0, 0, 0] = 1.0
    assert masked_alignment(fp, fp, mask).item() == 0.0
    delta = [torch.randn_like(m) for m in fp]
    values = [masked_alignment(fp, [m + eps * d for m, d in zip(fp, delta, strict=True)], mask).item()
              for eps in (0.1, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[0] > 0
    pooled = torch.nn.functional.max_pool2d(mask.unsqueeze(1), 2).squeeze(1)
    expected = ((delta[0].abs() * mask).sum() / mask.sum() + (delta[1].abs() * pooled).sum() / pooled.sum()) / 2
    torch.testing.assert_close(masked_alignment(fp, [m + d for m, d in zip(fp, delta, strict=True)], mask), expected)
    outside = [fp[0] + 100 * (1 - mask), fp[1] + 100 * (1 - pooled)]  # differences outside the mask do not count
    assert masked_alignment(fp, outside, mask).item() == 0.0


# --- L_SE --------------------------------------------------------------------------------------------------------


def test_gaussian_entropy_closed_form():
    for v in (0.01, 0.5, 2.0):
        assert gaussian_entropy(torch.tensor(v)).item() == pytest.approx(0.5 * math.log(2 * math.pi * math.e * v))


def identity_logits(layout, batch: int, heads: int = 2) -> torch.Tensor:
    """Head-averaged patch-to-patch logits = identity (rows orthonormal: the similarity matrix is I)."""
    n = layout.num_tokens
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(batch * layout.num_windows, heads, n, n, generator=gen)
    valid = layout.patch_mask.repeat(batch, 1)
    pairs = valid[:, None, :, None] & valid[:, None, None, :]
    eye = torch.eye(n).expand_as(logits)
    return torch.where(pairs, 3.0 * eye, logits)


@pytest.mark.parametrize("grid, rows", [((3, 3), 64), ((10, 10), 64), ((4, 4), 8)])
def test_similarity_entropy_against_the_closed_form(grid, rows):
    """Orthonormal rows: the m x m cosine matrix is I, whose entries (diagonal included) have unbiased variance
    1 / (m + 1); ``L_SE = -0.5 (log(2 pi e) + log(1 / (m + 1) + 1e-8))``, m = min(64, P) rows."""
    layout = global_layout(("cls",), grid)
    logits = identity_logits(layout, batch=2)
    m = min(rows, grid[0] * grid[1])
    expected = -0.5 * (math.log(2 * math.pi * math.e) + math.log(1 / (m + 1) + 1e-8))
    got = similarity_entropy_loss([record(layout, logits=logits)], rows, torch.Generator().manual_seed(0))
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_similarity_entropy_per_window_without_pad_tokens():
    layout = window_layout((5, 5), (3, 3), (1, 1))
    logits = identity_logits(layout, batch=2)
    logits = logits.masked_fill(~layout.patch_mask.repeat(2, 1)[:, None, None, :], 50.0)  # pad keys: ignored
    valid = layout.patch_mask.sum(1).repeat(2).double()
    expected = -(0.5 * (math.log(2 * math.pi * math.e) + torch.log(1 / (valid + 1) + 1e-8))).mean()
    got = similarity_entropy_loss([record(layout, logits=logits)], 64, torch.Generator())
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_similarity_entropy_leaves_out_windows_with_one_real_token():
    """A 4x4 grid in 3x3 windows: the corner window holds one real token (no pair to spread; its variance was
    0/0 = NaN). It is left out; the others give the closed form."""
    layout = window_layout((4, 4), (3, 3), (0, 0))
    valid = layout.patch_mask.sum(1)
    assert 1 in valid.tolist()
    logits = identity_logits(layout, batch=2).requires_grad_()
    got = similarity_entropy_loss([record(layout, logits=logits)], 64, torch.Generator())
    usable = valid[valid >= 2].repeat(2).double()
    expected = -(0.5 * (math.log(2 * math.pi * math.e) + torch.log(1 / (usable + 1) + 1e-8))).mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    (grad,) = torch.autograd.grad(got, logits)
    assert torch.isfinite(grad).all()


# --- masked HSAD -------------------------------------------------------------------------------------------------


def reference_masked_hsad(teacher, student, layout, ratio=0.1, weight=2.0):
    per_layer = []
    for t, s in zip(teacher, student, strict=True):
        windows = layout.num_windows
        images = t.shape[0] // windows
        weights = torch.zeros(t.shape[0], t.shape[2], dtype=torch.float64)
        for b in range(images):
            tokens = [(b * windows + w, i) for w in range(windows) for i in range(t.shape[2])
                      if layout.positions[w, i] >= 0]
            energy = torch.stack([t[row, :, i, :].abs().mean() for row, i in tokens])
            top = set(energy.argsort(descending=True)[:max(1, math.floor(ratio * len(tokens)))].tolist())
            for j, (row, i) in enumerate(tokens):
                weights[row, i] = weight if j in top else 1.0
        values = []
        for row in range(t.shape[0]):
            w = weights[row]
            for h in range(t.shape[1]):
                for c in range(t.shape[3]):
                    u, v = t[row, h, :, c].double(), s[row, h, :, c].double()
                    mu, mv = (w * u).sum() / w.sum(), (w * v).sum() / w.sum()
                    var_u, var_v = (w * (u - mu) ** 2).sum() / w.sum(), (w * (v - mv) ** 2).sum() / w.sum()
                    cov = (w * (u - mu) * (v - mv)).sum() / w.sum()
                    values.append((2 * cov + SSIM_C2) / (var_u + var_v + SSIM_C2))
        per_layer.append(torch.stack(values).mean())
    return 1 - torch.stack(per_layer).mean()


@pytest.mark.parametrize("kind", ["deit", "swin-pad"])
def test_masked_hsad_matches_reference(kind):
    gen = torch.Generator().manual_seed(4)
    if kind == "deit":
        layout = global_layout(("cls", "dist"), (5, 4))
        shape = (3, 2, 22, 3)
    else:
        layout = window_layout((5, 5), (3, 3), (1, 1))
        shape = (2 * layout.num_windows, 2, 9, 3)
    teacher = [torch.randn(*shape, generator=gen) for _ in range(2)]
    student = [t + 0.7 * torch.randn(*shape, generator=gen) for t in teacher]
    t_recs = [record(layout, outputs=t) for t in teacher]
    s_recs = [record(layout, outputs=s) for s in student]
    got = MaskedHSADCalibrator().distillation(t_recs, s_recs)
    torch.testing.assert_close(got, masked_hsad_loss(t_recs, s_recs, 0.1, 2.0))
    torch.testing.assert_close(got.double(), reference_masked_hsad(teacher, student, layout), rtol=1e-5, atol=1e-6)
    weights = top_token_weights(t_recs[0], 0.1, 2.0).view(shape[0] // layout.num_windows, -1)
    patches = int(layout.patch_mask.sum())
    assert ((weights == 2).sum(1) == max(1, math.floor(0.1 * patches))).all()
    assert ((weights == 0).sum(1) == layout.num_windows * layout.num_tokens - patches).all()
    plain = MaskedHSADCalibrator(MaskedHSADCalibrator.Config(mask=False))
    torch.testing.assert_close(plain.distillation(t_recs, s_recs), hsad_loss(t_recs, s_recs))
    assert not torch.allclose(got, hsad_loss(t_recs, s_recs))


# --- the synthesizer ---------------------------------------------------------------------------------------------


def total(synth, ctx, state) -> tuple[float, dict]:
    with torch.no_grad():
        terms = {k: v.item() for k, v in synth.losses(ctx, state, 0, 2).items()}
    return sum(terms.values()), terms


def test_synthesis_lowers_its_objective_stays_in_range_and_touches_only_pixels(zoo_model):
    ctx = make_context(zoo_model("fmnist_vit"), teacher_grad=True)
    synth = MaskAQSynthesizer(MaskAQSynthesizer.Config(augment=False, mask_drop=0.0))
    state = synth.start_batch(ctx, 4)
    before, terms_before = total(synth, ctx, state)
    assert set(terms_before) == {"ssim", "one_hot", "tv", "se", "maa"}
    steps = 30
    for i in range(steps):
        synth.step(ctx, state, i, steps)
    after, terms_after = total(synth, ctx, state)
    assert after < before - 0.1 * abs(before), (terms_before, terms_after)
    low, high = ctx.pixel_bounds()
    x = state.images.detach()
    assert (x >= low - 1e-6).all() and (x <= high + 1e-6).all()
    assert all(p.grad is None for p in ctx.teacher.parameters())
    assert all(p.grad is None for p in ctx.student.parameters())
    assert all(p.requires_grad for p in ctx.teacher.parameters())


def test_both_models_run_every_step_and_the_mask_follows_the_schedule(zoo_model):
    ctx = make_context(zoo_model("fmnist_deit"))
    synth = MaskAQSynthesizer()
    fp_calls, q_calls = CallCounter(ctx.teacher), CallCounter(ctx.student)
    state = synth.start_batch(ctx, 2)
    steps = 5
    for i in range(steps):
        synth.step(ctx, state, i, steps)
        mask = state.extra["mask"]
        assert mask.shape == (2, 7, 7)
        assert (mask.sum((1, 2)) == kept_count(top_count(49, mask_ratio(i, steps)), 0.3)).all()
    assert fp_calls.calls == steps and q_calls.calls == steps
    assert quantizers_ready(ctx.student)                              # q_init = noise: Q set itself on step 0


def test_mask_source_scores_with_the_chosen_model(zoo_model):
    ctx = make_context(zoo_model("fmnist_vit"))
    with torch.no_grad():
        ctx.student(torch.randn(2, 1, 28, 28))
    masks, images = {}, torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1)).clamp(-0.8, 2.0)
    for source in ("fp", "q"):
        synth = MaskAQSynthesizer(MaskAQSynthesizer.Config(augment=False, mask_drop=0.0, mask_source=source))
        state = synth.start_batch(ctx, 2)
        with torch.no_grad():
            state.images.copy_(images)
        synth.losses(ctx, state, 0, 4)
        masks[source] = state.extra["mask"].flatten(1)
    expected = {}
    for source, model in (("fp", ctx.teacher), ("q", ctx.student)):
        with torch.no_grad(), AttentionTaps(model) as taps:
            model(images)
        unscale = {r.name: 1 / model.get_submodule(r.name).scale for r in taps.records}
        scores = score_map(attention_maps(taps.records, unscale)).flatten(1)
        expected[source] = torch.zeros_like(scores).scatter_(1, scores.topk(24, dim=-1).indices, 1.0)
    assert not torch.equal(expected["fp"], expected["q"])             # the two sources disagree here
    assert torch.equal(masks["fp"], expected["fp"]) and torch.equal(masks["q"], expected["q"])


def test_q_init_synthetic_initialises_q_on_the_first_synthetic_batch(zoo_model):
    ctx = make_context(zoo_model("fmnist_vit"))
    synth = MaskAQSynthesizer(MaskAQSynthesizer.Config(q_init="synthetic"))
    q_calls = CallCounter(ctx.student)
    state = synth.start_batch(ctx, 2)
    assert not state.extra["use_q"]
    for i in range(3):
        synth.step(ctx, state, i, 3)
    assert q_calls.calls == 0 and not quantizers_ready(ctx.student) and "maa" not in synth.losses(ctx, state, 0, 3)
    synth.finish_batch(ctx, state)
    assert q_calls.calls == 1 and quantizers_ready(ctx.student)       # one forward on the final first batch
    state = synth.start_batch(ctx, 2)
    synth.step(ctx, state, 0, 3)
    assert state.extra["use_q"] and q_calls.calls == 2 and "maa" in synth.losses(ctx, state, 0, 3)


def test_synthesis_is_deterministic_for_a_seed(zoo_model):
    model = zoo_model("fmnist_swin")
    synth = SYNTHESIZERS.get("maskaq")()
    a = synth.synthesize(make_context(model, seed=3))
    b = synth.synthesize(make_context(model, seed=3))
    c = synth.synthesize(make_context(model, seed=4))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    low, high = make_context(model).pixel_bounds()
    assert (a.images >= low - 1e-6).all() and (a.images <= high + 1e-6).all()


# --- refresh -----------------------------------------------------------------------------------------------------


def test_refresh_replaces_the_set_using_the_current_quantized_model(zoo_model):
    model = zoo_model("fmnist_vit")
    synth = SYNTHESIZERS.get("maskaq")()
    assert synth.wants_refresh and synth.needs_quantized_model
    ctx = make_context(model)
    initial = synth.synthesize(ctx)
    source = CalibrationSource(synth, ctx, initial)
    assert source.refresh_points(100) == {15, 30, 45, 60, 75, 90}   # every 30 of 200 epochs, whatever the profile
    q_calls = CallCounter(ctx.student)
    source.refresh()
    assert source.refreshes_done == 1 and q_calls.calls == TINY.n_images // TINY.synth_batch_size * TINY.synth_steps
    assert source.images.shape == initial.images.shape and not torch.equal(source.images, initial.images)
    assert all(p.grad is None for p in ctx.student.parameters())

    def refreshed(perturb: float) -> torch.Tensor:
        ctx = make_context(model, seed=9)
        with torch.no_grad():
            ctx.student(initial.images)                                 # a calibrated Q: initialised ranges
            ctx.student.blocks[0].attn.qkv.weight.add_(perturb)
        return synth.refresh(ctx, initial).images

    assert torch.equal(refreshed(0.0), refreshed(0.0))
    assert not torch.equal(refreshed(0.0), refreshed(0.05))             # the set depends on the current Q
    off = SYNTHESIZERS.get("maskaq")(MaskAQSynthesizer.Config(refresh=False))
    assert not off.wants_refresh and CalibrationSource(off, ctx, initial).refresh_points(10) == set()


def test_refresh_schedule_every_fraction_or_the_profiles():
    def fractions(**changes):
        return MaskAQSynthesizer(MaskAQSynthesizer.Config(**changes)).refresh_fractions(PROFILES["bench"])

    assert fractions() == pytest.approx((0.15, 0.30, 0.45, 0.60, 0.75, 0.90))
    assert fractions(refresh_every=0.25) == pytest.approx((0.25, 0.5, 0.75))
    assert fractions(refresh_every=0.5) == pytest.approx((0.5,))
    assert fractions(refresh_every=0.0) == pytest.approx((1 / 3, 2 / 3))          # bench: refreshes = 2
    assert fractions(refresh=False) == ()
    with pytest.raises(ValueError, match="refresh_every must be in"):
        MaskAQSynthesizer.Config(refresh_every=1.0)


# --- the method: switches, families, grid ------------------------------------------------------------------------


ABLATIONS = {"se": ["synth.se=false"], "maa": ["synth.maa=false"], "mask": ["calib.mask=false"],
             "refresh": ["synth.refresh=false"]}


def test_method_row_and_ablation_switches(zoo_model):
    method = METHODS.get("maskaq")
    assert (method.synthesizer, method.calibrator) == ("maskaq", "masked-hsad")
    synth_cls, calib_cls = SYNTHESIZERS.get("maskaq"), CALIBRATORS.get("masked-hsad")
    raw = parse_set_options(["synth.se=false", "synth.maa=false", "synth.refresh=false", "calib.mask=false",
                             "synth.mask_source=q", "synth.q_init=synthetic"])
    synth_cfg = apply_overrides(synth_cls.Config, {}, raw["synth"], "synth", "maskaq")
    calib_cfg = apply_overrides(calib_cls.Config, {}, raw["calib"], "calib", "masked-hsad")
    assert (synth_cfg.se, synth_cfg.maa, synth_cfg.refresh) == (False, False, False)
    assert (synth_cfg.mask_source, synth_cfg.q_init, calib_cfg.mask, calib_cfg.gamma) == ("q", "synthetic", False, 10)
    for bad in ({"mask_source": "int8"}, {"q_init": "zeros"}):
        with pytest.raises(UserError, match="invalid synth config"):
            apply_overrides(synth_cls.Config, {}, bad, "synth", "maskaq")
    ctx = make_context(zoo_model("fmnist_vit"))
    q_calls = CallCounter(ctx.student)
    for switches, missing in [({"se": False}, {"se"}), ({"maa": False}, {"maa"}), ({"ssim": False}, {"ssim"})]:
        synth = synth_cls(synth_cls.Config(**switches))
        calls = q_calls.calls
        terms = synth.losses(ctx, synth.start_batch(ctx, 2), 0, 2)
        assert set(terms) == {"ssim", "one_hot", "tv", "se", "maa"} - missing
        assert (q_calls.calls > calls) == ("maa" not in missing)


@pytest.mark.parametrize("name", ["fmnist_vit", "fmnist_deit", "fmnist_swin", "padded_swin", "gap_vit"])
def test_maskaq_and_masked_hsad_on_every_family(name, zoo_model):
    model = {"padded_swin": padded_swin, "gap_vit": gap_vit}.get(name, lambda: zoo_model(name))()
    ctx = make_context(model)
    synth, calib = SYNTHESIZERS.get("maskaq")(), CALIBRATORS.get("masked-hsad")()
    synthetic = synth.synthesize(ctx)
    size = ctx.input_size
    assert synthetic.images.shape == (4, *size) and torch.isfinite(synthetic.images).all()
    source = CalibrationSource(synth, ctx, synthetic)
    before = {k: v.clone() for k, v in ctx.student.state_dict().items()}
    calib.calibrate(ctx, source)
    assert source.refresh_points(TINY.calib_steps) == {1, 2, 3}  # 15 %, ..., 90 % of 4 steps, rounded
    assert source.refreshes_done == 3 and not torch.equal(source.images, synthetic.images)
    changed = [k for k, v in ctx.student.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.endswith("weight") for k in changed)
    with torch.no_grad():
        assert torch.isfinite(ctx.student(source.images)).all()


def test_ablation_grid_runs_from_the_runner(tmp_path):
    """``maskaq`` and its Table-2 ablations as variant rows of one grid (tiny backbone, smoke profile)."""
    methods = [resolve_method("maskaq", {})] + [
        resolve_method("maskaq", parse_set_options(items)) for items in ABLATIONS.values()
    ] + [resolve_method("mimiq", {})]
    cells = expand_grid(methods, ["tiny_vit"], [BitWidth(4, 4)], [0])
    with ResultStore(tmp_path / "store.sqlite") as db:
        report = run_grid(cells, tiny_settings(tmp_path), db, load=lambda name: tiny_backbone())
    assert not report.failed, [row["error"] for row in report.failed]
    labels = sorted(row["method"] for row in report.done)
    assert labels == sorted(["maskaq", "maskaq[se=false]", "maskaq[maa=false]", "maskaq[mask=false]",
                             "maskaq[refresh=false]", "mimiq"])
    assert all(0 <= row["top1"] <= 100 for row in report.done)
