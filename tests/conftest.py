"""Shared test fixtures: one torch thread, small zoo/timm models and images.

The package (plugins included, as ``dfqbench.methods`` and ``dfqbench.baselines``) is imported as installed, never
from the repository root; helpers beside this file import as top-level modules (pytest puts this folder on the
path).

The test machine has 2 cores that long training jobs share, so every test
process runs torch on one thread.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn as nn

torch.set_num_threads(1)

from dfqbench.runtime import tune_allocator  # noqa: E402  (as the CLI does: benchmarks measure what users get)

tune_allocator()

ZOO_NAMES = ("fmnist_vit", "fmnist_deit", "fmnist_swin")


def _set_fused(model: nn.Module, fused: bool) -> nn.Module:
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = fused
    return model


@pytest.fixture
def set_fused() -> Callable[[nn.Module, bool], nn.Module]:
    """``set_fused(model, flag)``: turn timm's fused attention (SDPA) on or off on every module that has it."""
    return _set_fused


@pytest.fixture
def zoo_model() -> Callable[..., nn.Module]:
    """``zoo_model(name, seed=0)``: a random-init zoo model in eval mode, fused attention off."""
    from dfqbench.zoo.registry import get_zoo_model

    def build(name: str, seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        return _set_fused(get_zoo_model(name).build().eval(), False)

    return build


@pytest.fixture
def timm_model() -> Callable[..., nn.Module]:
    """``timm_model(name, seed=0, **kwargs)``: a random-init timm model (pretrained=False) in eval mode."""
    import timm

    def build(name: str, seed: int = 0, **kwargs) -> nn.Module:
        torch.manual_seed(seed)
        return timm.create_model(name, pretrained=False, **kwargs).eval()

    return build


@pytest.fixture
def images() -> Callable[..., torch.Tensor]:
    """``images(model, batch=2, seed=0)``: standard-normal images of the model's input size."""

    def make(model: nn.Module, batch: int = 2, seed: int = 0) -> torch.Tensor:
        height, width = model.patch_embed.img_size
        proj = model.patch_embed.proj
        channels = getattr(proj, "conv", proj).in_channels  # a wrapped model holds the Conv2d in QuantConv2d
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(batch, channels, height, width, generator=generator)

    return make
