"""Bit-width notation: ``4w4a`` (also ``W4A4``, ``w4a4``, ``W4/A4``); bits outside 2..16 are an error."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dfqbench.errors import UserError

MIN_BITS, MAX_BITS = 2, 16
_WA = re.compile(r"^\s*(\d+)\s*w\s*(\d+)\s*a\s*$", re.IGNORECASE)
_AW = re.compile(r"^\s*w\s*(\d+)\s*/?\s*a\s*(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class BitWidth:
    """Weight and activation bits of one quantized configuration."""

    weight: int
    activation: int

    def __post_init__(self) -> None:
        for kind, bits in (("weight", self.weight), ("activation", self.activation)):
            if not MIN_BITS <= bits <= MAX_BITS:
                raise UserError(f"{kind} bits must be in {MIN_BITS}..{MAX_BITS}, got {bits}")

    def __str__(self) -> str:
        return f"{self.weight}w{self.activation}a"

    @classmethod
    def parse(cls, text: str) -> BitWidth:
        """Parse one bit-width; raise UserError with the accepted forms when malformed."""
        match = _WA.match(text) or _AW.match(text)
        if not match:
            if text.strip().lower() == "fp":
                raise UserError("'fp' is the full-precision row, not a bit-width")
            raise UserError(f"malformed bit-width '{text}' (expected e.g. 4w4a, W4A4 or W4/A4)")
        return cls(int(match.group(1)), int(match.group(2)))


def parse_bit_list(text: str) -> list[BitWidth]:
    """Comma-separated bit-widths, duplicates dropped, order kept."""
    seen: dict[BitWidth, None] = {}
    for part in text.split(","):
        if part.strip():
            seen.setdefault(BitWidth.parse(part), None)
    if not seen:
        raise UserError("no bit-width given (expected e.g. 4w4a,W4A8)")
    return list(seen)
