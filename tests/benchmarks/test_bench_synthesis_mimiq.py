"""Benchmarks of one synthesis step of ``mimiq`` and ``maskaq`` at batch 32, beside the bare passes it needs.

Target: one step costs at most 1.5x its bare passes on the same model and machine:

- ``mimiq`` step <= 1.5x the FP teacher's forward + backward to the pixels;
- ``maskaq`` step <= 1.5x the FP teacher's plus the quantized student's forward + backward to the pixels.

The rest of a step (the SSIM moments, TV, L_SE, the mask and L_MAA, AdamW, the projection) is the overhead
measured here. Timings are not asserted.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_synthesis_mimiq.py --benchmark-enable
Without --benchmark-enable (the default) each body runs once, as a smoke test.
"""

from __future__ import annotations

import itertools

import pytest
import timm
import torch

from benchmarks.pairs import flushed, interleaved
from benchmarks.zoo_fixtures import DEFAULT_BED, ZOO, zoo_model
from dfqbench.api import SYNTHESIZERS, ModelContext
from dfqbench.profiles import get_profile
from dfqbench.quant import get_preset, set_quant_state, wrap_model

BATCH = 32
STEPS = 2000  # the schedule the step index is taken from (paper scale); the cost does not depend on it
RATIO_TARGET = 1.5


def context(name: str) -> ModelContext:
    """Teacher and quantized student as the runner builds them; the student's ranges already initialised."""
    model = zoo_model(name)
    teacher = wrap_model(model, get_preset("standard"), "4w4a").eval().requires_grad_(False)
    student = wrap_model(model, get_preset("standard"), "4w4a").eval()
    set_quant_state(student, "quantize")
    ctx = ModelContext(teacher=teacher, student=student, data_config=timm.data.resolve_data_config(model=model),
                       num_classes=model.num_classes, profile=get_profile("bench"),
                       generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    with torch.no_grad():
        student(torch.randn(BATCH, *ctx.input_size, generator=torch.Generator().manual_seed(1)))
    return ctx


def bare_passes(models: list[torch.nn.Module], images: torch.Tensor) -> None:
    """Forward + backward to the pixels of each model (what a synthesis step cannot avoid)."""
    for model in models:
        (grad,) = torch.autograd.grad(model(images).logsumexp(-1).sum(), images)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("name", ZOO + DEFAULT_BED)
@pytest.mark.parametrize("component", ["mimiq step", "fp fwd+bwd", "maskaq step", "fp+q fwd+bwd"])
def test_synthesis_step_batch32(benchmark, name, component):
    ctx = context(name)
    benchmark.group = f"synthesis step {name} (batch {BATCH})"
    benchmark.extra_info.update(model=name, component=component, batch=BATCH, threads=torch.get_num_threads(),
                                ratio_target=RATIO_TARGET)
    if component.endswith("step"):
        synth = SYNTHESIZERS.get(component.split()[0])()
        state = synth.start_batch(ctx, BATCH)
        counter = itertools.count()
        benchmark(lambda: synth.step(ctx, state, next(counter) % STEPS, STEPS))
        low, high = ctx.pixel_bounds()
        assert torch.isfinite(state.images).all()
        assert (state.images >= low - 1e-6).all() and (state.images <= high + 1e-6).all()
        assert all(p.grad is None for p in ctx.student.parameters())
    else:
        images = torch.randn(BATCH, *ctx.input_size, generator=torch.Generator().manual_seed(2), requires_grad=True)
        models = [ctx.teacher] if component == "fp fwd+bwd" else [ctx.teacher, ctx.student]
        benchmark(bare_passes, models, images)


@pytest.mark.parametrize("flush", [False, True], ids=["plain", "ftz"])
@pytest.mark.parametrize("name", ZOO + DEFAULT_BED)
@pytest.mark.parametrize("method", ["mimiq", "maskaq"])
def test_synthesis_step_paired(benchmark, name, method, flush):
    """The step and its bare passes in alternation (``pairs.interleaved``): the README's ratios; ``ftz``: both with
    subnormals flushed (``--flush-denormal``)."""
    ctx = context(name)
    synth = SYNTHESIZERS.get(method)()
    state, counter = synth.start_batch(ctx, BATCH), itertools.count()
    images = torch.randn(BATCH, *ctx.input_size, generator=torch.Generator().manual_seed(2), requires_grad=True)
    models = [ctx.teacher] if method == "mimiq" else [ctx.teacher, ctx.student]
    benchmark.group = f"synthesis step paired {name}"
    benchmark.extra_info.update(model=name, case=f"{method} step" + (" (ftz)" if flush else ""),
                                bare="fp fwd+bwd" if method == "mimiq" else "fp+q fwd+bwd", batch=BATCH,
                                threads=torch.get_num_threads())
    interleaved(benchmark, flushed(lambda: synth.step(ctx, state, next(counter) % STEPS, STEPS), flush),
                flushed(lambda: bare_passes(models, images), flush))
    assert torch.isfinite(state.images).all()
