"""``dfqbench plot attention``: each image beside the FP model's attention map and each quantized model's.

One row per image (real test images first, then synthetic ones), columns: the image, the FP map, one map per
student. Every map is min-max scaled per panel (the maps' scales differ between models; their shape is the
point). MaskAQ's informative region of the FP map is outlined on every panel of its row, so that one sees whether
the quantized model still looks where the FP model does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from dfqbench.plots.style import colour, figure

MASK_COLOUR = colour(1)  # orange of tableau-colorblind10, visible on grey images and on the viridis maps


@dataclass(frozen=True)
class AttentionRow:
    """One image: its pixels (C, H, W) in [0, 1], its caption, the FP map, the students' maps (h, w) each, and
    the informative-region mask (h, w) in {0, 1}."""

    caption: str
    pixels: torch.Tensor
    fp: torch.Tensor
    students: list[torch.Tensor]
    mask: torch.Tensor


def outline(ax, mask: torch.Tensor, size: tuple[int, int]) -> None:
    """A rectangle around each masked patch of an (h, w) mask drawn over an image of ``size`` (H, W) pixels."""
    h, w = mask.shape
    ph, pw = size[0] / h, size[1] / w
    for i, j in mask.nonzero().tolist():
        ax.add_patch(Rectangle((j * pw - 0.5, i * ph - 0.5), pw, ph, fill=False, edgecolor=MASK_COLOUR,
                               linewidth=1.0, label="informative region"))


def scaled(values: torch.Tensor) -> torch.Tensor:
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else torch.zeros_like(values)


def attention_figure(rows: list[AttentionRow], student_names: list[str], title: str) -> Figure:
    """The grid of the module's doc."""
    columns = ["image", "FP", *student_names]
    fig, axes = figure(len(columns), nrows=len(rows), width=1.35, height=1.45)
    for r, row in enumerate(rows):
        size = tuple(row.pixels.shape[-2:])
        panels = [row.pixels, row.fp, *row.students]
        for c, values in enumerate(panels):
            ax = axes[r * len(columns) + c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if c == 0:
                shown = values.permute(1, 2, 0).squeeze(-1).numpy()
                ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
                ax.set_ylabel(row.caption, fontsize=7, rotation=0, ha="right", va="center")
            else:
                ax.imshow(scaled(values).numpy(), cmap="viridis", vmin=0, vmax=1, extent=(
                    -0.5, size[1] - 0.5, size[0] - 0.5, -0.5), interpolation="nearest")
            outline(ax, row.mask, size)
            if r == 0:
                ax.set_title(columns[c], fontsize=7)
    fig.suptitle(title, fontsize=8)
    return fig
