"""The embedded zoo: small timm ViT, DeiT and Swin models trained on Fashion-MNIST.

Each builder returns an untrained timm model whose ``pretrained_cfg`` carries
the data config (input size, mean/std, interpolation), so preprocessing is
resolved the same way as for timm's ImageNet models.
"""

from __future__ import annotations

import torch.nn as nn
from timm.models.deit import VisionTransformerDistilled
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

from dfqbench.zoo.recipe import TrainRecipe
from dfqbench.zoo.registry import register_zoo_model

FMNIST_MEAN, FMNIST_STD = (0.2860,), (0.3530,)


def fmnist_data_config(model: nn.Module, size: int = 28) -> nn.Module:
    """Attach the Fashion-MNIST data config that timm's resolve_data_config reads."""
    model.pretrained_cfg = {
        "input_size": (1, size, size), "mean": FMNIST_MEAN, "std": FMNIST_STD,
        "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "center", "num_classes": 10,
    }
    return model


VIT_ARGS = dict(img_size=28, patch_size=4, in_chans=1, num_classes=10,
                embed_dim=96, depth=6, num_heads=3, mlp_ratio=2.0)


@register_zoo_model(family="vit", recipe=TrainRecipe(epochs=20, seed=0, resized_crop=(0.2, 1.0)))
def fmnist_vit() -> nn.Module:
    """ViT, CLS token: 28 px, patch 4 (7x7 grid), dim 96, 6 blocks, 3 heads, resized-crop training. The default model.

    Trained with random resized crops (area 0.2-1), as ImageNet ViTs are, so that the calibration's SimCLR
    crops stay close to what the model has seen (README, "Can the zoo rank methods?").
    """
    return fmnist_data_config(VisionTransformer(**VIT_ARGS))


@register_zoo_model(family="deit", recipe=TrainRecipe(epochs=20, seed=1, distill="hard",
                                                      teacher="fmnist_convnet", teacher_epochs=3))
def fmnist_deit() -> nn.Module:
    """DeiT, CLS + distillation token, hard distillation from a small convnet; ViT's shape otherwise."""
    return fmnist_data_config(VisionTransformerDistilled(**VIT_ARGS))


@register_zoo_model(family="swin", recipe=TrainRecipe(epochs=20, seed=2))
def fmnist_swin() -> nn.Module:
    """Swin: 28 px, patch 2 (14x14 grid), window 7 (shifted in stage 1), dims 48/96, heads 3/6."""
    model = SwinTransformer(img_size=28, patch_size=2, in_chans=1, num_classes=10, embed_dim=48,
                            depths=(2, 2), num_heads=(3, 6), window_size=7, mlp_ratio=2.0)
    return fmnist_data_config(model)


def fmnist_convnet() -> nn.Module:
    """The DeiT's distillation teacher (not a benchmark model): four 3x3 convs, two pools, a 2-layer head."""
    def conv(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

    return nn.Sequential(conv(1, 32), conv(32, 32), nn.MaxPool2d(2), conv(32, 64), conv(64, 64), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


TEACHERS = {"fmnist_convnet": fmnist_convnet}
