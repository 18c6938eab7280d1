"""SARDFQ: Gaussian-mixture priors, attention maps (CLS row / Swin received attention, pad tokens), APA, the
prior following roll/flip, MSR regions and crops, soft labels, the synthesizer on the three zoo families, and
the block-recon calibrator (units reproduce the model, every block's error goes down)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from test_psaq_vit import ZOO, make_ctx, tiny_profile

from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS, CalibrationSource, SyntheticSet
from dfqbench.kit.attention import AttentionRecord, attention_modules
from dfqbench.kit.synth_augment import psaq_augment
from dfqbench.layout import global_layout, window_layout
from dfqbench.methods.block_recon import reconstruction_units, run_unit, unit_parameters
from dfqbench.methods.sardfq import (
    QUADRANTS,
    SARDFQ,
    attention_prior_alignment,
    attention_to_patches,
    crop_regions,
    draw_mixture,
    draw_regions,
    follow_roll_flip,
    mixture_map,
    quadrant_boxes,
    soft_cross_entropy,
    soft_label_loss,
    soft_label_target,
)
from dfqbench.quant.act_quantizer import ActQuantizer
from dfqbench.runner.overrides import apply_overrides


def sardfq(**changes) -> SARDFQ:
    return SARDFQ(SARDFQ.Config(**changes))


def probs_record(layout, probs: torch.Tensor) -> AttentionRecord:
    return AttentionRecord(name="blk", index=0, layout=layout, logits=None, probs=probs, outputs=None, additive=None)


# ---------------------------------------------------------------- priors

def test_mixture_draws_the_configured_components_and_maps_sum_to_one():
    gen = torch.Generator().manual_seed(0)
    means, sigmas = draw_mixture(50, (7, 9), 5, (0.5, 2.0), gen)
    assert means.shape == (50, 5, 2) and sigmas.shape == (50, 5)
    assert (means >= 0).all() and (means[..., 0] <= 6).all() and (means[..., 1] <= 8).all()
    assert (sigmas >= 0.5).all() and (sigmas <= 2.0).all()
    maps = mixture_map(means, sigmas, (7, 9))
    assert maps.shape == (50, 7, 9)
    assert torch.allclose(maps.sum(dim=(1, 2)), torch.ones(50))
    # slow reference for one map
    ref = torch.zeros(7, 9)
    for r in range(7):
        for c in range(9):
            d2 = [(r - means[3, k, 0]) ** 2 + (c - means[3, k, 1]) ** 2 for k in range(5)]
            ref[r, c] = sum(torch.exp(-d2[k] / (2 * sigmas[3, k] ** 2)) for k in range(5))
    assert torch.allclose(maps[3], ref / ref.sum(), atol=1e-6)


def test_narrow_components_give_one_peak_each():
    means = torch.tensor([[[0.0, 0.0], [2.0, 3.0], [4.0, 1.0]]])
    prior = mixture_map(means, torch.full((1, 3), 0.05), (5, 5))[0]
    peaks = (prior > 1e-3).nonzero().tolist()
    assert sorted(peaks) == [[0, 0], [2, 3], [4, 1]]
    assert torch.allclose(prior[prior > 1e-3], torch.full((3,), 1 / 3))


@pytest.mark.parametrize("name", ["fmnist_vit", "fmnist_deit", "fmnist_swin"])
def test_priors_on_the_deeper_half_with_depth_weights(name):
    ctx = make_ctx(name)
    state = sardfq().start_batch(ctx, 3)
    attention = [m for _, m in attention_modules(ctx.teacher)]
    depth = len(attention)  # 6 (ViT, DeiT) or 2 + 2 (Swin): the deeper half is blocks depth/2 .. depth - 1
    blocks = list(range(depth - depth // 2, depth))
    heads = [attention[b].num_heads for b in blocks]
    assert state.blocks == blocks
    assert state.weights == pytest.approx([b / depth for b in blocks])
    for prior, h in zip(state.priors, heads, strict=True):
        assert prior.shape == (3, h, 7, 7)
        assert torch.allclose(prior.sum(dim=(-2, -1)), torch.ones(3, h))
    assert sardfq(apa_depth_weights=False).start_batch(ctx, 1).weights == [1.0] * len(blocks)


# ---------------------------------------------------------------- attention maps and APA

@pytest.mark.parametrize("special", [("cls",), ("cls", "dist")])
def test_cls_attention_over_patch_keys_renormalised(special):
    grid, s = (2, 3), len(special)
    layout = global_layout(special, grid)
    n = s + 6
    probs = torch.rand(2, 4, n, n, dtype=torch.float64).softmax(-1)
    maps = attention_to_patches(probs_record(layout, probs), 2)
    assert maps.shape == (2, 4, 2, 3)
    row = probs[:, :, 0, s:]                           # the CLS query over the patch keys (dist key dropped)
    assert torch.allclose(maps.flatten(2), row / row.sum(-1, keepdim=True))


def test_swin_received_attention_stitched_without_pad_tokens():
    layout = window_layout((5, 5), (3, 3), (1, 1))    # padded to 6x6: 4 windows with pad tokens
    b, heads, windows = 2, 2, 4
    probs = torch.rand(b * windows, heads, 9, 9, dtype=torch.float64).softmax(-1)
    maps = attention_to_patches(probs_record(layout, probs), b)
    ref = torch.zeros(b, heads, 25, dtype=torch.float64)
    per = probs.view(b, windows, heads, 9, 9)
    for w in range(windows):
        real = [i for i in range(9) if layout.positions[w, i] >= 0]
        for key in real:
            ref[:, :, layout.positions[w, key]] = per[:, w, :, real, key].mean(dim=-1)
    ref = ref / ref.sum(-1, keepdim=True)
    assert torch.allclose(maps.flatten(2), ref)
    assert attention_to_patches(probs_record(layout, probs), 1).shape == (1, heads, 5, 5)


def test_apa_matches_a_slow_reference():
    gen = torch.Generator().manual_seed(0)
    maps = [torch.rand(2, 3, 4, 4, generator=gen), torch.rand(2, 2, 3, 3, generator=gen)]
    priors = [torch.rand(2, 3, 4, 4, generator=gen), torch.rand(2, 2, 3, 3, generator=gen)]
    weights = [0.5, 0.75]
    ref = 0.0
    for a, p, w in zip(maps, priors, weights, strict=True):
        for h in range(a.shape[1]):
            ref += w * float(((a[:, h] - p[:, h]) ** 2).mean())
    assert attention_prior_alignment(maps, priors, weights).item() == pytest.approx(ref, rel=1e-6)
    assert attention_prior_alignment(priors, priors, weights).item() == 0.0


def test_prior_follows_roll_and_flip_like_the_pixels():
    gen = torch.Generator().manual_seed(0)
    size, grid = (28, 28), (7, 7)
    prior = mixture_map(*draw_mixture(6, grid, 5, (0.5, 2.0), gen), grid).view(2, 3, *grid)
    shifts, flips = [(5, -9), (-30, 3)], [True, False]
    rows = torch.stack([(torch.arange(28) - dy) % 28 for dy, _ in shifts])
    cols = torch.stack([(torch.arange(28) - dx) % 28 for _, dx in shifts])
    cols = torch.stack([c.flip(0) if f else c for c, f in zip(cols, flips, strict=True)])
    got = follow_roll_flip([prior], rows, cols, size)[0]
    pixels = F.interpolate(prior, size=size, mode="nearest")
    for b, ((dy, dx), flip) in enumerate(zip(shifts, flips, strict=True)):
        moved = torch.roll(pixels[b], (dy, dx), dims=(1, 2))
        moved = moved.flip(-1) if flip else moved
        ref = F.adaptive_avg_pool2d(moved, grid)
        assert torch.allclose(got[b], ref / ref.sum(dim=(-2, -1), keepdim=True), atol=1e-6)


def test_images_augmented_with_priors_as_psaq_augment_alone():
    ctx = make_ctx()
    synth = sardfq()
    state = synth.start_batch(ctx, 3)
    x = state.images.detach()
    images, priors = synth._augment_with_priors(x, state.priors, 0.7, torch.Generator().manual_seed(4))
    assert torch.equal(images, psaq_augment(x, 0.7, torch.Generator().manual_seed(4)))
    assert [p.shape for p in priors] == [p.shape for p in state.priors]
    # the moved priors stay distributions over the patches
    assert all(torch.allclose(p.sum(dim=(-2, -1)), torch.ones(p.shape[:2])) for p in priors)


# ---------------------------------------------------------------- MSR

@pytest.mark.parametrize("size", [(28, 28), (7, 5), (224, 224)])
def test_quadrants_do_not_overlap_and_cover_the_image(size):
    count = torch.zeros(size, dtype=torch.int64)
    for top, left, h, w in quadrant_boxes(*size):
        assert h > 0 and w > 0
        count[top:top + h, left:left + w] += 1
    assert (count == 1).all()


def test_regions_distinct_quadrants_per_image_with_their_own_labels():
    regions = draw_regions(400, 10, 4, (5.0, 10.0), torch.Generator().manual_seed(0))
    per_image = [regions.quadrant[regions.image == b].tolist() for b in range(400)]
    assert all(1 <= len(q) <= 4 and len(set(q)) == len(q) for q in per_image)  # non-overlapping quadrants
    assert {len(q) for q in per_image} == {1, 2, 3, 4}
    assert (regions.values >= 5).all() and (regions.values <= 10).all()
    assert ((regions.labels >= 0) & (regions.labels < 10)).all()
    assert (torch.diff(regions.quadrant) >= 0).all()  # ordered by quadrant, as crop_regions emits them
    one = draw_regions(50, 10, 1, (5.0, 10.0), torch.Generator().manual_seed(0))
    assert len(one) == 50


def test_crops_are_the_claimed_regions_resized():
    regions = draw_regions(3, 10, 4, (5.0, 10.0), torch.Generator().manual_seed(1))
    x = torch.randn(3, 2, 10, 12)
    crops = crop_regions(x, regions)
    assert crops.shape == (len(regions), 2, 10, 12)
    boxes = quadrant_boxes(10, 12)
    for i in range(len(regions)):
        top, left, h, w = boxes[int(regions.quadrant[i])]
        patch = x[int(regions.image[i]), :, top:top + h, left:left + w]
        ref = F.interpolate(patch[None], size=(10, 12), mode="bilinear", align_corners=False)[0]
        assert torch.allclose(crops[i], ref)


# ---------------------------------------------------------------- soft labels

def test_soft_and_hard_targets_by_hand():
    classes = torch.tensor([[2, -1], [1, 3]])
    values = torch.tensor([[7.0, 0.0], [5.0, 10.0]])
    soft = soft_label_target(classes, values, 4, soft=True)
    assert torch.allclose(soft[0], torch.tensor([0.0, 0.0, 7.0, 0.0]).softmax(0))
    assert torch.allclose(soft[1], torch.tensor([0.0, 5.0, 0.0, 10.0]).softmax(0))
    hard = soft_label_target(classes, values, 4, soft=False)
    assert torch.equal(hard, torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.5, 0.0, 0.5]]))


def test_targets_keep_class_zero_before_unused_slots_and_the_larger_value_of_a_repeated_class():
    """Unused slots are clamped to index 0; they must not overwrite a used class 0 (a plain scatter did:
    the hard target was 0/0 and synthesis produced NaN)."""
    classes = torch.tensor([[0, -1, -1, -1], [3, 3, -1, -1], [-1, 0, 2, -1]])
    values = torch.tensor([[6.0, 0.0, 0.0, 0.0], [5.0, 9.0, 0.0, 0.0], [0.0, 8.0, 7.0, 0.0]])
    soft = soft_label_target(classes, values, 4, soft=True)
    assert torch.allclose(soft[0], torch.tensor([6.0, 0.0, 0.0, 0.0]).softmax(0))
    assert torch.allclose(soft[1], torch.tensor([0.0, 0.0, 0.0, 9.0]).softmax(0))
    assert torch.allclose(soft[2], torch.tensor([8.0, 0.0, 7.0, 0.0]).softmax(0))
    hard = soft_label_target(classes, values, 4, soft=False)
    assert torch.equal(hard, torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.5, 0.0, 0.5, 0.0]]))


def test_soft_label_loss_by_hand():
    gen = torch.Generator().manual_seed(0)
    image_logits, region_logits = torch.randn(2, 4, generator=gen), torch.randn(3, 4, generator=gen)
    labels = torch.tensor([1, 3])
    hard = F.one_hot(labels, 4).float()
    assert torch.allclose(soft_cross_entropy(image_logits, hard), F.cross_entropy(image_logits, labels,
                                                                                  reduction="none"))
    it, rt = torch.rand(2, 4, generator=gen).softmax(-1), torch.rand(3, 4, generator=gen).softmax(-1)
    ref = (-(it * image_logits.log_softmax(-1)).sum() - (rt * region_logits.log_softmax(-1)).sum()) / 2
    assert soft_label_loss(image_logits, it, region_logits, rt).item() == pytest.approx(ref.item())


def test_image_targets_name_the_classes_of_its_regions():
    ctx = make_ctx()
    state = sardfq().start_batch(ctx, 6)
    r = state.regions
    for b in range(6):
        classes = set(r.labels[r.image == b].tolist())
        target = state.image_targets[b]
        assert {int(c) for c in (target > target.min() + 1e-6).nonzero().flatten()} == classes
        assert int(state.labels[b]) in classes
    # each region's own target: its class gets softmax(z) with z ~ U(5, 10)
    assert torch.equal(state.region_targets.argmax(-1), r.labels)


# ---------------------------------------------------------------- synthesizer

def objective_value(synth, ctx, state) -> float:
    crops = crop_regions(state.images, state.regions) if state.regions is not None else None
    with torch.no_grad():
        return float(sum(synth.objective(ctx, state, state.images, crops, state.priors).values()))


@pytest.mark.parametrize("name", ZOO)
def test_synthesizer_lowers_its_objective_in_range_without_parameter_gradients(name):
    ctx = make_ctx(name, teacher_grad=True)
    synth = sardfq()
    state = synth.start_batch(ctx, 4)
    before = objective_value(synth, ctx, state)
    for step in range(24):
        synth.step(ctx, state, step, 24)
    assert objective_value(synth, ctx, state) < 0.8 * before
    assert set(state.last) == {"apa", "sl", "tv"}
    low, high = ctx.pixel_bounds()
    assert ((state.images >= low - 1e-6) & (state.images <= high + 1e-6)).all()
    assert all(p.grad is None for p in ctx.teacher.parameters())


def test_apa_term_goes_down_when_it_dominates():
    ctx = make_ctx()
    synth = sardfq(apa_weight=1e5, tv=False, augment=False)
    state = synth.start_batch(ctx, 4)

    def apa():
        with torch.no_grad():
            return float(synth.objective(ctx, state, state.images, None, state.priors)["apa"])

    before = apa()
    for step in range(20):
        synth.step(ctx, state, step, 20)
    assert apa() < 0.95 * before


def test_synthesize_is_deterministic_per_seed():
    profile = tiny_profile(n_images=4, synth_batch_size=2, synth_steps=3)
    a = sardfq().synthesize(make_ctx(profile=profile, seed=5))
    b = sardfq().synthesize(make_ctx(profile=profile, seed=5))
    c = sardfq().synthesize(make_ctx(profile=profile, seed=6))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_switches():
    ctx = make_ctx()
    cfg = apply_overrides(SARDFQ.Config, {}, {"msr": "false", "apa": "off", "soft_labels": "off"}, "synth", "sardfq")
    synth = SARDFQ(cfg)
    state = synth.start_batch(ctx, 3)
    assert state.regions is None and state.priors == [] and state.blocks == []
    assert torch.equal(state.image_targets, F.one_hot(state.labels, 10).float())
    synth.step(ctx, state, 0, 4)
    assert set(state.last) == {"sl", "tv"}
    for changes in ({"apa_follow_augment": False}, {"augment": False}, {"tv": False}, {"msr_regions": 1}):
        s = sardfq(**changes)
        st = s.start_batch(ctx, 2)
        s.step(ctx, st, 1, 4)
    with pytest.raises(ValueError):
        sardfq(msr_regions=QUADRANTS + 1)


def test_method_row_defaults_and_notes():
    method = METHODS.get("sardfq")
    assert (method.synthesizer, method.calibrator) == ("sardfq", "block-recon")
    cfg = SARDFQ.Config()
    assert (cfg.apa_weight, cfg.apa_components, cfg.apa_sigma, cfg.msr_regions, cfg.soft_range) == (
        1e3, 5, (0.5, 2.0), 4, (5.0, 10.0))
    assert (cfg.lr, cfg.betas, cfg.tv_weight) == (0.25, (0.5, 0.9), 0.05)
    recon = CALIBRATORS.get("block-recon").Config()
    assert (recon.lr, recon.iters_per_block, recon.train_act, recon.train_zero_points) == (4e-5, 100, True, False)
    for cls in (SARDFQ, CALIBRATORS.get("block-recon")):
        assert "re-implementation" in cls.notes


# ---------------------------------------------------------------- block-recon

@pytest.mark.parametrize("name", ZOO)
def test_units_compose_to_the_model(name):
    ctx = make_ctx(name)
    x = torch.randn(2, 1, 28, 28)
    units = reconstruction_units(ctx.teacher)
    with torch.no_grad():
        y = x
        for unit in units:
            y = run_unit(ctx.teacher, unit, y)
        assert torch.equal(y, ctx.teacher(x))
    student_units = reconstruction_units(ctx.student)
    first = {id(p) for p in unit_parameters(student_units[0], True, True)}
    last = {id(p) for p in unit_parameters(student_units[-1], True, True)}
    assert id(ctx.student.patch_embed.proj.weight) in first
    assert id(ctx.student.head.weight if name != "fmnist_swin" else ctx.student.head.fc.weight) in last
    if name == "fmnist_deit":
        assert id(ctx.student.head_dist.weight) in last
    steps = [m.step for m in ctx.student.blocks[0].modules() if isinstance(m, ActQuantizer)] if name != \
        "fmnist_swin" else [m.step for m in ctx.student.layers[0].blocks[0].modules() if isinstance(m, ActQuantizer)]
    assert {id(s) for s in steps} <= first
    zeros = {id(m.zero_point) for m in ctx.student.modules() if isinstance(m, ActQuantizer)}
    assert not zeros & first  # the paper trains step sizes only
    assert zeros & {id(p) for p in unit_parameters(student_units[0], True, True, zero_points=True)}


@pytest.mark.parametrize("name", ZOO)
def test_block_recon_lowers_every_blocks_error(name):
    ctx = make_ctx(name, profile=tiny_profile(n_images=16, calib_batch_size=8))
    images = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    calib_cls = CALIBRATORS.get("block-recon")
    calib = calib_cls(calib_cls.Config(iters_per_block=30))
    teacher = {k: v.clone() for k, v in ctx.teacher.state_dict().items()}
    calib.calibrate(ctx, CalibrationSource(SYNTHESIZERS.get("noise")(), ctx, SyntheticSet(images)))
    assert len(calib.history) == len(reconstruction_units(ctx.student))
    for entry in calib.history:
        assert entry["after"] < entry["before"], entry
    assert all(torch.equal(teacher[k], v) for k, v in ctx.teacher.state_dict().items())


def test_block_recon_runs_100_iterations_per_unit_or_splits_the_profile_steps_and_can_be_switched_off():
    cls = CALIBRATORS.get("block-recon")
    ctx = make_ctx(profile=tiny_profile(n_images=4, calib_steps=14, calib_batch_size=2))
    progress = []
    ctx.progress = lambda done, total: progress.append((done, total))
    source = CalibrationSource(SYNTHESIZERS.get("noise")(), ctx, SyntheticSet(torch.randn(4, 1, 28, 28)))
    cls().calibrate(ctx, source)
    units = len(reconstruction_units(ctx.student))
    assert progress[-1] == (100 * units, 100 * units) and len(progress) == 100 * units
    ctx = make_ctx(profile=tiny_profile(n_images=4, calib_steps=14, calib_batch_size=2))
    progress.clear()
    ctx.progress = lambda done, total: progress.append((done, total))
    cls(cls.Config(iters_per_block=0)).calibrate(ctx, source)
    assert progress[-1] == (14, 14) and len(progress) == 14
    ctx = make_ctx()
    weights = {k: v.clone() for k, v in ctx.student.state_dict().items() if k.endswith("weight")}
    calib = cls(cls.Config(recon=False))
    calib.calibrate(ctx, source)
    assert calib.history == []
    assert all(torch.equal(weights[k], ctx.student.state_dict()[k]) for k in weights)
    assert all(bool(m.initialised) for m in ctx.student.modules() if isinstance(m, ActQuantizer))


def test_block_recon_decays_its_lr_by_cosine_and_never_steps_at_zero(monkeypatch):
    """Each unit: ``lr_t = lr * 0.5 (1 + cos(pi t / T))`` for t = 0..T-1 (T iterations), so the last step is
    small but not 0 (it was 0: one of every unit's iterations did nothing)."""
    cls = CALIBRATORS.get("block-recon")
    used = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        used.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    ctx = make_ctx(profile=tiny_profile(n_images=4, calib_batch_size=2))
    source = CalibrationSource(SYNTHESIZERS.get("noise")(), ctx, SyntheticSet(torch.randn(4, 1, 28, 28)))
    cls(cls.Config(iters_per_block=10)).calibrate(ctx, source)
    expected = [4e-5 * 0.5 * (1 + math.cos(math.pi * t / 10)) for t in range(10)]
    assert len(used) == 10 * len(reconstruction_units(ctx.student))
    assert used[:10] == pytest.approx(expected) and used[-10:] == pytest.approx(expected)
    assert min(used) > 0
