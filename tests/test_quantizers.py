"""Properties of the shared quantizer (dfqbench/PROTOCOL.md): grids, idempotence, per-channel
weight scales, LSQ gradients, signedness, observers, log2 softmax quantizer and model-wide states."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfqbench.errors import UserError
from dfqbench.quant import (
    ActQuantizer,
    QuantState,
    WeightQuantizer,
    get_preset,
    quantizers,
    set_quant_state,
    wrap_model,
)
from dfqbench.quant.log2_quantizer import Log2Quantizer
from dfqbench.quant.observers import OBSERVERS, make_observer

SETTINGS = settings(max_examples=50, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BITS = st.integers(2, 8)
INITS = tuple(OBSERVERS)  # minmax, percentile, mse, lsq

# --- strategies ---------------------------------------------------------------------------------------------------

FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32)


@st.composite
def random_tensors(draw, nonneg: bool | None = None) -> torch.Tensor:
    """A seeded random tensor of a drawn shape, distribution and magnitude."""
    seed = draw(st.integers(0, 2**31 - 1))
    numel = draw(st.integers(2, 400))
    kind = draw(st.sampled_from(["normal", "shifted", "heavy", "uniform"]))
    magnitude = draw(st.sampled_from([1e-3, 0.1, 1.0, 7.0, 300.0]))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(numel, generator=g)
    if kind == "shifted":
        x = x + 3.0
    elif kind == "heavy":
        x = x ** 3
    elif kind == "uniform":
        x = torch.rand(numel, generator=g) * 2 - 1
    if nonneg is None:
        nonneg = draw(st.booleans())
    if nonneg:
        x = x.abs()
    return x * magnitude


def listed_tensors(nonneg: bool = False):
    values = st.floats(0.0 if nonneg else -1e3, 1e3, allow_nan=False, allow_infinity=False,
                       allow_subnormal=False, width=32)
    return st.lists(values, min_size=1, max_size=64).map(lambda v: torch.tensor(v, dtype=torch.float32))


TENSORS = st.one_of(random_tensors(), listed_tensors())

# --- helpers ------------------------------------------------------------------------------------------------------


def calibrated(x: torch.Tensor, bits: int, init: str = "lsq", learnable: bool = True) -> ActQuantizer:
    """An ActQuantizer initialised on ``x`` in the CALIBRATE state, then put into QUANTIZE."""
    quantizer = ActQuantizer(bits, learnable=learnable, init=init)
    set_quant_state(quantizer, QuantState.CALIBRATE)
    assert torch.equal(quantizer(x), x)
    set_quant_state(quantizer, QuantState.QUANTIZE)
    assert bool(quantizer.initialised)
    return quantizer


def step_and_zero(quantizer: ActQuantizer) -> tuple[float, float]:
    return quantizer.step.detach().abs().item(), torch.round(quantizer.zero_point.detach()).item()


def assert_on_grid(y: torch.Tensor, step: float, zero: float, qmin: int, qmax: int) -> None:
    n = y.double() / step + zero
    assert (n - n.round()).abs().max().item() <= 1e-3, "dequantized values are not on the integer grid"
    assert n.round().min().item() >= qmin and n.round().max().item() <= qmax


def weight_tensors(draw, seed: int, conv: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out_ch = draw(st.integers(1, 12))
    shape = (out_ch, draw(st.integers(1, 6)), 3, 3) if conv else (out_ch, draw(st.integers(1, 40)))
    magnitude = draw(st.sampled_from([1e-3, 0.05, 1.0, 20.0]))
    return torch.randn(*shape, generator=g) * magnitude


# --- ActQuantizer: grid, idempotence, half a step -----------------------------------------------------------------


@SETTINGS
@given(x=TENSORS, bits=BITS, init=st.sampled_from(INITS), grad=st.booleans(), factor=st.sampled_from([1.0, 3.0, -2.0]))
def test_act_outputs_lie_on_the_grid(x, bits, init, grad, factor):
    quantizer = calibrated(x, bits, init)
    step, zero = step_and_zero(quantizer)
    qmin, qmax = quantizer.qrange
    assert float(quantizer.zero_point.detach()) == zero  # observers give integer zero points
    assert qmin <= zero <= qmax
    with torch.set_grad_enabled(grad):
        y = quantizer(x * factor)  # also values outside the calibrated range
    assert y.shape == x.shape
    assert_on_grid(y, step, zero, qmin, qmax)


@SETTINGS
@given(x=TENSORS, bits=BITS, init=st.sampled_from(INITS), grad=st.booleans(), learnable=st.booleans())
def test_act_quantization_is_idempotent(x, bits, init, grad, learnable):
    quantizer = calibrated(x, bits, init, learnable=learnable)
    with torch.set_grad_enabled(grad):
        once = quantizer(x)
        twice = quantizer(once)
    assert torch.equal(twice, once)


@SETTINGS
@given(x=TENSORS, bits=BITS, init=st.sampled_from(INITS))
def test_act_learnable_and_frozen_paths_agree(x, bits, init):
    """The LSQ (grad) path and the no-grad path compute the same fake quantization."""
    quantizer = calibrated(x, bits, init)
    with torch.no_grad():
        frozen = quantizer(x)
    learned = quantizer(x)
    step = step_and_zero(quantizer)[0]
    assert (learned.detach() - frozen).abs().max().item() <= 1e-5 * step + 1e-6 * x.abs().max().item()


@SETTINGS
@given(x=TENSORS, bits=BITS, init=st.sampled_from(INITS), factor=st.sampled_from([1.0, 2.5, -1.5]))
def test_act_error_is_at_most_half_a_step_inside_the_clipping_range(x, bits, init, factor):
    quantizer = calibrated(x, bits, init)
    step, zero = step_and_zero(quantizer)
    qmin, qmax = quantizer.qrange
    low, high = (qmin - zero) * step, (qmax - zero) * step
    x = x * factor
    with torch.no_grad():
        y = quantizer(x)
    tol = 1e-5 * step + 1e-6 * x.abs().max().item()
    inside = (x >= low) & (x <= high)
    if inside.any():
        assert (y - x)[inside].abs().max().item() <= step / 2 + tol
    above, below = x > high + step / 2, x < low - step / 2  # clipped to the grid's ends
    if above.any():
        torch.testing.assert_close(y[above], torch.full_like(y[above], high), rtol=1e-6, atol=tol)
    if below.any():
        torch.testing.assert_close(y[below], torch.full_like(y[below], low), rtol=1e-6, atol=tol)


# --- ActQuantizer: LSQ gradients ----------------------------------------------------------------------------------




def clipped_inputs(x: torch.Tensor, quantizer: ActQuantizer) -> torch.Tensor:
    """``x`` plus values far outside the grid on both sides, and one value inside the range that rounds onto q_max."""
    step, zero = step_and_zero(quantizer)
    qmin, qmax = quantizer.qrange
    far = 4 * (qmax - qmin) * step
    edge = (qmax - zero - 0.3) * step  # inside the range (r + z = q_max - 0.3), rounds to q_max
    return torch.cat([x, torch.tensor([(qmax - zero) * step + far, (qmin - zero) * step - far, edge])])


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), bits=BITS, init=st.sampled_from(INITS), nonneg=st.booleans(),
       numel=st.integers(16, 300))
def test_lsq_step_and_zero_point_receive_gradients(seed, bits, init, nonneg, numel):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(numel, generator=g)
    x = x.abs() if nonneg else x
    quantizer = calibrated(x, bits, init)
    quantizer(clipped_inputs(3 * x, quantizer)).sum().backward()
    step_grad, zero_grad = quantizer.step.grad, quantizer.zero_point.grad
    assert step_grad is not None and zero_grad is not None
    assert torch.isfinite(step_grad) and torch.isfinite(zero_grad)
    assert step_grad.item() != 0 and zero_grad.item() != 0


def lsq_expected_gradients(inputs: torch.Tensor, quantizer: ActQuantizer) -> tuple[float, float, torch.Tensor]:
    """LSQ (Esser et al. 2020, eq. 3) with an integer zero point (LSQ+): gradients of ``sum(Q(v))`` w.r.t.
    step (scaled by g), zero point (unscaled, as the official MimiQ/MaskAQ quantizer) and v, where v is inside
    when ``q_min < v/s + z < q_max`` (before rounding)."""
    step, zero = step_and_zero(quantizer)
    qmin, qmax = quantizer.qrange
    ratio = inputs.double() / step
    level = ratio + zero
    high, low = level >= qmax, level <= qmin
    inside = ~(high | low)
    d_step = torch.where(high, float(qmax - zero), torch.where(low, float(qmin - zero), torch.round(ratio) - ratio))
    g = 1.0 / math.sqrt(inputs.numel() * qmax)
    return g * d_step.sum().item(), -step * (~inside).sum().item(), inside.to(inputs.dtype)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), bits=BITS, init=st.sampled_from(INITS), nonneg=st.booleans(),
       numel=st.integers(16, 300))
def test_lsq_gradients_match_the_lsq_definition(seed, bits, init, nonneg, numel):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(numel, generator=g)
    x = x.abs() if nonneg else x
    quantizer = calibrated(x, bits, init)
    inputs = clipped_inputs(3 * x, quantizer).requires_grad_()
    quantizer(inputs).sum().backward()
    step_grad, zero_grad, input_grad = lsq_expected_gradients(inputs.detach(), quantizer)
    scale = 1.0 / math.sqrt(inputs.numel() * quantizer.qrange[1])
    assert quantizer.step.grad.item() == pytest.approx(step_grad, rel=1e-3, abs=1e-4 * scale * numel)
    assert quantizer.zero_point.grad.item() == pytest.approx(zero_grad, rel=1e-4)
    # (x / s) * s: one for inside values up to float32 rounding, exactly zero outside
    assert torch.allclose(inputs.grad, input_grad, rtol=0, atol=1e-6)
    assert torch.equal(inputs.grad == 0, input_grad == 0)


def test_lsq_input_gradient_is_zero_outside_the_range():
    quantizer = calibrated(torch.linspace(-2, 2, 101), 4, "minmax")
    step, zero = step_and_zero(quantizer)
    qmin, qmax = quantizer.qrange
    inputs = torch.tensor([(qmax - zero + 3) * step, (qmin - zero - 3) * step, 0.3 * step, -1.2 * step])
    inputs.requires_grad_()
    quantizer(inputs).sum().backward()
    assert torch.equal(inputs.grad, torch.tensor([0.0, 0.0, 1.0, 1.0]))


def test_lsq_gradients_of_a_value_that_rounds_onto_the_top_level():
    """Unsigned 4-bit grid, step 1, zero point 0: v = 14.7 is inside [0, 15] and quantizes to 15.

    LSQ: dQ/dv = 1 (straight through) and dQ/ds = round(v/s) - v/s = 0.3 (times the gradient scale);
    the code gives dQ/dv = 0 and dQ/ds = q_max = 15, as if v were clipped."""
    quantizer = calibrated(torch.rand(100) * 15, 4, "minmax")
    assert quantizer.qrange == (0, 15)
    with torch.no_grad():
        quantizer.step.fill_(1.0)
        quantizer.zero_point.fill_(0.0)
    v = torch.tensor([14.7], requires_grad=True)
    out = quantizer(v)
    assert out.item() == 15.0
    out.sum().backward()
    g = 1.0 / math.sqrt(1 * 15)
    assert v.grad.item() == 1.0
    assert quantizer.step.grad.item() == pytest.approx(g * (15 - 14.7), rel=1e-4)
    assert quantizer.zero_point.grad.item() == 0.0




def test_frozen_quantizer_has_no_parameter_gradients():
    x = torch.randn(100)
    quantizer = calibrated(x, 4, "minmax", learnable=False)
    assert not quantizer.step.requires_grad and not quantizer.zero_point.requires_grad
    inputs = (3 * x).requires_grad_()
    quantizer(inputs).sum().backward()
    assert quantizer.step.grad is None and quantizer.zero_point.grad is None
    assert inputs.grad is not None


@pytest.mark.parametrize("learnable", [False, True])
def test_frozen_quantizer_passes_a_straight_through_input_gradient(learnable):
    x = torch.linspace(-2, 2, 101)
    quantizer = calibrated(x, 4, "minmax", learnable=learnable)
    quantizer.step.requires_grad_(False)
    quantizer.zero_point.requires_grad_(False)
    step, zero = step_and_zero(quantizer)
    qmin, qmax = quantizer.qrange
    inputs = torch.tensor([0.3 * step, -1.2 * step, (qmax - zero + 3) * step, (qmin - zero - 3) * step])
    inputs.requires_grad_()
    quantizer(inputs).sum().backward()
    assert torch.equal(inputs.grad, torch.tensor([1.0, 1.0, 0.0, 0.0]))


# --- ActQuantizer: signedness -------------------------------------------------------------------------------------


@SETTINGS
@given(first=st.one_of(random_tensors(nonneg=True), listed_tensors(nonneg=True)), bits=BITS,
       init=st.sampled_from(INITS))
def test_nonnegative_first_batch_gives_an_unsigned_grid(first, bits, init):
    quantizer = ActQuantizer(bits, init=init)
    set_quant_state(quantizer, "calibrate")
    quantizer(first)
    quantizer(first - 5.0)  # later batches do not change the decision
    set_quant_state(quantizer, "quantize")
    assert not bool(quantizer.signed)
    assert quantizer.qrange == (0, 2**bits - 1)


@SETTINGS
@given(first=random_tensors(nonneg=False), bits=BITS, init=st.sampled_from(INITS))
def test_negative_value_in_first_batch_gives_a_signed_grid(first, bits, init):
    first = torch.cat([first, torch.tensor([-1e-3])])
    quantizer = ActQuantizer(bits, init=init)
    set_quant_state(quantizer, "calibrate")
    quantizer(first)
    quantizer(first.abs())
    set_quant_state(quantizer, "quantize")
    assert bool(quantizer.signed)
    assert quantizer.qrange == (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def test_unsigned_grid_maps_negative_inputs_to_zero():
    x = torch.rand(200) * 4
    quantizer = calibrated(x, 4, "minmax")
    assert quantizer.qrange == (0, 15)
    assert quantizer.zero_point.item() == 0.0
    y = quantizer(torch.tensor([-3.0, -0.01, 0.0]))
    assert torch.equal(y, torch.zeros(3))


def test_uninitialised_quantizer_initialises_on_its_first_quantized_batch():
    quantizer = ActQuantizer(4, init="minmax")
    set_quant_state(quantizer, "quantize")
    x = torch.rand(50) + 0.1
    y = quantizer(x)
    assert bool(quantizer.initialised) and not bool(quantizer.signed)
    assert quantizer.step.item() == pytest.approx(x.max().item() / 15, rel=1e-6)
    assert_on_grid(y, *step_and_zero(quantizer), *quantizer.qrange)
    quantizer(-x)  # the range and sign stay fixed afterwards
    assert quantizer.step.item() == pytest.approx(x.max().item() / 15, rel=1e-6)
    assert not bool(quantizer.signed)


def test_reset_forgets_range_and_sign():
    quantizer = calibrated(torch.rand(64), 4, "minmax")
    assert not bool(quantizer.signed)
    quantizer.reset("lsq")
    assert not bool(quantizer.initialised) and quantizer.init == "lsq"
    x = torch.randn(64)
    set_quant_state(quantizer, "calibrate")
    quantizer(x)
    set_quant_state(quantizer, "quantize")
    assert bool(quantizer.signed)
    assert quantizer.step.item() == pytest.approx(2 * x.abs().mean().item() / math.sqrt(7), rel=1e-5)


@pytest.mark.parametrize("learnable", [False, True])
def test_act_quantizer_leaves_its_input_untouched(learnable):
    x = torch.randn(200)
    quantizer = calibrated(x, 4, "minmax", learnable=learnable)
    original = x.clone()
    with torch.no_grad():
        quantizer(x)
    quantizer(x)
    assert torch.equal(x, original)


def test_states_off_and_calibrate_are_exact_identity():
    x = torch.randn(30)
    quantizer = ActQuantizer(3)
    assert quantizer.state is QuantState.OFF
    assert quantizer(x) is x
    set_quant_state(quantizer, "calibrate")
    assert quantizer(x) is x
    assert quantizer.observer is not None and not bool(quantizer.initialised)


# --- observers ----------------------------------------------------------------------------------------------------


def observe_all(init: str, batches: list[torch.Tensor], bits: int) -> ActQuantizer:
    quantizer = ActQuantizer(bits, init=init)
    set_quant_state(quantizer, "calibrate")
    for batch in batches:
        quantizer(batch)
    set_quant_state(quantizer, "quantize")
    return quantizer


@SETTINGS
@given(first=TENSORS, second=TENSORS, bits=BITS)
def test_minmax_covers_the_observed_range_exactly(first, second, bits):
    quantizer = observe_all("minmax", [first, second], bits)
    qmin, qmax = quantizer.qrange
    both = torch.cat([first, second])
    low, high = min(first.min().item(), 0.0), max(first.max().item(), second.max().item(), 0.0)
    low = min(low, second.min().item())
    step, zero = step_and_zero(quantizer)
    assert step == pytest.approx(max((high - low) / (qmax - qmin), 1e-8), rel=1e-6)
    with torch.no_grad():
        y = quantizer(both)
    # nothing is clipped: every observed value is within half a step of its quantized value
    assert (y - both).abs().max().item() <= step / 2 * (1 + 1e-4) + 1e-6 * both.abs().max().item()
    # the grid's ends are within half a step of the observed extremes
    assert (qmin - zero) * step <= low + step / 2 * (1 + 1e-4)
    assert (qmax - zero) * step >= high - step / 2 * (1 + 1e-4)


@SETTINGS
@given(x=random_tensors(nonneg=True), bits=BITS)
def test_minmax_on_nonnegative_data_maps_the_maximum_to_the_top_level(x, bits):
    quantizer = observe_all("minmax", [x], bits)
    step, zero = step_and_zero(quantizer)
    assert zero == 0
    assert step == pytest.approx(x.max().item() / (2**bits - 1), rel=1e-6)
    assert quantizer(x).max().item() == pytest.approx(x.max().item(), rel=1e-5)


@SETTINGS
@given(x=TENSORS, bits=BITS)
def test_lsq_init_is_two_mean_abs_over_sqrt_qmax(x, bits):
    later = x * 100 + 1  # only the first batch counts
    quantizer = observe_all("lsq", [x, later], bits)
    qmax = quantizer.qrange[1]
    expected = max(2 * x.abs().mean().item() / math.sqrt(qmax), 1e-8)
    assert quantizer.step.item() == pytest.approx(expected, rel=1e-5)
    qmin = quantizer.qrange[0]
    assert quantizer.zero_point.item() == min(max(math.ceil(qmin - x.min().item() / expected), qmin), 0)


@SETTINGS
@given(x=TENSORS, bits=BITS)
def test_percentile_and_mse_never_exceed_the_minmax_range(x, bits):
    minmax = observe_all("minmax", [x], bits).step.item()
    for init in ("percentile", "mse"):
        step = observe_all(init, [x], bits).step.item()
        assert 0 < step <= minmax * (1 + 1e-5) + 1e-12, init
    assert observe_all("mse", [x], bits).step.item() >= 0.2 * minmax * (1 - 1e-4)


@SETTINGS
@given(x=TENSORS, bits=BITS)
def test_mse_error_is_no_worse_than_minmax(x, bits):
    def error(init: str) -> float:
        with torch.no_grad():
            return (observe_all(init, [x], bits)(x) - x).pow(2).mean().item()

    assert error("mse") <= error("minmax") * (1 + 1e-4) + 1e-12


def test_percentile_ignores_a_rare_outlier():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100_000, generator=g)
    x[123] = 1e4
    minmax = observe_all("minmax", [x], 4).step.item()
    percentile = observe_all("percentile", [x], 4)
    assert percentile.step.item() < minmax / 100
    low, high = torch.quantile(x, torch.tensor([1e-4, 1 - 1e-4])).tolist()
    assert percentile.step.item() == pytest.approx((high - low) / 15, rel=1e-3)
    qmax = percentile.qrange[1]
    with torch.no_grad():
        y = percentile(x)
    assert y[123].item() == pytest.approx((qmax - percentile.zero_point.item()) * percentile.step.item())


def test_mse_clips_a_heavy_tail_tighter_than_minmax():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20_000, generator=g) ** 3
    assert observe_all("mse", [x], 4).step.item() < 0.8 * observe_all("minmax", [x], 4).step.item()


def test_unknown_range_init_is_a_user_error():
    with pytest.raises(UserError, match="did you mean: minmax"):
        make_observer("minmx")
    quantizer = ActQuantizer(4, init="percentil")
    set_quant_state(quantizer, "calibrate")
    with pytest.raises(UserError, match="percentile"):
        quantizer(torch.randn(4))


# --- WeightQuantizer ----------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), bits=BITS, conv=st.booleans())
def test_weight_grid_scale_and_half_step(data, seed, bits, conv):
    w = weight_tensors(data.draw, seed, conv)
    quantizer = WeightQuantizer(bits)
    set_quant_state(quantizer, "quantize")
    scale = quantizer.scale(w)
    assert scale.shape == (w.shape[0],) + (1,) * (w.dim() - 1)
    qmax = 2 ** (bits - 1) - 1
    expected = w.abs().flatten(1).amax(1) / qmax
    torch.testing.assert_close(scale.flatten(), expected, rtol=1e-6, atol=0)
    wq = quantizer(w)
    n = wq.double() / scale.double()
    assert (n - n.round()).abs().max().item() <= 1e-3
    assert n.round().min().item() >= -(2 ** (bits - 1)) and n.round().max().item() <= qmax
    # symmetric, nothing clips: each channel's largest |w| lands on +-qmax and every weight is within half a step
    assert torch.equal(n.round().abs().flatten(1).amax(1), torch.full((w.shape[0],), float(qmax), dtype=n.dtype))
    assert ((wq - w).abs() <= scale / 2 * (1 + 1e-5)).all()


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), bits=BITS, conv=st.booleans())
def test_weight_quantization_is_idempotent(data, seed, bits, conv):
    w = weight_tensors(data.draw, seed, conv)
    quantizer = WeightQuantizer(bits)
    set_quant_state(quantizer, "quantize")
    once = quantizer(w)
    fixed = quantizer.scale(w)
    quantizer.scale = lambda weight: fixed  # hold the scale fixed (instance attribute shadows the method)
    assert torch.equal(quantizer(once), once)
    del quantizer.scale
    torch.testing.assert_close(quantizer(once), once, rtol=1e-6, atol=0)  # recomputed scale: same to rounding


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), bits=BITS, conv=st.booleans(), power=st.integers(-6, 6))
def test_weight_scales_are_per_output_channel(data, seed, bits, conv, power):
    w = weight_tensors(data.draw, seed, conv)
    channel = data.draw(st.integers(0, w.shape[0] - 1))
    c = 2.0 ** power  # exact in floating point
    scaled = w.clone()
    scaled[channel] *= c
    quantizer = WeightQuantizer(bits)
    set_quant_state(quantizer, "quantize")
    s, s_scaled = quantizer.scale(w), quantizer.scale(scaled)
    out, out_scaled = quantizer(w), quantizer(scaled)
    others = [i for i in range(w.shape[0]) if i != channel]
    assert torch.equal(s_scaled[others], s[others])
    assert torch.equal(out_scaled[others], out[others])
    assert torch.equal(s_scaled[channel], s[channel] * c)
    assert torch.equal(out_scaled[channel], out[channel] * c)


@pytest.mark.parametrize("c", [0.37, 3.3, 11.0])
def test_weight_scales_are_per_output_channel_for_any_factor(c):
    g = torch.Generator().manual_seed(7)
    w = torch.randn(6, 20, generator=g)
    scaled = w.clone()
    scaled[2] *= c
    quantizer = WeightQuantizer(4)
    set_quant_state(quantizer, "quantize")
    torch.testing.assert_close(quantizer.scale(scaled)[2], quantizer.scale(w)[2] * c)
    torch.testing.assert_close(quantizer(scaled)[2], quantizer(w)[2] * c)
    keep = [0, 1, 3, 4, 5]
    assert torch.equal(quantizer(scaled)[keep], quantizer(w)[keep])


def test_weight_quantizer_states():
    w = torch.randn(5, 8, requires_grad=True)
    quantizer = WeightQuantizer(3)
    assert quantizer(w) is w
    set_quant_state(quantizer, "calibrate")
    assert quantizer(w) is w  # weights need no calibration
    set_quant_state(quantizer, "quantize")
    assert not torch.equal(quantizer(w), w)


def test_weight_gradient_is_straight_through_below_the_top_level():
    w = torch.tensor([[0.9, 0.5, -1.0, 0.2]], requires_grad=True)  # 4 bits: w / s = 6.3, 3.5, -7, 1.4
    quantizer = WeightQuantizer(4)
    set_quant_state(quantizer, "quantize")
    quantizer(w).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_weight_gradient_is_straight_through(bits):
    """Nothing clips (|w / s| <= 2^(b-1) - 1), so the STE gradient is 1 everywhere; the code gives 0 to every
    weight that rounds onto +q_max, e.g. the largest positive weight of each channel (but not to -q_max)."""
    w = torch.tensor([[1.0, 0.5, -1.0, 0.2], [0.3, -0.05, 0.1, -0.2]], requires_grad=True)
    quantizer = WeightQuantizer(bits)
    set_quant_state(quantizer, "quantize")
    weights = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    (quantizer(w) * weights).sum().backward()
    torch.testing.assert_close(w.grad, weights)


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), bits=BITS, conv=st.booleans())
def test_weight_no_grad_path_equals_grad_path(data, seed, bits, conv):
    w = weight_tensors(data.draw, seed, conv)
    quantizer = WeightQuantizer(bits)
    set_quant_state(quantizer, "quantize")
    with torch.no_grad():
        cached = quantizer(w).clone()
        assert torch.equal(quantizer(w), cached)  # second no-grad call: from the cache
    assert torch.equal(quantizer(w.clone().requires_grad_()).detach(), cached)


def test_weight_cache_follows_tracked_in_place_updates():
    layer = torch.nn.Linear(6, 4)
    quantizer = WeightQuantizer(4)
    set_quant_state(quantizer, "quantize")
    with torch.no_grad():
        first = quantizer(layer.weight).clone()
        layer.weight.mul_(3)  # in place under no_grad: bumps the version counter
        torch.testing.assert_close(quantizer(layer.weight), first * 3)
        layer.load_state_dict({"weight": torch.ones(4, 6), "bias": torch.zeros(4)})
        assert torch.equal(quantizer(layer.weight), torch.ones(4, 6))
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(torch.randn(3, 6)).sum().backward()
    optimizer.step()
    with torch.no_grad():
        expected = torch.clamp(torch.round(layer.weight / quantizer.scale(layer.weight)), -8, 7)
        torch.testing.assert_close(quantizer(layer.weight), expected * quantizer.scale(layer.weight))
        quantizer.bits = 2
        assert quantizer(layer.weight).abs().div(quantizer.scale(layer.weight)).round().max().item() == 1




def test_weight_cache_sees_changes_made_through_data():
    """``p.data.mul_()`` / ``p.data.copy_()`` (EMA, weight loading, clipping code) is not tracked by ``_version``."""
    weight = torch.nn.Parameter(torch.randn(4, 6))
    quantizer = WeightQuantizer(4)
    set_quant_state(quantizer, "quantize")
    with torch.no_grad():
        first = quantizer(weight).clone()
        weight.data.mul_(2)
        torch.testing.assert_close(quantizer(weight), first * 2)


def test_weight_cache_is_not_fooled_by_a_reused_address():
    quantizer = WeightQuantizer(4)
    set_quant_state(quantizer, "quantize")
    last = None
    with torch.no_grad():
        for i in range(1000):
            w = torch.randn(64, 64) * (i + 1)
            reused = w.data_ptr() == last
            out = quantizer(w)
            last = w.data_ptr()
            if reused:  # a fresh tensor at the address of the one quantized just before
                scale = quantizer.scale(w)
                torch.testing.assert_close(out, torch.clamp(torch.round(w / scale), -8, 7) * scale)
                return
            del w, out
    pytest.skip("the allocator never reused the previous weight's address")


def test_weight_quantizer_all_zero_channel():
    w = torch.randn(3, 5)
    w[1] = 0
    quantizer = WeightQuantizer(4)
    set_quant_state(quantizer, "quantize")
    out = quantizer(w)
    assert torch.isfinite(out).all() and torch.equal(out[1], torch.zeros(5))


def test_weight_scale_follows_the_current_weight():
    w = torch.nn.Parameter(torch.randn(4, 6))
    quantizer = WeightQuantizer(4)
    set_quant_state(quantizer, "quantize")
    before = quantizer.scale(w).clone()
    with torch.no_grad():
        w.mul_(2)
    torch.testing.assert_close(quantizer.scale(w), before * 2)


# --- Log2Quantizer ------------------------------------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), bits=BITS, temperature=st.sampled_from([0.1, 1.0, 5.0, 30.0]),
       tokens=st.integers(2, 64))
def test_log2_outputs_are_powers_of_two_or_zero(seed, bits, temperature, tokens):
    g = torch.Generator().manual_seed(seed)
    probs = (torch.randn(3, tokens, tokens, generator=g) * temperature).softmax(-1)
    probs[0, 0, :2] = torch.tensor([1.0, 0.0])
    quantizer = Log2Quantizer(bits)
    set_quant_state(quantizer, "quantize")
    y = quantizer(probs)
    nonzero = y != 0
    exponents = -torch.log2(y[nonzero].double())
    assert torch.equal(exponents, exponents.round())
    assert exponents.min().item() >= 0 and exponents.max().item() <= 2**bits - 1
    # rounding in the log domain: an input is at most half an octave from its output
    # (above the quantizer's 1e-30 floor; see test_log2_tiny_and_zero_inputs for below it)
    positive = nonzero & (probs >= 1e-30)
    ratio = torch.log2(y[positive].double()) - torch.log2(probs[positive].double())
    assert ratio.abs().max().item() <= 0.5 + 1e-6
    # zeros only below the smallest level (or below float32's smallest subnormal, 2^-149)
    levels = -torch.log2(probs.double()).round()
    above_floor = probs >= 1e-30
    assert ((levels > 2**bits - 1) | (levels > 149))[~nonzero & above_floor].all()
    assert not nonzero[(levels > 2**bits - 1) & above_floor].any()
    assert y[0, 0, 0].item() == 1.0
    assert y[0, 0, 1].item() <= 2.0**-99  # an exact 0 stays (numerically) 0


@pytest.mark.parametrize("bits", [7, 8])
def test_log2_tiny_and_zero_inputs(bits):
    quantizer = Log2Quantizer(bits)
    set_quant_state(quantizer, "quantize")
    x = torch.tensor([0.0, 2.0**-110, 2.0**-90])
    expected = torch.tensor([0.0, 2.0**-110, 2.0**-90])
    assert torch.equal(quantizer(x), expected)


def test_log2_off_is_identity_and_gradient_is_straight_through():
    probs = torch.rand(4, 9).softmax(-1).requires_grad_()
    quantizer = Log2Quantizer(4)
    assert quantizer(probs) is probs
    set_quant_state(quantizer, "calibrate")
    assert quantizer(probs) is probs
    set_quant_state(quantizer, "quantize")
    weights = torch.randn(4, 9)
    (quantizer(probs) * weights).sum().backward()
    assert torch.equal(probs.grad, weights)


# --- model-wide states --------------------------------------------------------------------------------------------

ZOO = ("fmnist_vit", "fmnist_deit", "fmnist_swin")


def act_quantizers(model: nn.Module) -> list[ActQuantizer]:
    return [q for q in quantizers(model) if isinstance(q, ActQuantizer)]


@pytest.mark.parametrize("name", ZOO)
def test_model_states_off_calibrate_quantize(name, zoo_model, images):
    model = zoo_model(name)
    x = images(model)
    with torch.no_grad():
        reference = model(x)
        wrapped = wrap_model(model, get_preset("standard"), "4w4a")
        assert all(q.state is QuantState.OFF for q in quantizers(wrapped))
        assert torch.equal(wrapped(x), reference)

        set_quant_state(wrapped, "calibrate")
        assert all(q.state is QuantState.CALIBRATE for q in quantizers(wrapped))
        assert torch.equal(wrapped(x), reference)
        acts = act_quantizers(wrapped)
        assert acts and all(q.observer is not None for q in acts), "an ActQuantizer saw no calibration batch"
        assert not any(bool(q.initialised) for q in acts)

        set_quant_state(wrapped, "quantize")
        for q in acts:
            assert bool(q.initialised) and q.observer is None
            assert math.isfinite(q.step.item()) and q.step.item() > 0
        quantized = wrapped(x)
        assert torch.isfinite(quantized).all()
        assert not torch.allclose(quantized, reference, rtol=1e-3, atol=1e-3)

        set_quant_state(wrapped, "off")
        assert torch.equal(wrapped(x), reference)


def test_leaving_calibrate_for_off_also_initialises(zoo_model, images):
    model = zoo_model("fmnist_vit")
    wrapped = wrap_model(model, get_preset("standard"), "4w4a")
    with torch.no_grad():
        set_quant_state(wrapped, QuantState.CALIBRATE)
        wrapped(images(model))
        set_quant_state(wrapped, QuantState.OFF)
    assert all(bool(q.initialised) for q in act_quantizers(wrapped))



def calibrated_model(model, preset: str, x: torch.Tensor):
    """``model`` wrapped at 4w4a with ``preset``, ranges observed on ``x``, in the QUANTIZE state."""
    wrapped = wrap_model(model, get_preset(preset), "4w4a")
    with torch.no_grad():
        set_quant_state(wrapped, "calibrate")
        wrapped(x)
    set_quant_state(wrapped, "quantize")
    return wrapped


def test_quantized_model_trains_lsq_parameters(zoo_model, images):
    model = zoo_model("fmnist_vit")
    x = images(model)
    wrapped = calibrated_model(model, "standard", x)
    wrapped(x).pow(2).sum().backward()
    acts = act_quantizers(wrapped)
    assert all(q.step.grad is not None and torch.isfinite(q.step.grad) for q in acts)
    assert any(q.step.grad.item() != 0 for q in acts)


def test_psaq_model_backpropagates_to_pixels_and_early_weights(zoo_model, images):
    """kd (QAT) under --preset psaq, and any method that differentiates the quantized psaq model, needs these."""
    model = zoo_model("fmnist_vit")
    x = images(model)
    wrapped = calibrated_model(model, "psaq", x)
    pixels = x.clone().requires_grad_()
    wrapped(pixels).pow(2).sum().backward()
    assert wrapped.head.weight.grad.abs().sum() > 0
    assert wrapped.blocks[0].attn.qkv.weight.grad is not None
    assert wrapped.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert pixels.grad.abs().sum() > 0


def test_quantized_model_state_dict_and_deepcopy_round_trip(zoo_model, images):
    model = zoo_model("fmnist_swin")
    x = images(model)
    wrapped = wrap_model(model, get_preset("standard"), "4w4a")
    with torch.no_grad():
        set_quant_state(wrapped, "calibrate")
        wrapped(x)
        set_quant_state(wrapped, "quantize")
        expected = wrapped(x)
        fresh = wrap_model(zoo_model("fmnist_swin", seed=1), get_preset("standard"), "4w4a")
        fresh.load_state_dict(wrapped.state_dict())
        set_quant_state(fresh, "quantize")  # ranges, signs and 'initialised' come from the state dict
        assert all(bool(q.initialised) for q in act_quantizers(fresh))
        assert torch.equal(fresh(x), expected)
        assert torch.equal(copy.deepcopy(wrapped)(x), expected)


def test_psaq_model_keeps_activation_ranges_frozen(zoo_model, images):
    model = zoo_model("fmnist_vit")
    x = images(model)
    wrapped = calibrated_model(model, "psaq", x)
    wrapped(x).pow(2).sum().backward()
    acts = act_quantizers(wrapped)
    assert acts and all(q.step.grad is None and q.zero_point.grad is None for q in acts)


@pytest.mark.parametrize("bits", [3, 4, 8])
def test_lsq_init_lifts_a_post_gelu_grid_to_cover_its_minimum(bits):
    """fc2's input is a GELU output: minimum about -0.17, a long positive tail. LSQ's symmetric grid would spend
    half its levels below -0.17; the initial zero point lifts the grid so that its lowest level reaches the
    minimum, and the freed levels go to the positive side."""
    x = torch.nn.functional.gelu(torch.randn(4096, generator=torch.Generator().manual_seed(0)) * 2)
    quantizer = calibrated(x, bits, "lsq")
    step, zero = step_and_zero(quantizer)
    qmin, qmax = quantizer.qrange
    assert bool(quantizer.signed) and zero < 0
    assert (qmin - zero) * step <= x.min().item() < (qmin - zero + 1) * step  # the lowest level covers the min
    assert (qmax - zero) * step > (qmax - 0) * step  # the top of the grid moved up by -z levels
    assert quantizer(x).min().item() == pytest.approx(x.min().item(), abs=step / 2)


def test_lsq_init_keeps_the_symmetric_grid_for_a_negative_tail_past_the_grid():
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0))
    x[:8] = -50.0  # below q_min * s: no shift can cover it, so the grid stays LSQ's
    quantizer = calibrated(x, 4, "lsq")
    assert quantizer.zero_point.item() == 0.0 and quantizer.qrange[0] * quantizer.step.item() > -50


def test_zero_points_learn_during_qat_on_a_zoo_model():
    """40 logit-KD steps with the shared QAT settings (SGD, Nesterov, lr 1e-3) on the zoo ViT move the zero point of
    most activation quantizers, the largest by more than 5e-5 (with LSQ's scaled gradient the largest move over
    all 49 quantizers was 1.4e-6 after 300 steps). At this learning rate no integer zero point ``round(z)`` changes
    within a calibration (largest |dz| 8e-4 after 300 steps): the grid's offset is set by its initialisation."""
    from dfqbench.kit.kd_loss import logit_kd
    from dfqbench.kit.qat import QATConfig
    from dfqbench.kit.ranges import init_activation_ranges
    from dfqbench.quant.act_quantizer import ActQuantizer
    from dfqbench.zoo.backbones import load_backbone

    model, cfg, gen = load_backbone("fmnist_vit").model, QATConfig(), torch.Generator().manual_seed(1)
    teacher = wrap_model(model, get_preset("standard"), "4w4a").eval().requires_grad_(False)
    student = wrap_model(model, get_preset("standard"), "4w4a").eval()
    images = torch.randn(64, 1, 28, 28, generator=gen)
    init_activation_ranges(student, [images[:16]], "lsq")
    quantizers = [m for m in student.modules() if isinstance(m, ActQuantizer)]
    initial = [q.zero_point.item() for q in quantizers]
    opt = torch.optim.SGD([p for p in student.parameters() if p.requires_grad], lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=True)
    for _ in range(40):
        batch = images[torch.randint(0, 64, (16,), generator=gen)]
        loss = logit_kd(student(batch), teacher(batch), cfg.temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
    moves = [abs(q.zero_point.item() - z) for q, z in zip(quantizers, initial, strict=True)]
    assert max(moves) > 5e-5
    assert sum(move > 1e-6 for move in moves) > len(quantizers) // 2


def test_the_fake_quant_output_is_contiguous_and_equal_to_the_formula_on_a_permuted_input():
    from dfqbench.quant.lsq_function import lsq_forward

    qkv = torch.randn(4, 7, 3, 2, 5).permute(2, 0, 3, 1, 4)  # attention's q, k, v: permuted views
    out = lsq_forward(qkv[1], 0.25, -3.0, 12.0)
    assert out.is_contiguous()
    expected = torch.clamp(torch.round(qkv[1] * (1.0 / 0.25)), -3.0, 12.0) * 0.25
    assert torch.equal(out, expected)


def test_a_frozen_scope_reads_each_quantizer_once_and_changes_no_output():
    """Inside frozen_quantizers the quantized weights, (s, z) and flags are read once; outputs are those of
    the unscoped model bit for bit, and an optimiser step after the scope is seen (nothing outlives it)."""
    from dfqbench.quant.frozen import frozen_quantizers
    from dfqbench.quant.layers import QuantLinear

    torch.manual_seed(0)
    layer = QuantLinear(nn.Linear(8, 4), w_bits=4, a_bits=4)
    batches = [torch.randn(16, 8) for _ in range(3)]
    set_quant_state(layer, "calibrate")
    layer(batches[0])
    set_quant_state(layer, "quantize")
    with torch.no_grad():
        plain = [layer(x) for x in batches]
        with frozen_quantizers(layer):
            scoped = [layer(x) for x in batches]
            assert set(layer.weight_quantizer.frozen_reads) == {f"weight/{id(layer.weight)}"}
        assert layer.weight_quantizer.frozen_reads is None
    assert all(torch.equal(a, b) for a, b in zip(plain, scoped, strict=True))
    layer(batches[0]).square().sum().backward()
    torch.optim.SGD(layer.parameters(), lr=0.5).step()
    with torch.no_grad(), frozen_quantizers(layer):
        after = layer(batches[0])
    assert not torch.equal(after, plain[0])
    with torch.no_grad():
        assert torch.equal(after, layer(batches[0]))


def test_a_quantizer_that_initialises_inside_a_frozen_scope_does_so_once():
    from dfqbench.quant.frozen import frozen_quantizers

    quantizer = ActQuantizer(4, init="minmax")
    set_quant_state(quantizer, "quantize")
    small, large = torch.rand(64), torch.rand(64) * 10
    with torch.no_grad(), frozen_quantizers(quantizer):
        quantizer(small)
        step = float(quantizer.step.detach())
        out = quantizer(large)  # initialised from the first batch: not again from this one
    assert float(quantizer.step.detach()) == step and quantizer.is_initialised
    with torch.no_grad():
        assert torch.equal(out, quantizer(large))


@pytest.mark.parametrize("learnable", [True, False])
def test_the_device_path_of_lsq_gives_the_cpu_path_gradients(learnable):
    """On a GPU (s, z) stay tensors and the backward masks with tensor bounds (no synchronisation); run here
    on the CPU by handing the function tensor parameters, it must give the float path's gradients."""
    from dfqbench.quant.lsq_function import LSQFakeQuant, quant_params

    torch.manual_seed(0)
    x = (torch.randn(4, 33) * 3).requires_grad_()
    step = torch.tensor(0.37, requires_grad=learnable)
    zero = torch.tensor(2.0, requires_grad=learnable)
    grads = []
    for params in (quant_params(step, zero, x), tuple(torch.tensor(v) for v in quant_params(step, zero, x))):
        out = LSQFakeQuant.apply(x, step, zero, 0, 15, 0.01, params)
        weights = torch.linspace(-1, 1, out.numel()).view_as(out)
        inputs = [x, step, zero] if learnable else [x]
        grads.append(torch.autograd.grad((out * weights).sum(), inputs))
    for on_cpu, on_device in zip(*grads, strict=True):
        torch.testing.assert_close(on_device, on_cpu, rtol=1e-6, atol=1e-7)


def test_the_flags_are_read_from_the_host_and_follow_every_write():
    quantizer = ActQuantizer(4, init="minmax")
    set_quant_state(quantizer, "calibrate")
    quantizer(torch.randn(32))
    set_quant_state(quantizer, "quantize")
    assert quantizer.host_flags == {"initialised": True, "signed": True}
    other = ActQuantizer(4)
    other.load_state_dict(quantizer.state_dict())
    assert other.host_flags == {"initialised": True, "signed": True} and other.qrange == (-8, 7)
    quantizer.reset()
    assert not quantizer.is_initialised and not bool(quantizer.initialised)
