"""The canvas datasets: the integer PRNG, the recipe, the recorded hashes, splits, coverage, cache and CLI.

The fixed val and test splits are generated once per session into a temporary cache (about a second each); the
55,000-image train splits are checked whole only by the slow test (``-m slow``), and by a slice otherwise.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error, run_cli
from PIL import Image

import dfqbench.data.canvas_splits as canvas_splits
from dfqbench.data.canvas import (
    CANVAS_SPECS,
    area_resize,
    coverage_summary,
    epoch_key,
    item_boxes,
    patch_coverage,
    render_canvases,
    split_key,
)
from dfqbench.data.canvas_splits import (
    EXPECTED_SHA256,
    cache_path,
    content_sha256,
    generate_split,
    load_canvas_split,
    sample_canvas_train,
    training_batch,
)
from dfqbench.data.fashion_mnist import FashionMNIST, load_fashion_mnist, resolve_data_dir
from dfqbench.data.prng import draws, fold_key
from dfqbench.data.splits import eval_batches, train_image_sampler
from dfqbench.data.transforms import normalize_batch
from dfqbench.errors import UserError

NAMES = tuple(CANVAS_SPECS)
FIXED_SPLITS = ("val", "test")
needs_data = pytest.mark.skipif(not resolve_data_dir().is_dir(), reason="dataset-fashion-mnist not installed")

# SHA-256 (content_sha256) of the first TRAIN_HEAD images of each train split: the fast check of the train path
TRAIN_HEAD = 512
TRAIN_HEAD_SHA256 = {
    "canvas56-a": "2bd085ee48c4c887832d9e83092bf657299e2bdcbc4088392f691abaa61363df",
    "canvas56-b": "a1113abf05ce6e9e7747f92192132f0b34fed4a79aee5fc9c1b51294338cc0b4",
}
# measured on the test split (README and dfqbench/data/canvas.py quote them): mean and quartiles of coverage
COVERAGE = {"canvas56-a": (0.288, 0.224, 0.286, 0.347), "canvas56-b": (0.159, 0.122, 0.163, 0.184)}


@pytest.fixture(scope="session")
def canvas_store(tmp_path_factory):
    """``load(name, split)``: a fixed split from a session-wide temporary cache, generated on first use."""
    folder, lines, loaded = tmp_path_factory.mktemp("canvas-cache"), [], {}

    def load(name: str, split: str):
        if (name, split) not in loaded:
            loaded[(name, split)] = load_canvas_split(name, split, cache_dir=folder, log=lines.append)
        return loaded[(name, split)]

    return types.SimpleNamespace(folder=folder, lines=lines, load=load)


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST's splits, loaded once."""
    cache = {}

    def load(split: str) -> FashionMNIST:
        if split not in cache:
            cache[split] = load_fashion_mnist(split)
        return cache[split]

    return load


def test_prng_is_splitmix64():
    """The draws of item 0 under key 0 are SplitMix64's reference outputs from seed 0."""
    first = draws(np.uint64(0), np.array([0]), 3)[0]
    assert [hex(int(v)) for v in first] == ["0xe220a8397b1dcdaf", "0x6e789e6aa1b965f4", "0x6c45d188009454f"]
    assert fold_key(56, 1, 0) != fold_key(56, 2, 0) != fold_key(56, 1, 1)
    with pytest.raises(ValueError, match="non-negative"):
        fold_key(-1)


def test_area_resize_is_exact_integer_averaging():
    gen = torch.Generator().manual_seed(0)
    items = torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8, generator=gen).numpy()
    assert np.array_equal(area_resize(items, 28), items)
    flat = np.full((2, 28, 28), 200, dtype=np.uint8)
    for size in (14, 17, 36):
        assert area_resize(flat, size).shape == (2, size, size) and (area_resize(flat, size) == 200).all()
    halved = area_resize(items, 14).astype(int)
    blocks = items.reshape(4, 14, 2, 14, 2).astype(int).sum(axis=(2, 4))
    assert np.array_equal(halved, (blocks + 2) // 4)


def test_rendering_depends_only_on_each_index():
    """A subset, in any order, renders as the same rows of the whole: any slice can be regenerated alone."""
    spec, gen = CANVAS_SPECS["canvas56-a"], torch.Generator().manual_seed(1)
    items = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8, generator=gen).numpy()
    key = split_key(spec, "test")
    whole = render_canvases(spec, items, np.arange(40), key).images
    pick = np.array([31, 2, 17])
    assert np.array_equal(render_canvases(spec, items[pick], pick, key).images, whole[pick])
    assert whole.dtype == np.uint8 and whole.flags["C_CONTIGUOUS"]


def test_background_is_low_contrast_and_item_free():
    """Without an item the canvas is clutter only: values within the recipe's bounds, no pixel from any item."""
    spec = CANVAS_SPECS["canvas56-b"]
    empty = np.zeros((64, 28, 28), dtype=np.uint8)
    rendered = render_canvases(spec, empty, np.arange(64), split_key(spec, "val"), with_mask=True)
    assert not rendered.item_mask.any()
    assert rendered.images.max() <= max(spec.texture_max + spec.grain_max, spec.stroke_values[1])
    assert (rendered.images.reshape(64, -1).std(axis=1) > 0).all()  # every canvas has texture


@needs_data
@pytest.mark.parametrize("split", FIXED_SPLITS)
@pytest.mark.parametrize("name", NAMES)
def test_fixed_splits_match_their_recorded_sha256(canvas_store, fashion, name, split):
    data = canvas_store.load(name, split)
    assert content_sha256(data.images.numpy(), data.labels.numpy()) == EXPECTED_SHA256[name][split]
    assert data.images.shape[1:] == (56, 56) and data.images.dtype == torch.uint8
    assert torch.equal(data.labels, fashion(split).labels)  # one-to-one with Fashion-MNIST's split, same order


@needs_data
@pytest.mark.parametrize("name", NAMES)
def test_train_split_head_is_fixed(fashion, name):
    spec, items = CANVAS_SPECS[name], fashion("train").images[:TRAIN_HEAD].numpy()
    head = render_canvases(spec, items, np.arange(TRAIN_HEAD), split_key(spec, "train")).images
    assert content_sha256(head, fashion("train").labels[:TRAIN_HEAD].numpy()) == TRAIN_HEAD_SHA256[name]


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_train_split_matches_its_recorded_sha256(tmp_path, fashion, name):
    data = load_canvas_split(name, "train", cache_dir=tmp_path, log=lambda line: None)
    assert content_sha256(data.images.numpy(), data.labels.numpy()) == EXPECTED_SHA256[name]["train"]
    assert torch.equal(data.labels, fashion("train").labels)
    head = data.images[:TRAIN_HEAD].numpy()
    assert content_sha256(head, data.labels[:TRAIN_HEAD].numpy()) == TRAIN_HEAD_SHA256[name]


def test_each_canvas_split_is_drawn_from_the_same_fashion_mnist_split(monkeypatch):
    """train <- Fashion-MNIST train (the training file minus validation), val <- val, test <- test file."""
    asked = []

    def fake(split, data_dir=None):
        asked.append(split)
        return FashionMNIST(torch.zeros(3, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 2]))

    monkeypatch.setattr(canvas_splits, "load_fashion_mnist", fake)
    for split in ("train", "val", "test"):
        generate_split(CANVAS_SPECS["canvas56-a"], split)
    sample_canvas_train("canvas56-a", {"input_size": (1, 56, 56), "mean": (0.5,), "std": (0.5,)}, 2,
                        torch.Generator().manual_seed(0))
    assert asked == ["train", "val", "test", "train"]


@needs_data
@pytest.mark.parametrize("split", FIXED_SPLITS)
def test_canvas_image_holds_its_own_item(canvas_store, fashion, split):
    """Image i shows item i of the same Fashion-MNIST split (exactly, where the item is opaque), not another
    split's item i: val's items are the training file's every 12th, test's the test file's, train's the rest."""
    spec, n = CANVAS_SPECS["canvas56-a"], 40
    canvases = canvas_store.load(spec.name, split).images[:n].numpy()
    sizes, tops, lefts, _ = item_boxes(spec, np.arange(n), split_key(spec, split))
    other = "test" if split == "val" else "val"
    own_hits = other_hits = 0
    for i in range(n):
        s, t, left = int(sizes[i]), int(tops[i]), int(lefts[i])
        crop = canvases[i, t:t + s, left:left + s]
        own = area_resize(fashion(split).images[i:i + 1].numpy(), s)[0]
        foreign = area_resize(fashion(other).images[i:i + 1].numpy(), s)[0]
        own_hits += np.array_equal(crop[own >= spec.opaque_from], own[own >= spec.opaque_from])
        other_hits += np.array_equal(crop[foreign >= spec.opaque_from], foreign[foreign >= spec.opaque_from])
    assert own_hits == n and other_hits == 0
    if split == "val":
        assert torch.equal(fashion("val").images[:n], fashion("train+val").images[:12 * n:12])


@needs_data
@pytest.mark.parametrize("name", NAMES)
def test_items_cover_a_minority_of_the_patches(fashion, name):
    spec, test = CANVAS_SPECS[name], fashion("test")
    rendered = render_canvases(spec, test.images.numpy(), np.arange(len(test)), split_key(spec, "test"),
                               with_mask=True)
    summary = coverage_summary(patch_coverage(spec, rendered.item_mask))
    print(f"{name} coverage of the {spec.grid}x{spec.grid} patch grid (test split): "
          + ", ".join(f"{k} {100 * v:.1f}%" for k, v in summary.items()))
    assert summary["mean"] < 0.40 and summary["min"] > 0
    mean, q25, median, q75 = COVERAGE[name]
    assert summary["mean"] == pytest.approx(mean, abs=0.001)
    assert (summary["q25"], summary["median"], summary["q75"]) == pytest.approx((q25, median, q75), abs=0.001)


@needs_data
def test_corrupt_or_missing_cache_is_regenerated_with_one_line(tmp_path):
    name, lines = "canvas56-b", []
    first = load_canvas_split(name, "val", cache_dir=tmp_path, log=lines.append)
    path = cache_path(name, "val", tmp_path)
    assert len(lines) == 1 and "missing" in lines[0] and path.is_file()
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    again = load_canvas_split(name, "val", cache_dir=tmp_path, log=lines.append)
    assert len(lines) == 2 and "corrupt (SHA-256 mismatch)" in lines[1] and str(path) in lines[1]
    assert torch.equal(again.images, first.images)
    path.write_bytes(path.read_bytes()[:1000])
    load_canvas_split(name, "val", cache_dir=tmp_path, log=lines.append)
    assert len(lines) == 3 and "corrupt (unreadable" in lines[2]
    load_canvas_split(name, "val", cache_dir=tmp_path, log=lines.append)
    assert len(lines) == 3  # verified, read as is


def test_regeneration_that_differs_from_the_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(canvas_splits, "generate_split",
                        lambda spec, split, data_dir=None: (np.zeros((2, 56, 56), np.uint8), np.zeros(2, np.int64)))
    with pytest.raises(UserError, match="recipe changed"):
        load_canvas_split("canvas56-a", "test", cache_dir=tmp_path, log=lambda line: None)
    assert not cache_path("canvas56-a", "test", tmp_path).exists()


def test_missing_cache_line_goes_to_stderr(tmp_path, monkeypatch, capsys):
    images, labels = np.zeros((2, 56, 56), np.uint8), np.zeros(2, np.int64)
    monkeypatch.setattr(canvas_splits, "generate_split", lambda spec, split, data_dir=None: (images, labels))
    monkeypatch.setitem(EXPECTED_SHA256["canvas56-a"], "test", content_sha256(images, labels))
    load_canvas_split("canvas56-a", "test", cache_dir=tmp_path)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "missing; generating" in captured.err


def test_training_draws_change_every_epoch_and_keep_the_item_whole():
    spec, gen = CANVAS_SPECS["canvas56-b"], torch.Generator().manual_seed(2)
    items = torch.randint(1, 256, (32, 28, 28), dtype=torch.uint8, generator=gen).numpy()  # every pixel > 0
    index = np.arange(100, 132)
    epoch0 = training_batch(spec, items, index, epoch=0, recipe_seed=5)
    assert torch.equal(epoch0, training_batch(spec, items, index, epoch=0, recipe_seed=5))
    assert epoch0.shape == (32, 1, 56, 56) and 0 <= epoch0.min() and epoch0.max() <= 1
    assert not torch.equal(epoch0, training_batch(spec, items, index, epoch=1, recipe_seed=5))
    assert not torch.equal(epoch0, training_batch(spec, items, index, epoch=0, recipe_seed=6))
    sizes, tops, lefts, flipped = item_boxes(spec, index, epoch_key(spec, 0, 5))
    assert ((tops + sizes <= spec.canvas) & (lefts + sizes <= spec.canvas)).all()
    assert 0 < flipped.sum() < len(index)
    shown = render_canvases(spec, items, index, epoch_key(spec, 0, 5), flip=True, with_mask=True).item_mask
    assert np.array_equal(shown.sum(axis=(1, 2)), sizes * sizes)  # the whole resized item is on the canvas


@needs_data
def test_real_sampler_draws_rows_of_the_fixed_train_split(fashion):
    spec, cfg = CANVAS_SPECS["canvas56-a"], {"input_size": (1, 56, 56), "mean": (0.2,), "std": (0.2,)}
    sampled = train_image_sampler(spec.name, cfg)(6, torch.Generator().manual_seed(3))
    index = torch.randperm(len(fashion("train")), generator=torch.Generator().manual_seed(3))[:6].numpy()
    rows = render_canvases(spec, fashion("train").images.numpy()[index], index, split_key(spec, "train")).images
    assert torch.equal(sampled, normalize_batch(torch.from_numpy(rows).unsqueeze(1).float() / 255, cfg))


@needs_data
def test_eval_batches_of_a_canvas_dataset(canvas_store, monkeypatch, fashion):
    monkeypatch.setenv(canvas_splits.CACHE_ENV, str(canvas_store.folder))
    canvas_store.load("canvas56-a", "val")
    cfg = {"input_size": (1, 56, 56), "mean": (0.2,), "std": (0.2,)}
    batches = list(eval_batches("canvas56-a", cfg, 32, limit=40, split="val"))
    assert [tuple(x.shape) for x, _ in batches] == [(32, 1, 56, 56), (8, 1, 56, 56)]
    assert torch.equal(torch.cat([y for _, y in batches]), fashion("val").labels[:40])
    with pytest.raises(UserError, match="did you mean: canvas56-b, canvas56-a"):
        list(eval_batches("canvas56-c", cfg, 32))


@needs_data
@pytest.mark.parametrize("name", NAMES)
def test_model_normalisation_matches_the_data(canvas_store, name):
    from dfqbench.zoo.models import CANVAS_NORM

    pixels = canvas_store.load(name, "val").images.numpy()
    (mean,), (std,) = CANVAS_NORM[name]
    assert pixels.mean(dtype=np.float64) / 255 == pytest.approx(mean, abs=0.003)
    assert pixels.std(dtype=np.float64) / 255 == pytest.approx(std, abs=0.003)


@needs_data
def test_data_list_shows_every_dataset_with_its_cache_state(canvas_store, capsys, monkeypatch):
    canvas_store.load("canvas56-a", "val")
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(["data", "list", "--cache-dir", str(canvas_store.folder)], capsys, monkeypatch)
    assert code == 0
    rows = {tuple(cell.strip() for cell in line.split("│")[1:3]): line for line in out.splitlines() if "│" in line}
    assert "cached" in rows[("canvas56-a", "val")] and EXPECTED_SHA256["canvas56-a"]["val"][:12] in rows[
        ("canvas56-a", "val")]
    assert "55,000" in rows[("canvas56-b", "train")] and "verified" in rows[("fashion-mnist", "test")]


@needs_data
def test_data_show_writes_a_labelled_png(canvas_store, tmp_path, capsys, monkeypatch):
    canvas_store.load("canvas56-b", "val")
    out_png = tmp_path / "grid.png"
    code, out, err = run_cli(["data", "show", "canvas56-b", "-o", str(out_png), "--split", "val", "--per-class", "3",
                              "--cache-dir", str(canvas_store.folder)], capsys, monkeypatch)
    assert code == 0, err
    with Image.open(out_png) as image:
        assert image.format == "PNG" and image.width > 3 * 2 * 56 and image.height > 10 * 2 * 56


@pytest.mark.parametrize(("args", "pattern"), [
    (["data", "show", "canvas56-c", "-o", "x.png"], "did you mean: canvas56-b, canvas56-a"),
    (["data", "show", "canvas56-a", "-o", "."], "is a folder"),
    (["data", "show", "canvas56-a", "-o", "blocker/x.png"], "blocker is a file"),
    (["data", "show", "canvas56-a", "-o", "x.png", "--split", "valid"], "--split 'valid': choose train, val, test"),
    (["data", "show", "fashion-mnist", "-o", "x.png", "--per-class", "0"], "--per-class"),
])
def test_data_show_bad_input_is_one_line_and_exit_2(args, pattern, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    Path("blocker").write_text("a file where a folder would be\n")
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert_one_line_error(code, err, pattern)
    assert not Path("x.png").exists()


@pytest.mark.parametrize("command", [["data", "list"], ["data", "show"]])
def test_data_help_has_examples(command, capsys, monkeypatch):
    code, out, _ = run_cli([*command, "--help"], capsys, monkeypatch)
    assert code == 0 and "dfqbench data " in out and "Example" in out
