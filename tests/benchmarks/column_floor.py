"""The floor of a grid column: each row's actual time per stage beside the bare passes it ran.

A row of the Table-1 grid spends its time in forward and backward passes of the FP teacher and the quantized
student, and in everything around them (losses, taps, augmentation, optimiser steps, data, checkpoints). This
tool computes the rows of one column (one model, one bit-width, one seed) in this process, one torch thread, a
fresh synthesis cache, and meters every pass of each model's units (the patch embedding, every block, Swin's
patch mergings, the final norm and the head, of the teacher, the student and the FP model): which unit, the
input's shape, whether autograd was on (a forward with autograd is counted with its backward), and in which stage
it ran. Units, not whole models, so that a pass stopped early (block-wise reconstruction runs a model up to a
block) and a block trained alone count what they ran; the glue between units (position embeddings, token
concatenation, pooling) counts as overhead. Then it times each distinct pass bare (the same unit, in its final
state, on random inputs of that shape: a forward and a backward to whatever needed gradients (the input, the
parameters), a frozen forward in evaluation; the median of ``--repeats``) and prints, per row and stage, the
actual seconds, the floor (the sum of its passes' bare times) and their ratio, and the column's totals. Nothing
is stored.

Run (the grid's rows of issue 14 on the default ViT at 4w4a, seed 0, bench: several CPU-hours):
  .venv/bin/python -m tests.benchmarks.column_floor --profile bench
A quick look (minutes): .venv/bin/python -m tests.benchmarks.column_floor --profile quick --rows noise,psaq-vit
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import tempfile
import weakref
from pathlib import Path

import torch
import torch.nn as nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

import dfqbench.runner.cell as cell_module
from dfqbench.methods.block_recon import HEAD_MODULES, reconstruction_units
from dfqbench.profiles import get_profile
from dfqbench.quant.bits import parse_bit_list
from dfqbench.quant.frozen import frozen_quantizers
from dfqbench.quant.preset import get_preset
from dfqbench.runner.cache import SynthesisCache
from dfqbench.runner.cell import RunSettings, cell_row
from dfqbench.runner.grid import expand_grid, resolve_method
from dfqbench.runner.plan import plan_grid
from dfqbench.runtime import tune_allocator

from .pairs import median_seconds

GRID_ROWS = ("fp,noise,real,psaq-vit,psaq-vit-v2,sardfq,mimiq,maskaq,"
             + ",".join(f"{s}+{c}" for c in ("ptq", "hsad", "masked-hsad", "block-recon") for s in ("noise", "real")))
STAGES = ("synthesis", "calibration", "evaluation")


@dataclasses.dataclass(frozen=True)
class Pass:
    """One kind of unit pass: the module, its input shape, autograd on (then counted with a backward)."""

    module: nn.Module
    shape: tuple[int, ...]
    grad: bool
    input_grad: bool


def pass_units(model: nn.Module) -> list[nn.Module]:
    """The units a timm ViT, DeiT or Swin runs one after the other: patch embedding, the reconstruction units'
    blocks (Swin: each stage's patch merging first), final norm, head(s)."""
    body = (m for unit in reconstruction_units(model) for m in (unit.before, unit.block))
    ends = (getattr(model, name, None) for name in HEAD_MODULES)
    return [m for m in (model.patch_embed, *body, *ends) if isinstance(m, nn.Module) and not isinstance(m, nn.Identity)]


class PassMeter:
    """Counts the unit passes of each stage, through torch's global forward hooks (hooks on the modules
    themselves would be copied with them: the runner wraps copies of the FP model)."""

    def __init__(self) -> None:
        self.stage = "calibration"
        self.counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.models: weakref.WeakSet = weakref.WeakSet()
        self.depth = 0

    def watch(self, model: nn.Module) -> None:
        self.models.update(pass_units(model))

    def pre(self, module, args):
        if module in self.models:
            self.depth += 1

    def post(self, module, args, output):
        if module not in self.models:
            return
        self.depth -= 1
        if output is None:  # an exception ended it (always_call)
            return
        if self.depth == 0 and args and isinstance(args[0], torch.Tensor):
            x = args[0]
            grad = torch.is_grad_enabled() and isinstance(output, torch.Tensor) and output.requires_grad
            self.counts[self.stage][Pass(module, tuple(x.shape), grad, x.requires_grad)] += 1

    @contextlib.contextmanager
    def hooked(self):
        handles = (register_module_forward_pre_hook(self.pre),
                   register_module_forward_hook(self.post, always_call=True))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()


def bare_seconds(p: Pass, repeats: int) -> float:
    """Median seconds of the pass alone: a forward, and with autograd a backward of ``logsumexp().sum()`` to what
    needed gradients (the input, the parameters that require them)."""
    x = torch.randn(p.shape, generator=torch.Generator().manual_seed(0))
    params = [q for q in p.module.parameters() if q.requires_grad]

    def once():
        inputs = x.clone().requires_grad_(p.input_grad)
        if not p.grad:  # as the evaluator runs it
            with torch.no_grad(), frozen_quantizers(p.module):
                p.module(inputs)
            return
        out = p.module(inputs)  # to the pixels in synthesis, to the parameters (and inputs) in QAT
        torch.autograd.grad(out.logsumexp(-1).sum(), ([inputs] if p.input_grad else []) + params, allow_unused=True)

    return median_seconds(once, repeats)


def metered_cell(planned, settings: RunSettings, meter: PassMeter) -> dict:
    """The row of ``planned``, its passes counted by stage (the stage switched where the runner enters it)."""
    make_set, evaluate, original_wrap = cell_module.synthetic_set, cell_module.evaluate, cell_module.wrap_model

    def synthetic_set(*args, **kwargs):
        meter.stage = "synthesis"
        out = make_set(*args, **kwargs)
        meter.stage = "calibration"
        return out

    def evaluated(model, *args, **kwargs):
        meter.stage = "evaluation"
        meter.watch(model)
        return evaluate(model, *args, **kwargs)

    def wrap_model(*args, **kwargs):
        wrapped = original_wrap(*args, **kwargs)
        meter.watch(wrapped)
        return wrapped

    patches = {"synthetic_set": synthetic_set, "evaluate": evaluated, "wrap_model": wrap_model}
    saved = {name: getattr(cell_module, name) for name in patches}
    try:
        for name, fn in patches.items():
            setattr(cell_module, name, fn)
        with meter.hooked():
            return cell_row(planned, settings, lambda stage, done, total: None)
    finally:
        for name, fn in saved.items():
            setattr(cell_module, name, fn)


def stage_times(planned, row: dict, meter: PassMeter, repeats: int) -> list[tuple[str, str, float, float]]:
    """``(row label, stage, actual seconds, floor seconds)`` of each stage of one computed row."""
    bare: dict[Pass, float] = {}
    out = []
    for stage in STAGES:
        counts = meter.counts.get(stage, {})
        for p in counts:
            bare.setdefault(p, bare_seconds(p, repeats))
        out.append((planned.cell.method.label, stage, row.get(f"seconds_{stage}") or 0.0,
                    sum(n * bare[p] for p, n in counts.items())))
    return out


def measure_column(args: argparse.Namespace, say=print) -> list[tuple[str, str, float, float]]:
    """Every row of the column computed and metered; each stage's line said as soon as its row is done."""
    tune_allocator()
    torch.set_num_threads(1)
    measured = []
    with tempfile.TemporaryDirectory() as cache:
        settings = RunSettings(preset=get_preset("standard"), profile=get_profile(args.profile),
                               device=torch.device("cpu"), cache=SynthesisCache(Path(cache)), limit=args.limit)
        methods = [resolve_method(name, {}) for name in args.rows.split(",")]
        cells = expand_grid(methods, [args.model], parse_bit_list(args.bits), [args.seed])
        say("| row | stage | actual (s) | floor (s) | actual / floor |\n|---|---|---|---|---|")
        for planned in plan_grid(cells, settings):
            meter = PassMeter()
            row = metered_cell(planned, settings, meter)
            if row["status"] != "ok":
                say(f"| {planned.describe()} | failed: {row['error']} | | | |")
                continue
            for label, stage, actual, floor in stage_times(planned, row, meter, args.repeats):
                measured.append((label, stage, actual, floor))
                if actual or floor:
                    ratio = f"{actual / floor:.2f}x" if floor else "–"
                    say(f"| {label} | {stage} | {actual:.2f} | {floor:.2f} | {ratio} |")
    actual, floor = sum(m[2] for m in measured), sum(m[3] for m in measured)
    say(f"| column | all | {actual:.2f} | {floor:.2f} | {actual / max(floor, 1e-9):.2f}x |")
    return measured


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="canvas56a_vit")
    parser.add_argument("--bits", default="4w4a")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="bench")
    parser.add_argument("--rows", default=GRID_ROWS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    return parser.parse_args(argv)


if __name__ == "__main__":
    measure_column(parse_args(), say=lambda line: print(line, flush=True))
