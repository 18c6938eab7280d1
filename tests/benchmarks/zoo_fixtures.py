"""Zoo models for benchmarks: trained weights when present (speed does not depend on them)."""

from __future__ import annotations

import pytest
import torch.nn as nn

from dfqbench.errors import UserError
from dfqbench.zoo.backbones import load_backbone
from dfqbench.zoo.registry import get_zoo_model

ZOO = ("fmnist_vit", "fmnist_deit", "fmnist_swin")
CANVAS_ZOO = ("canvas56a_vit", "canvas56a_deit", "canvas56a_swin", "canvas56b_vit", "canvas56b_deit",
              "canvas56b_swin")

# the default test bed's three models, marked slow (the default suite runs the Fashion-MNIST ones as smoke tests)
DEFAULT_BED = tuple(pytest.param(name, marks=pytest.mark.slow) for name in CANVAS_ZOO if name.startswith("canvas56a"))


def zoo_model(name: str) -> nn.Module:
    try:
        return load_backbone(name).model
    except UserError:  # not trained yet: same architecture, same speed
        return get_zoo_model(name).build().eval()
