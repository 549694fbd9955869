"""Scene-cut detection for the OpenCV paths: the core rule (`models.scenes`) wrapped around a frame stream.

On by default in `derain_frames`, `DerainedCapture` and ``rainmamba derain``: without it a temporal
window blends frames of two shots across a cut (ghosting of the previous shot). The flags go to the
engine as ``(frame, is_cut)`` pairs, one frame behind the reader (the decision for frame k reads k+1).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.scenes import DEFAULT_THRESHOLD, check_threshold, mark_cuts

from .errors import DerainError

__all__ = ["DEFAULT_THRESHOLD", "cut_threshold", "with_cuts"]


def cut_threshold(scene_change: bool, sc_threshold: float, option: str = "sc_threshold") -> float | None:
    """The detector's threshold, or None when ``scene_change`` is off; ``option`` names the threshold in
    the message about a bad value (``--sc-threshold`` on the command line)."""
    try:
        threshold = check_threshold(sc_threshold, option)
    except ValueError as error:
        raise DerainError(str(error)) from None
    return threshold if scene_change else None


def with_cuts(frames: Iterable[Any], threshold: float | None) -> Iterable[Any]:
    """``frames`` (engine-side RGB (3, H, W)) as ``(frame, is_cut)`` pairs, or unchanged when ``threshold``
    is None."""
    return frames if threshold is None else mark_cuts(frames, threshold)
