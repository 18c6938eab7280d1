"""A tiny backbone and run settings that make a grid cell take a second or two."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import timm
import torch
from timm.models.vision_transformer import VisionTransformer

from dfqbench.api import ModelContext
from dfqbench.kit.attention import AttentionRecord
from dfqbench.profiles import get_profile
from dfqbench.quant import get_preset, set_quant_state, wrap_model
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



def model_context(model, profile, seed: int = 0, teacher_grad: bool = False, bits: str = "4w4a",
                  preset: str = "standard") -> ModelContext:
    """A context like a grid cell's: wrapped FP teacher (quantizers OFF), quantized student (QUANTIZE, ranges
    uninitialised), the model's data config, a seeded generator, the CPU."""
    teacher = wrap_model(model, get_preset(preset), bits).eval().requires_grad_(teacher_grad)
    student = wrap_model(model, get_preset(preset), bits).eval()
    set_quant_state(student, "quantize")
    return ModelContext(teacher=teacher, student=student, data_config=timm.data.resolve_data_config(model=model),
                        num_classes=model.num_classes, profile=profile,
                        generator=torch.Generator().manual_seed(seed), device=torch.device("cpu"))


def attention_record(layout, logits=None, probs=None, outputs=None, name="blocks.0.attn") -> AttentionRecord:
    """A block's attention record made by hand (index 0, no additive mask), for the methods' loss tests."""
    return AttentionRecord(name=name, index=0, layout=layout, logits=logits, probs=probs, outputs=outputs,
                           additive=None)
