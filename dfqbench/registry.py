"""One typed registry class for every name table: plugins, presets, profiles, observers, zoo models.

Every registry lists its names with wildcards (``names("*vit*")``), and an unknown name is one line with the
closest names (did-you-mean) and where to look. A registry may have a ``loader``, run before every lookup, that
makes sure its entries are registered (the zoo imports its model file; the plugin registries load the plugins).

Plugin entries come from three places:

- the ``@register_synthesizer("name")``-style decorators; the built-in
  plugin packages ``baselines`` and ``methods`` are imported on the first
  lookup (one file per method, nothing else to edit);
- installed packages, through the ``dfqbench.plugins`` entry-point group
  (each entry point names a module whose import registers its plugins);
- ``--plugin path/to/file.py`` on the command line (:func:`load_plugin_file`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from dfqbench.errors import UserError
from dfqbench.naming import did_you_mean, match_wildcards

T = TypeVar("T")
ENTRY_POINT_GROUP = "dfqbench.plugins"


class Registry(Generic[T]):
    """Name -> object, where an entry may be a module path imported on first lookup.

    ``hint`` ends the unknown-name error: by default ``see: dfqbench list <kind>s``; ``{names}`` in it becomes the
    registered names in registration order (``choose from: {names}``)."""

    def __init__(self, kind: str, loader: Callable[[], None] | None = None, hint: str | None = None) -> None:
        self.kind = kind
        self._loader = loader
        self._hint = hint if hint is not None else f"see: dfqbench list {kind}s"
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def _load(self) -> None:
        if self._loader is not None:
            self._loader()

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name")``."""
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' is already registered; give yours another name")
            self._entries[name] = obj
            self._lazy.pop(name, None)
            return obj
        return decorator

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    def register_lazy(self, name: str, module: str) -> None:
        """``name`` is defined (and registered) by importing ``module``."""
        if name not in self._entries:
            self._lazy[name] = module

    def names(self, pattern: str | None = None) -> list[str]:
        """The registered names (sorted), those matching a shell-style ``pattern`` when given."""
        self._load()
        return match_wildcards(set(self._entries) | set(self._lazy), pattern)

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> T:
        if name not in self._entries:
            self._load()
            if name in self._lazy:
                importlib.import_module(self._lazy[name])
            if name not in self._entries:
                known = self.names()
                hint = self._hint.format(names=", ".join(self._entries))
                raise UserError(f"unknown {self.kind} '{name}'{did_you_mean(name, known)} ({hint})")
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def items(self, pattern: str | None = None) -> list[tuple[str, T]]:
        return [(name, self.get(name)) for name in self.names(pattern)]

    def values(self, pattern: str | None = None) -> list[T]:
        return [self.get(name) for name in self.names(pattern)]


_entry_points_loaded = False
BUILTIN_PACKAGES = ("dfqbench.baselines", "dfqbench.methods")
_builtins_loaded = False


def load_builtin_plugins() -> None:
    """Import every module of the built-in plugin packages once: ``dfqbench.baselines`` and ``dfqbench.methods``
    (the repository's ``baselines/`` and ``methods/`` folders, installed inside the package).

    A method plugin is one file in one of these packages; its decorators
    register it when the module is imported, so nothing else lists it.
    """
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package_name}.{info.name}")


def load_entry_points() -> None:
    """Import the built-in plugins and every module advertised in the ``dfqbench.plugins`` entry-point group."""
    global _entry_points_loaded
    load_builtin_plugins()
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception as exc:  # a broken third-party plugin must not break dfqbench
            print(f"warning: plugin entry point '{entry_point.name}' failed to load: {exc}", file=sys.stderr)


def load_plugin_file(path: str | Path) -> None:
    """Import a plugin file given with ``--plugin``; its decorators register what it defines."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"plugin file not found: {path}")
    module_name = f"dfqbench_plugin_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
    if module_name in sys.modules:
        return
    from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS

    for registry in (SYNTHESIZERS, CALIBRATORS, METHODS):  # the built-ins first: a plugin cannot take their names
        registry.names()
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        reason = " ".join(str(exc).split())
        raise UserError(f"--plugin {path} failed to load: {type(exc).__name__}: {reason}") from None
