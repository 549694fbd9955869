"""The generalized 3-D Hilbert curve ("gilbert", J. Červený's algorithm) that orders tokens in local blocks.

The curve visits every cell of an arbitrary cuboid, taking a diagonal step only where odd sizes force one.
RainMamba walks the (h, w, T) feature grid with it, always width-major, and names cell (x, y, z) by the flat
index x*w*T + y*T + z (time fastest). This module computes the curve for any grid and caches it.
"""
from __future__ import annotations

import functools
import sys

import numpy as np
import torch

from ._compile import opaque_to_compile

Vec = tuple[int, int, int]


def _sign(v: int) -> int:
    return (v > 0) - (v < 0)


def _unit(v: Vec) -> Vec:
    return (_sign(v[0]), _sign(v[1]), _sign(v[2]))


def _add(*vs: Vec) -> Vec:
    return (sum(v[0] for v in vs), sum(v[1] for v in vs), sum(v[2] for v in vs))


def _neg(v: Vec) -> Vec:
    return (-v[0], -v[1], -v[2])


def _half(v: Vec) -> Vec:
    return (v[0] // 2, v[1] // 2, v[2] // 2)  # floor division, as the algorithm prescribes


def _length(v: Vec) -> int:
    return abs(v[0] + v[1] + v[2])


def _walk(memo: dict[tuple[Vec, Vec, Vec], np.ndarray], a: Vec, b: Vec, c: Vec) -> np.ndarray:
    """The cells of the cuboid at the origin spanned by major axis ``a`` and axes ``b``, ``c``, (n, 3).

    The walk of a cuboid depends on its corner only by translation, so each distinct (a, b, c) is walked
    once (``memo``) and its pieces are placed with one vectorised add: a 1080p feature grid has a few
    hundred distinct sub-cuboids for its hundreds of thousands of cells.
    """
    key = (a, b, c)
    if key in memo:
        return memo[key]
    w, h, d = _length(a), _length(b), _length(c)
    da, db, dc = _unit(a), _unit(b), _unit(c)
    if 0 in (w, h, d):  # thin grids halve an axis of length 1 to nothing: that piece holds no cells
        cells = np.zeros((0, 3), np.int64)
    else:
        cells = _row(w, h, d, da, db, dc)
    if cells is None:
        cells = np.concatenate([_walk(memo, *axes) + np.asarray(p, np.int64) for p, axes in _pieces(a, b, c)])
    memo[key] = cells
    return cells


def _row(w: int, h: int, d: int, da: Vec, db: Vec, dc: Vec) -> np.ndarray | None:
    """A single row of cells, in one go; None when the cuboid is thicker than one row."""
    for n, step, (m1, m2) in ((w, da, (h, d)), (h, db, (w, d)), (d, dc, (w, h))):
        if m1 == 1 and m2 == 1:
            return np.arange(n, dtype=np.int64)[:, None] * np.asarray(step, np.int64)[None, :]
    return None


def _pieces(a: Vec, b: Vec, c: Vec) -> list[tuple[Vec, tuple[Vec, Vec, Vec]]]:
    """The sub-cuboids of one step of the algorithm, in walking order, as (corner, (a, b, c))."""
    w, h, d = _length(a), _length(b), _length(c)
    da, db, dc = _unit(a), _unit(b), _unit(c)
    a2, b2, c2 = _half(a), _half(b), _half(c)
    # prefer even halves so the sub-curves can end next to each other
    if _length(a2) % 2 and w > 2:
        a2 = _add(a2, da)
    if _length(b2) % 2 and h > 2:
        b2 = _add(b2, db)
    if _length(c2) % 2 and d > 2:
        c2 = _add(c2, dc)
    a_rest, b_rest, c_rest = _add(a, _neg(a2)), _add(b, _neg(b2)), _add(c, _neg(c2))
    o = (0, 0, 0)
    if 2 * w > 3 * h and 2 * w > 3 * d:  # long along a: two halves
        return [(o, (a2, b, c)), (a2, (a_rest, b, c))]
    if 3 * h > 4 * d:  # flat in c: three pieces, c is never split
        return [(o, (b2, c, a2)), (b2, (a, b_rest, c)),
                (_add(a, _neg(da), b2, _neg(db)), (_neg(b2), c, _neg(a_rest)))]
    if 3 * d > 4 * h:  # flat in b: three pieces, b is never split
        return [(o, (c2, a2, b)), (c2, (a, b, c_rest)),
                (_add(a, _neg(da), c2, _neg(dc)), (_neg(c2), _neg(a_rest), b))]
    return [(o, (b2, c2, a2)),  # split every axis: five pieces
            (b2, (c, a2, b_rest)),
            (_add(b2, _neg(db), c, _neg(dc)), (a, _neg(b2), _neg(c_rest))),
            (_add(a, _neg(da), b2, c, _neg(dc)), (_neg(c), _neg(a_rest), b_rest)),
            (_add(a, _neg(da), b2, _neg(db)), (_neg(b2), c2, _neg(a_rest)))]


def gilbert3d(width: int, height: int, depth: int) -> np.ndarray:
    """Cells (x, y, z) of a width x height x depth cuboid in generalized Hilbert order, shape (N, 3)."""
    if min(width, height, depth) < 1:
        raise ValueError(f"A Hilbert curve needs a non-empty grid, got {width}x{height}x{depth}.")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return _walk({}, (width, 0, 0), (0, height, 0), (0, 0, depth)).copy()
    finally:
        sys.setrecursionlimit(limit)


def _official_order(frames: int, height: int, width: int) -> torch.Tensor:
    cells = gilbert3d(height, width, frames).astype(np.int64)
    return torch.from_numpy(cells[:, 0] * width * frames + cells[:, 1] * frames + cells[:, 2])


def _inverse(order: torch.Tensor) -> torch.Tensor:
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    return inverse


def _raster_order(frames: int, height: int, width: int) -> torch.Tensor:
    # (h, w, T) index p = (y*w + x)*T + t  ->  raster index t*h*w + y*w + x
    curve = _permutation("curve", frames, height, width, torch.device("cpu"))
    return (curve % frames) * (height * width) + curve // frames


_BUILDERS = {
    "curve": _official_order,
    "raster": _raster_order,
    "raster_inverse": lambda f, h, w: _inverse(_permutation("raster", f, h, w, torch.device("cpu"))),
}


@functools.lru_cache(maxsize=256)
def _permutation(kind: str, frames: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    if device.type != "cpu":
        return _permutation(kind, frames, height, width, torch.device("cpu")).to(device)
    return _BUILDERS[kind](frames, height, width)


@opaque_to_compile  # a cached constant: torch.compile calls it rather than tracing the curve's recursion
def _cached(kind: str, frames: int, height: int, width: int, device: torch.device | str | None) -> torch.Tensor:
    device = torch.device(device) if device is not None else torch.device("cpu")
    return _permutation(kind, int(frames), int(height), int(width), device)


def hilbert_curve(frames: int, height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The official token order of a local block on a (frames, height, width) feature grid.

    Returns an int64 permutation of ``range(frames*height*width)``: position i of the reordered sequence holds
    token ``curve[i]`` of the (h, w, T)-flattened grid. Cached per grid and device; do not modify it.
    """
    return _cached("curve", frames, height, width, device)


def hilbert_raster_order(frames: int, height: int, width: int,
                         device: torch.device | str | None = None) -> torch.Tensor:
    """The same curve, naming tokens by their raster index ``t*h*w + y*w + x`` instead of the (h, w, T) one.

    The network keeps its features as raster-ordered tokens, so one gather with this reorders them along the
    curve without first transposing the grid. Cached like the curve.
    """
    return _cached("raster", frames, height, width, device)


def hilbert_raster_inverse(frames: int, height: int, width: int,
                           device: torch.device | str | None = None) -> torch.Tensor:
    """The inverse of :func:`hilbert_raster_order`: gathers a curve-ordered sequence back to raster order."""
    return _cached("raster_inverse", frames, height, width, device)
