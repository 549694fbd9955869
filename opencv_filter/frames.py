"""``derain_frames``: derain the frames of an OpenCV loop, one frame out for every frame in.

The engine (``models.Derainer.stream``) holds the temporal window: it looks ahead a bounded number of
frames, yields every frame exactly once and in order, and flushes the tail at the end. This module
does the OpenCV side: where frames come from (a ``VideoCapture``, a file, any iterable, a 4-D array),
their colour order and bit depth, and checks that give one clear sentence instead of a torch error.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import torch

import models
from models.options import EngineOptions

from .errors import DerainError
from .read_ahead import read_ahead
from .media import open_reader
from .scene_cuts import DEFAULT_THRESHOLD, cut_threshold, with_cuts

_UINT16_MAX = 65535.0


def make_derainer(model: Any = None, *, mode: str = "fast", stride: int | None = None,
                  tile: int | tuple[int, int] | None = None, tile_overlap: int | tuple[int, ...] | None = None,
                  device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
                  batch_size: int = 1, options: EngineOptions | None = None) -> models.Derainer:
    """A ``models.Derainer`` for ``model`` (None: the shipped default; a preset name; a path; a module).

    A ready ``Derainer`` passes through unchanged, so one engine can serve many streams. ``options``:
    settings a command already parsed in its own spelling (then the keywords are not used). The
    settings are checked before any weights load; no ``device`` means the first GPU when there is
    one, else the CPU (`models.options`), for a given network too.
    """
    if isinstance(model, models.Derainer):
        return model
    if options is None:
        options = EngineOptions.parse(mode=mode, stride=stride, tile=tile, tile_overlap=tile_overlap,
                                      device=device, dtype=dtype, batch_size=batch_size)
    net = models.resolve_model(model, device=options.device)
    return models.Derainer(net, options=options)


def iter_source(source: Any) -> Iterator[np.ndarray]:
    """The frames of ``source``: a ``VideoCapture`` (anything with ``read()``), a path, a 4-D array, an iterable."""
    if hasattr(source, "read") and hasattr(source, "isOpened"):
        return _read_capture(source)
    if isinstance(source, (str, os.PathLike)):
        return _reader_frames(open_reader(source))
    if isinstance(source, (np.ndarray, torch.Tensor)) and source.ndim != 4:
        raise DerainError(f"A frame array must be 4-D (frames, H, W, 3); got shape {tuple(source.shape)} "
                          "(wrap a single frame in a list, though deraining needs frames over time).")
    try:
        return iter(source)
    except TypeError:
        raise DerainError(f"Cannot take frames from a {type(source).__name__}: pass a cv2.VideoCapture, a video "
                          "path, or an iterable of (H, W, 3) arrays.") from None


def _reader_frames(reader) -> Iterator[np.ndarray]:
    try:
        yield from reader.frames()
    finally:
        reader.close()


def _read_capture(capture: Any) -> Iterator[np.ndarray]:
    if not capture.isOpened():
        raise DerainError("The VideoCapture is not open: check the file name or camera index it was given.")
    return _capture_frames(capture)


def _capture_frames(capture: Any) -> Iterator[np.ndarray]:
    """Read until the capture ends; warn when it ends before the frame count it announced (a truncated
    file, or OpenCV's estimate from the container's duration: either way the caller should know)."""
    expected = _announced_frames(capture)
    read = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        read += 1
        yield frame
    if expected is not None and read < expected:
        warnings.warn(f"The VideoCapture ended after {read} of the {expected} frames it announced "
                      "(CAP_PROP_FRAME_COUNT): the file may be truncated, or OpenCV's count is an estimate; "
                      f"all {read} frames read were derained.", stacklevel=2)


def _announced_frames(capture: Any) -> int | None:
    """Frames left according to the capture (None for cameras and streams, which announce none)."""
    try:
        total = float(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        position = float(capture.get(cv2.CAP_PROP_POS_FRAMES))
    except Exception:  # noqa: BLE001 - a capture-like object without get(): nothing announced
        return None
    if not np.isfinite(total) or total <= 0:
        return None
    return max(int(total) - max(int(position), 0), 0)


class FrameCodec:
    """Converts OpenCV (H, W, 3) frames to the engine's (3, H, W) RGB frames and back.

    uint8 frames go to the engine as they are (it scales them and rounds its output back to uint8);
    uint16 frames go as float32 in [0, 1] and come back rounded to uint16. The first frame fixes the
    size and dtype of the stream; a later frame that differs is an error (a window cannot mix them),
    as is anything but an (H, W, 3) uint8/uint16 array.
    """

    def __init__(self, rgb: bool = False) -> None:
        self.rgb = rgb
        self.shape: tuple[int, ...] | None = None
        self.dtype: np.dtype | None = None

    def encode(self, frame: Any, index: int) -> np.ndarray:
        if isinstance(frame, torch.Tensor):
            frame = frame.numpy()
        if not isinstance(frame, np.ndarray):
            raise DerainError(f"Frame {index} is a {type(frame).__name__}, not a numpy array (H, W, 3).")
        if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
            raise DerainError(f"Frame {index} has shape {frame.shape}: expected (H, W, 3) colour frames (convert "
                              "grey with cv2.cvtColor(f, cv2.COLOR_GRAY2BGR), drop alpha with COLOR_BGRA2BGR).")
        if frame.dtype not in (np.uint8, np.uint16):
            raise DerainError(f"Frame {index} is {frame.dtype}: expected uint8 or uint16 frames.")
        if self.shape is None:
            self.shape, self.dtype = frame.shape, frame.dtype
        elif frame.shape != self.shape or frame.dtype != self.dtype:
            raise DerainError(f"Frame {index} is {frame.shape[1]}x{frame.shape[0]} {frame.dtype} but the stream "
                              f"started at {self.shape[1]}x{self.shape[0]} {self.dtype}: one stream, one frame "
                              "size and depth (resize, or derain each part separately).")
        planar = np.ascontiguousarray((frame if self.rgb else frame[:, :, ::-1]).transpose(2, 0, 1))
        return planar if planar.dtype == np.uint8 else planar.astype(np.float32) / np.float32(_UINT16_MAX)

    def decode(self, planar: np.ndarray) -> np.ndarray:
        if self.dtype == np.uint16:
            planar = np.round(planar * np.float32(_UINT16_MAX)).astype(np.uint16)
        return np.ascontiguousarray((planar if self.rgb else planar[::-1]).transpose(1, 2, 0))


def derain_frames(source: Any, model: Any = None, *, rgb: bool = False, mode: str = "fast",
                  stride: int | None = None, tile: int | tuple[int, int] | None = None,
                  tile_overlap: int | tuple[int, ...] | None = None, device: str | torch.device | None = None,
                  dtype: str | torch.dtype | None = None, batch_size: int = 1,
                  cuts: Sequence[int] | None = None, scene_change: bool = True,
                  sc_threshold: float = DEFAULT_THRESHOLD) -> Iterator[np.ndarray]:
    """Derain a stream of frames: yields one derained frame per input frame, in order.

    ``source``: a ``cv2.VideoCapture``, a video path, or any iterable of (H, W, 3) uint8/uint16 arrays
    (or a (N, H, W, 3) array). Frames are BGR like OpenCV's unless ``rgb=True``; the output has the
    input's size, dtype and colour order. ``model``: None for the shipped default, a preset name with
    installed weights, a checkpoint path, a network or a ready ``models.Derainer`` (then the engine
    options are ignored). ``cuts``: indices of frames that start a new shot (windows do not cross them).
    ``scene_change``: also find cuts in the frames (`models.scenes`, rain does not trigger it);
    ``sc_threshold``: how different (0..1) the frames on the two sides of a cut must be, lower finds more.

    The model is loaded and the source checked now; frames are read lazily as the result is iterated,
    with a lookahead of about one temporal window.
    """
    threshold = cut_threshold(scene_change, sc_threshold)
    derainer = make_derainer(model, mode=mode, stride=stride, tile=tile, tile_overlap=tile_overlap,
                             device=device, dtype=dtype, batch_size=batch_size)
    frames = iter_source(source)
    return run_stream(derainer, frames, FrameCodec(rgb), cuts, sc_threshold=threshold)


def run_stream(derainer, frames: Iterable[np.ndarray], codec: FrameCodec,
               cuts: Sequence[int] | None = None, prefetch: bool = False,
               sc_threshold: float | None = None) -> Iterator[np.ndarray]:
    """Push OpenCV frames through ``derainer.stream``, converting them on the way in and out.

    ``prefetch``: read and convert frames one window ahead in a background thread (`read_ahead`), so
    decoding overlaps the network's work. Only for sources nothing else touches meanwhile (a reader the
    caller owns): a user's ``VideoCapture`` is not safe to query from two threads. ``sc_threshold``:
    find scene cuts with that threshold (`with_cuts`, in the reading thread too); None: only ``cuts``.
    """
    encoded = with_cuts((codec.encode(frame, index) for index, frame in enumerate(frames)), sc_threshold)
    if prefetch:
        encoded = read_ahead(encoded, derainer.frames)
    try:
        for out in derainer.stream(encoded, cuts=cuts):
            yield codec.decode(out)
    finally:  # stop the reading thread now, not whenever the engine's generator is collected
        encoded.close()
