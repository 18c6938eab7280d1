"""The calibration's SimCLR-style augmentation: range and normalisation kept, seeded, one draw per image or per
batch (``augment_per_image``), 1- and 3-channel inputs."""

from __future__ import annotations

import pytest
import torch

from dfqbench.kit.calib_augment import gaussian_blur, simclr_augment
from dfqbench.kit.qat import QATConfig

GRAY = {"mean": (0.5,), "std": (0.25,)}
RGB = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def normalised(config: dict, n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    c = len(config["mean"])
    pixels = torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))
    mean, std = (torch.tensor(config[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    return (pixels - mean) / std


def pixels_of(x: torch.Tensor, config: dict) -> torch.Tensor:
    mean, std = (torch.tensor(config[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    return x * std + mean


@pytest.mark.parametrize("config", [GRAY, RGB], ids=["1-channel", "3-channel"])
@pytest.mark.parametrize("per_image", [True, False])
def test_shape_pixel_range_and_seed(config, per_image):
    x = normalised(config, 6)
    out = simclr_augment(x, config, torch.Generator().manual_seed(1), per_image)
    again = simclr_augment(x, config, torch.Generator().manual_seed(1), per_image)
    other = simclr_augment(x, config, torch.Generator().manual_seed(2), per_image)
    assert out.shape == x.shape and torch.equal(out, again) and not torch.equal(out, other)
    p = pixels_of(out, config)
    assert p.min() >= -1e-5 and p.max() <= 1 + 1e-5


@pytest.mark.parametrize("config", [GRAY, RGB], ids=["1-channel", "3-channel"])
def test_one_draw_per_image_or_per_batch(config):
    same = normalised(config, 1).expand(8, -1, -1, -1).contiguous()   # eight copies of one image
    per_image = simclr_augment(same, config, torch.Generator().manual_seed(3))
    per_batch = simclr_augment(same, config, torch.Generator().manual_seed(3), per_image=False)
    assert len({tuple(img.flatten().tolist()) for img in per_image}) > 1
    assert all(torch.equal(img, per_batch[0]) for img in per_batch)


def test_blur_probability_and_strength():
    x = torch.rand(64, 1, 20, 20, generator=torch.Generator().manual_seed(0))
    never = gaussian_blur(x, torch.Generator().manual_seed(0), p=0.0)
    always = gaussian_blur(x, torch.Generator().manual_seed(0), p=1.0, sigma=(1.0, 2.0))  # (0.1 is a no-op)
    assert torch.equal(never, x)
    assert all(not torch.equal(a, b) for a, b in zip(always, x, strict=True))
    assert always.var() < x.var()                                       # blur smooths
    half = gaussian_blur(x, torch.Generator().manual_seed(0), p=0.5, sigma=(1.0, 2.0))
    blurred = sum(not torch.equal(a, b) for a, b in zip(half, x, strict=True))
    assert 16 <= blurred <= 48


def test_per_image_draws_are_the_default():
    assert QATConfig().augment_per_image
    x = normalised(RGB, 4)
    assert torch.equal(simclr_augment(x, RGB, torch.Generator().manual_seed(5)),
                       simclr_augment(x, RGB, torch.Generator().manual_seed(5), per_image=True))
