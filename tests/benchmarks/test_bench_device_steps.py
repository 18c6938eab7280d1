"""A MaskAQ synthesis step and a QAT calibration step beside their bare passes, on the GPU when there is one.

The GPU path of a step is bound by kernel launches and host synchronisations, not by arithmetic (on an H200 a
MaskAQ step on the zoo ViT took about 130 ms): these benchmarks measure how far each step is from the eager
passes it cannot avoid, at batch 32, on the zoo ViT and on an ImageNet-sized random-init DeiT-S.

- ``maskaq step`` against ``teacher+student fwd+bwd`` (both models to the pixels);
- ``qat step`` (logit KD, SimCLR augmentation, SGD) against ``qat passes`` (teacher forward without
  autograd, student forward and backward to its parameters).

Every timed call ends with a device synchronisation. Run, on a machine with a GPU:
  .venv/bin/python -m pytest tests/benchmarks/test_bench_device_steps.py --benchmark-enable -o addopts= \\
      --benchmark-json runs/bench_device.json
  .venv/bin/python -m tests.benchmarks.report runs/bench_device.json
Without --benchmark-enable each body runs once, at batch 2 on the CPU (a smoke test; DeiT-S is marked slow).
"""

from __future__ import annotations

import itertools

import pytest
import timm
import torch

from benchmarks.zoo_fixtures import zoo_model
from dfqbench.api import SYNTHESIZERS, ModelContext
from dfqbench.kit.calib_augment import simclr_augment
from dfqbench.kit.kd_loss import logit_kd
from dfqbench.kit.qat import QATConfig
from dfqbench.kit.ranges import init_activation_ranges
from dfqbench.profiles import get_profile
from dfqbench.quant import get_preset, set_quant_state, wrap_model

CASES = ("maskaq step", "teacher+student fwd+bwd", "qat step", "qat passes")
MODELS = ("canvas56a_vit", pytest.param("deit_small_patch16_224", marks=pytest.mark.slow))


def device_model(name: str) -> torch.nn.Module:
    if name.startswith("deit"):
        torch.manual_seed(0)
        return timm.create_model(name, pretrained=False).eval()
    return zoo_model(name)


def context(name: str, device: torch.device, batch: int) -> ModelContext:
    model = device_model(name)
    teacher = wrap_model(model, get_preset("standard"), "4w4a").eval().requires_grad_(False).to(device)
    student = wrap_model(model, get_preset("standard"), "4w4a").eval().to(device)
    data_config = timm.data.resolve_data_config(model=model)
    warm = torch.randn(batch, *data_config["input_size"], generator=torch.Generator().manual_seed(1)).to(device)
    init_activation_ranges(student, [warm], "lsq")
    set_quant_state(student, "quantize")
    return ModelContext(teacher=teacher, student=student, data_config=data_config, num_classes=model.num_classes,
                        profile=get_profile("bench"), generator=torch.Generator().manual_seed(0), device=device)


def synchronised(fn, device: torch.device):
    def call():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return call


def step_of(ctx: ModelContext, case: str, batch: int):
    """The zero-argument callable of ``case`` (one step, or its bare passes)."""
    images = torch.randn(batch, *ctx.input_size, generator=torch.Generator().manual_seed(2)).to(ctx.device)
    if case == "maskaq step":
        synth = SYNTHESIZERS.get("maskaq")()
        state, counter = synth.start_batch(ctx, batch), itertools.count()
        return lambda: synth.step(ctx, state, next(counter) % 2000, 2000)
    if case == "teacher+student fwd+bwd":
        pixels = images.clone().requires_grad_()
        return lambda: torch.autograd.grad(sum(m(pixels).logsumexp(-1).sum() for m in (ctx.teacher, ctx.student)),
                                           pixels)
    params = [p for p in ctx.student.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-6, momentum=0.9, nesterov=True)
    cfg = QATConfig()

    def qat(augment: bool):
        x = simclr_augment(images, ctx.data_config, ctx.generator, cfg.augment_per_image) if augment else images
        with torch.no_grad():
            target = ctx.teacher(x)
        loss = logit_kd(ctx.student(x), target, cfg.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if augment:
            opt.step()
    return (lambda: qat(True)) if case == "qat step" else (lambda: qat(False))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", MODELS)
def test_device_step_batch32(benchmark, name, case):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = 32 if benchmark.enabled else 2
    ctx = context(name, device, batch)
    benchmark.group = f"device step {name} (batch {batch}, {device.type})"
    benchmark.extra_info.update(model=name, case=case, batch=batch, device=device.type,
                                device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                                threads=torch.get_num_threads())
    benchmark(synchronised(step_of(ctx, case, batch), device))
    assert all(torch.isfinite(p).all() for p in ctx.student.parameters())
