"""Process-wide runtime settings for the command line and the benchmarks."""

from __future__ import annotations

import contextlib
import ctypes
import sys

import torch

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


@contextlib.contextmanager
def denormals_flushed(enabled: bool = True):
    """Inside: the CPU flushes subnormal floats (below 1.2e-38 in float32) to zero, inputs and results.

    Why: a subnormal operand or result sends the CPU's vector units through a microcode assist, tens of times
    slower per value. Swin's shifted windows add -100 to masked logits, so their softmax probabilities are
    about 1e-44, subnormal, and every matmul and backward that touches them slows down (README, Speed:
    a Swin forward+backward about 1.5x). Flushing can change a result's last bits where subnormal values would
    have counted, so runs with it are other cells (``RunSettings.flush_denormal``). torch has no getter for the
    flag: it is off outside, as torch starts. The flag is the calling thread's only (torch's other intra-op threads
    keep theirs), so it needs one torch thread.
    """
    if not enabled:
        yield
        return
    if torch.get_num_threads() != 1:
        raise RuntimeError("flushing subnormals needs one torch thread: the CPU flag is per thread")
    if not torch.set_flush_denormal(True):
        raise RuntimeError("this CPU cannot flush subnormal numbers (torch.set_flush_denormal)")
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
