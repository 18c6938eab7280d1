"""Checkpoints of cells in flight: a stopped cell resumes from its last natural boundary.

A cell's checkpoints live in ``<root>/<cell_id>/``, one file per stage (``synthesis.pt``, ``calibration.pt``),
each the last state that stage saved (:class:`dfqbench.api.Checkpoint`), beside its numbered parts
(``synthesis.part3.pt``). They are written atomically with
``torch.save`` and read with ``torch.load(weights_only=True)``: tensors, numbers, strings and containers only,
nothing unpickled. The runner removes a cell's folder when it stores the cell (ok or failed); an unreadable
file is removed with one line on stderr, and its stage starts over.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from dfqbench.api import Checkpoint
from dfqbench.atomic import atomic_path
from dfqbench.errors import stderr_line

CHECKPOINTED_STAGES = ("synthesis", "calibration")


class FileCheckpoint(Checkpoint):
    """One stage's state in one file."""

    def __init__(self, path: Path, say: Callable[[str], None] = stderr_line) -> None:
        self.path, self.say = Path(path), say

    def part_path(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.part{index}.pt")

    def load(self) -> dict | None:
        if not self.path.is_file():
            return None
        try:
            state = read(self.path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file: start the stage over
            self.path.unlink(missing_ok=True)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.say(f"checkpoint: removed {self.path} (unreadable: {reason[:120]}); the stage starts over")
            return None
        return state

    def save(self, state: dict) -> None:
        write(self.path, state)

    def save_part(self, index: int, part: dict) -> None:
        write(self.part_path(index), part)

    def load_part(self, index: int) -> dict:
        return read(self.part_path(index))


def write(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read(path: Path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError("not a dict")
    return state


class CellCheckpoints:
    """The checkpoints of one cell, by stage."""

    def __init__(self, root: Path | None, cell_id: str) -> None:
        self.folder = None if root is None else Path(root) / cell_id

    def stage(self, name: str) -> Checkpoint:
        """The stage's checkpoint; a stage that is not checkpointed (a refresh, inside the calibration's) or a
        run without a checkpoint folder gets one that keeps nothing."""
        if self.folder is None or name not in CHECKPOINTED_STAGES:
            return Checkpoint()
        return FileCheckpoint(self.folder / f"{name}.pt")

    def exists(self) -> bool:
        return self.folder is not None and any(self.folder.glob("*.pt"))

    def clear(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
