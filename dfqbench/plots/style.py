"""The figures' shared look and their deterministic output.

Colours: matplotlib's ``tableau-colorblind10`` (colour-blind safe), in row order. Output: PNG or SVG by the file's
suffix, without the date, the software version or SVG's random ids (a fixed hash salt), so that the same inputs
give the same bytes and a committed figure can be checked against a regeneration.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dfqbench.errors import UserError  # noqa: E402

FORMATS = (".png", ".svg")
PALETTE = plt.style.library["tableau-colorblind10"]["axes.prop_cycle"].by_key()["color"]
RC = {"svg.hashsalt": "dfqbench", "font.size": 9, "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3,
      "figure.dpi": 100, "savefig.dpi": 150}


MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def marker(index: int) -> str:
    """A marker that, with :func:`colour`, tells apart more series than the palette has colours."""
    return MARKERS[(index // len(PALETTE)) % len(MARKERS)]


def figure(ncols: int, nrows: int = 1, width: float = 4.0, height: float = 3.2,
           legend_entries: int = 0) -> tuple[Figure, list]:
    """A figure of ``nrows x ncols`` panels (a flat list of axes) in the shared style, with room for a legend of
    ``legend_entries`` lines on its right."""
    size = (width * ncols + (2.6 if legend_entries else 0), max(height * nrows, 0.19 * legend_entries + 1.0))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, layout="constrained")
    return fig, [ax for row in axes for ax in row]


def png_bytes(fig: Figure) -> bytes:
    """``fig`` as PNG bytes, as :func:`save` writes them; closes it."""
    import io

    buffer = io.BytesIO()
    with plt.rc_context(RC):
        fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG or SVG (by suffix), byte-identical for identical figures; close it."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"figure file must end in {' or '.join(FORMATS)}, got '{path.name}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"Software": None} if path.suffix.lower() == ".png" else {"Date": None, "Creator": None}
    with plt.rc_context(RC):
        fig.savefig(path, metadata=metadata)
    plt.close(fig)
    return path


def figure_title(board) -> str:
    """Test bed (the models' datasets), profile, preset and seeds of the rows a figure shows."""
    from dfqbench.zoo.registry import ZOO

    datasets = sorted({ZOO[m].dataset if m in ZOO.names() else "timm" for m in board.models})
    parts = [", ".join(datasets)] + [f"{name} {', '.join(board.caption[name])}"
                                     for name in ("profile", "preset", "seeds") if name in board.caption]
    return " · ".join(parts)
