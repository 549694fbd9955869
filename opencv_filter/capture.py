"""``DerainedCapture``: a drop-in ``cv2.VideoCapture`` whose ``read()`` returns derained frames.

    cap = opencv_filter.DerainedCapture("rainy.mp4", model="vrds")   # was: cv2.VideoCapture("rainy.mp4")
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        ...

Position properties count the derained frames handed out (the wrapped capture is a window ahead);
every other property is the wrapped capture's. Seeking is refused (``set`` returns False, as
``VideoCapture`` does for what a backend cannot do): a jump would break the temporal window.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from .frames import FrameCodec, iter_source, make_derainer, run_stream
from .scene_cuts import DEFAULT_THRESHOLD, cut_threshold


class DerainedCapture:
    """A ``cv2.VideoCapture`` look-alike over a path, camera index, capture or iterable of frames.

    ``model`` and the keyword options are those of ``derain_frames``; ``fps`` gives the rate that
    ``get(cv2.CAP_PROP_FPS)`` reports for sources that have none (plain iterables).
    """

    def __init__(self, source: Any, model: Any = None, *, rgb: bool = False, fps: float | None = None,
                 cuts: Sequence[int] | None = None, scene_change: bool = True,
                 sc_threshold: float = DEFAULT_THRESHOLD, **options: Any) -> None:
        threshold = cut_threshold(scene_change, sc_threshold)
        self._capture = cv2.VideoCapture(source) if isinstance(source, (str, os.PathLike, int)) else source
        if not hasattr(self._capture, "read"):
            self._capture = None
        self._fps = fps
        self._count = len(source) if self._capture is None and hasattr(source, "__len__") else None
        self._position = 0
        self._last: np.ndarray | None = None
        derainer = make_derainer(model, **options)
        # like cv2.VideoCapture, a capture that failed to open is not an error: it reads nothing
        opened = self._capture is None or self._capture.isOpened()
        self._input = _Peekable(iter_source(self._capture if self._capture is not None else source)
                                if opened else iter(()))
        self._output: Iterator[np.ndarray] | None = (run_stream(derainer, self._input, FrameCodec(rgb), cuts,
                                                                sc_threshold=threshold) if opened else None)

    # -------------------------------------------------------------- the VideoCapture interface
    def isOpened(self) -> bool:
        if self._output is None:
            return False
        return self._capture.isOpened() if self._capture is not None else True

    def grab(self) -> bool:
        if not self.isOpened():
            return False
        self._last = next(self._output, None)
        if self._last is None:
            return False
        self._position += 1
        return True

    def retrieve(self, image: np.ndarray | None = None, flag: int = 0) -> tuple[bool, np.ndarray | None]:
        if self._last is None:
            return False, None
        if image is not None and image.shape == self._last.shape and image.dtype == self._last.dtype:
            image[...] = self._last
            return True, image
        return True, self._last

    def read(self, image: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        """The next derained frame as ``(True, frame)``, or ``(False, None)`` after the last one."""
        return self.retrieve(image) if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        fps = self._fps or (self._capture.get(cv2.CAP_PROP_FPS) if self._capture is not None else 0.0)
        if prop == cv2.CAP_PROP_POS_FRAMES:
            return float(self._position)
        if prop == cv2.CAP_PROP_POS_MSEC:
            return 1000.0 * self._position / fps if fps else 0.0
        if prop == cv2.CAP_PROP_FPS:
            return float(fps)
        if self._capture is not None:
            return float(self._capture.get(prop))
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(self._count) if self._count is not None else -1.0
        if prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT):
            first = self._input.peek()
            if first is None:
                return 0.0
            return float(first.shape[1] if prop == cv2.CAP_PROP_FRAME_WIDTH else first.shape[0])
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        """Refused (returns False): seeking or re-configuring mid-stream would break the temporal window."""
        return False

    def getBackendName(self) -> str:
        inner = self._capture.getBackendName() if self._capture is not None else "frames"
        return f"rainmamba({inner})"

    def release(self) -> None:
        """Stop deraining and release the wrapped capture."""
        if self._output is not None:
            self._output.close()
            self._output = None
        if self._capture is not None:
            self._capture.release()
        self._last = None

    def __enter__(self) -> "DerainedCapture":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self.read()
            if not ok:
                return
            yield frame


class _Peekable:
    """An iterator that can show its next item without consuming it (None at the end)."""

    _EMPTY = object()

    def __init__(self, items: Iterator[Any]) -> None:
        self._items, self._head = items, self._EMPTY

    def peek(self) -> Any:
        if self._head is self._EMPTY:
            self._head = next(self._items, None)
        return self._head

    def __iter__(self) -> "_Peekable":
        return self

    def __next__(self) -> Any:
        if self._head is self._EMPTY:
            return next(self._items)
        head, self._head = self._head, self._EMPTY
        if head is None:
            raise StopIteration
        return head
