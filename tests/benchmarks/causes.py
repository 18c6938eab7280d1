"""The measurements behind README "Speed"'s causes of the unmet targets, printed in one run (a few minutes):

- evaluation: CPU time of the fake-quant 4w4a model and of timm's, 1024 images, and the quantizers' share (torch's
  profiler: the self time of ``mul``, ``round_``, ``clamp_``, ``mul_``);
- PSAQ-ViT: a bare forward+backward of the canvas ViT and the same with the patch-similarity entropy added;
- MimiQ: the per-row reductions on a Swin stage-1 record (min and max with positions, ``amin``, ``mean``);
- subnormals: a canvas Swin forward+backward, bare and with the attention outputs in the loss, plain and flushed.

Run: .venv/bin/python -m tests.benchmarks.causes
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import profile

sys.path.insert(0, str(Path(__file__).parents[1]))  # the benchmarks' own imports, as pytest's rootdir gives them

from benchmarks.pairs import flushed, median_seconds
from benchmarks.test_bench_synthesis_psaq import context
from benchmarks.test_bench_zoo import eval_models, run_eval
from dfqbench.kit.attention import AttentionTaps
from dfqbench.methods.psaq_vit import patch_similarity_entropy_loss
from dfqbench.runtime import tune_allocator

QUANTIZER_OPS = ("aten::mul", "aten::round_", "aten::clamp_", "aten::mul_")


def median_ms(fn, repeats: int = 9) -> float:
    return 1000 * median_seconds(fn, repeats)


def evaluation(name: str = "canvas56a_vit") -> None:
    fp, quantized, batches = eval_models(name)
    for label, model in (("fake-quant 4w4a", quantized), ("timm FP", fp)):
        run_eval(model, batches)
        with profile() as prof:
            run_eval(model, batches)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events) / 1000
        quant = sum(e.self_cpu_time_total for e in events if e.key in QUANTIZER_OPS) / 1000
        print(f"evaluation {name} {label}: {total:.0f} ms CPU, of which mul/round_/clamp_/mul_ {quant:.0f} ms")


def pass_with(ctx, images, loss_of_records=None):
    def run():
        with AttentionTaps(ctx.teacher, ("outputs",)) as taps:
            out = ctx.teacher(images)
        loss = out.logsumexp(-1).sum()
        if loss_of_records is not None:
            loss = loss + loss_of_records(taps.records)
        torch.autograd.grad(loss, [images])
    return run


def entropy_cost(name: str = "canvas56a_vit") -> None:
    ctx = context(name)
    images = torch.randn(32, *ctx.input_size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    bare, pse = median_ms(pass_with(ctx, images)), median_ms(pass_with(ctx, images, patch_similarity_entropy_loss))
    print(f"psaq-vit {name}: forward+backward {bare:.1f} ms, with the patch-similarity entropy {pse:.1f} ms")


def row_reductions() -> None:
    rows = torch.randn(512, 49, 3, 49, generator=torch.Generator().manual_seed(0))  # (B', Q, H, K): Swin stage 1
    parts = {"min with positions": lambda: rows.min(-1), "max with positions": lambda: rows.max(-1),
             "amin": lambda: rows.amin(-1), "mean": lambda: rows.mean(-1)}
    print("mimiq row reductions (512 x 49 x 3 rows of 49 keys): "
          + ", ".join(f"{label} {median_ms(fn, 15):.1f} ms" for label, fn in parts.items()))


def subnormals(name: str = "canvas56a_swin") -> None:
    ctx = context(name)
    images = torch.randn(32, *ctx.input_size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    outputs_in_loss = pass_with(ctx, images, lambda records: sum(r.outputs.sum() for r in records))
    for flush in (False, True):
        bare, tapped = (median_ms(flushed(fn, flush)) for fn in (pass_with(ctx, images), outputs_in_loss))
        print(f"subnormals {name} ({'flushed' if flush else 'plain'}): forward+backward {bare:.1f} ms, "
              f"with the attention outputs in the loss {tapped:.1f} ms")


if __name__ == "__main__":
    tune_allocator()
    torch.set_num_threads(1)
    evaluation()
    entropy_cost()
    row_reductions()
    subnormals()
