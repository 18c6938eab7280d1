"""Every schedule in ``dfqbench.kit.schedules`` gives the same floats as the function it replaced, over its range.

The old functions are copied here verbatim (from ``calibration/qat.py``, ``methods/mimiq.py``,
``synthesis/augment.py``, ``zoo/train.py`` and ``methods/psaq_vit.py`` before the kit existed).
"""

from __future__ import annotations

import math

import pytest

from dfqbench.kit import schedules


def old_cosine_lr(step, total, lr, final_ratio):
    progress = step / max(1, total - 1)
    return lr * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def old_cosine_to(step, total, lr, final_lr):
    return final_lr + (lr - final_lr) * 0.5 * (1 + math.cos(math.pi * step / max(1, total)))


def old_linear_warmup_cosine(step, total, warmup):
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def old_lr_at(step, total, warmup, base):
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def old_round_bounds(total, rounds):
    return [round(r * total / rounds) for r in range(rounds + 1)]


def old_round_lr_multiplier(step, total, rounds, warmup):
    bounds = old_round_bounds(total, rounds)
    r = max(i for i in range(rounds) if bounds[i] <= step)
    length = bounds[r + 1] - bounds[r]
    return old_linear_warmup_cosine(step - bounds[r], length, round(warmup * length))


TOTALS = (1, 2, 3, 10, 16, 120, 200, 1000, 1001, 64000)


@pytest.mark.parametrize("total", TOTALS)
@pytest.mark.parametrize(("lr", "ratio"), [(1e-3, 0.01), (4e-5, 0.0), (0.1, 1.0), (0.25, 0.5)])
def test_cosine_lr_is_the_qat_loops(total, lr, ratio):
    assert all(schedules.cosine_lr(s, total, lr, ratio) == old_cosine_lr(s, total, lr, ratio)
               for s in range(total + 1))


@pytest.mark.parametrize("total", TOTALS)
@pytest.mark.parametrize(("lr", "final"), [(0.1, 1e-3), (0.25, 0.0), (1.0, 1.0)])
def test_cosine_to_is_mimiqs(total, lr, final):
    assert all(schedules.cosine_to(s, total, lr, final) == old_cosine_to(s, total, lr, final) for s in range(total + 1))


@pytest.mark.parametrize("total", TOTALS)
@pytest.mark.parametrize("warmup_fraction", (0.0, 0.2, 0.5, 1.0))
def test_linear_warmup_cosine_and_the_zoo_schedule(total, warmup_fraction):
    warmup = round(warmup_fraction * total)
    for s in range(total + 1):
        assert schedules.linear_warmup_cosine(s, total, warmup) == old_linear_warmup_cosine(s, total, warmup)
        for base in (1e-3, 5e-4, 3.0):
            assert schedules.warmup_cosine_lr(s, total, warmup, base) == old_lr_at(s, total, warmup, base)


@pytest.mark.parametrize("total", TOTALS)
@pytest.mark.parametrize("rounds", (1, 2, 4))
def test_psaqs_rounds(total, rounds):
    assert schedules.round_bounds(total, rounds) == old_round_bounds(total, rounds)
    if total >= rounds:
        new, old = schedules.round_lr_multiplier, old_round_lr_multiplier
        assert all(new(s, total, rounds, 0.2) == old(s, total, rounds, 0.2) for s in range(total))
