"""MimiQ's inter-head SSIM as dfqbench computes it beside a direct transcription of the authors' formula.

Input: the attention logits of a DeiT-S-sized model (timm ``deit_small_patch16_224``, random init: 12 blocks,
6 heads, 197 tokens, two of them special) at batch 16, the authors' batch. Each benchmark times the loss and
its backward to the logits, and records the peak of the tensor storages alive during both
(``extra_info["peak_bytes"]``, counted at the dispatcher, so the same on every device).

- ``moments``: :func:`dfqbench.methods.mimiq.inter_head_ssim_loss` (per-row moments and one head-by-head matmul
  per block; nothing larger than an attention map);
- ``direct``: the formula as written: every block's min-max-normalised rows stacked, and the SSIM of every
  head pair formed by broadcasting, (blocks, batch, queries, heads, heads, keys) values per intermediate
  (about 1 GiB each here).

Run: .venv/bin/python -m pytest tests/benchmarks/test_bench_mimiq_ssim.py --benchmark-enable -o addopts=
then: .venv/bin/python -m tests.benchmarks.report runs/bench_ssim.json
Without --benchmark-enable the ``moments`` body runs once on batch 2 as a smoke test; ``direct`` is marked slow.
"""

from __future__ import annotations

import dataclasses

import pytest
import timm
import torch
from memory_helpers import LiveTensors

from dfqbench.kit.attention import AttentionRecord, AttentionTaps
from dfqbench.methods.mimiq import SSIM_C1, SSIM_C2, inter_head_ssim_loss, patch_logits
from dfqbench.quant import get_preset, wrap_model

BATCH = 16


def direct_ssim_loss(records: list[AttentionRecord]) -> torch.Tensor:
    """``mean (1 - SSIM^2)`` with every block, image, query and head pair materialised over the keys at once."""
    rows = torch.stack([patch_logits(r)[0] for r in records])                 # (L, B, H, Q, K)
    low, high = rows.amin(-1, keepdim=True), rows.amax(-1, keepdim=True)
    x = ((rows - low) / (high - low + 1e-8)).transpose(2, 3)                   # (L, B, Q, H, K)
    a, b = x.unsqueeze(4), x.unsqueeze(3)                                      # (L, B, Q, H, 1, K), (..., 1, H, K)
    mu_a, mu_b = a.mean(-1), b.mean(-1)
    var_a, var_b = ((a - a.mean(-1, keepdim=True)) ** 2).mean(-1), ((b - b.mean(-1, keepdim=True)) ** 2).mean(-1)
    cov = ((a - a.mean(-1, keepdim=True)) * (b - b.mean(-1, keepdim=True))).mean(-1)   # (L, B, Q, H, H)
    ssim = ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
            / ((mu_a ** 2 + mu_b ** 2 + SSIM_C1) * (var_a + var_b + SSIM_C2)))
    return (1 - ssim ** 2).mean()


FORMS = {"moments": inter_head_ssim_loss, "direct": direct_ssim_loss}


def deit_s_records(batch: int) -> list[AttentionRecord]:
    torch.manual_seed(0)
    model = wrap_model(timm.create_model("deit_small_patch16_224", pretrained=False).eval(), get_preset("standard"),
                       "4w4a").eval().requires_grad_(False)
    with torch.no_grad(), AttentionTaps(model, keep=("logits",), detach=True) as taps:
        model(torch.randn(batch, 3, 224, 224))
    return [dataclasses.replace(r, logits=r.logits.clone().requires_grad_()) for r in taps.records]


def forward_backward(form, records: list[AttentionRecord]) -> torch.Tensor:
    return torch.autograd.grad(form(records), [r.logits for r in records])[0]


@pytest.mark.parametrize("form", ["moments", pytest.param("direct", marks=pytest.mark.slow)])
def test_inter_head_ssim_forward_backward(benchmark, form):
    batch = BATCH if benchmark.enabled else 2
    records = deit_s_records(batch)
    leaves = {r.logits.untyped_storage().data_ptr() for r in records}
    with LiveTensors(leaves) as live:
        grad = forward_backward(FORMS[form], records)
    benchmark.group = f"inter-head SSIM, deit_small sized, batch {batch}"
    benchmark.extra_info.update(form=form, batch=batch, threads=torch.get_num_threads(), peak_bytes=live.peak,
                                largest_bytes=live.largest)
    benchmark.pedantic(forward_backward, args=(FORMS[form], records), rounds=3, iterations=1, warmup_rounds=0)
    assert torch.isfinite(grad).all()
    if form == "direct":  # the two forms are one formula
        torch.testing.assert_close(inter_head_ssim_loss(records), direct_ssim_loss(records), rtol=1e-4, atol=1e-6)
