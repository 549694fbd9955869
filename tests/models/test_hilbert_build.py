"""The vectorised, memoised Hilbert-curve builder against a plain cell-by-cell walk of the same algorithm."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.hilbert import gilbert3d


def _sgn(v: int) -> int:
    return (v > 0) - (v < 0)


def _cell_by_cell(width: int, height: int, depth: int) -> np.ndarray:
    """The generalized 3-D Hilbert curve emitted one cell at a time (no memo, no vectorisation)."""
    out: list[tuple[int, int, int]] = []

    def walk(x, y, z, ax, ay, az, bx, by, bz, cx, cy, cz):
        w, h, d = abs(ax + ay + az), abs(bx + by + bz), abs(cx + cy + cz)
        if 0 in (w, h, d):
            return
        dax, day, daz = _sgn(ax), _sgn(ay), _sgn(az)
        dbx, dby, dbz = _sgn(bx), _sgn(by), _sgn(bz)
        dcx, dcy, dcz = _sgn(cx), _sgn(cy), _sgn(cz)
        for n, (sx, sy, sz), m in ((w, (dax, day, daz), (h, d)), (h, (dbx, dby, dbz), (w, d)),
                                   (d, (dcx, dcy, dcz), (w, h))):
            if m == (1, 1):
                out.extend((x + k * sx, y + k * sy, z + k * sz) for k in range(n))
                return
        ax2, ay2, az2 = ax // 2, ay // 2, az // 2
        bx2, by2, bz2 = bx // 2, by // 2, bz // 2
        cx2, cy2, cz2 = cx // 2, cy // 2, cz // 2
        if abs(ax2 + ay2 + az2) % 2 and w > 2:
            ax2, ay2, az2 = ax2 + dax, ay2 + day, az2 + daz
        if abs(bx2 + by2 + bz2) % 2 and h > 2:
            bx2, by2, bz2 = bx2 + dbx, by2 + dby, bz2 + dbz
        if abs(cx2 + cy2 + cz2) % 2 and d > 2:
            cx2, cy2, cz2 = cx2 + dcx, cy2 + dcy, cz2 + dcz
        if 2 * w > 3 * h and 2 * w > 3 * d:
            walk(x, y, z, ax2, ay2, az2, bx, by, bz, cx, cy, cz)
            walk(x + ax2, y + ay2, z + az2, ax - ax2, ay - ay2, az - az2, bx, by, bz, cx, cy, cz)
        elif 3 * h > 4 * d:
            walk(x, y, z, bx2, by2, bz2, cx, cy, cz, ax2, ay2, az2)
            walk(x + bx2, y + by2, z + bz2, ax, ay, az, bx - bx2, by - by2, bz - bz2, cx, cy, cz)
            walk(x + ax - dax + bx2 - dbx, y + ay - day + by2 - dby, z + az - daz + bz2 - dbz,
                 -bx2, -by2, -bz2, cx, cy, cz, -(ax - ax2), -(ay - ay2), -(az - az2))
        elif 3 * d > 4 * h:
            walk(x, y, z, cx2, cy2, cz2, ax2, ay2, az2, bx, by, bz)
            walk(x + cx2, y + cy2, z + cz2, ax, ay, az, bx, by, bz, cx - cx2, cy - cy2, cz - cz2)
            walk(x + ax - dax + cx2 - dcx, y + ay - day + cy2 - dcy, z + az - daz + cz2 - dcz,
                 -cx2, -cy2, -cz2, -(ax - ax2), -(ay - ay2), -(az - az2), bx, by, bz)
        else:
            walk(x, y, z, bx2, by2, bz2, cx2, cy2, cz2, ax2, ay2, az2)
            walk(x + bx2, y + by2, z + bz2, cx, cy, cz, ax2, ay2, az2, bx - bx2, by - by2, bz - bz2)
            walk(x + bx2 - dbx + cx - dcx, y + by2 - dby + cy - dcy, z + bz2 - dbz + cz - dcz,
                 ax, ay, az, -bx2, -by2, -bz2, -(cx - cx2), -(cy - cy2), -(cz - cz2))
            walk(x + ax - dax + bx2 + cx - dcx, y + ay - day + by2 + cy - dcy, z + az - daz + bz2 + cz - dcz,
                 -cx, -cy, -cz, -(ax - ax2), -(ay - ay2), -(az - az2), bx - bx2, by - by2, bz - bz2)
            walk(x + ax - dax + bx2 - dbx, y + ay - day + by2 - dby, z + az - daz + bz2 - dbz,
                 -bx2, -by2, -bz2, cx2, cy2, cz2, -(ax - ax2), -(ay - ay2), -(az - az2))

    walk(0, 0, 0, width, 0, 0, 0, height, 0, 0, 0, depth)
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


@pytest.mark.parametrize("grid", list(itertools.product([1, 2, 3, 8, 13, 32], [1, 5, 6, 17, 40], [1, 3, 5, 7])))
def test_memoised_walk_equals_the_cell_by_cell_walk(grid):
    assert np.array_equal(gilbert3d(*grid), _cell_by_cell(*grid))


def test_a_1080p_feature_grid_equals_the_cell_by_cell_walk():
    # H/4 of a padded 1080p frame, T=5: 653k cells (how fast it is built: `rainmamba bench --profile`)
    assert np.array_equal(gilbert3d(272, 480, 5), _cell_by_cell(272, 480, 5))
