"""Video files encoded by FFmpeg's own libraries (PyAV), in a thread of their own, published atomically.

The writer stages the file under a hidden name beside the output. Frames handed to ``write`` are
converted to the planned pixel layout (with the source's matrix and range), encoded and muxed with
the source's other streams in a background thread, so encoding overlaps the network's work.
``commit()`` flushes the encoder, closes the muxer, checks that the file holds every frame, fsyncs
and renames it into place; any failure before that leaves nothing under the output name. The source's
display matrix (a phone video's rotation) goes on the output stream where the container stores one,
so the stored picture is shown as the source was.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import DerainError
from .encoding import CHAPTER_AND_ROTATION_FORMATS, CONTAINERS, IMAGE_LAYOUTS, Encoding, plan_encoder, suffixes_of
from .info import FrameFormat, chroma_of
from .publish import publish_file, staging_file
from .remux import Cut, StreamCopier, Trim


log = logging.getLogger("opencv_filter")

_QUEUE_FRAMES = 8
_POLL_S = 0.2
_END = None  # the queue item that tells the encoder thread to finish
_BT709 = 1
_RGB_MATRIX = 0
os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr unless told: errors only


def _failure(path: Path, error: BaseException) -> DerainError:
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return DerainError(f"Cannot write {path}: {reason} (nothing was written under {path.name}; check the disk "
                       "space and the encoder options).")


class VideoFileWriter:
    """A video file written under a hidden temporary name and renamed into place on ``commit()``.

    ``source`` is the frames' format (pixel layout, colour tags, time base); ``copy_from`` the file whose
    other streams (audio, subtitles, chapters, tags) are carried over, cut like the frames when ``trim``
says the frames are a range of the source (the output then starts at the source's start time). Frames are BGR
    uint8/uint16 of ``size`` (width, height); ``write(frame, pts)`` takes each one's timestamp in
    ``source.time_base`` units (None: evenly spaced at ``source.rate``). Used as a context manager,
    leaving the block without ``commit()`` aborts.
    """

    committed = False

    def __init__(self, path: str | os.PathLike, source: FrameFormat, size: tuple[int, int],
                 encoding: Encoding = Encoding(), *, copy_from: str | os.PathLike | None = None,
                 video_index: int = 0, trim: Trim = Trim()) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in CONTAINERS:
            raise DerainError(f"Cannot write video as {suffix or 'a name without extension'}: use one of "
                              f"{', '.join(CONTAINERS)}, or a folder/pattern for image frames.")
        self.size, self.source, self.trim = size, source, trim
        self.cut = Cut()
        self._last_pts: list[int] = []
        self.plan = plan_encoder(encoding, suffix, source, size)
        self.written = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=_QUEUE_FRAMES)
        self._thread: threading.Thread | None = None
        self._container = self._copier = None
        self.temp = staging_file(self.path)
        try:
            self._container = av.open(str(self.temp), "w", format=CONTAINERS[suffix])
            self._stream = self._add_video(suffix)
            if copy_from is not None:
                self._copier = StreamCopier(self._container, Path(copy_from), video_index, self._stream,
                                             str(self.path), trim.start, source.rate)
            self._container.start_encoding()
        except DerainError:
            self.abort()
            raise
        except (av.error.FFmpegError, OSError, ValueError) as error:
            self.abort()
            raise DerainError(f"Cannot write {self.path} with {self.plan.codec} ({self.plan.pix_fmt}): "
                              f"{getattr(error, 'strerror', None) or error}.") from None
        except BaseException:  # Ctrl-C during FFmpeg's set-up: no staging file left
            self.abort()
            raise
        self._thread = threading.Thread(target=self._encode_all, name="rainmamba-encode", daemon=True)
        self._thread.start()

    def _add_video(self, suffix: str) -> av.video.stream.VideoStream:
        codec = self.plan.codec
        if codec not in self._container.supported_codecs and av.codec.Codec(codec, "w").name not in \
                self._container.supported_codecs:
            raise DerainError(f"A {suffix} file cannot hold {codec} video: choose .mkv or .mov, or another --codec.")
        rate = self.source.rate or Fraction(25)
        self._constant_rate = suffix == ".avi"  # AVI stores one tick per frame: no timestamps to keep
        time_base = 1 / rate if self._constant_rate else self.source.time_base
        stream = self._container.add_stream(codec, rate=rate, options=self.plan.options)
        stream.width, stream.height = self.size
        stream.pix_fmt = self.plan.pix_fmt
        stream.time_base = time_base
        context = stream.codec_context
        context.time_base = time_base
        images = self.source.pix_fmt in IMAGE_LAYOUTS  # untagged RGB pictures: tagged BT.709 once in YUV
        if chroma_of(self.plan.pix_fmt) == "rgb":
            self._matrix, self._range = _RGB_MATRIX, 2
        elif images or self.source.colorspace == _RGB_MATRIX:
            self._matrix, self._range = _BT709, 1
        else:
            self._matrix, self._range = self.source.colorspace, self.source.color_range
        context.colorspace = self._matrix
        context.color_range = self._range
        context.color_primaries = _BT709 if images else self.source.color_primaries
        context.color_trc = _BT709 if images else self.source.color_trc
        if self.source.sample_aspect_ratio:
            context.sample_aspect_ratio = self.source.sample_aspect_ratio
        if self.source.display_matrix is not None:  # the stored picture is written, shown as the source was
            if CONTAINERS[suffix] in CHAPTER_AND_ROTATION_FORMATS:
                stream.set_display_matrix(list(self.source.display_matrix))
            else:
                warn_rotation_lost(self.path, self.source.display_matrix)
        if codec == "libx265" and suffix in (".mp4", ".m4v", ".mov"):
            context.codec_tag = "hvc1"  # the tag Apple players require for HEVC
        context.thread_type = "AUTO"
        self._time_base = time_base
        self._step = max(1, round(1 / (rate * time_base)))  # ticks per frame when frames have no timestamps
        return stream

    # ------------------------------------------------------------------ main thread

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Queue one BGR frame; ``pts`` in ``source.time_base`` units (None: the next evenly spaced one)."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise DerainError(f"A {frame.shape[1]}x{frame.shape[0]} frame cannot go into the "
                              f"{self.size[0]}x{self.size[1]} video {self.path}.")
        if frame.dtype not in (np.uint8, np.uint16):
            raise DerainError(f"Frames for {self.path} must be uint8 or uint16, not {frame.dtype}.")
        if pts is not None and not self._constant_rate:
            self._track(pts)
        item = (frame, pts)
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=_POLL_S)
                break
            except queue.Full:
                continue
        self.written += 1

    def _track(self, pts: int) -> None:
        """Fix the cut of the other streams from the first frame's time; remember the last two frames."""
        if not self._last_pts and self.trim.start:
            start_s = float(pts * self._time_base)
            self._set_cut(Cut(start_s=start_s, shift_s=start_s - self.trim.origin_s))
        self._last_pts = [*self._last_pts[-1:], pts]

    def _set_cut(self, cut: Cut) -> None:
        self.cut = cut
        if self._copier is not None:
            self._copier.cut = cut

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise _failure(self.path, self._error) if not isinstance(self._error, DerainError) else self._error
        if self._thread is not None and not self._thread.is_alive() and not self.committed:
            raise DerainError(f"Cannot write {self.path}: the encoder stopped.")

    def commit(self) -> None:
        """Finish the file, check it holds every frame, fsync and rename it to the output name."""
        self._raise_if_failed()
        if self.trim.end and self._last_pts:  # the other streams end where the last frame does
            step = self._last_pts[-1] - self._last_pts[0] if len(self._last_pts) == 2 else 0
            if step <= 0:
                step = round(1 / ((self.source.rate or Fraction(25)) * self._time_base))
            self._set_cut(Cut(self.cut.start_s, float((self._last_pts[-1] + step) * self._time_base),
                              self.cut.shift_s))
        self._queue.put(_END)
        self._thread.join()
        self._thread = None
        self._raise_if_failed()
        try:
            self._container.close()
            self._container = None
            found = _count_video_packets(self.temp)
        except (av.error.FFmpegError, OSError) as error:
            self.abort()
            raise _failure(self.path, error) from None
        if found != self.written:
            self.abort()
            raise DerainError(f"Cannot write {self.path}: the encoded file holds {found} of the {self.written} "
                              "frames (nothing was written under that name).")
        try:
            publish_file(self.temp, self.path)
        except OSError as error:
            self.abort()
            raise _failure(self.path, error) from None
        self.committed = True

    def abort(self) -> None:
        """Stop the encoder thread and remove the staging file; an existing output stays untouched."""
        if self._thread is not None:
            self._error = self._error or DerainError("aborted")
            while self._thread.is_alive():
                try:
                    self._queue.put(_END, timeout=_POLL_S)
                    break
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass
            self._thread.join()
            self._thread = None
        for resource in (self._copier, self._container):
            if resource is not None:
                try:
                    resource.close()
                except (av.error.FFmpegError, OSError, ValueError):
                    pass
        self._copier = self._container = None
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoFileWriter:
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed:
            self.abort()

    # ------------------------------------------------------------------ encoder thread

    def _encode_all(self) -> None:
        try:
            index = 0
            while True:
                item = self._queue.get()
                if item is _END or self._error is not None:
                    break
                self._encode(item[0], index * self._step if self._constant_rate or item[1] is None else item[1])
                index += 1
            if self._error is None:
                self._container.mux(self._stream.encode(None))
                if self._copier is not None:
                    self._copier.finish()
                    self._copier.close()
                    self._copier = None
        except BaseException as error:  # noqa: BLE001 - reported to the main thread
            self._error = error

    def _encode(self, image: np.ndarray, pts: int) -> None:
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(image),
                                             format="bgr24" if image.dtype == np.uint8 else "bgr48le")
        frame = picture.reformat(format=self.plan.pix_fmt, dst_colorspace=self._matrix or None,
                                 dst_color_range=self._range or None)
        if not self._constant_rate:
            pts -= round(self.cut.shift_s / self._time_base)
        frame.pts, frame.time_base = pts, self._time_base
        self._container.mux(self._stream.encode(frame))
        if self._copier is not None:
            self._copier.mux_until(float(pts * self._time_base))


def rotation_of(matrix: tuple[int, ...]) -> int:
    """Degrees counter-clockwise that a display matrix turns the stored picture by (as FFmpeg reports it)."""
    scale0, scale1 = math.hypot(matrix[0], matrix[3]) or 1, math.hypot(matrix[1], matrix[4]) or 1
    return round(-math.degrees(math.atan2(matrix[1] / scale1, matrix[0] / scale0)))


def warn_rotation_lost(target: os.PathLike | str, matrix: tuple[int, ...]) -> None:
    """Say that an output which cannot store a display rotation holds the picture as stored, sideways."""
    degrees = rotation_of(matrix)
    log.warning("The source is shown %s (a display tag) that %s cannot hold: it keeps the stored picture, so "
                "turn it in your player or editor, or write %s, which keep the tag.",
                f"rotated by {degrees} degrees" if degrees else "flipped", target,
                suffixes_of(CHAPTER_AND_ROTATION_FORMATS))


def _count_video_packets(path: Path) -> int:
    with av.open(str(path), "r") as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)
