"""SimCLR-style batch augmentation for calibration, one random draw per image (``per_image=False``: one draw for
the whole batch, as the authors' code).

Random resized crop (scale 0.08-1, ratio 3/4-4/3), horizontal flip, colour
jitter (brightness, contrast, saturation 0.8, hue 0.2) with p = 0.8,
grayscale with p = 0.2, Gaussian blur (kernel about 10% of the side,
sigma ~ U(0.1, 2)) with p = 0.5. Colour and grayscale are skipped for
1-channel inputs. Works in pixel space: inputs are de-normalised with the
model's mean/std first and normalised again at the end.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _rand(n: int, gen: torch.Generator, per_image: bool = True) -> torch.Tensor:
    """``n`` values of U(0, 1): one per image, or one repeated ``n`` times."""
    return torch.rand(n, generator=gen) if per_image else torch.rand(1, generator=gen).expand(n)


def _uniform(n: int, low: float, high: float, gen: torch.Generator, per_image: bool = True) -> torch.Tensor:
    return low + (high - low) * _rand(n, gen, per_image)


def resized_crop_flip(x: torch.Tensor, gen: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                      flip_p: float = 0.5, per_image: bool = True) -> torch.Tensor:
    """Crop a random area fraction and aspect ratio, resize back to the input size, flip with probability
    ``flip_p``."""
    b = x.shape[0]
    area = _uniform(b, *scale, gen, per_image)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), gen, per_image)
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (_rand(b, gen, per_image) * 2 - 1) * (1 - w)
    cy = (_rand(b, gen, per_image) * 2 - 1) * (1 - h)
    flip = torch.where(_rand(b, gen, per_image) < flip_p, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def colour_jitter(x: torch.Tensor, gen: torch.Generator, strength=(0.8, 0.8, 0.8, 0.2), p: float = 0.8,
                  per_image: bool = True):
    """Brightness, contrast, saturation, hue (hue as a rotation in YIQ space) on 3-channel pixels in [0, 1]."""
    b = x.shape[0]
    s_b, s_c, s_s, s_h = strength
    view = (b, 1, 1, 1)
    apply = (_rand(b, gen, per_image) < p).reshape(view).to(x.device)
    out = x * _uniform(b, 1 - s_b, 1 + s_b, gen, per_image).reshape(view).to(x)
    mean = _gray(out).mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * _uniform(b, 1 - s_c, 1 + s_c, gen, per_image).reshape(view).to(x) + mean
    gray = _gray(out)
    out = (out - gray) * _uniform(b, 1 - s_s, 1 + s_s, gen, per_image).reshape(view).to(x) + gray
    angle = _uniform(b, -s_h, s_h, gen, per_image).to(x) * 2 * math.pi
    yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]]).to(x)
    rgb = torch.linalg.inv(yiq)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(b, 3, 3).to(x)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    matrix = rgb @ rot @ yiq
    out = torch.einsum("bij,bjhw->bihw", matrix, out).clamp(0, 1)
    return torch.where(apply, out, x)


def grayscale(x: torch.Tensor, gen: torch.Generator, p: float = 0.2, per_image: bool = True) -> torch.Tensor:
    apply = (_rand(x.shape[0], gen, per_image) < p).reshape(-1, 1, 1, 1).to(x.device)
    return torch.where(apply, _gray(x).expand_as(x), x)


def gaussian_blur(x: torch.Tensor, gen: torch.Generator, p: float = 0.5, sigma=(0.1, 2.0),
                  per_image: bool = True) -> torch.Tensor:
    """Per-image sigma; separable kernel of odd size about 10% of the side (at least 3); applied with probability
    ``p`` (0.5, SimCLR's [choice]: the spec gives none)."""
    b, c, h, w = x.shape
    size = max(3, int(0.1 * min(h, w)) // 2 * 2 + 1)
    sig = _uniform(b, *sigma, gen, per_image).to(x)
    offsets = torch.arange(size, dtype=x.dtype, device=x.device) - size // 2
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sig[:, None] ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (b*c, size)
    flat = x.reshape(1, b * c, h, w)
    pad = size // 2
    flat = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode="reflect"), kernel.view(b * c, 1, 1, size), groups=b * c)
    flat = F.conv2d(F.pad(flat, (0, 0, pad, pad), mode="reflect"), kernel.view(b * c, 1, size, 1), groups=b * c)
    apply = (_rand(b, gen, per_image) < p).reshape(-1, 1, 1, 1).to(x.device)
    return torch.where(apply, flat.view(b, c, h, w), x)


def simclr_augment(x: torch.Tensor, data_config: dict, gen: torch.Generator, per_image: bool = True) -> torch.Tensor:
    """Augment a normalised batch; the result is normalised the same way."""
    mean = torch.tensor(data_config["mean"], device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(data_config["std"], device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    pixels = (x * std + mean).clamp(0, 1)
    pixels = resized_crop_flip(pixels, gen, per_image=per_image)
    if pixels.shape[1] == 3:
        pixels = grayscale(colour_jitter(pixels, gen, per_image=per_image), gen, per_image=per_image)
    pixels = gaussian_blur(pixels, gen, per_image=per_image)
    return (pixels - mean) / std
