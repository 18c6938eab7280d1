"""Activation-range observers, one per file: how a quantizer's step and zero point are initialised."""

from __future__ import annotations

from dfqbench.errors import UserError
from dfqbench.naming import did_you_mean
from dfqbench.quant.observers.base import Observer
from dfqbench.quant.observers.lsq import LSQObserver
from dfqbench.quant.observers.minmax import MinMaxObserver
from dfqbench.quant.observers.mse import MSEObserver
from dfqbench.quant.observers.percentile import PercentileObserver

OBSERVERS: dict[str, type[Observer]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
    "mse": MSEObserver,
    "lsq": LSQObserver,
}


def make_observer(name: str) -> Observer:
    if name not in OBSERVERS:
        raise UserError(f"unknown range initialisation '{name}'{did_you_mean(name, OBSERVERS)} "
                        f"(choose from: {', '.join(OBSERVERS)})")
    return OBSERVERS[name]()


__all__ = ["OBSERVERS", "Observer", "make_observer"]
