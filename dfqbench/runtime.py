"""Process-wide runtime settings for the command line and the benchmarks."""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def tune_allocator() -> bool:
    """Keep freed activation buffers in glibc's heap instead of unmapping them (Linux only).

    By default glibc serves every block above its mmap threshold with a fresh
    mapping and returns it on free, so each new activation tensor of a few
    hundred KB page-faults its memory in again. Fake quantization allocates
    one such tensor per quantizer per forward; raising the thresholds makes
    4w4a evaluation on the CPU markedly faster (README, Speed). Returns
    whether the settings were applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
