"""Benchmarks of one synthesis step of ``psaq-vit``, ``psaq-vit-v2`` and ``sardfq`` at batch 32.

Each step is timed beside the bare forward + backward passes (to the pixels) that it needs, in the same
pytest-benchmark group per zoo model:

- ``psaq-vit``: the FP teacher on the batch;
- ``psaq-vit-v2``, initial samples and refresh step: the FP teacher and the quantized student on the batch (round
  1 already plays against the uncalibrated student, ``adversarial_first``);
- ``sardfq``: the FP teacher on the batch and its Multi-Semantic Reinforcement crops (about 2.5 per image).

Target: every step within **1.5x** of its bare passes (the losses, taps, augmentation and the optimiser
step together cost at most half a forward + backward). Timings are not asserted.

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_synthesis_psaq.py --benchmark-enable
Without --benchmark-enable (the default) each body runs once, as a smoke test.
"""

from __future__ import annotations

import pytest
import timm
import torch

from benchmarks.pairs import flushed, interleaved
from benchmarks.report import STEP_PAIRS
from benchmarks.zoo_fixtures import DEFAULT_BED, ZOO, zoo_model
from dfqbench.api import SYNTHESIZERS, ModelContext
from dfqbench.kit.ranges import init_activation_ranges
from dfqbench.profiles import get_profile
from dfqbench.quant import get_preset, set_quant_state, wrap_model

BATCH = 32
CASES = ("psaq-vit", "psaq-vit-v2", "psaq-vit-v2-refresh", "sardfq",
         "bare-teacher", "bare-teacher-student", "bare-teacher-msr-crops")


def context(name: str) -> ModelContext:
    model = zoo_model(name)
    teacher = wrap_model(model, get_preset("standard"), "4w4a").eval().requires_grad_(False)
    student = wrap_model(model, get_preset("standard"), "4w4a").eval()
    data_config = timm.data.resolve_data_config(model=model)
    gen = torch.Generator().manual_seed(0)
    init_activation_ranges(student, [torch.randn(BATCH, *data_config["input_size"], generator=gen)], "lsq")
    set_quant_state(student, "quantize")
    return ModelContext(teacher=teacher, student=student, data_config=data_config, num_classes=model.num_classes,
                        profile=get_profile("bench"), generator=gen, device=torch.device("cpu"))


def step_of(ctx: ModelContext, case: str):
    """A zero-argument callable doing one synthesis step (or the bare passes), and what it checks."""
    total = ctx.profile.synth_steps
    if case.startswith("bare"):
        n = BATCH
        if case == "bare-teacher-msr-crops":
            n += len(SYNTHESIZERS.get("sardfq")().start_batch(ctx, BATCH).regions)
        images = torch.randn(n, *ctx.input_size, generator=ctx.generator).requires_grad_()
        models = (ctx.teacher, ctx.student) if case == "bare-teacher-student" else (ctx.teacher,)

        def bare():
            loss = sum(m(images).logsumexp(-1).sum() for m in models)
            (images.grad,) = torch.autograd.grad(loss, [images])
        return bare, lambda: images.grad is not None and bool(images.grad.abs().sum() > 0)
    synth = SYNTHESIZERS.get(case.removesuffix("-refresh"))()
    state = synth.start_batch(ctx, BATCH)
    if case.endswith("-refresh"):
        state = synth.continue_batch(ctx, state.images)
        assert state.adversarial
    before = state.images.detach().clone()
    return (lambda: synth.step(ctx, state, total // 4, total)), lambda: not torch.equal(before, state.images)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ZOO + DEFAULT_BED)
def test_synthesis_step_batch32(benchmark, name, case):
    ctx = context(name)
    run, check = step_of(ctx, case)
    benchmark.group = f"synthesis step {name}"
    benchmark.extra_info.update(model=name, case=case, batch=BATCH, threads=torch.get_num_threads())
    benchmark(run)
    assert check()


BARE_OF = {case: STEP_PAIRS[case] for case in ("psaq-vit", "psaq-vit-v2", "psaq-vit-v2-refresh", "sardfq")}


@pytest.mark.parametrize("flush", [False, True], ids=["plain", "ftz"])
@pytest.mark.parametrize("case", list(BARE_OF))
@pytest.mark.parametrize("name", ZOO + DEFAULT_BED)
def test_synthesis_step_paired(benchmark, name, case, flush):
    """The step and its bare passes in alternation (``pairs.interleaved``): the README's ratios; ``ftz``: both with
    subnormals flushed (``--flush-denormal``)."""
    ctx = context(name)
    (step, check), (bare, _) = step_of(ctx, case), step_of(ctx, BARE_OF[case])
    benchmark.group = f"synthesis step paired {name}"
    benchmark.extra_info.update(model=name, case=case + (" (ftz)" if flush else ""), bare=BARE_OF[case],
                                batch=BATCH, threads=torch.get_num_threads())
    interleaved(benchmark, flushed(step, flush), flushed(bare, flush))
    assert check()
