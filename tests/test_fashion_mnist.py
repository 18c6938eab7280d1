"""The Fashion-MNIST reader: folder resolution, verification errors, and the real test split."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch

from dfqbench.data.fashion_mnist import (
    ENV_VAR,
    FILE_SPLITS,
    fashion_mnist_batches,
    load_fashion_mnist,
    resolve_data_dir,
)
from dfqbench.errors import UserError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
TEST_IMAGES, TEST_LABELS = FILE_SPLITS["test"]
needs_data = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist not installed")


@pytest.fixture
def test_copy(tmp_path) -> Path:
    """A folder holding copies of the two test-split files."""
    if not DEBIAN_DIR.is_dir():
        pytest.skip("dataset-fashion-mnist not installed")
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in FILE_SPLITS["test"]:
        shutil.copy(DEBIAN_DIR / name, folder / name)
    return folder


def test_missing_dir_names_the_apt_package(tmp_path):
    with pytest.raises(UserError, match="missing.*dataset-fashion-mnist") as info:
        load_fashion_mnist("test", tmp_path / "absent")
    assert "\n" not in str(info.value)


def test_sha_mismatch_is_reported(test_copy):
    (test_copy / TEST_LABELS).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(8)))
    with pytest.raises(UserError, match=r"corrupt \(SHA-256 mismatch\).*dataset-fashion-mnist") as info:
        load_fashion_mnist("test", test_copy)
    assert "\n" not in str(info.value)


def test_non_gzip_file_is_reported(test_copy):
    (test_copy / TEST_IMAGES).write_bytes(b"<html>not found</html>")
    with pytest.raises(UserError, match=r"corrupt \(not gzip.*dataset-fashion-mnist") as info:
        load_fashion_mnist("test", test_copy)
    assert "\n" not in str(info.value)


def test_unknown_split():
    with pytest.raises(UserError, match="unknown Fashion-MNIST split 'valid'.*train, val"):
        load_fashion_mnist("valid")


def test_validation_split_is_every_12th_training_image_and_disjoint_from_train():
    whole, train, val = (load_fashion_mnist(s) for s in ("train+val", "train", "val"))
    assert (len(whole), len(train), len(val)) == (60000, 55000, 5000)
    assert torch.equal(val.images, whole.images[::12]) and torch.equal(val.labels, whole.labels[::12])
    keep = torch.arange(60000) % 12 != 0
    assert torch.equal(train.images, whole.images[keep])
    assert torch.bincount(val.labels, minlength=10).min() >= 400  # every class is in it


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_data_dir() == DEBIAN_DIR
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_env_var_is_used(monkeypatch, test_copy):
    monkeypatch.setenv(ENV_VAR, str(test_copy))
    assert len(load_fashion_mnist("test")) == 10000


def test_explicit_dir_overrides_env_var(monkeypatch, test_copy, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "absent"))
    assert len(load_fashion_mnist("test", test_copy)) == 10000
    monkeypatch.setenv(ENV_VAR, str(test_copy))
    with pytest.raises(UserError, match="absent"):
        load_fashion_mnist("test", tmp_path / "absent")


@needs_data
def test_real_test_split(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    data = load_fashion_mnist("test")
    assert data.images.shape == (10000, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels.shape == (10000,) and data.labels.dtype == torch.int64
    assert torch.equal(data.labels.unique(), torch.arange(10))
    assert torch.equal(torch.bincount(data.labels), torch.full((10,), 1000))
    pixels = data.as_float()
    assert pixels.shape == (10000, 1, 28, 28) and 0 <= pixels.min() and pixels.max() <= 1


@needs_data
def test_batches_follow_data_config_and_limit(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    config = {"input_size": (1, 32, 32), "mean": (0.5,), "std": (0.5,), "interpolation": "bilinear"}
    batches = list(fashion_mnist_batches(config, "test", batch_size=4, limit=10))
    assert [x.shape for x, _ in batches] == [(4, 1, 32, 32), (4, 1, 32, 32), (2, 1, 32, 32)]
    labels = torch.cat([y for _, y in batches])
    assert torch.equal(labels, load_fashion_mnist("test").labels[:10])
