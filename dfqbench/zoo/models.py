"""The embedded zoo: small timm ViT, DeiT and Swin models trained on Fashion-MNIST and on the canvas datasets.

Each builder returns an untrained timm model whose ``pretrained_cfg`` carries
the data config (input size, mean/std, interpolation), so preprocessing is
resolved the same way as for timm's ImageNet models.

The ``fmnist_*`` models see the 28 px items filling the frame. The ``canvas56{a,b}_*`` models see the same items
small on a cluttered 56 px canvas (:mod:`dfqbench.data.canvas`), so that the object covers a minority of the
patches, as in ImageNet; they keep the ``fmnist_*`` token grids (ViT/DeiT patch 8: 7x7; Swin patch 4: 14x14) and
widths, so they cost the same per image.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import torch.nn as nn
from timm.models.deit import VisionTransformerDistilled
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

from dfqbench.data.canvas import CANVAS_SPECS
from dfqbench.data.fashion_mnist import CLASSES
from dfqbench.zoo.recipe import TrainRecipe
from dfqbench.zoo.registry import register_zoo_model

FMNIST_MEAN, FMNIST_STD = (0.2860,), (0.3530,)
NUM_CLASSES = len(CLASSES)


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
    """ViT, CLS token: 28 px, patch 4 (7x7 grid), dim 96, 6 blocks, 3 heads, resized-crop training.

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


def canvas_convnet() -> nn.Module:
    """The canvas DeiTs' distillation teacher (not a benchmark model): a 4x4 stride-2 conv from 56 to 28 px (every
    pixel seen), then fmnist_convnet's stages, a third stage at 7x7, global average pooling (the item can be
    anywhere) and a linear head; about 22M multiply-adds per image, as fmnist_convnet's 18M."""
    def conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

    return nn.Sequential(conv(1, 32, kernel=4, stride=2), conv(32, 32), nn.MaxPool2d(2), conv(32, 64), conv(64, 64),
                         nn.MaxPool2d(2), conv(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, NUM_CLASSES))


TEACHERS = {"fmnist_convnet": fmnist_convnet, "canvas_convnet": canvas_convnet}

# Pixel mean and std of each canvas dataset's fixed train split (tests/test_canvas.py checks them on its val split).
CANVAS_NORM = {"canvas56-a": ((0.1673,), (0.1914,)), "canvas56-b": ((0.1306,), (0.1307,))}
CANVAS_PATCH, CANVAS_SWIN_PATCH = 8, 4
# Epochs per family, for about 30-45 min per model on one CPU thread of the 2-core machine. A training step costs
# 1.05x (ViT), 1.04x (DeiT) and 1.06x (Swin) the fmnist_* twin's (same token grids); measured per epoch of the
# 55,000 training canvases while the machine was shared (load ~3): ViT 180 s, Swin 195 s, DeiT 230 s (teacher 117 s);
# with nothing else running, fmnist_vit's 41 min for 20 epochs puts the canvas ViT at about 118 s.
CANVAS_EPOCHS = {"vit": 18, "deit": 12, "swin": 10}
CANVAS_TEACHER_EPOCHS = 3
CANVAS_SEEDS = {"canvas56-a": 10, "canvas56-b": 20}  # vit: seed, deit: seed + 1, swin: seed + 2


def canvas_data_config(model: nn.Module, dataset: str) -> nn.Module:
    """Attach a canvas dataset's data config (its canvas size and train-split mean/std)."""
    mean, std = CANVAS_NORM[dataset]
    size = CANVAS_SPECS[dataset].canvas
    model.pretrained_cfg = {
        "input_size": (1, size, size), "mean": mean, "std": std, "interpolation": "bilinear",
        "crop_pct": 1.0, "crop_mode": "center", "num_classes": NUM_CLASSES,
    }
    return model


def canvas_vit_args(dataset: str) -> dict:
    return dict(VIT_ARGS, img_size=CANVAS_SPECS[dataset].canvas, patch_size=CANVAS_PATCH, num_classes=NUM_CLASSES)


def canvas_vit(dataset: str) -> nn.Module:
    return canvas_data_config(VisionTransformer(**canvas_vit_args(dataset)), dataset)


def canvas_deit(dataset: str) -> nn.Module:
    return canvas_data_config(VisionTransformerDistilled(**canvas_vit_args(dataset)), dataset)


def canvas_swin(dataset: str) -> nn.Module:
    model = SwinTransformer(img_size=CANVAS_SPECS[dataset].canvas, patch_size=CANVAS_SWIN_PATCH, in_chans=1,
                            num_classes=NUM_CLASSES, embed_dim=48, depths=(2, 2), num_heads=(3, 6), window_size=7,
                            mlp_ratio=2.0)
    return canvas_data_config(model, dataset)


def canvas_recipe(family: str, seed: int) -> TrainRecipe:
    """Re-drawn canvas (size, placement, clutter) every epoch plus flip: never a crop that could lose the item;
    the validation split held out."""
    recipe = TrainRecipe(epochs=CANVAS_EPOCHS[family], seed=seed, crop_padding=0, hflip=True, train_split="train")
    if family == "deit":
        recipe = dataclasses.replace(recipe, distill="hard", teacher="canvas_convnet",
                                     teacher_epochs=CANVAS_TEACHER_EPOCHS)
    return recipe


def register_canvas_models(dataset: str, seed: int) -> None:
    """``<tag>_vit``, ``<tag>_deit`` and ``<tag>_swin`` for a canvas dataset (``canvas56-a`` -> ``canvas56a``)."""
    tag, spec = dataset.replace("-", ""), CANVAS_SPECS[dataset]
    low, high = spec.item_sizes
    where = f"{dataset} ({spec.canvas} px canvas, items {low}-{high} px)"
    grid = spec.canvas // CANVAS_PATCH
    descriptions = {
        "vit": f"ViT, CLS token: {where}, patch {CANVAS_PATCH} ({grid}x{grid} grid), dim 96, 6 blocks, 3 heads.",
        "deit": f"DeiT, CLS + distillation token, hard distillation from canvas_convnet: {where}; the ViT's shape "
                "otherwise.",
        "swin": f"Swin: {where}, patch {CANVAS_SWIN_PATCH} ({spec.canvas // CANVAS_SWIN_PATCH}x"
                f"{spec.canvas // CANVAS_SWIN_PATCH} grid), window 7 (shifted in stage 1), dims 48/96, heads 3/6.",
    }
    builders = {"vit": canvas_vit, "deit": canvas_deit, "swin": canvas_swin}
    for offset, family in enumerate(("vit", "deit", "swin")):
        register_zoo_model(family, canvas_recipe(family, seed + offset), dataset=dataset, name=f"{tag}_{family}",
                           description=descriptions[family])(partial(builders[family], dataset))


for _dataset, _seed in CANVAS_SEEDS.items():
    register_canvas_models(_dataset, _seed)
