"""Fetching Fashion-MNIST from a local HTTP server that serves copies of Debian's files."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfqbench.cli.app import app
from dfqbench.data.fashion_mnist import FILES, read_verified
from dfqbench.data.fetch import fetch_fashion_mnist, file_url
from dfqbench.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CORRUPT = "train-labels-idx1-ubyte.gz"

pytestmark = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="dataset-fashion-mnist not installed")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Base URL of a local server with good/ (the real files), bad/ (one corrupt) and empty/ (404s)."""
    root = tmp_path_factory.mktemp("served")
    for sub in ("good", "bad", "empty"):
        (root / sub).mkdir()
    for name in FILES:
        shutil.copy(DEBIAN_DIR / name, root / "good" / name)
        (root / "bad" / name).symlink_to(root / "good" / name)
    (root / "bad" / CORRUPT).unlink()
    (root / "bad" / CORRUPT).write_bytes(gzip.compress(b"not the labels"))
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_file_url_joins_with_or_without_slash():
    assert file_url("http://h/x/", "a.gz") == file_url("http://h/x", "a.gz") == "http://h/x/a.gz"


def test_fetch_downloads_and_verifies(server, tmp_path):
    lines = []
    dest = tmp_path / "new" / "fmnist"
    paths = fetch_fashion_mnist(dest, server + "/good/", progress=lines.append)
    assert [p.name for p in paths] == list(FILES)
    assert sorted(os.listdir(dest)) == sorted(FILES)
    for path in paths:
        read_verified(path)
    assert sum("downloaded and verified" in line for line in lines) == 4


def test_valid_files_are_skipped(server, tmp_path):
    for name in FILES:
        shutil.copy(DEBIAN_DIR / name, tmp_path / name)
    lines = []
    fetch_fashion_mnist(tmp_path, server + "/empty/", progress=lines.append)  # would 404 if it downloaded
    assert len(lines) == 4 and all("already present" in line for line in lines)


def test_corrupt_download_leaves_nothing(server, tmp_path):
    with pytest.raises(UserError) as info:
        fetch_fashion_mnist(tmp_path, server + "/bad")
    message = str(info.value)
    assert CORRUPT in message and f"{server}/bad/{CORRUPT}" in message and "SHA-256" in message
    assert "\n" not in message
    assert not (tmp_path / CORRUPT).exists()
    assert set(os.listdir(tmp_path)) <= set(FILES)  # no temporary folder or partial file left


def test_http_404_is_a_user_error(server, tmp_path):
    with pytest.raises(UserError, match=r"train-images-idx3-ubyte\.gz.*/empty/.*HTTP 404"):
        fetch_fashion_mnist(tmp_path, server + "/empty/")
    assert os.listdir(tmp_path) == []


def test_connection_refused_is_a_user_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserError, match="could not download"):
        fetch_fashion_mnist(tmp_path, f"http://127.0.0.1:{port}/", timeout=5)
    assert os.listdir(tmp_path) == []


def test_cli_fetch(server, tmp_path):
    dest = tmp_path / "out"
    result = CliRunner().invoke(app, ["--threads", "1", "data", "fetch", "fashion-mnist",
                                      "--dest", str(dest), "--url-base", server + "/good/"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(dest)) == sorted(FILES)
    assert f"--data-dir {dest}" in result.output and f"DFQBENCH_DATA={dest}" in result.output


def test_cli_unknown_dataset_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dfqbench", "data", "fetch", "mnist", "--dest", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown dataset 'mnist'" in lines[0] and "fashion-mnist" in lines[0]
    assert os.listdir(tmp_path) == []


def test_cli_fetch_help_has_example():
    result = CliRunner().invoke(app, ["--threads", "1", "data", "fetch", "--help"])
    assert result.exit_code == 0
    assert "dfqbench data fetch fashion-mnist --dest" in result.output
