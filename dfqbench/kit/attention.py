"""Attention taps: per block, the logits S, probabilities A and per-head outputs O, with the token layout.

Usage, on a model wrapped by :func:`dfqbench.quant.wrap_model` (FP with
quantizers OFF, or quantized)::

    with AttentionTaps(model) as taps:
        logits = model(images)
    for rec in taps.records:          # one per attention call, in execution order
        rec.logits   # S = (q * d^-0.5) @ k^T as computed (B', H, N, N), before bias/mask
        rec.probs    # A = softmax(S + bias/mask) (before the softmax-output quantizer)
        rec.outputs  # O = A_q @ v_q, per head (B', H, N, d), before heads are merged
        rec.layout   # special tokens, patch grid, Swin windows / shift / pad tokens

For Swin ``B' = B * windows``; ``rec.images`` gives B. Tensors keep their
graph (``detach=False``, the default) so that losses on them backpropagate
to the pixels; pass ``keep=("logits",)`` to hold only what a method needs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn as nn

from dfqbench.layout import TokenLayout
from dfqbench.quant.attention_modules import ExplicitAttention, ExplicitWindowAttention

FIELDS = ("logits", "probs", "outputs")


@dataclass
class AttentionRecord:
    """What one attention call computed."""

    name: str
    index: int
    layout: TokenLayout
    logits: torch.Tensor | None
    probs: torch.Tensor | None
    outputs: torch.Tensor | None
    additive: torch.Tensor | None  # bias + mask added to S: (1|windows, H|1, N, N), or None

    @property
    def images(self) -> int:
        tensor = next(t for t in (self.logits, self.probs, self.outputs) if t is not None)
        return tensor.shape[0] // self.layout.num_windows

    def per_image(self, tensor: torch.Tensor) -> torch.Tensor:
        """(B * windows, ...) -> (B, windows, ...)."""
        return tensor.view(self.images, self.layout.num_windows, *tensor.shape[1:])

    def probs_from_logits(self) -> torch.Tensor:
        """``softmax(S + bias/mask)`` recomputed from the tapped logits."""
        if self.additive is None:
            return self.logits.softmax(dim=-1)
        scores = self.per_image(self.logits) + self.additive.unsqueeze(0)
        return scores.softmax(dim=-1).view_as(self.logits)


def attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, (ExplicitAttention, ExplicitWindowAttention))]
    if not found:
        raise ValueError("no explicit attention modules: wrap the model with dfqbench.quant.wrap_model first")
    return found


class AttentionTaps:
    """Context manager that records every attention call of a wrapped model."""

    def __init__(self, model: nn.Module, keep: tuple[str, ...] = FIELDS, detach: bool = False) -> None:
        unknown = set(keep) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown tap fields {sorted(unknown)}; choose from {FIELDS}")
        self.modules = attention_modules(model)
        self.keep, self.detach = set(keep), detach
        self.records: list[AttentionRecord] = []

    def clear(self) -> None:
        self.records.clear()

    def _hold(self, name: str, tensor: torch.Tensor) -> torch.Tensor | None:
        if name not in self.keep:
            return None
        return tensor.detach() if self.detach else tensor

    def _tap(self, name: str, index: int):
        def record(module, logits, probs, outputs, additive) -> None:
            layout = module.layout(logits.shape[-1]) if callable(module.layout) else module.layout
            additive = None if additive is None else additive.view(-1, *additive.shape[-3:])
            self.records.append(AttentionRecord(
                name=name, index=index, layout=layout, logits=self._hold("logits", logits),
                probs=self._hold("probs", probs), outputs=self._hold("outputs", outputs),
                additive=None if additive is None else additive.detach()))
        return record

    def __enter__(self) -> AttentionTaps:
        for index, (name, module) in enumerate(self.modules):
            if module.tap is not None:
                raise RuntimeError(f"{name} is already tapped")
            module.tap = self._tap(name, index)
        return self

    def __exit__(self, *exc) -> None:
        for _, module in self.modules:
            module.tap = None


def taps_if(enabled: bool, model: nn.Module, keep: tuple[str, ...]):
    """:class:`AttentionTaps` on ``model`` when ``enabled``, else a context that taps nothing (yields None)."""
    return AttentionTaps(model, keep=keep) if enabled else contextlib.nullcontext()
