"""A loss that must stay finite, checked without a device synchronisation per step.

On the CPU each loss is checked as it comes (reading it costs nothing) and the error names its step. On a GPU
reading a loss waits for the device: the watch keeps a flag on the device, ``|=`` each step's non-finiteness,
and reads it only at :meth:`FiniteWatch.check` (before a checkpoint, and at the end), so that a loop of
thousands of steps synchronises a handful of times; the error then names the steps between two checks.
"""

from __future__ import annotations

import torch


class FiniteWatch:
    """``add(loss, step)`` every step, ``check()`` before a checkpoint and at the end. ``immediate``: check each
    loss as it comes (default: on the CPU only)."""

    def __init__(self, what: str, immediate: bool | None = None) -> None:
        self.what, self.immediate, self.first, self.last = what, immediate, None, None
        self.flag: torch.Tensor | None = None

    def add(self, loss: torch.Tensor, step: int) -> None:
        if self.immediate if self.immediate is not None else loss.device.type == "cpu":
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{self.what} is {loss.item()} at step {step}")
            return
        bad = ~torch.isfinite(loss.detach())
        self.flag = bad if self.flag is None else self.flag | bad
        self.first = step if self.first is None else self.first
        self.last = step

    def check(self) -> None:
        """Raise if a loss added since the last check was NaN or infinite (one device read)."""
        if self.flag is not None and bool(self.flag):
            raise FloatingPointError(f"{self.what} became NaN or infinite between steps {self.first} and {self.last}")
        self.flag = self.first = None
