"""Where the built-in plugins live; their modules are imported on first use (lazy registry entries)."""

from __future__ import annotations

from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS

BUILTIN_SYNTHESIZERS = {"noise": "baselines.noise", "real": "baselines.real"}
BUILTIN_CALIBRATORS = {"kd": "baselines.kd", "ptq": "baselines.ptq"}
BUILTIN_METHODS = {"noise": "baselines", "real": "baselines"}


def register_builtins() -> None:
    for registry, table in ((SYNTHESIZERS, BUILTIN_SYNTHESIZERS), (CALIBRATORS, BUILTIN_CALIBRATORS),
                            (METHODS, BUILTIN_METHODS)):
        for name, module in table.items():
            registry.register_lazy(name, module)


register_builtins()
