"""A scope in which a model's quantizers read their tensors once: evaluation's fixed weights and ranges.

Outside the scope every call reads everything afresh: the quantized weight (its per-channel scale from the
current weight) and the activation quantizer's ``s`` and ``z``. Inside
``frozen_quantizers(model)`` the first call of each quantizer computes them and later calls reuse them, so
that evaluating N batches quantizes each weight once instead of N times. The caller promises that nothing
changes the model inside the scope (evaluation does not); nothing is cached beyond it, so no change made
elsewhere, however it is made (``.data`` edits, a new tensor at a reused address), can be missed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch.nn as nn

from dfqbench.quant.state import Quantizer, quantizers


def read_once(quantizer: Quantizer, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, once per frozen scope (every time outside one)."""
    reads = quantizer.frozen_reads
    if reads is None:
        return compute()
    if name not in reads:
        reads[name] = compute()
    return reads[name]


@contextmanager
def frozen_quantizers(model: nn.Module) -> Iterator[None]:
    """Inside: each quantizer of ``model`` quantizes its weight and reads its range once (see the module)."""
    scoped = [q for q in quantizers(model) if q.frozen_reads is None]  # nested scopes: the outer one owns
    for quantizer in scoped:
        quantizer.frozen_reads = {}
    try:
        yield
    finally:
        for quantizer in scoped:
            quantizer.frozen_reads = None
