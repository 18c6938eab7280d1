"""Content-addressed cache of synthetic sets (safetensors, atomic writes).

The key holds the synthesizer's name, version and config, the teacher's
weights hash, the seed, the profile and the device type (a set made on a GPU
differs in its last bits from one made on the CPU, so a CPU row never
calibrates on GPU images), and, for a synthesizer that needs
the quantized model, the bits and the preset too. A synthesizer that does
not need the quantized model therefore runs once and is reused across
bit-widths and calibrators.

Each entry carries the SHA-256 of its tensors' bytes and the seconds it took to make. A read verifies the hash:
an entry whose bytes were altered, that lacks a tensor or a hash, or that holds non-finite pixels is removed
with one line on stderr and counts as a miss, so the set is made again instead of being used silently or
failing its cell on every rerun.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from dfqbench.api import SyntheticSet
from dfqbench.atomic import atomic_path
from dfqbench.errors import UserError, stderr_line
from dfqbench.faults import disk_fault, kill_point
from dfqbench.paths import DEFAULT_CACHE


def cache_key(fields: dict) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    meta: dict


@dataclass(frozen=True)
class CacheHit:
    synthetic: SyntheticSet
    seconds: float | None  # how long making the set took (None for entries that did not record it)
    made_for_this_cell: bool = False  # handed over by the task that made it for this cell: not a reuse


def content_hash(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over each tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class SynthesisCache:
    def __init__(self, root: Path = DEFAULT_CACHE, say: Callable[[str], None] = stderr_line) -> None:
        self.root = Path(root)
        self.say = say

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def load(self, key: str) -> CacheHit | None:
        """The verified entry, or None: absent, or bad (then removed, with one line saying why)."""
        path = self.path(key)
        if not path.is_file():
            return None
        problem, hit = self.verified(path)
        if problem is None:
            return hit
        path.unlink(missing_ok=True)
        self.say(f"cache: removed entry {key} ({problem}); the synthetic set is made again")
        return None

    @staticmethod
    def verified(path: Path) -> tuple[str | None, CacheHit | None]:
        """``(None, hit)`` for a sound entry, else ``(what is wrong, None)``."""
        try:
            tensors = load_file(str(path))
            with safe_open(str(path), "pt") as fh:
                meta = json.loads((fh.metadata() or {}).get("dfqbench", "{}"))
        except (SafetensorError, OSError, json.JSONDecodeError) as exc:
            return f"unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", None
        if "images" not in tensors:
            return "no images tensor", None
        if meta.get("sha256") is None:
            return "no content hash", None
        if content_hash(tensors) != meta["sha256"]:
            return "content does not match its hash", None
        synthetic = SyntheticSet(tensors["images"], tensors.get("labels"))
        if not images_finite(synthetic):
            return "non-finite pixels", None
        return None, CacheHit(synthetic, meta.get("seconds"))

    def save(self, key: str, synthetic: SyntheticSet, meta: dict, seconds: float | None = None) -> Path:
        tensors = {"images": synthetic.images.detach().cpu().contiguous()}
        if synthetic.labels is not None:
            tensors["labels"] = synthetic.labels.detach().cpu().contiguous()
        meta = {**meta, "sha256": content_hash(tensors), "seconds": seconds}
        try:
            disk_fault("cache")
            with atomic_path(self.path(key)) as tmp:
                save_file(tensors, tmp, metadata={"dfqbench": json.dumps(meta, sort_keys=True)})
                kill_point("mid-cache-write")
        except OSError as exc:
            raise UserError(f"cannot write the synthesis cache in {self.root}: {exc.strerror or exc} (free space "
                            "there, or give --cache-dir a writable folder; finished cells are kept)") from None
        return self.path(key)

    def entries(self) -> list[CacheEntry]:
        found = []
        for path in sorted(self.root.glob("*.safetensors")):
            try:
                with safe_open(str(path), "pt") as fh:
                    meta = json.loads((fh.metadata() or {}).get("dfqbench", "{}"))
            except (SafetensorError, OSError, json.JSONDecodeError):
                meta = {"corrupt": True}
            found.append(CacheEntry(path.stem, path, meta))
        return found

    def clear(self) -> int:
        entries = self.entries()
        for entry in entries:
            entry.path.unlink(missing_ok=True)
        return len(entries)

class MemoryCache(SynthesisCache):
    """A cache held in memory: what a worker task is handed (the set its driver sent) and what it makes (kept
    with its metadata for the driver, which alone writes the disk cache)."""

    def __init__(self, entries: dict[str, tuple[SyntheticSet, float | None]] | None = None,
                 made_for_this_cell: frozenset[str] = frozenset()) -> None:
        super().__init__(Path("/nonexistent"))
        self.held = dict(entries or {})
        self.made_for_this_cell = made_for_this_cell  # keys of held sets made for the cell that reads them
        self.made: dict[str, tuple[SyntheticSet, dict, float | None]] = {}

    def load(self, key: str) -> CacheHit | None:
        if key not in self.held:
            return None
        synthetic, seconds = self.held[key]
        return CacheHit(synthetic, seconds, key in self.made_for_this_cell)

    def save(self, key: str, synthetic: SyntheticSet, meta: dict, seconds: float | None = None) -> Path:
        self.made[key] = (synthetic, meta, seconds)
        return self.path(key)

    def entries(self) -> list[CacheEntry]:
        return []


def images_finite(synthetic: SyntheticSet) -> bool:
    return bool(torch.isfinite(synthetic.images).all())
