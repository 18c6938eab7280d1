"""Content-addressed cache of synthetic sets (safetensors, atomic writes).

The key holds the synthesizer's name, version and config, the teacher's
weights hash, the seed, the profile and the device type (a set made on a GPU
differs in its last bits from one made on the CPU, so a CPU row never
calibrates on GPU images), and, for a synthesizer that needs
the quantized model, the bits and the preset too. A synthesizer that does
not need the quantized model therefore runs once and is reused across
bit-widths and calibrators.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from dfqbench.api import SyntheticSet
from dfqbench.atomic import atomic_path

DEFAULT_CACHE = Path("runs/cache")


def cache_key(fields: dict) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CacheEntry:
    key: str
    path: Path
    meta: dict


class SynthesisCache:
    def __init__(self, root: Path = DEFAULT_CACHE) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.safetensors"

    def load(self, key: str) -> SyntheticSet | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError):
            return None  # a corrupt entry is a miss; it is overwritten
        return SyntheticSet(tensors["images"], tensors.get("labels"))

    def save(self, key: str, synthetic: SyntheticSet, meta: dict) -> Path:
        tensors = {"images": synthetic.images.detach().cpu().contiguous()}
        if synthetic.labels is not None:
            tensors["labels"] = synthetic.labels.detach().cpu().contiguous()
        with atomic_path(self.path(key)) as tmp:
            save_file(tensors, tmp, metadata={"dfqbench": json.dumps(meta, sort_keys=True)})
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



def images_finite(synthetic: SyntheticSet) -> bool:
    return bool(torch.isfinite(synthetic.images).all())
