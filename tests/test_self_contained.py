"""The repository documents itself: nothing in it refers to the project brief or to any path outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "runs", "__pycache__", ".pytest_cache", ".ruff_cache", ".benchmarks", ".hypothesis"}
OUTSIDE = re.compile(r"shared/specs|\.\./shared|(?<![\w.])/work/|(?<![\w.])/home/|(?<![\w.])/root/")


def repository_text_files() -> list[Path]:
    """The files git would commit (tracked, or new and not ignored); without git, a walk minus the usual caches."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
        return [ROOT / name for name in listed if (ROOT / name).is_file()]
    except (OSError, subprocess.SubprocessError):
        pass
    files = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if path.is_file() and not parts & SKIP_DIRS and not any(p.endswith(".egg-info") for p in parts):
            files.append(path)
    return files


def test_nothing_refers_outside_the_repository():
    offenders = []
    for path in repository_text_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary: weights, images
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and path != Path(__file__):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)


def test_the_protocol_and_method_documents_exist_and_are_linked():
    readme = (ROOT / "README.md").read_text()
    for document in ("methods/README.md", "dfqbench/PROTOCOL.md"):
        assert (ROOT / document).is_file() and document in readme
