"""Frames in and out of files: video files and image sequences, read exactly and written atomically.

Readers yield BGR ``(H, W, 3)`` uint8/uint16 frames, the layout OpenCV loops use, and check that a
file gives every frame it announces, so a truncated or corrupt input fails with a clear message
instead of producing a short output. Writers stage everything under a hidden temporary name beside
the output and publish it with one rename on ``commit()``: a crash or Ctrl-C never leaves a
half-written file (or half a frame folder) under the output name.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import DerainError

log = logging.getLogger("opencv_filter")

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                              ".flv", ".ts", ".mts", ".m2ts", ".ogv", ".3gp", ".y4m"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                              ".pnm"})
# The codec each writable container gets when --fourcc is not given (all in OpenCV's own FFmpeg).
DEFAULT_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "FFV1",
                  ".webm": "VP80"}
DEFAULT_IMAGE_FPS = 25.0
PARTIAL_PREFIX = ".rainmamba-partial-"
_PRINTF = re.compile(r"%(0?)(\d*)d")


@dataclass(frozen=True)
class VideoInfo:
    """What a source says about itself; ``frame_count`` is -1 when the container does not say."""

    width: int
    height: int
    fps: float
    frame_count: int


def as_bgr(image: np.ndarray, where: str) -> np.ndarray:
    """Return ``image`` as a 3-channel BGR uint8/uint16 array (grey is expanded, alpha dropped)."""
    if image.dtype not in (np.uint8, np.uint16):
        raise DerainError(f"{where} is {image.dtype}: only 8- and 16-bit integer images can be derained; "
                          "convert it to uint8 or uint16 first.")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise DerainError(f"{where} has shape {image.shape}: expected a grey, BGR or BGRA image.")


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Scale a uint16 frame to uint8 (rounding); a uint8 frame passes through."""
    if frame.dtype == np.uint8:
        return frame
    return np.round(frame.astype(np.float32) / 257.0).astype(np.uint8)


# ---------------------------------------------------------------- readers

class VideoReader:
    """A video file decoded by OpenCV's FFmpeg backend."""

    first_number = 0  # the number of frame 0, for naming output frames

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DerainError(f"Cannot read {self.path}: no such file.")
        self._cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise DerainError(f"Cannot read {self.path}: OpenCV cannot open it as a video "
                              "(it is truncated, corrupt, or not a video format FFmpeg knows).")
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.info = VideoInfo(int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                              int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                              fps if fps > 0 else DEFAULT_IMAGE_FPS, count if count > 0 else -1)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield frames ``start`` to ``stop`` (exclusive, default: the end) once, in order."""
        announced = self.info.frame_count
        for index in range(start):
            if not self._cap.grab():
                raise DerainError(f"{self.path} ended after {index} frames, before the start frame {start}.")
        index = start
        while stop is None or index < stop:
            ok, frame = self._cap.read()
            if not ok:
                break
            yield as_bgr(frame, f"frame {index} of {self.path}")
            index += 1
        expected = announced if stop is None else min(stop, announced)
        if announced > 0 and index < expected:
            raise DerainError(f"{self.path} ended after {index} of its {announced} frames: the file is truncated "
                              f"or corrupt (pass --end {index} to derain only the readable part).")
        if index == start:
            raise DerainError(f"{self.path} has no readable frame from frame {start} on.")

    def close(self) -> None:
        self._cap.release()


class ImageSequenceReader:
    """Numbered or sorted image files: a folder, a printf pattern (``%06d.png``) or a glob (``*.png``)."""

    def __init__(self, spec: str | os.PathLike, fps: float | None = None) -> None:
        self.spec = str(spec)
        self.files, self.first_number = list_images(self.spec)
        first = self._read(0)
        self.dtype = first.dtype
        self.info = VideoInfo(first.shape[1], first.shape[0], fps or DEFAULT_IMAGE_FPS, len(self.files))

    @property
    def path(self) -> Path:
        return self.files[0].parent

    def _read(self, index: int) -> np.ndarray:
        image = cv2.imread(str(self.files[index]), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DerainError(f"Cannot read the image {self.files[index]}: it is truncated, corrupt or "
                              "not an image format OpenCV knows.")
        return as_bgr(image, str(self.files[index]))

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield images ``start`` to ``stop`` (exclusive), checking they all have one size and depth."""
        for index in range(start, min(len(self.files), len(self.files) if stop is None else stop)):
            frame = self._read(index)
            if frame.shape[:2] != (self.info.height, self.info.width) or frame.dtype != self.dtype:
                raise DerainError(f"{self.files[index]} is {frame.shape[1]}x{frame.shape[0]} {frame.dtype} but the "
                                  f"sequence starts at {self.info.width}x{self.info.height} {self.dtype}: all "
                                  "frames of a sequence must share one size and bit depth.")
            yield frame

    def close(self) -> None:
        pass


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _pattern_regex(pattern: str) -> re.Pattern:
    """A regex matching the file names of a printf pattern's basename, capturing the number."""
    name = os.path.basename(pattern)
    if len(_PRINTF.findall(name)) != 1 or "%" in _PRINTF.sub("", name):
        raise DerainError(f"{pattern!r} must hold exactly one %d-style field (like frames/%06d.png) "
                          "in its file name.")
    zero, width = _PRINTF.search(name).groups()
    digits = rf"(\d{{{width},}})" if zero and width else r"(\d+)"
    head, tail = _PRINTF.split(name, maxsplit=1)[0], _PRINTF.split(name, maxsplit=1)[-1]
    return re.compile(re.escape(head) + digits + re.escape(tail) + r"\Z")


def is_pattern(spec: str) -> bool:
    """Whether ``spec`` names an image sequence by a printf pattern or a glob rather than a path."""
    return bool(_PRINTF.search(os.path.basename(spec))) or any(c in spec for c in "*?[")


def list_images(spec: str) -> tuple[list[Path], int]:
    """The frame files of a sequence, in order, and the number of the first (0 unless a printf pattern)."""
    if _PRINTF.search(os.path.basename(spec)):
        folder = Path(os.path.dirname(spec) or ".")
        regex = _pattern_regex(spec)
        numbered = sorted((int(m.group(1)), folder / name) for name in _listdir(folder)
                          if (m := regex.match(name)))
        if not numbered:
            raise DerainError(f"No file matches {spec}: check the folder and the number of digits.")
        numbers = [n for n, _ in numbered]
        for before, after in zip(numbers, numbers[1:]):
            if after != before + 1:
                raise DerainError(f"The sequence {spec} has a gap: frame {before + 1} is missing "
                                  f"between {before} and {after}.")
        return [p for _, p in numbered], numbers[0]
    if any(c in spec for c in "*?["):
        folder, glob = Path(os.path.dirname(spec) or "."), os.path.basename(spec)
        files = [p for p in folder.glob(glob) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        where = f"No image matches {spec}."
    else:
        folder = Path(spec)
        files = [folder / n for n in _listdir(folder) if Path(n).suffix.lower() in IMAGE_EXTENSIONS]
        where = f"The folder {spec} holds no image ({', '.join(sorted(IMAGE_EXTENSIONS))})."
    if not files:
        raise DerainError(where)
    return sorted(files, key=_natural_key), 0


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        raise DerainError(f"Cannot read {folder}: no such folder.") from None
    except NotADirectoryError:
        raise DerainError(f"Cannot read {folder}: it is not a folder.") from None


def open_reader(spec: str | os.PathLike, fps: float | None = None) -> VideoReader | ImageSequenceReader:
    """Open a video file, or an image sequence (a folder, a ``%06d.png`` pattern or a glob)."""
    text = str(spec)
    if is_pattern(text) or Path(text).is_dir():
        return ImageSequenceReader(text, fps)
    if not Path(text).exists():
        raise DerainError(f"Cannot read {text}: no such file or folder.")
    if Path(text).suffix.lower() in IMAGE_EXTENSIONS:
        raise DerainError(f"{text} is a single image: derain needs frames over time; pass their folder or a "
                          "pattern like frames/%06d.png.")
    return VideoReader(text)


# ---------------------------------------------------------------- writers

class _StagedOutput:
    """Shared life cycle of a writer: write, then ``commit()`` publishes or ``abort()`` cleans up.

    Used as a context manager, leaving the block without ``commit()`` (an exception, Ctrl-C) aborts.
    """

    committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed:
            self.abort()

    def abort(self) -> None:
        raise NotImplementedError


class VideoFileWriter(_StagedOutput):
    """A video file written under a hidden temporary name and renamed into place on ``commit()``.

    Frames go through OpenCV's FFmpeg writer, which keeps any frame rate but has no quality setting;
    ``quality`` switches to OpenCV's own MJPEG writer (MJPG in .avi, whole frame rates only). What
    cannot be honoured is an error rather than silently ignored.
    """

    _writer: cv2.VideoWriter | None = None

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], fourcc: str | None = None,
                 quality: int | None = None) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in DEFAULT_FOURCC:
            raise DerainError(f"Cannot write video as {suffix or 'a name without extension'}: use one of "
                              f"{', '.join(DEFAULT_FOURCC)}, or a folder/pattern for image frames.")
        self.fourcc = fourcc or DEFAULT_FOURCC[suffix]
        if len(self.fourcc) != 4:
            raise DerainError(f"--fourcc {self.fourcc!r} is not a four-character code (like mp4v, MJPG, FFV1).")
        builtin_mjpeg = quality is not None  # OpenCV's own MJPEG writer: the only one with a quality setting
        if builtin_mjpeg and not (self.fourcc.upper() == "MJPG" and suffix == ".avi"):
            raise DerainError(f"--quality needs MJPG video in an .avi file (or JPEG/WebP frames): OpenCV cannot "
                              f"set the quality of {self.fourcc}; use a lossless codec (--fourcc FFV1) instead.")
        if builtin_mjpeg and abs(fps - round(fps)) > 1e-9:
            raise DerainError(f"--quality cannot keep the frame rate {fps:g}: OpenCV's MJPEG writer stores whole "
                              "rates only; drop --quality, or use a lossless codec (--fourcc FFV1).")
        self.size = size
        self._warned_depth = False
        self.temp = staging_path(self.path)
        try:
            self._writer = cv2.VideoWriter(str(self.temp), cv2.CAP_OPENCV_MJPEG if builtin_mjpeg
                                           else cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*self.fourcc), fps, size)
            if not self._writer.isOpened():
                raise DerainError(f"Cannot write {self.path} with codec {self.fourcc!r}: OpenCV's FFmpeg does "
                                  f"not support it for {suffix} (try {DEFAULT_FOURCC[suffix]}).")
            if builtin_mjpeg:
                self._writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
        except BaseException:  # a refused codec, or Ctrl-C during FFmpeg's set-up: no staging file left
            self.abort()
            raise

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise DerainError(f"A {frame.shape[1]}x{frame.shape[0]} frame cannot go into the "
                              f"{self.size[0]}x{self.size[1]} video {self.path}.")
        if frame.dtype != np.uint8 and not self._warned_depth:
            log.warning("%s: 16-bit frames are written as 8-bit video; write PNG/TIFF frames to keep 16 bits.",
                        self.path)
            self._warned_depth = True
        self._writer.write(to_uint8(frame))

    def commit(self, finish: Callable[[Path], Path] | None = None) -> None:
        """Close the stream, let ``finish`` post-process the file (audio remux), then rename into place."""
        self._writer.release()
        ready = finish(self.temp) if finish else self.temp
        os.replace(ready, self.path)
        if ready != self.temp:
            self.temp.unlink(missing_ok=True)
        self.committed = True

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
        self.temp.unlink(missing_ok=True)


class ImageSequenceWriter(_StagedOutput):
    """Frames written into a hidden staging folder and moved into ``folder`` on ``commit()``.

    ``name(i)`` gives the file name of the i-th written frame; ``pattern`` (a printf pattern), when
    given, also lets an overwrite remove older frames of that pattern that this run did not write.
    """

    def __init__(self, folder: str | os.PathLike, name: Callable[[int], str], pattern: str | None = None,
                 quality: int | None = None) -> None:
        self.folder = Path(folder)
        self.name, self.pattern = name, pattern
        suffix = Path(name(0)).suffix.lower()
        if suffix not in IMAGE_EXTENSIONS:
            raise DerainError(f"Cannot write frames as {suffix or 'names without extension'}: use one of "
                              f"{', '.join(sorted(IMAGE_EXTENSIONS))}.")
        self._params = _image_params(suffix, quality)
        self._eight_bit = suffix in (".jpg", ".jpeg", ".bmp", ".webp")
        self.written: list[str] = []
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=self.folder.parent))
        try:
            os.chmod(self.staging, 0o777 & ~_umask())  # it may become the output folder itself
        except BaseException:  # Ctrl-C right after the folder was made: no staging folder left
            self.abort()
            raise

    def write(self, frame: np.ndarray) -> None:
        name = self.name(len(self.written))
        image = to_uint8(frame) if self._eight_bit else frame
        if not cv2.imwrite(str(self.staging / name), image, self._params):
            raise DerainError(f"Cannot write the frame {self.folder / name}: OpenCV refused the image format.")
        self.written.append(name)

    def commit(self) -> None:
        """Publish the frames: one rename for a new folder, else a rename per frame plus stale cleanup."""
        if not self.folder.exists():
            os.rename(self.staging, self.folder)
        else:
            if self.pattern:
                regex, fresh = _pattern_regex(self.pattern), set(self.written)
                for stale in [n for n in os.listdir(self.folder) if regex.match(n) and n not in fresh]:
                    (self.folder / stale).unlink()
            for name in self.written:
                os.replace(self.staging / name, self.folder / name)
            self.staging.rmdir()
        self.committed = True

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _image_params(suffix: str, quality: int | None) -> list[int]:
    if quality is None:
        return []
    if suffix in (".jpg", ".jpeg"):
        return [cv2.IMWRITE_JPEG_QUALITY, quality]
    if suffix == ".webp":
        return [cv2.IMWRITE_WEBP_QUALITY, max(quality, 1)]
    raise DerainError(f"--quality applies to JPEG/WebP frames and MJPG video, not to {suffix} frames "
                      "(which are lossless).")


def staging_path(path: Path) -> Path:
    """A new hidden, unique file beside ``path`` with the same extension (it picks the container)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=PARTIAL_PREFIX + path.stem + "-", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_umask())  # mkstemp's 0600 would survive the rename
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output_exists(spec: str | os.PathLike, names: list[str] | None = None) -> bool:
    """Whether writing ``spec`` would replace something: the file, a frame of the pattern, or one of ``names``."""
    path = Path(spec)
    if _PRINTF.search(path.name):
        regex = _pattern_regex(str(spec))
        return path.parent.is_dir() and any(regex.match(n) for n in os.listdir(path.parent))
    if names is not None:
        return any((path / n).exists() for n in names)
    return path.exists()
