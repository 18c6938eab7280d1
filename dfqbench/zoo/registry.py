"""Registry of backbones: the embedded zoo (Fashion-MNIST and canvas datasets) and timm's ImageNet models.

Zoo variants register with one small decorator each (timm's
``@register_model`` style)::

    @register_zoo_model(family="vit", recipe=TrainRecipe(epochs=20))
    def fmnist_vit() -> nn.Module: ...

``dataset`` (default ``fashion-mnist``) names the data a model is trained and evaluated on
(:mod:`dfqbench.data.splits`); ``name`` and ``description`` override the function's name and docstring, for
builders made in a loop.

The trained weights live beside this file as ``<name>.safetensors``; their
SHA-256, recipe and measured top-1 are recorded in ``weights/manifest.json``
by ``dfqbench zoo train`` (never typed in by hand).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from dfqbench.atomic import atomic_path
from dfqbench.registry import Registry
from dfqbench.zoo.recipe import TrainRecipe

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
FAMILIES = ("vit", "deit", "swin")


@dataclass(frozen=True)
class ZooModel:
    """One embedded model: how to build it, how to train it, where its weights are."""

    name: str
    family: str
    build: Callable[[], nn.Module]
    recipe: TrainRecipe
    description: str
    dataset: str = "fashion-mnist"

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.safetensors"

    @property
    def record(self) -> dict | None:
        """The manifest entry written when the model was trained (sha256, top1, recipe), if any."""
        return read_manifest().get(self.name)


ZOO: Registry[ZooModel] = Registry("zoo model", loader=lambda: _ensure_loaded(), hint="see: dfqbench zoo list")


def register_zoo_model(family: str, recipe: TrainRecipe, dataset: str = "fashion-mnist", name: str | None = None,
                       description: str | None = None) -> Callable:
    """Register the decorated builder as a zoo model named after the function (or ``name``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family}")

    def decorator(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        model_name = name or build.__name__
        doc = (build.__doc__ or "").strip().splitlines()
        summary = description if description is not None else (doc[0] if doc else "")
        ZOO.add(model_name, ZooModel(model_name, family, build, recipe, summary, dataset))
        return build

    return decorator


def zoo_models(pattern: str | None = None) -> list[str]:
    """Names of the zoo models, optionally filtered with a wildcard (``*swin*``)."""
    return ZOO.names(pattern)


def get_zoo_model(name: str) -> ZooModel:
    return ZOO.get(name)


def is_zoo_model(name: str) -> bool:
    return name in ZOO


def read_manifest() -> dict:
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())


def write_manifest_entry(name: str, entry: dict) -> None:
    """Add or replace one entry; trainings that finish at once each keep theirs (a lock around the update)."""
    with open(MANIFEST.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = read_manifest()
        manifest[name] = entry
        with atomic_path(MANIFEST) as tmp:
            Path(tmp).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ensure_loaded() -> None:
    import dfqbench.zoo.models  # noqa: F401  (registers the zoo variants)
