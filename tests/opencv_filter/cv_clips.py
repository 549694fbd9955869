"""Tiny test clips for the OpenCV wrapper tests: frames, and videos written and read with OpenCV."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLIP_SIZE = (48, 40)  # (width, height): not a multiple of the tiny tile, not of 16
CLIP_FRAMES = 7       # not a multiple of T = 5: the tail must come out
CLIP_FPS = 12.5


def rainy_frames(n: int = CLIP_FRAMES, size: tuple[int, int] = CLIP_SIZE, seed: int = 0,
                 dtype=np.uint8) -> list[np.ndarray]:
    """Smooth moving BGR frames with bright streaks (so codecs keep them and frames differ)."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for t in range(n):
        base = np.stack([(xx * 4 + t * 9) % 256, (yy * 5 + t * 3) % 256, (xx + yy + t * 20) % 256], -1)
        streaks = (rng.random((height, width)) > 0.97)[..., None] * 120
        frame = np.clip(base + streaks, 0, 255).astype(np.uint8)
        frames.append(frame.astype(np.uint16) * 257 if dtype == np.uint16 else frame)
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = CLIP_FPS, fourcc: str | None = None) -> Path:
    """Write ``frames`` (BGR uint8) to ``path`` with OpenCV; mp4v for .mp4, MJPG for .avi by default."""
    code = fourcc or {".mp4": "mp4v", ".avi": "MJPG"}[path.suffix]
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*code), fps, (width, height))
    assert writer.isOpened(), f"this OpenCV cannot write {code} into {path.suffix}"
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of a video and its frame rate."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"cannot open {path}"
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps
