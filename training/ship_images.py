"""Comparison images of ``rainmamba ship-eval --images DIR``: one PNG grid per held-out set.

Each row is one clip's middle frame, each column one version of it (rainy | median | model | clean), with the
column names in a black strip on top, so a reader sees what the numbers mean.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from models.atomic import write_atomic

__all__ = ["labelled_grid", "write_png"]

_GAP = 2                      # white pixels between panels


def _header(text: str, width: int) -> np.ndarray:
    scale = float(np.clip(width / 220, 0.3, 0.8))
    while scale > 0.25 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 4:
        scale -= 0.05
    (_, text_h), baseline = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    strip = np.zeros((text_h + baseline + 6, width, 3), np.uint8)
    cv2.putText(strip, text, (2, text_h + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return strip


def labelled_grid(columns: list[str], rows: list[list[np.ndarray]]) -> np.ndarray:
    """RGB uint8 panels (all one size) as a grid with a labelled header per column and white gaps."""
    if not rows or any(len(row) != len(columns) for row in rows):
        raise ValueError(f"Each row needs one panel per column ({len(columns)}): got {[len(r) for r in rows]}.")
    height, width = rows[0][0].shape[:2]
    headers = [_header(text, width) for text in columns]
    top = max(h.shape[0] for h in headers)
    headers = [np.vstack([h, np.zeros((top - h.shape[0], width, 3), np.uint8)]) for h in headers]
    lines = [headers] + rows
    gap_v = np.full((_GAP, len(columns) * (width + _GAP) - _GAP, 3), 255, np.uint8)
    out: list[np.ndarray] = []
    for line in lines:
        cells: list[np.ndarray] = []
        for panel in line:
            cells += [panel, np.full((panel.shape[0], _GAP, 3), 255, np.uint8)]
        out += [np.hstack(cells[:-1]), gap_v]
    return np.vstack(out[:-1])


def write_png(path: str | os.PathLike, image_rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG atomically."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image_rgb[:, :, ::-1]))
    if not ok:
        raise OSError(f"Cannot encode {path} as PNG.")
    return write_atomic(path, data.tobytes())
