"""Spatial tiles: padding a window to a size the network takes, cutting it into tiles, blending them back.

Per axis: a side smaller than the tile (or tile 0, "whole frame") is one tile, padded at the end to a
multiple of `network.SIZE_MULTIPLE` and at least the network's minimum size (reflect, replicate
when too small to reflect); a larger side gets tiles every ``tile - overlap`` pixels, the last one
aligned to the far edge. Tiles blend the authors' way: next to a neighbouring tile a band of half
the overlap gets weight 0 (an odd overlap O trims ceil(O/2) at a tile's bottom/right and floor(O/2)
at its top/left), and the weighted sum is divided by the summed weights.

`Tiler` keeps one `Tiling` per frame size, with its 2-D blend masks made once on the engine's device.
Given a memory bound it chooses the tile per frame size itself (`largest_tile`): the whole frame when
a window of it fits, else the largest square tile that does, never smaller than its fallback tile.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .network import SIZE_MULTIPLE

__all__ = ["Axis", "Tiling", "Tiler", "WINDOW_MEMORY", "largest_tile"]

WINDOW_MEMORY = 3 * 2 ** 30  # bytes a forward may take when the engine chooses the tile (fixed: outputs must not
                             # depend on how much memory happens to be free)


def _padded(size: int, min_size: int) -> int:
    """A side padded to a multiple of `network.SIZE_MULTIPLE`, at least ``min_size``."""
    return max(-(-size // SIZE_MULTIPLE) * SIZE_MULTIPLE, min_size)


@dataclass(frozen=True)
class Axis:
    """How one spatial axis of ``size`` pixels is padded and cut into tiles."""

    size: int
    padded: int
    tile: int
    starts: tuple[int, ...]
    masks: tuple[Tensor, ...]  # per tile: 1 where the tile's output counts, 0 in trimmed bands

    @classmethod
    def build(cls, size: int, tile: int, overlap: int, min_size: int) -> "Axis":
        if tile == 0 or size < tile:
            padded = _padded(size, min_size)
            tile, starts = padded, [0]
        else:
            padded = size
            starts = list(range(0, size - tile, tile - overlap)) + [size - tile]
        masks = []
        for k in range(len(starts)):
            mask = torch.ones(tile)
            if k < len(starts) - 1 and overlap > 0:
                mask[tile - (overlap + 1) // 2:] = 0
            if k > 0:
                mask[:overlap // 2] = 0
            masks.append(mask)
        return cls(size, padded, tile, tuple(starts), tuple(masks))


def _pad_end(x: Tensor, amount: int, dim: int) -> Tensor:
    """Pad ``x`` (T, 3, H, W) at the end of dim -2 or -1: reflect, or replicate if too small to reflect."""
    if amount == 0:
        return x
    mode = "reflect" if amount < x.shape[dim] else "replicate"
    pad = (0, amount, 0, 0) if dim == -1 else (0, 0, 0, amount)
    return F.pad(x, pad, mode=mode)


@dataclass
class Tiling:
    """The tiles of one frame size: where they are, how to pad and cut a window, how to blend them."""

    height: Axis
    width: Axis
    device: torch.device
    _masks: tuple[list[Tensor], Tensor] | None = field(default=None, repr=False)

    @property
    def corners(self) -> list[tuple[int, int]]:
        """Top-left corners of the tiles, row by row (the order tiles are run and blended in)."""
        return [(h0, w0) for h0 in self.height.starts for w0 in self.width.starts]

    def pad(self, x: Tensor) -> Tensor:
        """``x`` (T, 3, H, W) padded at the bottom/right to the tiled size."""
        x = _pad_end(x, self.height.padded - self.height.size, -2)
        return _pad_end(x, self.width.padded - self.width.size, -1)

    def tile(self, padded: Tensor, corner: tuple[int, int]) -> Tensor:
        h0, w0 = corner
        return padded[..., h0:h0 + self.height.tile, w0:w0 + self.width.tile]

    def blend(self, tiles: list[Tensor], frames: int) -> Tensor:
        """The tiles' weighted sum over the summed weights, cropped to ``frames`` frames of the frame
        size: a float32 CPU copy made outside inference mode, that callers may keep or modify."""
        if len(tiles) == 1:
            merged = tiles[0]
        else:
            masks, weight = self._blend_masks()
            shape = (*tiles[0].shape[:-2], self.height.padded, self.width.padded)
            merged = torch.zeros(shape, dtype=torch.float32, device=tiles[0].device)
            for (h0, w0), mask, tile in zip(self.corners, masks, tiles):
                merged[..., h0:h0 + self.height.tile, w0:w0 + self.width.tile] += tile * mask
            merged = merged / weight
        return merged[:frames, :, :self.height.size, :self.width.size].to("cpu", torch.float32, copy=True).contiguous()

    def _blend_masks(self) -> tuple[list[Tensor], Tensor]:
        """Each tile's 2-D mask and their sum, made once on the device (copying a mask from the host
        for every tile would make a GPU wait each time)."""
        if self._masks is None:
            masks = [(mh[:, None] * mw[None, :]).to(self.device) for mh in self.height.masks for mw in self.width.masks]
            weight = torch.zeros(self.height.padded, self.width.padded, dtype=torch.float32, device=self.device)
            for (h0, w0), mask in zip(self.corners, masks):
                weight[h0:h0 + self.height.tile, w0:w0 + self.width.tile] += mask
            self._masks = masks, weight
        return self._masks


def largest_tile(height: int, width: int, budget_pixels: int, fallback: tuple[int, int],
                 min_size: int) -> tuple[int, int]:
    """The tile for ``height`` x ``width`` frames when a forward may hold ``budget_pixels`` tile pixels
    (the memory bound over the network's bytes per pixel of a window): (0, 0), the whole frame, when the
    padded frame fits; else the largest square side (a multiple of 8) that fits, but never smaller than
    ``fallback`` (the preset's tile, whatever the bound says)."""
    if _padded(height, min_size) * _padded(width, min_size) <= budget_pixels:
        return 0, 0
    side = int(budget_pixels ** 0.5) // SIZE_MULTIPLE * SIZE_MULTIPLE
    return max(side, fallback[0]), max(side, fallback[1])


class Tiler:
    """The `Tiling` of each frame size for one tile size, overlap and network minimum, made once.

    With ``budget_pixels`` the tile is chosen per frame size by `largest_tile`, ``tile`` being its
    fallback; without it every frame size uses ``tile``.
    """

    def __init__(self, tile: tuple[int, int], overlap: tuple[int, int], min_size: int, device: torch.device,
                 budget_pixels: int | None = None) -> None:
        self.tile, self.overlap, self.min_size, self.device = tile, overlap, min_size, device
        self.budget_pixels = budget_pixels
        self._tilings: dict[tuple[int, int], Tiling] = {}

    def tile_for(self, height: int, width: int) -> tuple[int, int]:
        """The tile (H, W) frames of this size are cut into; 0 = whole frame."""
        if self.budget_pixels is None:
            return self.tile
        return largest_tile(height, width, self.budget_pixels, self.tile, self.min_size)

    def __call__(self, height: int, width: int) -> Tiling:
        key = (height, width)
        if key not in self._tilings:
            tile = self.tile_for(height, width)
            self._tilings[key] = Tiling(Axis.build(height, tile[0], self.overlap[0], self.min_size),
                                        Axis.build(width, tile[1], self.overlap[1], self.min_size), self.device)
        return self._tilings[key]
