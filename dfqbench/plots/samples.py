"""``dfqbench plot samples``: what each synthesizer's images look like, beside real images of the same classes.

One row per synthesizer, one column per class: the first row holds real test images, each later row the first
image of that synthesizer's set for the class. A set whose synthesizer targeted labels (PSAQ-ViT, MimiQ, ...) is
read by those labels; a set without labels (``noise``) by the class the FP model predicts for each image, and the
row's name says so. A class a set has no image for stays empty. Sets come from the synthesis cache; a set missing
there is made at a smaller profile, and the figure says which profile each row's set has.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from dfqbench.plots.style import figure


@dataclass(frozen=True)
class SampleRow:
    """One row of the figure: its name, its pixels (N, C, H, W) in [0, 1] and each image's class."""

    name: str
    pixels: torch.Tensor
    classes: torch.Tensor


def first_of_each(row: SampleRow, classes: list[int]) -> list[torch.Tensor | None]:
    """Per class, the row's first image of it (None when it has none)."""
    found = []
    for c in classes:
        index = (row.classes == c).nonzero()
        found.append(row.pixels[int(index[0])] if len(index) else None)
    return found


def samples_figure(rows: list[SampleRow], classes: list[int], class_names: list[str], title: str) -> Figure:
    """The grid of the module's doc: ``rows`` top to bottom, ``classes`` left to right."""
    fig, axes = figure(len(classes), nrows=len(rows), width=1.05, height=1.15)
    for r, row in enumerate(rows):
        for c, image in enumerate(first_of_each(row, classes)):
            ax = axes[r * len(classes) + c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if image is not None:
                shown = image.permute(1, 2, 0).squeeze(-1).numpy()
                ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
            if r == 0:
                ax.set_title(class_names[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(row.name, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    return fig
