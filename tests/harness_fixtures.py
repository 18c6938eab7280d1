"""A tiny backbone and run settings that make a grid cell take a second or two."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from timm.models.vision_transformer import VisionTransformer

from dfqbench.profiles import get_profile
from dfqbench.quant.preset import get_preset
from dfqbench.runner.cache import SynthesisCache
from dfqbench.runner.cell import RunSettings
from dfqbench.zoo.backbones import Backbone
from dfqbench.zoo.models import fmnist_data_config


def tiny_backbone(name: str = "tiny_vit") -> Backbone:
    torch.manual_seed(0)
    model = VisionTransformer(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=24, depth=2,
                              num_heads=3, mlp_ratio=2.0)
    return Backbone(name, "vit", fmnist_data_config(model).eval(), f"hash-{name}", "fashion-mnist", "test")


def tiny_settings(tmp_path: Path, **changes) -> RunSettings:
    settings = RunSettings(preset=get_preset("standard"), profile=get_profile("smoke"), device=torch.device("cpu"),
                           cache=SynthesisCache(tmp_path / "cache"), limit=64)
    return dataclasses.replace(settings, **changes)

