"""One registry class for every name table: the same listing, wildcards and did-you-mean everywhere."""

from __future__ import annotations

import pytest

from dfqbench.api import CALIBRATORS, METHODS, SYNTHESIZERS
from dfqbench.errors import UserError
from dfqbench.profiles import PROFILES
from dfqbench.quant.observers import OBSERVERS
from dfqbench.quant.preset import PRESETS
from dfqbench.registry import Registry
from dfqbench.zoo.registry import ZOO

REGISTRIES = {"synthesizer": SYNTHESIZERS, "calibrator": CALIBRATORS, "method": METHODS, "profile": PROFILES,
              "preset": PRESETS, "range initialisation": OBSERVERS, "zoo model": ZOO}


@pytest.mark.parametrize("kind", REGISTRIES)
def test_every_name_table_is_one_registry_with_wildcards_and_did_you_mean(kind):
    registry = REGISTRIES[kind]
    assert isinstance(registry, Registry) and registry.kind == kind
    names = registry.names()
    assert names == sorted(names) and len(registry) == len(names) and list(registry) == names
    first = names[0]
    assert registry.names(first[:2] + "*") and all(n.startswith(first[:2]) for n in registry.names(first[:2] + "*"))
    assert registry.get(first) is registry[first] and first in registry
    with pytest.raises(UserError, match=rf"unknown {kind} '{first}x' \(did you mean: {first}"):
        registry.get(first + "x")


def test_hints_say_where_to_look():
    with pytest.raises(UserError, match=r"\(choose from: smoke, golden, quick, bench, paper\)"):
        PROFILES.get("nope")
    with pytest.raises(UserError, match=r"\(see: dfqbench zoo list\)"):
        ZOO.get("nope")
    with pytest.raises(UserError, match=r"\(see: dfqbench list methods\)"):
        METHODS.get("nope")
