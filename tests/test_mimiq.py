"""MimiQ: the inter-head SSIM (against slow direct references, ViT/DeiT/Swin layouts, pad tokens), its memory
on a DeiT-S-sized input, HSAD against a reference, the synthesizer (descent, pixel range, determinism, no
parameter gradients) and the method on the three zoo families."""

from __future__ import annotations

import dataclasses

import pytest
import timm
import torch
import torch.nn.functional as F
from harness_fixtures import attention_record as record
from harness_fixtures import model_context
from memory_helpers import LiveTensors

from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS, CalibrationSource, ModelContext
from dfqbench.errors import UserError
from dfqbench.kit.attention import AttentionRecord, AttentionTaps
from dfqbench.kit.kd_loss import logit_kd
from dfqbench.layout import global_layout, window_layout
from dfqbench.methods.mimiq import (
    SSIM_C1,
    SSIM_C2,
    HSADCalibrator,
    MimiQSynthesizer,
    RowMoments,
    hsad_loss,
    inter_head_ssim,
    inter_head_ssim_loss,
    normalised_row_moments,
    patch_logits,
)
from dfqbench.profiles import Profile
from dfqbench.quant import get_preset, wrap_model
from dfqbench.runner.overrides import apply_overrides, parse_set_options

TINY = Profile("tiny", n_images=4, synth_batch_size=2, synth_steps=3, calib_steps=3, calib_batch_size=2, refreshes=1)


def make_context(model, profile: Profile = TINY, seed: int = 0, teacher_grad: bool = False) -> ModelContext:
    """Teacher: FP wrapped, quantizers OFF. Student: quantized (4w4a), ranges uninitialised."""
    return model_context(model, profile, seed, teacher_grad)


# --- slow direct references --------------------------------------------------------------------------------------


def direct_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM of two 1-D signals with one window over the whole signal, population moments."""
    mx, my = x.mean(), y.mean()
    vx, vy = ((x - mx) ** 2).mean(), ((y - my) ** 2).mean()
    cov = ((x - mx) * (y - my)).mean()
    return ((2 * mx * my + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mx ** 2 + my ** 2 + SSIM_C1) * (vx + vy + SSIM_C2))


def minmax(row: torch.Tensor) -> torch.Tensor:
    return (row - row.min()) / (row.max() - row.min() + 1e-8)


def reference_layer_loss(logits: torch.Tensor, layout) -> torch.Tensor:
    """mean over (image/window, patch query, h, h') of 1 - SSIM^2, by loops, pad and special tokens skipped."""
    windows = layout.num_windows
    values = []
    for row in range(logits.shape[0]):
        valid = (layout.positions[row % windows] >= 0).nonzero().squeeze(1).tolist()
        for q in valid:
            for h in range(logits.shape[1]):
                for g in range(logits.shape[1]):
                    a = minmax(logits[row, h, q, valid].double())
                    b = minmax(logits[row, g, q, valid].double())
                    values.append(1 - direct_ssim(a, b) ** 2)
    return torch.stack(values).mean()


def reference_hsad(teacher: list[torch.Tensor], student: list[torch.Tensor], layout) -> torch.Tensor:
    per_layer = []
    for t, s in zip(teacher, student, strict=True):
        values = []
        for row in range(t.shape[0]):
            valid = (layout.positions[row % layout.num_windows] >= 0).nonzero().squeeze(1)
            for h in range(t.shape[1]):
                for c in range(t.shape[3]):
                    u, v = t[row, h, valid, c].double(), s[row, h, valid, c].double()
                    cov = ((u - u.mean()) * (v - v.mean())).mean()
                    values.append((2 * cov + SSIM_C2) / (u.var(unbiased=False) + v.var(unbiased=False) + SSIM_C2))
        per_layer.append(torch.stack(values).mean())
    return 1 - torch.stack(per_layer).mean()


# --- L_SSIM ------------------------------------------------------------------------------------------------------


def test_global_window_ssim_is_the_whole_signal_window():
    """The SSIM of one pair of heads equals SSIM with a uniform window spanning the whole row (avg_pool1d)."""
    gen = torch.Generator().manual_seed(1)
    rows = torch.randn(1, 2, 1, 17, generator=gen, dtype=torch.float64) * 3 + 1   # (B', H=2, Q=1, K)
    ssim = inter_head_ssim(rows)
    x, y = minmax(rows[0, 0, 0]), minmax(rows[0, 1, 0])

    def pool(t):
        return F.avg_pool1d(t.view(1, 1, -1), kernel_size=t.numel()).squeeze()

    mx, my = pool(x), pool(y)
    vx, vy, cxy = pool(x * x) - mx ** 2, pool(y * y) - my ** 2, pool(x * y) - mx * my
    windowed = ((2 * mx * my + SSIM_C1) * (2 * cxy + SSIM_C2)) / ((mx ** 2 + my ** 2 + SSIM_C1) * (vx + vy + SSIM_C2))
    torch.testing.assert_close(ssim[0, 0, 0, 1], windowed)
    torch.testing.assert_close(ssim[0, 0, 1, 0], windowed)
    torch.testing.assert_close(ssim[0, 0, 0, 1], direct_ssim(x, y))
    torch.testing.assert_close(torch.diagonal(ssim[0, 0]), torch.ones(2, dtype=torch.float64))


def test_ssim_of_identical_and_constant_heads():
    row = torch.randn(1, 1, 1, 9)
    identical = torch.cat([row, row * 2 + 5, row], dim=1)              # min-max normalisation removes the affine map
    torch.testing.assert_close(inter_head_ssim(identical), torch.ones(1, 1, 3, 3), atol=1e-5, rtol=0)
    for value in (3.0, 0.1, 7.3, -41.7):  # not all exact in float32: the mean must still be taken after the shift
        constant = torch.cat([torch.full((1, 1, 1, 9), value), row], dim=1)
        ssim = inter_head_ssim(constant)
        expected = direct_ssim(torch.zeros(9), minmax(row.flatten()))  # a constant row normalises to 0
        torch.testing.assert_close(ssim[0, 0, 0, 1], expected)
        assert torch.isfinite(ssim).all()
        # the normalised mean of a constant row is exactly 0 (a mean taken before the shift is off by an ulp of
        # the value, which the 1e-8 denominator turns into a mean of order 10-100)
        flat = torch.full((1, 2, 3, 49), value)
        assert torch.equal(normalised_row_moments(flat)[0], torch.zeros(1, 3, 2))


@pytest.mark.parametrize("special", [("cls",), ("cls", "dist")])
def test_ssim_loss_matches_direct_reference_global(special):
    layout = global_layout(special, (3, 3))
    gen = torch.Generator().manual_seed(0)
    n = 9 + len(special)
    records = [record(layout, torch.randn(2, 3, n, n, generator=gen) * s) for s in (1.0, 4.0)]
    expected = torch.stack([reference_layer_loss(r.logits, layout) for r in records]).mean()
    torch.testing.assert_close(inter_head_ssim_loss(records).double(), expected, rtol=1e-5, atol=1e-6)
    rows, mask = patch_logits(records[0])
    assert rows.shape == (2, 3, 9, 9) and mask is None
    assert rows.data_ptr() == records[0].logits[:, :, len(special):, len(special):].data_ptr()  # a view


@pytest.mark.parametrize("grid, window, shift", [((6, 6), (3, 3), (1, 1)), ((5, 5), (3, 3), (1, 1)),
                                                 ((4, 5), (3, 3), (0, 0))])
def test_ssim_loss_matches_direct_reference_windows_with_pad(grid, window, shift):
    """Swin: per window, patch queries over the window's keys; timm's pad tokens excluded from every moment."""
    layout = window_layout(grid, window, shift)
    gen = torch.Generator().manual_seed(2)
    n = window[0] * window[1]
    logits = torch.randn(2 * layout.num_windows, 2, n, n, generator=gen)
    rec = record(layout, logits)
    got = inter_head_ssim_loss([rec]).double()
    torch.testing.assert_close(got, reference_layer_loss(logits, layout), rtol=1e-5, atol=1e-6)
    if layout.has_pad:  # a pad key with an extreme logit must not move the min-max normalisation
        spiked = logits.clone()
        pad = (layout.positions < 0).repeat(2, 1)
        spiked.masked_fill_(pad[:, None, None, :], 1e4)
        torch.testing.assert_close(inter_head_ssim_loss([record(layout, spiked)]).double(), got, rtol=1e-5, atol=1e-6)


def naive_ssim_loss(records: list[AttentionRecord]) -> torch.Tensor:
    """The materialised form: a (B, Q, H, H, K) tensor per block."""
    per_layer = []
    for rec in records:
        rows, _ = patch_logits(rec)
        x = (rows - rows.amin(-1, keepdim=True)) / (rows.amax(-1, keepdim=True) - rows.amin(-1, keepdim=True) + 1e-8)
        a, b = x.transpose(1, 2).unsqueeze(3), x.transpose(1, 2).unsqueeze(2)
        da, db = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
        cov, va, vb = (da * db).mean(-1), da.square().mean(-1), db.square().mean(-1)
        ma, mb = a.mean(-1), b.mean(-1)
        ssim = (2 * ma * mb + SSIM_C1) * (2 * cov + SSIM_C2) / ((ma ** 2 + mb ** 2 + SSIM_C1) * (va + vb + SSIM_C2))
        per_layer.append((1 - ssim.square()).mean())
    return torch.stack(per_layer).mean()


def loss_memory(loss_fn, records: list[AttentionRecord]) -> LiveTensors:
    leaves = [r.logits for r in records]
    with LiveTensors({t.untyped_storage().data_ptr() for t in leaves}) as live:
        torch.autograd.grad(loss_fn(records), leaves)
    return live


def test_ssim_memory_stays_at_the_size_of_the_attention_maps():
    """timm deit_small_patch16_224 (random init, 12 blocks, 6 heads, 197 tokens), batch 2, CPU: the loss and its
    backward never hold a tensor larger than one block's attention map, and at most 3x all attention maps at once
    (the logits' gradients alone are 1x). The naive (B, Q, H, H, K) form breaks both bounds."""
    torch.manual_seed(0)
    model = wrap_model(timm.create_model("deit_small_patch16_224", pretrained=False).eval(), get_preset("standard"),
                       "4w4a").eval().requires_grad_(False)
    with torch.no_grad(), AttentionTaps(model, keep=("logits",), detach=True) as taps:
        model(torch.randn(2, 3, 224, 224))
    records = [dataclasses.replace(r, logits=r.logits.clone().requires_grad_()) for r in taps.records]
    one_map = records[0].logits.numel() * 4
    all_maps = one_map * len(records)
    assert records[0].logits.shape == (2, 6, 197, 197) and len(records) == 12
    ours = loss_memory(inter_head_ssim_loss, records)
    naive = loss_memory(naive_ssim_loss, records)
    print(f"\nL_SSIM on deit_small, batch 2: attention maps {all_maps / 2**20:.1f} MiB; peak {ours.peak / 2**20:.1f} "
          f"MiB, largest tensor {ours.largest / 2**20:.2f} MiB (naive: peak {naive.peak / 2**20:.1f} MiB, "
          f"largest {naive.largest / 2**20:.2f} MiB)")
    assert ours.largest <= one_map
    assert ours.peak <= 3 * all_maps
    assert naive.largest > one_map and naive.peak > 3 * all_maps    # the measure really catches the naive form
    torch.testing.assert_close(inter_head_ssim_loss(records), naive_ssim_loss(records), rtol=1e-4, atol=1e-6)


# --- L_HSAD ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["deit", "swin-pad"])
def test_hsad_matches_reference(kind):
    gen = torch.Generator().manual_seed(3)
    if kind == "deit":
        layout = global_layout(("cls", "dist"), (3, 3))
        shape = (2, 3, 11, 4)
    else:
        layout = window_layout((5, 5), (3, 3), (1, 1))
        shape = (2 * layout.num_windows, 2, 9, 4)
    teacher = [torch.randn(*shape, generator=gen) for _ in range(2)]
    student = [t + 0.5 * torch.randn(*shape, generator=gen) for t in teacher]
    got = hsad_loss([record(layout, outputs=t) for t in teacher], [record(layout, outputs=s) for s in student])
    torch.testing.assert_close(got.double(), reference_hsad(teacher, student, layout), rtol=1e-5, atol=1e-6)
    same = hsad_loss([record(layout, outputs=t) for t in teacher], [record(layout, outputs=t) for t in teacher])
    assert abs(same.item()) < 1e-6


def test_hsad_calibrator_loss_is_kd_plus_gamma_hsad(zoo_model):
    ctx = make_context(zoo_model("fmnist_deit"))
    images = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ctx.student(images)  # initialise the ranges
    calib = HSADCalibrator(HSADCalibrator.Config(gamma=3.0))
    with torch.no_grad():
        with AttentionTaps(ctx.teacher, keep=("outputs",)) as t:
            zt = ctx.teacher(images)
        with AttentionTaps(ctx.student, keep=("outputs",)) as s:
            zs = ctx.student(images)
        expected = logit_kd(zs, zt) + 3.0 * hsad_loss(t.records, s.records)
        torch.testing.assert_close(calib.loss(ctx, images), expected)
        plain = HSADCalibrator(HSADCalibrator.Config(hsad=False)).loss(ctx, images)
        torch.testing.assert_close(plain, logit_kd(zs, zt))


# --- the synthesizer ---------------------------------------------------------------------------------------------


def objective(synth, ctx, state) -> float:
    with torch.no_grad():
        return sum(t.item() for t in synth.losses(ctx, state, 0, 1).values())


def test_synthesis_lowers_its_objective_stays_in_range_and_touches_only_pixels(zoo_model):
    ctx = make_context(zoo_model("fmnist_vit"), teacher_grad=True)
    synth = MimiQSynthesizer(MimiQSynthesizer.Config(augment=False))
    state = synth.start_batch(ctx, 4)
    before = objective(synth, ctx, state)
    terms_before = {k: v.item() for k, v in synth.losses(ctx, state, 0, 1).items()}
    steps = 30
    for i in range(steps):
        synth.step(ctx, state, i, steps)
    after = objective(synth, ctx, state)
    terms_after = {k: v.item() for k, v in synth.losses(ctx, state, 0, 1).items()}
    assert set(terms_before) == {"ssim", "one_hot", "tv"}
    assert after < 0.8 * before, (terms_before, terms_after)
    assert terms_after["ssim"] < terms_before["ssim"]
    low, high = ctx.pixel_bounds()
    x = state.images.detach()
    assert (x >= low - 1e-6).all() and (x <= high + 1e-6).all()
    assert all(p.grad is None for p in ctx.teacher.parameters())
    assert all(p.grad is None for p in ctx.student.parameters())
    assert all(p.requires_grad for p in ctx.teacher.parameters())


def test_synthesis_is_deterministic_for_a_seed(zoo_model):
    model = zoo_model("fmnist_swin")
    synth = SYNTHESIZERS.get("mimiq")()
    a = synth.synthesize(make_context(model, seed=5))
    b = synth.synthesize(make_context(model, seed=5))
    c = synth.synthesize(make_context(model, seed=6))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert a.images.shape == (4, 1, 28, 28) and a.labels.shape == (4,)
    low, high = make_context(model).pixel_bounds()
    assert (a.images >= low - 1e-6).all() and (a.images <= high + 1e-6).all()


def test_lr_follows_the_cosine_schedule(zoo_model):
    ctx = make_context(zoo_model("fmnist_vit"))
    synth = MimiQSynthesizer()
    state = synth.start_batch(ctx, 2)
    seen = []
    for i in range(4):
        synth.step(ctx, state, i, 4)
        seen.append(state.optimizer.param_groups[0]["lr"])
    assert seen[0] == pytest.approx(0.1)
    assert seen[2] == pytest.approx(1e-3 + (0.1 - 1e-3) * 0.5)
    assert seen == sorted(seen, reverse=True)
    group = state.optimizer.param_groups[0]
    assert isinstance(state.optimizer, torch.optim.AdamW)
    assert group["betas"] == (0.9, 0.999) and group["weight_decay"] == 1e-6


# --- the method on the three families ----------------------------------------------------------------------------


def test_method_row_and_config_switches():
    method = METHODS.get("mimiq")
    assert (method.synthesizer, method.calibrator) == ("mimiq", "hsad")
    raw = parse_set_options(["synth.ssim=false", "synth.betas=0.5:0.9", "calib.gamma=5", "calib.hsad=off"])
    synth_cfg = apply_overrides(SYNTHESIZERS.get("mimiq").Config, {}, raw["synth"], "synth", "mimiq")
    calib_cfg = apply_overrides(CALIBRATORS.get("hsad").Config, {}, raw["calib"], "calib", "hsad")
    assert synth_cfg.ssim is False and synth_cfg.betas == (0.5, 0.9)
    assert calib_cfg.gamma == 5.0 and calib_cfg.hsad is False and calib_cfg.temperature == 5.0
    with pytest.raises(UserError, match="no synth option"):
        apply_overrides(SYNTHESIZERS.get("mimiq").Config, {}, {"refresh": "true"}, "synth", "mimiq")
    assert not SYNTHESIZERS.get("mimiq")().wants_refresh


@pytest.mark.parametrize("name", ["fmnist_vit", "fmnist_deit", "fmnist_swin"])
def test_mimiq_and_hsad_on_every_family(name, zoo_model):
    ctx = make_context(zoo_model(name))
    synth, calib = SYNTHESIZERS.get("mimiq")(), CALIBRATORS.get("hsad")()
    synthetic = synth.synthesize(ctx)
    assert synthetic.images.shape == (4, 1, 28, 28) and torch.isfinite(synthetic.images).all()
    before = {k: v.clone() for k, v in ctx.student.state_dict().items()}
    source = CalibrationSource(synth, ctx, synthetic)
    calib.calibrate(ctx, source)
    assert source.refreshes_done == 0
    changed = [k for k, v in ctx.student.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.endswith("weight") for k in changed)
    with torch.no_grad():
        assert torch.isfinite(ctx.student(synthetic.images)).all()


def test_row_moments_backward_matches_autograd():
    gen = torch.Generator().manual_seed(5)
    rows = torch.randn(2, 3, 4, 6, generator=gen, dtype=torch.float64, requires_grad=True)

    def reference(r):
        centred = (r - r.mean(-1, keepdim=True)).transpose(1, 2)
        stats = (r.amin(-1), r.amax(-1), (r - r.amin(-1, keepdim=True)).mean(-1))
        return (*(t.transpose(1, 2) for t in stats), centred @ centred.transpose(-1, -2) / r.shape[-1])

    got, ref = RowMoments.apply(rows), reference(rows)
    for g, r in zip(got, ref, strict=True):
        torch.testing.assert_close(g, r)
    weights = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in ref]
    grad = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, got, strict=True)), rows)[0]
    expected = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, ref, strict=True)), rows)[0]
    torch.testing.assert_close(grad, expected)
    assert torch.autograd.gradcheck(lambda r: RowMoments.apply(r), (rows,))


def test_row_moments_leave_a_one_head_map_untouched():
    """One head: the (B', Q, H, K) transpose of the map is a view of it, which the in-place centring must not
    overwrite (it did: the logits that later terms read changed, and backward failed)."""
    rows = torch.randn(2, 1, 4, 6, generator=torch.Generator().manual_seed(6), dtype=torch.float64,
                       requires_grad=True)
    before = rows.detach().clone()
    low, high, mean, cov = RowMoments.apply(rows)
    assert torch.equal(rows.detach(), before)
    torch.testing.assert_close(mean, (before - before.amin(-1, keepdim=True)).mean(-1).transpose(1, 2))
    assert torch.autograd.gradcheck(lambda r: RowMoments.apply(r), (rows,))
