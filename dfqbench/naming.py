"""Name matching shared by every registry: wildcards and did-you-mean."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable


def match_wildcards(names: Iterable[str], pattern: str | None) -> list[str]:
    """Names matching a shell-style pattern (``*vit*``), sorted; all names when pattern is None."""
    names = sorted(names)
    if not pattern:
        return names
    return [n for n in names if fnmatch.fnmatch(n, pattern)]


def did_you_mean(name: str, names: Iterable[str], n: int = 3) -> str:
    """' (did you mean: a, b?)' for the closest names, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(names), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""
