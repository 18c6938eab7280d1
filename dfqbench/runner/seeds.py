"""One master seed per cell, derived per stage with explicit generators."""

from __future__ import annotations

import hashlib

import torch

STAGES = ("synthesis", "calibration", "refresh", "evaluation")


def stage_seed(master: int, stage: str) -> int:
    """A 63-bit seed for ``stage`` derived from the cell's master seed (stable across platforms)."""
    digest = hashlib.sha256(f"dfqbench:{master}:{stage}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def stage_generator(master: int, stage: str) -> torch.Generator:
    return torch.Generator().manual_seed(stage_seed(master, stage))
