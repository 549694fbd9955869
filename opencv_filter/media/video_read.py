"""Video files decoded by FFmpeg's own libraries (PyAV): every frame, its timestamp and its colours.

Frames come out as BGR ``(H, W, 3)`` arrays, uint8 for 8-bit sources and uint16 for deeper ones,
converted from YUV with the source's own matrix and range, as stored (a display rotation is not
applied but reported in ``format``, with the HDR mastering metadata, from the first frame, which is
decoded on opening so that a writer can be set up before any frame is written). How many frames a file has is what
decoding gives; a count the container stores (mp4, avi indexes) is only checked against it, so a
truncated file is an error instead of a short output, while an audio track longer than the picture
(which stretches the container's duration) is not.
"""
from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.sidedata.sidedata import Type

from ..errors import DerainError
from .hdr import HdrMetadata
from .info import DEFAULT_IMAGE_FPS, FrameFormat, VideoInfo

# Deprecated full-range formats: the same layout as yuv*p with the range tag set.
_JPEG_FORMATS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p", "yuvj440p": "yuv440p",
                 "yuvj411p": "yuv411p"}
_JPEG_RANGE = 2
_IDENTITY = (1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)  # FFmpeg's display matrix for "as stored"


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise DerainError(f"Cannot read {path}: no such file.")
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise DerainError(f"Cannot read {path}: FFmpeg cannot open it as a video ({_reason(error)}: it is "
                          "truncated, corrupt, or not a video format).") from None
    if not container.streams.video:
        container.close()
        raise DerainError(f"Cannot read {path}: it holds no video stream.")
    return container


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def frame_format(stream: av.video.stream.VideoStream, first: av.VideoFrame | None = None) -> FrameFormat:
    """The pixel layout, colour tags and time base of a decoded video stream, and the HDR metadata and
    display matrix its ``first`` frame carries."""
    context = stream.codec_context
    pix_fmt = context.format.name if context.format is not None else "yuv420p"
    colour_range = int(context.color_range)
    if pix_fmt in _JPEG_FORMATS:
        pix_fmt, colour_range = _JPEG_FORMATS[pix_fmt], _JPEG_RANGE
    sar = context.sample_aspect_ratio
    return FrameFormat(pix_fmt=pix_fmt, time_base=stream.time_base or Fraction(1, 25),
                       rate=stream.average_rate or stream.guessed_rate,
                       color_primaries=int(context.color_primaries), color_trc=int(context.color_trc),
                       colorspace=int(context.colorspace), color_range=colour_range,
                       sample_aspect_ratio=sar if sar and sar.numerator else None,
                       hdr=HdrMetadata.of(first) if first is not None else None,
                       display_matrix=_display_matrix(first) if first is not None else None)


def _display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix; None where it shows the picture as stored."""
    side_data = frame.side_data
    if Type.DISPLAYMATRIX not in side_data:
        return None
    matrix = struct.unpack("=9i", bytes(side_data[Type.DISPLAYMATRIX])[:36])
    return None if matrix == _IDENTITY else matrix


def to_bgr(frame: av.VideoFrame, deep: bool) -> np.ndarray:
    """A decoded frame as BGR uint8 (or uint16 when ``deep``), with the frame's own matrix and range."""
    fmt = frame.format.name
    colour_range = _JPEG_RANGE if fmt in _JPEG_FORMATS else int(frame.color_range)
    return frame.to_ndarray(format="bgr48le" if deep else "bgr24", src_color_range=colour_range or None)


class VideoReader:
    """A video file read frame by frame; ``pts(i)`` is frame i's timestamp once it has been decoded."""

    first_number = 0  # the number of frame 0, for naming output frames

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._container = _open(self.path)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self.stream_index = stream.index
        self._pts: list[int] = []
        self._decoder = self._container.decode(stream)
        self._error: av.error.FFmpegError | None = None
        self._first = self._first_frame()
        self.format = frame_format(stream, self._first)
        self.announced = stream.frames if stream.frames > 0 else -1
        fps = float(self.format.rate) if self.format.rate else DEFAULT_IMAGE_FPS
        self.info = VideoInfo(stream.codec_context.width, stream.codec_context.height, fps, self.announced)
        self.deep = self.format.depth > 8
        # where the source's timeline starts: a cut output starts there too
        self.origin_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        self._stream = stream

    def _first_frame(self) -> av.VideoFrame | None:
        try:
            return next(self._decoder)
        except StopIteration:
            return None
        except av.error.FFmpegError as error:  # said where reading starts, as for any later frame
            self._error = error
            return None

    def pts(self, index: int) -> int:
        """The timestamp of frame ``index`` (in ``format.time_base`` units); it must have been read."""
        return self._pts[index]

    @property
    def decoded(self) -> int:
        return len(self._pts)

    def _decoded(self) -> Iterator[av.VideoFrame]:
        try:
            if self._error is not None:
                raise self._error
            for frame in itertools.chain([self._first] if self._first is not None else [], self._decoder):
                pts = frame.pts
                if pts is None:  # raw streams without timestamps: evenly spaced
                    pts = self._pts[-1] + self._step() if self._pts else 0
                self._pts.append(pts)
                yield frame
        except av.error.FFmpegError as error:
            raise DerainError(f"{self.path} cannot be decoded after frame {len(self._pts)} ({_reason(error)}): "
                              f"the file is truncated or corrupt (pass --end {len(self._pts)} to derain only the "
                              "readable part).") from None

    def _step(self) -> int:
        rate = self.format.rate or Fraction(DEFAULT_IMAGE_FPS)
        return max(1, round(1 / (rate * self.format.time_base)))

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield frames ``start`` to ``stop`` (exclusive, default: the end) once, in order."""
        index = 0
        for frame in self._decoded():
            if stop is not None and index >= stop:
                break
            if index >= start:
                yield to_bgr(frame, self.deep)
            index += 1
        if stop is None or index < stop:
            expected = self.announced if stop is None else min(stop, self.announced)
            if 0 < self.announced and index < expected:
                raise DerainError(f"{self.path} ended after {index} of its {self.announced} frames: the file is "
                                  f"truncated or corrupt (pass --end {index} to derain only the readable part).")
        if index <= start:
            raise DerainError(f"{self.path} has no readable frame from frame {start} on"
                              f"{f' (it has {index})' if index else ''}.")

    def close(self) -> None:
        self._container.close()


def count_frames(path: str | os.PathLike) -> tuple[int, tuple[int, int]]:
    """(frame count, (height, width)) of a video file, the count by decoding every frame."""
    reader = VideoReader(path)
    try:
        count = sum(1 for _ in reader._decoded())
    finally:
        reader.close()
    if 0 < reader.announced and count < reader.announced:
        raise DerainError(f"{path} ended after {count} of its {reader.announced} frames: the file is truncated "
                          "or corrupt.")
    return count, (reader.info.height, reader.info.width)
