"""Image files: frame sequences read exactly and written atomically, and frame sizes from the headers.

OpenCV reads and writes the pictures (BGR, 8 or 16 bits kept); the sequence writer stages every
frame in a hidden folder beside the output and publishes them only on ``commit()``.
"""
from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import DerainError
from .files import IMAGE_EXTENSIONS, list_images, pattern_regex
from .info import DEFAULT_IMAGE_FPS, FrameFormat, VideoInfo
from .publish import fsync_file, fsync_folder, staging_folder


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


def read_image(path: str | os.PathLike) -> np.ndarray:
    """One image file as BGR uint8/uint16 (H, W, 3); a damaged file is a one-line error."""
    image = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DerainError(f"Cannot read the image {path}: it is truncated, corrupt or not an image format "
                          "OpenCV knows.")
    return as_bgr(image, str(path))


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its PNG/JPEG header (any other format is decoded)."""
    with open(path, "rb") as f:
        head = f.read(32)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return int(height), int(width)
        if head[:2] == b"\xff\xd8":
            f.seek(2)
            size = _jpeg_size(f)
            if size is not None:
                return size
    image = read_image(path)
    return int(image.shape[0]), int(image.shape[1])


def _jpeg_size(f) -> tuple[int, int] | None:
    """Walk the JPEG markers from after SOI to the first start-of-frame and read its size."""
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":
            byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:   # markers without a length
            continue
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data = f.read(5)
            if len(data) < 5:
                return None
            height, width = struct.unpack(">HH", data[1:5])
            return int(height), int(width)
        f.seek(length - 2, os.SEEK_CUR)


class ImageSequenceReader:
    """Numbered or sorted image files: a folder, a printf pattern (``%06d.png``) or a glob (``*.png``)."""

    def __init__(self, spec: str | os.PathLike, fps: float | None = None) -> None:
        self.spec = str(spec)
        self.files, self.first_number = list_images(self.spec)
        first = read_image(self.files[0])
        self.dtype = first.dtype
        self.info = VideoInfo(first.shape[1], first.shape[0], fps or DEFAULT_IMAGE_FPS, len(self.files))
        self.format = FrameFormat.for_images(self.info.fps, self.dtype == np.uint16)

    @property
    def path(self) -> Path:
        return self.files[0].parent

    def pts(self, index: int) -> int:
        """Frame ``index``'s timestamp in ``format.time_base`` units: frames are evenly spaced."""
        return index

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield images ``start`` to ``stop`` (exclusive), checking they all have one size and depth."""
        for index in range(start, min(len(self.files), len(self.files) if stop is None else stop)):
            frame = read_image(self.files[index])
            if frame.shape[:2] != (self.info.height, self.info.width) or frame.dtype != self.dtype:
                raise DerainError(f"{self.files[index]} is {frame.shape[1]}x{frame.shape[0]} {frame.dtype} but the "
                                  f"sequence starts at {self.info.width}x{self.info.height} {self.dtype}: all "
                                  "frames of a sequence must share one size and bit depth.")
            yield frame

    def close(self) -> None:
        pass


class ImageSequenceWriter:
    """Frames written into a hidden staging folder and moved into ``folder`` on ``commit()``.

    ``name(i)`` gives the file name of the i-th written frame; ``pattern`` (a printf pattern), when
    given, also lets an overwrite remove older frames of that pattern that this run did not write.
    Used as a context manager, leaving the block without ``commit()`` removes the staging folder.
    """

    committed = False

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
        self.staging = staging_folder(self.folder)

    def __enter__(self) -> ImageSequenceWriter:
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed:
            self.abort()

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        name = self.name(len(self.written))
        image = to_uint8(frame) if self._eight_bit else frame
        if not cv2.imwrite(str(self.staging / name), image, self._params):
            raise DerainError(f"Cannot write the frame {self.folder / name}: the disk is full or not writable, "
                              "or OpenCV refused the image format.")
        self.written.append(name)

    def commit(self) -> None:
        """Publish the frames: one rename for a new folder, else a rename per frame plus stale cleanup."""
        for name in self.written:
            fsync_file(self.staging / name)
        if not self.folder.exists():
            os.rename(self.staging, self.folder)
        else:
            if self.pattern:
                regex, fresh = pattern_regex(self.pattern), set(self.written)
                for stale in [n for n in os.listdir(self.folder) if regex.match(n) and n not in fresh]:
                    (self.folder / stale).unlink()
            for name in self.written:
                os.replace(self.staging / name, self.folder / name)
            self.staging.rmdir()
        fsync_folder(self.folder)
        fsync_folder(self.folder.parent)
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
    raise DerainError(f"--quality applies to JPEG/WebP frames, not to {suffix} frames (which are lossless); "
                      "for video use --crf.")
