"""A labelled grid of example images as a PIL image: one row per class, its name at the left."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont

GAP, MARGIN = 2, 6
BACKGROUND, TEXT = 48, 255  # grey gaps keep black canvases apart


def first_per_class(labels: torch.Tensor, n_classes: int, per_class: int) -> list[list[int]]:
    """For each class, the indices of its first ``per_class`` images in split order."""
    return [torch.nonzero(labels == c).flatten()[:per_class].tolist() for c in range(n_classes)]


def class_grid(images: torch.Tensor, labels: torch.Tensor, classes: tuple[str, ...], per_class: int = 8,
               scale: int = 2, title: str = "") -> Image.Image:
    """Rows of the first ``per_class`` uint8 images (N, H, W) of every class, each enlarged ``scale`` times
    (nearest), the class name at the left and ``title`` above."""
    font = ImageFont.load_default()
    draw_probe = ImageDraw.Draw(Image.new("L", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = draw_probe.textbbox((0, 0), text, font=font)
        return right - left, bottom - top

    height, width = images.shape[-2] * scale, images.shape[-1] * scale
    label_width = max(text_size(name)[0] for name in classes) + 2 * MARGIN
    title_height = text_size(title)[1] + 2 * MARGIN if title else 0
    rows = first_per_class(labels, len(classes), per_class)
    sheet = Image.new("L", (label_width + per_class * (width + GAP) + GAP,
                            title_height + len(classes) * (height + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((MARGIN, MARGIN), title, fill=TEXT, font=font)
    for row, (name, indices) in enumerate(zip(classes, rows, strict=True)):
        top = title_height + GAP + row * (height + GAP)
        draw.text((MARGIN, top + (height - text_size(name)[1]) // 2), name, fill=TEXT, font=font)
        for column, index in enumerate(indices):
            tile = Image.fromarray(images[index].numpy()).resize((width, height), Image.Resampling.NEAREST)
            sheet.paste(tile, (label_width + GAP + column * (width + GAP), top))
    return sheet
