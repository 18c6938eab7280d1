"""Learning-rate schedules and step partitions, every one the methods use, in one place.

Each cosine is ``half_cosine(p) = (1 + cos(pi p)) / 2`` of a progress ``p`` in [0, 1] (1 at ``p = 0``, 0 at
``p = 1``); they differ in where the progress ends and what the curve is scaled to:

- :func:`cosine_lr` (the shared QAT loop): ``lr (r + (1 - r) c(step / (T - 1)))``, from ``lr`` to ``r lr`` at the
  last step.
- :func:`cosine_to` (MimiQ, PyTorch's CosineAnnealingLR): ``lr_T + (lr - lr_T) c(step / T)``, reaching ``lr_T`` one
  step after the last.
- :func:`linear_warmup_cosine` (PSAQ-ViT, a multiplier): ``(step + 1) / W`` for ``step < W``, then
  ``c((step - W) / (T - W))``.
- :func:`warmup_cosine_lr` (zoo training): the same curve times ``base``.
- :func:`round_lr_multiplier` (PSAQ-ViT's rounds): :func:`linear_warmup_cosine` restarted in every round of
  :func:`round_bounds`.

Every denominator is at least 1. Each function gives the same floats as the form it replaced
(``tests/test_schedules.py``): scaling by 0.5 is exact in binary floating point, but ``pi * (a / b)`` and
``pi * a / b`` round differently, so the curve comes in two spellings, :func:`half_cosine` of a progress and
:func:`half_cosine_at` of a step and a span, each used where the replaced form had it.
"""

from __future__ import annotations

import math


def half_cosine(progress: float) -> float:
    """``(1 + cos(pi p)) / 2``."""
    return 0.5 * (1 + math.cos(math.pi * progress))


def half_cosine_at(step: float, span: float) -> float:
    """``(1 + cos(pi step / span)) / 2``, rounded as ``(pi step) / span``."""
    return 0.5 * (1 + math.cos(math.pi * step / span))


def cosine_lr(step: int, total: int, lr: float, final_ratio: float) -> float:
    """From ``lr`` at step 0 to ``lr * final_ratio`` at step ``total - 1``."""
    return lr * (final_ratio + (1 - final_ratio) * half_cosine(step / max(1, total - 1)))


def cosine_to(step: int, total: int, lr: float, final_lr: float) -> float:
    """Cosine annealing from ``lr`` at step 0 to ``final_lr`` at step ``total`` (CosineAnnealingLR)."""
    return final_lr + (lr - final_lr) * half_cosine_at(step, max(1, total))


def linear_warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Multiplier: linear warm-up over ``warmup`` steps, then cosine to 0 (PSAQ-ViT's per-round schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    return half_cosine_at(step - warmup, max(1, total - warmup))


def warmup_cosine_lr(step: int, total: int, warmup: int, base: float) -> float:
    """``base`` times a linear warm-up over ``warmup`` steps, then a cosine to zero (zoo training)."""
    if step < warmup:
        return base * (step + 1) / warmup
    return base * half_cosine((step - warmup) / max(1, total - warmup))


def round_bounds(total: int, rounds: int) -> list[int]:
    """Start steps of ``rounds`` near-equal rounds of ``total`` steps, and ``total`` itself."""
    return [round(r * total / rounds) for r in range(rounds + 1)]


def round_lr_multiplier(step: int, total: int, rounds: int, warmup: float) -> float:
    """PSAQ-ViT's learning-rate multiplier: the steps split into ``rounds`` rounds, each with a linear
    warm-up over its first ``warmup`` fraction (100 of 500) and then a cosine to 0."""
    bounds = round_bounds(total, rounds)
    r = max(i for i in range(rounds) if bounds[i] <= step)
    length = bounds[r + 1] - bounds[r]
    return linear_warmup_cosine(step - bounds[r], length, round(warmup * length))
