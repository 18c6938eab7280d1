"""Typed, versioned configs that serialise to JSON and hash stably (torchao style)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, ClassVar, TypeVar

C = TypeVar("C", bound="Config")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every config: a frozen dataclass with a ``CONFIG_VERSION``.

    ``CONFIG_VERSION`` versions the config itself: bump it whenever the meaning of a field changes. It is
    serialised as ``"version"`` in the JSON form and so enters the hash. It is not a plugin's ``version``
    (:class:`dfqbench.api.Plugin`), which versions the plugin's numbers; a config that is not a plugin's (the
    quantizer preset) carries its numbers' version here, and bumps it when its numbers change.
    """

    CONFIG_VERSION: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "version": self.CONFIG_VERSION, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        """Stable 12-hex-digit hash of the JSON form."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        data = dict(data)
        kind, version = data.pop("type", cls.__name__), data.pop("version", cls.CONFIG_VERSION)
        if kind != cls.__name__:
            raise ValueError(f"expected a {cls.__name__} config, got {kind}")
        if version != cls.CONFIG_VERSION:
            raise ValueError(f"{cls.__name__} version {version} is not the current version {cls.CONFIG_VERSION}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @classmethod
    def from_json(cls: type[C], text: str) -> C:
        return cls.from_dict(json.loads(text))
