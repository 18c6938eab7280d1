"""Download Fashion-MNIST from its official host, for users without Debian's ``dataset-fashion-mnist``.

Each file is streamed into a temporary folder inside the destination, checked with
the reader's own verification (SHA-256 of the decompressed bytes, see
:func:`dfqbench.data.fashion_mnist.read_verified`) and only then renamed into
place, so an interrupted or failed download never leaves a partial file behind.
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dfqbench.data.fashion_mnist import FILES, read_verified
from dfqbench.errors import UserError

OFFICIAL_URL_BASE = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEFAULT_DEST = "~/.cache/dfqbench/fashion-mnist"
TIMEOUT_S = 60.0


def is_valid(path: Path) -> bool:
    """Whether ``path`` is present and passes the reader's verification."""
    try:
        read_verified(path)
    except UserError:
        return False
    return True


def file_url(url_base: str, name: str) -> str:
    """The URL of one file under ``url_base`` (with or without its trailing slash)."""
    return url_base.rstrip("/") + "/" + name


def download(url: str, target: Path, timeout: float = TIMEOUT_S) -> None:
    """Stream ``url`` into ``target``; any network failure becomes a UserError naming file, URL and reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        reason = str(exc.reason)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
    else:
        return
    raise UserError(f"could not download Fashion-MNIST file {target.name} from {url}: {reason}")


def fetch_fashion_mnist(dest: str | os.PathLike, url_base: str = OFFICIAL_URL_BASE,
                        progress: Callable[[str], None] | None = None, timeout: float = TIMEOUT_S) -> list[Path]:
    """Download and verify the four Fashion-MNIST files into ``dest``; return their paths (in ``FILES`` order).

    Files already present and valid are skipped. ``progress``, if given, receives one
    line per file. A network error or a file that fails verification raises
    UserError; the file being fetched is then not left in ``dest``.
    """
    dest = Path(dest).expanduser()
    report = progress or (lambda line: None)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create destination folder {dest}: {exc.strerror or exc}") from None
    paths = []
    for name in FILES:
        target = dest / name
        paths.append(target)
        if is_valid(target):
            report(f"{name}: already present and verified")
            continue
        url = file_url(url_base, name)
        report(f"{name}: downloading {url}")
        with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
            part = Path(tmp) / name
            download(url, part, timeout)
            if not is_valid(part):
                raise UserError(f"Fashion-MNIST file {name} from {url} failed verification "
                                "(not gzip, or the SHA-256 of its decompressed contents does not match)")
            os.replace(part, target)
        report(f"{name}: downloaded and verified ({target.stat().st_size:,} bytes)")
    return paths
