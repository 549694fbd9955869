"""Scene cuts that rain does not trigger: one rule for every front end, decided per frame from a few neighbours.

A temporal window must not span a cut (it would blend two shots), but every false cut shortens the
windows of a continuous shot, and rain is exactly what a plain frame difference sees: streaks move tens
of pixels a frame. The rule, chosen by measurement on the corpus in tests/models/scene_corpus.py:

- **signature** (`frame_signature`, once per frame, cacheable): the frame area-averaged to at most
  ``WORK_SIDE`` pixels on its short side, converted to Y'CbCr, luma eroded (a min filter: rain only
  adds light, and streaks are thinner than the kernel) and the three planes area-averaged to a
  ``GRID`` x ``GRID`` thumbnail. Chroma matters: rain is grey, so colour separates shots that heavy
  rain makes alike in luma;
- **distance** (`distance`): mean over the thumbnail's cells of the summed absolute Y, Cb, Cr change;
- **decision** (`is_cut`) for frame k from the signatures of k-2..k+1: ``cross``, the smallest distance
  between a frame before the cut ({k-2, k-1}) and one after it ({k, k+1}), must reach ``threshold``
  and ``RATIO`` times ``within``, the larger of the distances inside each side (k-2 to k-1, k to
  k+1). The ratio is the adaptive test of ffmpeg's ``scdet`` and PySceneDetect's adaptive detector:
  camera motion and rain move every pair about alike, a cut only the pairs across it;
- **one-frame events**: a lightning flash (frame k much brighter: far from both neighbours, which
  are close to each other) becomes a shot of its own, cut before and after. Measured on flash clips
  with the shipped model: kept inside the shot, the flash frame comes out at 12.5 dB PSNR (the
  window pulls it towards its neighbours, and it leaks into them); cut around, at 28.0 dB, and the
  other frames gain too, 23.7 -> 23.8 dB (tests/models/scene_corpus.py `flash_psnr`).

The decision reads only frames k-2..k+1, so a frame server can evaluate it lazily for any frame in any
order and get the same answer; a stream needs one frame of look-ahead (`mark_cuts`).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

GRID = 16                    # thumbnail cells per side
WORK_SIDE = 64               # frames are area-averaged to this short side before the min filter
ERODE = 5                    # min-filter size at the working size, pixels
RATIO = 1.3                  # cross distance over within distance that a cut must reach
DEFAULT_THRESHOLD = 0.10     # the cross distance a cut must reach; 0.065-0.145 all score perfectly on the corpus
CONTEXT = (2, 1)             # the decision for k reads frames k - CONTEXT[0] .. k + CONTEXT[1]

_YCBCR = np.array([[0.299, 0.587, 0.114],
                   [-0.168736, -0.331264, 0.5],
                   [0.5, -0.418688, -0.081312]], np.float32)
_KERNEL = np.ones((ERODE, ERODE), np.uint8)


def frame_signature(frame: Any) -> np.ndarray:
    """The (3, GRID, GRID) float32 signature of one RGB frame (3, H, W): numpy or torch, uint8 (0..255),
    uint16 (0..65535) or float (0..1)."""
    if hasattr(frame, "detach"):
        frame = frame.detach().cpu().numpy()
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[0] != 3:
        raise ValueError(f"A frame for scene-cut detection must be RGB (3, H, W), got shape {array.shape}.")
    scale = np.float32(1 / {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(array.dtype, 1))
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        array = array.astype(np.float32)
    image = np.stack([_work_plane(plane) for plane in array], axis=-1).astype(np.float32, copy=False)
    planes = np.tensordot(image, _YCBCR * scale, axes=([2], [1]))      # (h, w, 3) Y'CbCr
    luma = cv2.erode(np.ascontiguousarray(planes[..., 0]), _KERNEL, borderType=cv2.BORDER_REPLICATE)
    thumbs = [cv2.resize(plane, (GRID, GRID), interpolation=cv2.INTER_AREA)
              for plane in (luma, np.ascontiguousarray(planes[..., 1]), np.ascontiguousarray(planes[..., 2]))]
    return np.stack(thumbs).astype(np.float32, copy=False)


def _work_plane(plane: np.ndarray) -> np.ndarray:
    """One plane area-averaged to ``WORK_SIDE`` pixels on its short side (unchanged when smaller): first by
    a whole factor (OpenCV's fast path; up to factor - 1 edge pixels dropped), then to the exact size."""
    height, width = plane.shape
    factor = min(height, width) // WORK_SIDE
    if factor >= 2:
        height, width = height // factor * factor, width // factor * factor
        plane = cv2.resize(plane[:height, :width], (width // factor, height // factor), interpolation=cv2.INTER_AREA)
        height, width = plane.shape
    shrink = WORK_SIDE / min(height, width)
    if shrink < 1:
        plane = cv2.resize(plane, (max(1, round(width * shrink)), max(1, round(height * shrink))),
                           interpolation=cv2.INTER_AREA)
    return plane


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two signatures are: the mean over cells of the summed |Y|, |Cb|, |Cr| change."""
    return float(np.abs(a - b).sum(axis=0).mean())


def _shot_change(before: list[np.ndarray], after: list[np.ndarray], threshold: float) -> bool:
    """A change of shot between two runs of frames: every cross pair far apart, and farther than
    ``RATIO`` times the pairs inside each run."""
    cross = min(distance(a, b) for a in before for b in after)
    within = max((distance(*side) for side in (before, after) if len(side) == 2), default=0.0)
    return cross >= threshold and cross >= RATIO * within


def _single_frame(previous: np.ndarray, frame: np.ndarray, following: np.ndarray, threshold: float) -> bool:
    """``frame`` is a one-frame event (a lightning flash, a stray frame): far from both neighbours, which
    are close to each other."""
    near = min(distance(previous, frame), distance(frame, following))
    return near >= threshold and near >= RATIO * distance(previous, following)


def check_threshold(value: object, name: str = "sc_threshold", props_only: bool = False) -> float | None:
    """A scene-cut threshold as given by a user: a finite number from 0 to 1 (lower finds more cuts), or,
    where ``props_only`` allows it, None (scene-change frame props only). ``name`` is the user's spelling
    of the option in the ValueError about a bad value."""
    if value is None and props_only:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        alternative = ", or None for the scene-change props only" if props_only else " (lower finds more cuts)"
        raise ValueError(f"{name} must be a number from 0 to 1{alternative}, got {value!r}.")
    return float(value)


def is_cut(window: Sequence[np.ndarray | None], threshold: float = DEFAULT_THRESHOLD) -> bool:
    """True when frame k starts a new shot, from ``window`` = the signatures of (k-2, k-1, k, k+1);
    None stands for a frame outside the clip (k-1 and k must be given).

    A cut comes before a shot of two frames or more (`_shot_change`), or before and after a one-frame
    event, which then is a shot of its own (`_single_frame`).
    """
    s2, s1, s0, n1 = window
    if s1 is None or s0 is None:
        raise ValueError("is_cut needs the signatures of frames k-1 and k.")
    before = [s for s in (s2, s1) if s is not None]
    after = [s for s in (s0, n1) if s is not None]
    if n1 is not None and _single_frame(s1, s0, n1, threshold):
        return True                                  # k is a one-frame event
    if s2 is not None and _single_frame(s2, s1, s0, threshold):
        return True                                  # k-1 was one: k resumes
    return _shot_change(before, after, threshold)


def cuts_from_signatures(signatures: Sequence[np.ndarray], threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """The frames (>= 1) that start a new shot, given every frame's signature in order."""
    n = len(signatures)
    at = lambda i: signatures[i] if 0 <= i < n else None  # noqa: E731
    return [k for k in range(1, n) if is_cut((at(k - 2), at(k - 1), at(k), at(k + 1)), threshold)]


def detect_cuts(frames: Iterable[Any], threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """The frames that start a new shot in ``frames`` (RGB (3, H, W) each, or one (N, 3, H, W) array)."""
    return cuts_from_signatures([frame_signature(f) for f in frames], threshold)


def mark_cuts(frames: Iterable[Any], threshold: float = DEFAULT_THRESHOLD) -> Iterator[tuple[Any, bool]]:
    """``(frame, is_cut)`` for each RGB (3, H, W) frame, in order: the input of `models.Derainer.stream`.

    Holds one frame back (the decision for k needs frame k+1) and keeps three signatures; the flags
    are exactly `detect_cuts` on the whole sequence.
    """
    recent: deque[np.ndarray] = deque(maxlen=3)       # signatures of k-2, k-1, k
    pending: Any = None
    index = 0
    items = iter(frames)
    try:
        for frame in items:
            signature = frame_signature(frame)
            if index >= 1:                               # decide the held frame k now that k+1 is here
                yield pending, index >= 2 and is_cut((*_before(recent), recent[-1], signature), threshold)
            recent.append(signature)
            pending = frame
            index += 1
        if index >= 1:
            yield pending, index >= 2 and is_cut((*_before(recent), recent[-1], None), threshold)
    finally:  # closing the stream closes its source now (a file reader, a reading thread)
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _before(recent: deque) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Signatures of (k-2, k-1) when ``recent`` ends with k's."""
    return (recent[-3] if len(recent) >= 3 else None, recent[-2])
