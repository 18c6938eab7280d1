"""Token layout of an attention call: special tokens, patch grid, Swin windows, shift and pad tokens.

Nothing in dfqbench assumes 197 tokens or a 14x14 grid: every method reads
the layout of each block from here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenLayout:
    """Where the N tokens of one attention call come from.

    ``positions`` has shape (windows, N): the index ``row * W + col`` on the
    block's (un-shifted) patch grid of each token, or -1 for a special token
    (CLS, distillation, registers) or a pad token. Global attention (ViT,
    DeiT) has one "window" holding every token.
    """

    special_tokens: tuple[str, ...]
    grid: tuple[int, int]
    positions: torch.Tensor
    window: tuple[int, int] | None = None
    shift: tuple[int, int] = (0, 0)
    padded_grid: tuple[int, int] | None = None

    @property
    def num_special(self) -> int:
        return len(self.special_tokens)

    @property
    def num_windows(self) -> int:
        return self.positions.shape[0]

    @property
    def num_tokens(self) -> int:
        return self.positions.shape[1]

    @property
    def patch_mask(self) -> torch.Tensor:
        """(windows, N) bool: True for real patch tokens (not special, not pad)."""
        return self.positions >= 0

    @functools.cached_property
    def shared_patch_index(self) -> torch.Tensor | None:
        """Indices of the patch tokens when every window has them at the same places (ViT and DeiT: the
        tokens after the special ones; Swin without padding: all of them), else None. Computed once per
        layout; the wrapper keeps one layout per token count and Swin window configuration."""
        mask = self.patch_mask
        return mask[0].nonzero().squeeze(-1) if bool((mask == mask[0]).all()) else None

    @property
    def has_pad(self) -> bool:
        return self.window is not None and bool((self.positions < 0).any())

    def to_grid(self, values: torch.Tensor) -> torch.Tensor:
        """Per-token values (..., windows, N) onto the patch grid (..., H, W); special and pad tokens dropped."""
        lead = values.shape[:-2]
        flat = values.reshape(*lead, -1)
        pos = self.positions.reshape(-1).to(values.device)
        keep = pos >= 0
        out = values.new_zeros(*lead, self.grid[0] * self.grid[1])
        out[..., pos[keep]] = flat[..., keep]
        return out.view(*lead, *self.grid)


def global_layout(special_tokens: tuple[str, ...], grid: tuple[int, int]) -> TokenLayout:
    """Layout of a ViT/DeiT attention call: special tokens first, then the patches in raster order."""
    patches = torch.arange(grid[0] * grid[1])
    positions = torch.cat([torch.full((len(special_tokens),), -1), patches]).unsqueeze(0)
    return TokenLayout(special_tokens=special_tokens, grid=grid, positions=positions)


def window_layout(grid: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]) -> TokenLayout:
    """Layout of a Swin block: timm shifts the (H, W) grid by -shift, pads it bottom/right, then partitions."""
    height, width = grid
    wh, ww = window
    hp, wp = -(-height // wh) * wh, -(-width // ww) * ww
    rows = torch.arange(hp).view(-1, 1).expand(hp, wp)
    cols = torch.arange(wp).view(1, -1).expand(hp, wp)
    valid = (rows < height) & (cols < width)
    src = ((rows + shift[0]) % height) * width + (cols + shift[1]) % width
    src = torch.where(valid, src, torch.full_like(src, -1))
    windows = src.view(hp // wh, wh, wp // ww, ww).permute(0, 2, 1, 3).reshape(-1, wh * ww)
    return TokenLayout(special_tokens=(), grid=grid, positions=windows, window=window,
                       shift=shift, padded_grid=(hp, wp))
