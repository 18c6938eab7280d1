"""A counter-based integer PRNG (SplitMix64) on numpy ``uint64`` vectors, bit-identical on every platform.

Draw ``k`` of item ``i`` under a key is ``mix(key + (i * 2**STREAM_BITS + k + 1) * GOLDEN)``: SplitMix64's output
function applied to its state after ``i * 2**STREAM_BITS + k + 1`` steps from ``key``. Every draw is a pure
function of (key, item, k), so any slice of a dataset can be regenerated alone, in any order, in one vectorised
call. Only wrapping ``uint64`` arithmetic, xors and logical shifts are used (numpy defines them exactly), so the
numbers depend on neither numpy's nor torch's version, nor on their random generators.
"""

from __future__ import annotations

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX_1, MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
STREAM_BITS = 20  # draws per item: up to 2**20


def mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Stafford's variant 13) on a ``uint64`` array."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * MIX_1
    z = (z ^ (z >> np.uint64(27))) * MIX_2
    return z ^ (z >> np.uint64(31))


def fold_key(*words: int) -> np.uint64:
    """One 64-bit key from non-negative integers (seed, split code, draw, ...): ``key = mix(key + word + 1)``."""
    key = np.zeros(1, dtype=np.uint64)  # a 1-element array: numpy wraps array arithmetic silently
    for word in words:
        if not 0 <= word < 2**63:
            raise ValueError(f"key words are non-negative 63-bit integers, got {word}")
        key = mix(key + np.uint64(word) + np.uint64(1))
    return key[0]


def draws(key: np.uint64, items: np.ndarray, count: int) -> np.ndarray:
    """``(len(items), count)`` uint64 draws: draw ``k`` of each item index in ``items``."""
    if count > 2**STREAM_BITS:
        raise ValueError(f"at most {2**STREAM_BITS} draws per item")
    items = np.asarray(items, dtype=np.uint64).reshape(-1, 1)
    counters = (items << np.uint64(STREAM_BITS)) + np.arange(1, count + 1, dtype=np.uint64)
    return mix(key + counters * GOLDEN)


def below(values: np.ndarray, bound: int | np.ndarray) -> np.ndarray:
    """Integers in ``[0, bound)`` from uint64 draws (Lemire's multiply-shift on the high 32 bits), as int64."""
    high = (np.asarray(values, dtype=np.uint64) >> np.uint64(32)).astype(np.int64)
    return (high * np.asarray(bound, dtype=np.int64)) >> 32


def between(values: np.ndarray, low: int | np.ndarray, high: int | np.ndarray) -> np.ndarray:
    """Integers in ``[low, high]`` (both included) from uint64 draws, as int64."""
    return np.asarray(low, dtype=np.int64) + below(values, np.asarray(high, dtype=np.int64) - low + 1)


def byte_lanes(values: np.ndarray) -> np.ndarray:
    """The 8 bytes of each uint64 draw, least significant first: shape ``(..., 8 * last)``, uint8."""
    little = np.ascontiguousarray(values, dtype="<u8")  # a copy only on a big-endian machine
    return little.view(np.uint8).reshape(*little.shape[:-1], little.shape[-1] * 8)
