"""Canvas datasets: Fashion-MNIST items placed small on a cluttered 56 px canvas, so that the object covers a
minority of the patches (as in ImageNet photographs) instead of filling the frame.

The recipe of one canvas image (``render_canvases``), every number drawn from the integer PRNG of
:mod:`dfqbench.data.prng` under the image's key and index, integer arithmetic only (uint8 in, uint8 out):

1. **Item size.** ``s`` uniform in ``spec.item_sizes`` (both ends included). The whole 28x28 Fashion-MNIST frame
   (the item with its own margin) is resized to ``s x s`` by integer area averaging: output pixel ``(j, k)`` is
   ``round(sum W[j, i] W[k, l] x[i, l] / 28**2)`` with ``W[j, i]`` the overlap of ``[28 j, 28 (j + 1))`` and
   ``[s i, s (i + 1))``, rounded half up. A training draw first flips the item left-right with probability 1/2.
2. **Placement.** Top and left uniform in ``[0, canvas - s]``: the item is always wholly on the canvas.
3. **Background** (``spec.texture_max``, ``grain_max``, ``strokes``, ``stroke_reach``, ``stroke_values``):
   a smooth value-noise texture (random node values in ``[0, texture_max]`` every ``texture_cell`` px, bilinear
   between nodes; the cells of 7 px do not line up with the 8 px patches) plus per-pixel grain in
   ``[0, grain_max]``, then ``strokes`` straight 1 px segments (start anywhere on the canvas, end offset in
   ``[-stroke_reach, stroke_reach]`` on each axis, a constant grey in ``stroke_values``; its pixels are
   ``(x0 + floor(dx t / reach), y0 + floor(dy t / reach))`` for ``t = 0 .. reach``, clipped at the border, drawn
   with max). Grain byte ``b`` (a byte of a draw) maps to ``b (grain_max + 1) >> 8``. Every background patch thus
   has texture and some have edges, as a photograph's background does, while nothing in it comes from another
   item: the strokes are short, thin, dim and open (no silhouettes, no pairs of long bars), so the background
   carries no class evidence; the label is the item's alone.
4. **Item over background.** The resized item's own value is its opacity: ``w = min(item, opaque_from)`` and the
   pixel becomes ``round((item w + background (opaque_from - w)) / opaque_from)``. Pixels of the item from
   ``opaque_from`` (32) up are the item's exactly; its faint fringe (Fashion-MNIST's near-black margins, values
   1-31) fades into the background instead of pasting a dark box around the item, a cue that no photograph has;
   where the item is 0 (outside it, and its holes, e.g. a sandal's) the background shows.

**Coverage.** An item covers a patch of the ``canvas / patch`` grid (7x7 patches of 8x8 px) when the patch holds
at least one pixel where the resized item (step 1, before compositing) is > 0. :func:`patch_coverage` measures it.

**Variants** (:data:`CANVAS_SPECS`): ``canvas56-a``, items 22-36 px (mean coverage 29% of the patches), and
``canvas56-b``, items 14-24 px (16%); both with texture up to 40, grain up to 12, 2-6 strokes of grey 40-100
reaching up to 8 px, seed 56.

**Splits and keys.** Split ``train``, ``val`` and ``test`` are Fashion-MNIST's splits of the same names (image
``i`` of the canvas split is item ``i`` of the Fashion-MNIST split, same label, same order; the three are
disjoint). A fixed split is drawn under ``fold_key(spec.seed, SPLIT_CODES[split], 0)`` and never flipped; training
re-draws size, placement, flip and background every epoch under ``fold_key(spec.seed, SPLIT_CODES['train'],
epoch + 1, recipe_seed)`` (:func:`epoch_key`), which is the augmentation of the canvas zoo models: unlike a random
crop, it can never cut the item out of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfqbench.data.prng import between, byte_lanes, draws, fold_key

ITEM_FRAME = 28  # Fashion-MNIST's frame size
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
CHUNK = 512  # images rendered per vectorised step (a few MB per array: cache-friendly, bounded memory)


@dataclass(frozen=True)
class CanvasSpec:
    """One canvas variant: its item size range, background clutter and seed (see the module docstring)."""

    name: str
    item_sizes: tuple[int, int]
    summary: str
    canvas: int = 56
    patch: int = 8
    seed: int = 56
    texture_cell: int = 7
    texture_max: int = 40
    grain_max: int = 12
    strokes: tuple[int, int] = (2, 6)
    stroke_reach: int = 8
    stroke_values: tuple[int, int] = (40, 100)
    opaque_from: int = 32

    def __post_init__(self):
        low, high = self.item_sizes
        if not 1 <= low <= high <= self.canvas:
            raise ValueError(f"{self.name}: item sizes {self.item_sizes} do not fit a {self.canvas} px canvas")
        if self.texture_max + self.grain_max > 255 or not 0 <= self.stroke_values[0] <= self.stroke_values[1] <= 255:
            raise ValueError(f"{self.name}: background values must stay within a byte")
        if self.canvas % self.texture_cell or self.canvas % self.patch:
            raise ValueError(f"{self.name}: the canvas must be a multiple of the texture cell and the patch")

    @property
    def grid(self) -> int:
        """Patches per side of the grid on which coverage is measured."""
        return self.canvas // self.patch


@dataclass
class Rendered:
    """Canvas images (N, canvas, canvas) uint8 and, when asked for, where the resized item is > 0 (bool)."""

    images: np.ndarray
    item_mask: np.ndarray | None = None


class DrawLayout:
    """Which columns of an image's draws feed which step of the recipe."""

    def __init__(self, spec: CanvasSpec):
        nodes = (spec.canvas // spec.texture_cell + 1) ** 2
        self.size, self.top, self.left, self.flip, self.stroke_count = range(5)
        self.texture = slice(5, 5 + nodes)
        self.stroke = slice(self.texture.stop, self.texture.stop + 5 * spec.strokes[1])
        self.grain = slice(self.stroke.stop, self.stroke.stop + -(-spec.canvas ** 2 // 8))
        self.count = self.grain.stop


def split_key(spec: CanvasSpec, split: str) -> np.uint64:
    """The key of a fixed (cached) split."""
    return fold_key(spec.seed, SPLIT_CODES[split], 0)


def epoch_key(spec: CanvasSpec, epoch: int, recipe_seed: int) -> np.uint64:
    """The key of training epoch ``epoch`` (from 0) of a recipe: a fresh draw of every training image."""
    return fold_key(spec.seed, SPLIT_CODES["train"], epoch + 1, recipe_seed)


def area_weights(src: int, dst: int) -> np.ndarray:
    """``(dst, src)`` int32 overlaps of output pixel ``j``'s ``[src j, src (j + 1))`` with ``[dst i, dst (i + 1))``;
    every row sums to ``src``."""
    j, i = np.arange(dst)[:, None], np.arange(src)[None, :]
    return np.clip(np.minimum((j + 1) * src, (i + 1) * dst) - np.maximum(j * src, i * dst), 0, None).astype(np.int32)


def area_resize(items: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 items (N, F, F) resized to (N, size, size) by integer area averaging, rounded half up."""
    frame = items.shape[-1]
    weights = area_weights(frame, size)
    summed = weights @ items.astype(np.int32) @ weights.T  # at most 255 * frame**2: int32 is exact
    return ((summed + frame * frame // 2) // (frame * frame)).astype(np.uint8)


def texture(spec: CanvasSpec, node_draws: np.ndarray) -> np.ndarray:
    """Value noise (N, canvas, canvas) uint8 in ``[0, texture_max]``: bilinear between nodes every texture_cell px,
    rounded half up."""
    n, cell, side = len(node_draws), spec.texture_cell, spec.canvas // spec.texture_cell + 1
    nodes = between(node_draws, 0, spec.texture_max).astype(np.int32).reshape(n, side, side)
    pixel = np.arange(spec.canvas)
    base, frac = pixel // cell, (pixel % cell).astype(np.int32)
    rows = nodes[:, base, :] * (cell - frac)[None, :, None] + nodes[:, base + 1, :] * frac[None, :, None]
    both = rows[:, :, base] * (cell - frac) + rows[:, :, base + 1] * frac
    return np.ascontiguousarray((both + cell * cell // 2) // (cell * cell), dtype=np.uint8)


def grain(spec: CanvasSpec, grain_draws: np.ndarray) -> np.ndarray:
    """Per-pixel grain (N, canvas, canvas) uint8 in ``[0, grain_max]``: byte ``b`` of the draws maps to
    ``b (grain_max + 1) >> 8``."""
    levels = ((np.arange(256) * (spec.grain_max + 1)) >> 8).astype(np.uint8)
    return levels[byte_lanes(grain_draws)[:, :spec.canvas ** 2]].reshape(-1, spec.canvas, spec.canvas)


def draw_strokes(spec: CanvasSpec, background: np.ndarray, count_draws: np.ndarray, stroke_draws: np.ndarray) -> None:
    """Draw each image's strokes into ``background`` (N, canvas, canvas) uint8, in place, with max."""
    n, most, side, reach = len(background), spec.strokes[1], spec.canvas, spec.stroke_reach
    count = between(count_draws, *spec.strokes)
    params = stroke_draws.reshape(n, most, 5)
    x0, y0 = between(params[..., 0], 0, side - 1), between(params[..., 1], 0, side - 1)
    dx, dy = between(params[..., 2], -reach, reach), between(params[..., 3], -reach, reach)
    value = between(params[..., 4], *spec.stroke_values).astype(np.uint8)
    step = np.arange(reach + 1)
    xs = x0[..., None] + dx[..., None] * step // reach
    ys = y0[..., None] + dy[..., None] * step // reach
    active = (np.arange(most)[None, :] < count[:, None])[..., None]
    keep = active & (xs >= 0) & (xs < side) & (ys >= 0) & (ys < side)
    image = np.broadcast_to(np.arange(n)[:, None, None], xs.shape)
    np.maximum.at(background, (image[keep], ys[keep], xs[keep]), np.broadcast_to(value[..., None], xs.shape)[keep])


def blend(item: np.ndarray, background: np.ndarray, opaque_from: int) -> np.ndarray:
    """Item over background with the item's own value as coverage: weight ``w = min(item, opaque_from)``,
    ``(item w + background (opaque_from - w)) / opaque_from`` rounded half up, uint8."""
    weight = np.minimum(item, opaque_from).astype(np.int32)
    mixed = item * weight + background.astype(np.int32) * (opaque_from - weight)
    return ((mixed + opaque_from // 2) // opaque_from).astype(np.uint8)


def paste_items(spec: CanvasSpec, canvas: np.ndarray, items: np.ndarray, sizes: np.ndarray, tops: np.ndarray,
                lefts: np.ndarray, mask: np.ndarray | None) -> None:
    """Resize every item to its size and blend it over ``canvas`` at (top, left), in place (:func:`blend`)."""
    for size in np.unique(sizes):
        chosen = np.flatnonzero(sizes == size)
        resized = area_resize(items[chosen], int(size))
        span = np.arange(size)
        rows = (tops[chosen][:, None] + span)[:, :, None]
        cols = (lefts[chosen][:, None] + span)[:, None, :]
        where = (chosen[:, None, None], rows, cols)
        canvas[where] = blend(resized, canvas[where], spec.opaque_from)
        if mask is not None:
            mask[where] = resized > 0


def boxes_of(spec: CanvasSpec, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(size, top, left, flipped) of each item from its draws (steps 1-2 of the recipe)."""
    layout, side = DrawLayout(spec), spec.canvas
    sizes = between(d[:, layout.size], *spec.item_sizes)
    tops, lefts = between(d[:, layout.top], 0, side - sizes), between(d[:, layout.left], 0, side - sizes)
    return sizes, tops, lefts, between(d[:, layout.flip], 0, 1).astype(bool)


def item_boxes(spec: CanvasSpec, indices: np.ndarray, key: np.uint64) -> tuple[np.ndarray, ...]:
    """(size, top, left, flipped) of the items drawn as ``indices`` under ``key`` (``flipped`` is used only by
    training draws), without rendering anything."""
    return boxes_of(spec, draws(key, np.asarray(indices, dtype=np.int64), DrawLayout(spec).count))


def render_chunk(spec: CanvasSpec, items: np.ndarray, d: np.ndarray, flip: bool, with_mask: bool) -> Rendered:
    layout = DrawLayout(spec)
    sizes, tops, lefts, flipped = boxes_of(spec, d)
    if flip:
        items = np.where(flipped[:, None, None], items[:, :, ::-1], items)
    canvas = texture(spec, d[:, layout.texture]) + grain(spec, d[:, layout.grain])  # at most 255: no overflow
    draw_strokes(spec, canvas, d[:, layout.stroke_count], d[:, layout.stroke])
    mask = np.zeros(canvas.shape, dtype=bool) if with_mask else None
    paste_items(spec, canvas, items, sizes, tops, lefts, mask)
    return Rendered(canvas, mask)


def render_canvases(spec: CanvasSpec, items: np.ndarray, indices: np.ndarray, key: np.uint64, flip: bool = False,
                    with_mask: bool = False) -> Rendered:
    """Canvas images of ``items`` (N, 28, 28) uint8, image ``n`` drawn as index ``indices[n]`` under ``key``.

    The result for one index does not depend on the other items rendered with it, so a slice or a batch
    equals the same rows of the whole split. ``flip`` draws a left-right flip per item (training draws only).
    """
    items, indices = np.asarray(items, dtype=np.uint8), np.asarray(indices, dtype=np.int64)
    if items.ndim != 3 or items.shape[1:] != (ITEM_FRAME, ITEM_FRAME) or len(items) != len(indices):
        raise ValueError(f"expected (N, {ITEM_FRAME}, {ITEM_FRAME}) items and N indices")
    layout = DrawLayout(spec)
    parts = [render_chunk(spec, items[start:start + CHUNK], draws(key, indices[start:start + CHUNK], layout.count),
                          flip, with_mask) for start in range(0, len(items), CHUNK)]
    if not parts:
        empty = np.zeros((0, spec.canvas, spec.canvas), dtype=np.uint8)
        return Rendered(empty, empty.astype(bool) if with_mask else None)
    return Rendered(np.ascontiguousarray(np.concatenate([p.images for p in parts])),
                    np.concatenate([p.item_mask for p in parts]) if with_mask else None)


def patch_coverage(spec: CanvasSpec, item_mask: np.ndarray) -> np.ndarray:
    """Fraction (N,) of the patch grid that each image's item covers (a patch with at least one item pixel > 0)."""
    g, p = spec.grid, spec.patch
    covered = item_mask.reshape(-1, g, p, g, p).any(axis=(2, 4))
    return covered.sum(axis=(1, 2)) / (g * g)


def coverage_summary(coverage: np.ndarray) -> dict[str, float]:
    """Mean, quartiles and range of per-image patch coverage (fractions of the grid)."""
    q25, median, q75 = np.quantile(coverage, [0.25, 0.5, 0.75])
    return {"mean": float(coverage.mean()), "q25": float(q25), "median": float(median), "q75": float(q75),
            "min": float(coverage.min()), "max": float(coverage.max())}


# The candidate variants differ only in the item size range (same seed, so an image's background is the same in
# both). Measured patch coverage (:func:`patch_coverage`, test split; tests/test_canvas.py):
#   canvas56-a: mean 28.8%, quartiles 22.4 / 28.6 / 34.7%, range 6.1-61.2%
#   canvas56-b: mean 15.9%, quartiles 12.2 / 16.3 / 18.4%, range 4.1-32.7%
CANVAS_SPECS: dict[str, CanvasSpec] = {spec.name: spec for spec in (
    CanvasSpec("canvas56-a", (22, 36), "Fashion-MNIST items resized to 22-36 px on a cluttered 56 px canvas"),
    CanvasSpec("canvas56-b", (14, 24), "Fashion-MNIST items resized to 14-24 px on a cluttered 56 px canvas"),
)}
