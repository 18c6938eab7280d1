"""Activation-range observers, one per file: how a quantizer's step and zero point are initialised."""

from __future__ import annotations

from dfqbench.quant.observers.base import Observer
from dfqbench.quant.observers.lsq import LSQObserver
from dfqbench.quant.observers.minmax import MinMaxObserver
from dfqbench.quant.observers.mse import MSEObserver
from dfqbench.quant.observers.percentile import PercentileObserver
from dfqbench.registry import Registry

OBSERVERS: Registry[type[Observer]] = Registry("range initialisation", hint="choose from: {names}")
for _name, _observer in (("minmax", MinMaxObserver), ("percentile", PercentileObserver), ("mse", MSEObserver),
                         ("lsq", LSQObserver)):
    OBSERVERS.add(_name, _observer)


def make_observer(name: str) -> Observer:
    return OBSERVERS.get(name)()


__all__ = ["OBSERVERS", "Observer", "make_observer"]
