"""PSAQ-ViT V2: the adversarial term by hand, initial samples against the uncalibrated student, refresh continuing the
samples against the *current* student, the calibrator's rounds, switches and the re-implementation notes."""

from __future__ import annotations

import math

import pytest
import torch
from test_psaq_vit import ZOO, make_ctx, tiny_profile

from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS, CalibrationSource, SyntheticSet
from dfqbench.kit.kd_loss import logit_kd
from dfqbench.kit.ranges import init_activation_ranges
from dfqbench.methods.psaq_vit_v2 import adversarial_loss, student_loss
from dfqbench.quant import set_quant_state
from dfqbench.runner.overrides import apply_overrides

V2 = "psaq-vit-v2"


def synth(**changes):
    cls = SYNTHESIZERS.get(V2)
    return cls(cls.Config(**changes))


def count_calls(model: torch.nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def calibrated(ctx, images: torch.Tensor) -> None:
    init_activation_ranges(ctx.student, [images], "lsq")


def test_adversarial_and_student_losses_by_hand():
    t = torch.tensor([[0.0, math.log(3.0)]])    # softmax(t / 1) = (1/4, 3/4)
    s = torch.tensor([[0.0, 0.0]])              # (1/2, 1/2)
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    assert student_loss(t, s, 1.0).item() == pytest.approx(kl)
    assert adversarial_loss(t, s, 1.0).item() == pytest.approx(-kl)
    assert adversarial_loss(t, t, 5.0).item() == pytest.approx(0.0, abs=1e-7)
    t5 = torch.tensor([[0.0, 5 * math.log(3.0)]])  # T = 5: softmax(t / 5) is the same pair
    assert student_loss(t5, s, 5.0).item() == pytest.approx(25 * kl, rel=1e-5)


def optimise_initial_batch(name: str, **changes):
    """24 steps of round 1 on 4 images: (state, objective before, objective after, student calls); checks the
    pixel range and that the teacher gets no gradients."""
    ctx = make_ctx(name, teacher_grad=True)
    calls = count_calls(ctx.student)
    s = synth(**changes)
    state = s.start_batch(ctx, 4)

    def value():
        with torch.no_grad():
            return float(sum(s.objective(ctx, state, state.images).values()))

    before = value()
    for i in range(24):
        s.step(ctx, state, i, 24)
    low, high = ctx.pixel_bounds()
    assert ((state.images >= low - 1e-6) & (state.images <= high + 1e-6)).all()
    assert all(p.grad is None for p in ctx.teacher.parameters())
    return state, before, value(), calls[0]


@pytest.mark.parametrize("name", ZOO)
def test_initial_samples_play_against_the_uncalibrated_student_and_lower_their_objective(name):
    assert SYNTHESIZERS.get(V2).needs_quantized_model
    state, before, after, calls = optimise_initial_batch(name)
    assert state.adversarial
    assert after < before
    assert set(state.last) == {"pse", "tv", "adv"} and calls > 0


@pytest.mark.parametrize("name", ZOO)
def test_initial_samples_without_the_student_lower_pse_and_tv(name):
    state, before, after, calls = optimise_initial_batch(name, adversarial_first=False)
    assert not state.adversarial
    assert after < 0.8 * before
    assert set(state.last) == {"pse", "tv"} and calls == 0


def test_phase_steps_are_a_fraction_of_the_profile():
    ctx = make_ctx(profile=tiny_profile(synth_steps=40))
    assert synth().steps_per_batch(ctx) == 10
    assert synth(phase_steps=1.0).steps_per_batch(ctx) == 40
    assert synth().steps_per_batch(make_ctx(profile=tiny_profile(synth_steps=2))) == 1


def test_refresh_continues_the_samples():
    ctx = make_ctx(profile=tiny_profile(n_images=6, synth_batch_size=4, synth_steps=8))
    s = synth()
    initial = s.synthesize(ctx)
    calibrated(ctx, initial.images)
    frozen = synth(lr=0.0).refresh(ctx, initial)
    assert torch.equal(frozen.images, initial.images)   # nothing redrawn: with lr 0 the samples stay
    moved = s.refresh(ctx, initial)
    fresh = s.synthesize(make_ctx(profile=ctx.profile, seed=1))
    step = (moved.images - initial.images).abs().mean()
    assert 0 < step < 0.5 * (fresh.images - initial.images).abs().mean()
    assert moved.images.shape == initial.images.shape and moved.labels is None
    assert all(p.grad is None for p in ctx.student.parameters())


@pytest.mark.parametrize("name", ZOO)
def test_refresh_plays_against_the_current_student(name):
    ctx = make_ctx(name, profile=tiny_profile(n_images=4, synth_steps=40))
    s = synth(pse=False, tv=False, augment=False)
    start = synth(pse=False, tv=False, augment=False, adversarial_first=False)  # noise: no term in round 1
    initial = SyntheticSet(start.synthesize(make_ctx(name, profile=ctx.profile)).images)
    # an FP student agrees with the teacher everywhere: no gradient, the samples stay where they are
    set_quant_state(ctx.student, "off")
    assert torch.equal(s.refresh(ctx, initial).images, initial.images)
    # the quantized student: the samples move, towards more disagreement
    set_quant_state(ctx.student, "quantize")
    calibrated(ctx, initial.images)
    calls = count_calls(ctx.student)
    moved = s.refresh(ctx, initial)
    assert calls[0] == s.steps_per_batch(ctx)
    assert not torch.equal(moved.images, initial.images)

    def disagreement(x):
        with torch.no_grad():
            return float(logit_kd(ctx.student(x), ctx.teacher(x)))

    assert disagreement(moved.images) > disagreement(initial.images)


def test_refresh_is_deterministic_per_seed():
    profile = tiny_profile(n_images=4, synth_steps=8)
    outs = []
    for seed in (3, 3, 4):
        ctx = make_ctx(profile=profile, seed=seed)
        initial = synth().synthesize(ctx)
        calibrated(ctx, initial.images)
        outs.append(synth().refresh(ctx, initial).images)
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


class CountingSource(CalibrationSource):
    def __init__(self, *args):
        super().__init__(*args)
        self.students = []

    def refresh(self) -> None:
        self.students.append(self.ctx.student)
        super().refresh()


@pytest.mark.parametrize("adaptive, refreshes", [(True, 3), (False, 0)])
def test_calibrator_alternates_rounds_of_student_steps_and_refreshes(adaptive, refreshes):
    profile = tiny_profile(n_images=4, synth_steps=4, calib_steps=8)
    ctx = make_ctx(profile=profile)
    s = synth()
    initial = s.synthesize(ctx)
    source = CountingSource(s, make_ctx(profile=profile, seed=9), initial)
    source.ctx.student = ctx.student  # as in a cell: the refresh context holds the same student
    source.ctx.teacher = ctx.teacher
    calib = CALIBRATORS.get(V2)(CALIBRATORS.get(V2).Config(adaptive=adaptive))
    progress = []
    ctx.progress = lambda done, total: progress.append((done, total))
    weights = {k: v.clone() for k, v in ctx.student.state_dict().items()}
    calib.calibrate(ctx, source)
    assert source.refreshes_done == refreshes and all(st is ctx.student for st in source.students)
    assert progress[-1] == (8, 8) and len(progress) == 8
    assert any(not torch.equal(weights[k], v) for k, v in ctx.student.state_dict().items())
    assert torch.equal(source.images, initial.images) != adaptive


def test_switches_and_defaults():
    cls = SYNTHESIZERS.get(V2)
    cfg = apply_overrides(cls.Config, {}, {"adversarial": "off", "pse": "off"}, "synth", V2)
    assert not cfg.adversarial and not cfg.pse
    default = cls.Config()
    assert (default.adv_weight, default.temperature, default.tv_weight, default.lr) == (1.0, 5.0, 0.05, 0.2)
    calib = CALIBRATORS.get(V2).Config()
    assert (calib.rounds, calib.adaptive, calib.lr, calib.temperature) == (4, True, 1e-3, 5.0)
    ctx = make_ctx()
    state = synth(adversarial=False).continue_batch(ctx, torch.zeros(2, 1, 28, 28))
    assert not state.adversarial


def test_method_row_and_reimplementation_notes():
    method = METHODS.get(V2)
    assert (method.synthesizer, method.calibrator) == (V2, V2)
    for cls in (SYNTHESIZERS.get(V2), CALIBRATORS.get(V2)):
        assert "re-implementation" in cls.notes and "no public code" in cls.notes
    import dfqbench.methods.psaq_vit_v2 as module

    assert "No public code exists" in module.__doc__
