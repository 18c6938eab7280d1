"""Benchmarks of the zoo models (pytest-benchmark; numbers go to the README).

Run: .venv/bin/python -m pytest tests/benchmarks --benchmark-enable --benchmark-json runs/bench.json
then: .venv/bin/python -m tests.benchmarks.report runs/bench.json
Without --benchmark-enable (the default) each body runs once, as a smoke test; the canvas models' evaluation
benchmarks are marked slow (the default run skips them; ``-o addopts=`` runs them).
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.pairs import flushed, interleaved
from benchmarks.zoo_fixtures import CANVAS_ZOO, DEFAULT_BED, ZOO, zoo_model
from dfqbench.quant import get_preset, set_quant_state, wrap_model
from dfqbench.quant.frozen import frozen_quantizers

EVAL_IMAGES, EVAL_BATCH = 1024, 256
EVAL_MODELS = ZOO + tuple(pytest.param(name, marks=pytest.mark.slow) for name in CANVAS_ZOO)


@pytest.mark.parametrize("name", ZOO + CANVAS_ZOO)
def test_forward_backward_batch32(benchmark, name):
    """Forward + backward to the pixels of a batch of 32: the unit cost of a synthesis step."""
    model = zoo_model(name)
    images = torch.randn(32, *model.pretrained_cfg["input_size"], requires_grad=True)

    def step():
        images.grad = None
        model(images).logsumexp(-1).sum().backward()

    benchmark.group = "forward+backward batch 32"
    benchmark.extra_info.update(model=name, threads=torch.get_num_threads())
    benchmark(step)
    assert images.grad is not None and images.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ZOO + DEFAULT_BED)
def test_forward_backward_flush_paired(benchmark, name):
    """Forward + backward with subnormals flushed (``--flush-denormal``) against the same without, in alternation:
    what the switch buys (below 1x: faster)."""
    model = zoo_model(name)
    images = torch.randn(32, *model.pretrained_cfg["input_size"], generator=torch.Generator().manual_seed(0),
                         requires_grad=True)

    def step():
        torch.autograd.grad(model(images).logsumexp(-1).sum(), [images])

    benchmark.group = f"flush paired {name}"
    benchmark.extra_info.update(model=name, case="fwd+bwd, subnormals flushed", bare="fwd+bwd",
                                threads=torch.get_num_threads())
    interleaved(benchmark, flushed(step), step)


def run_eval(model, batches):
    """As the evaluator runs a model: without autograd, its quantizers frozen for the pass."""
    with torch.no_grad(), frozen_quantizers(model):
        return sum(int(model(x).argmax(-1).sum()) for x in batches)


def eval_models(name: str):
    """timm's FP model, its fake-quant 4w4a copy (ranges from the first batch) and the evaluation batches."""
    model = zoo_model(name)
    gen = torch.Generator().manual_seed(0)
    size = model.pretrained_cfg["input_size"]
    batches = [torch.randn(EVAL_BATCH, *size, generator=gen) for _ in range(EVAL_IMAGES // EVAL_BATCH)]
    quantized = wrap_model(model, get_preset("standard"), "4w4a").eval()
    set_quant_state(quantized, "calibrate")
    run_eval(quantized, batches[:1])
    set_quant_state(quantized, "quantize")
    return model, quantized, batches


@pytest.mark.parametrize("mode", ["fp", "4w4a"])
@pytest.mark.parametrize("name", EVAL_MODELS)
def test_eval_fp_vs_fake_quant(benchmark, name, mode):
    """Evaluation of 1024 images: the timm FP model against the fake-quant 4w4a model."""
    fp, quantized, batches = eval_models(name)
    model = fp if mode == "fp" else quantized
    benchmark.group = f"eval {name}"
    benchmark.extra_info.update(model=name, mode=mode, threads=torch.get_num_threads())
    benchmark(run_eval, model, batches)


@pytest.mark.parametrize("name", EVAL_MODELS)
def test_eval_fake_quant_paired(benchmark, name):
    """The fake-quant 4w4a evaluation and timm's FP evaluation in alternation (``pairs.interleaved``)."""
    model, quantized, batches = eval_models(name)
    benchmark.group = f"eval paired {name}"
    benchmark.extra_info.update(model=name, case="fake-quant 4w4a eval", bare="timm FP eval",
                                threads=torch.get_num_threads())
    interleaved(benchmark, lambda: run_eval(quantized, batches), lambda: run_eval(model, batches), rounds=7)
