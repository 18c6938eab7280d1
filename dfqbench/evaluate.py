"""The evaluator: top-1 and top-5 in percent on the full test split, fixed batch size."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn as nn

from dfqbench.quant.frozen import frozen_quantizers

EVAL_BATCH_SIZE = 256


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float | None
    n: int


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable[tuple[torch.Tensor, torch.Tensor]],
             device: str | torch.device = "cpu", progress=None) -> Accuracy:
    """Top-1/top-5 over (input, label) batches already preprocessed for the model.

    The model's quantizers read their weights and ranges once for the whole pass
    (:func:`~dfqbench.quant.frozen.frozen_quantizers`). Top-5 is reported only when the model has at least 5
    classes. Non-finite logits raise FloatingPointError: an argmax over NaNs is a number (class 0), not an
    accuracy.
    """
    was_training = model.training
    model.eval()
    correct1 = correct5 = total = 0
    try:
        with frozen_quantizers(model):
            for inputs, labels in data:
                logits = model(inputs.to(device))
                if not bool(torch.isfinite(logits).all()):
                    raise FloatingPointError(f"the model's logits are not finite (NaN or inf) after {total} images")
                labels = labels.to(device)
                k = min(5, logits.shape[-1])
                topk = logits.topk(k, dim=-1).indices
                correct1 += (topk[:, 0] == labels).sum().item()
                correct5 += (topk == labels[:, None]).any(dim=-1).sum().item()
                total += len(labels)
                if progress is not None:
                    progress(len(labels))
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluation set is empty")
    top5 = 100.0 * correct5 / total if logits.shape[-1] >= 5 else None
    return Accuracy(top1=100.0 * correct1 / total, top5=top5, n=total)
