"""The one media layer: which files are media, how frame files are ordered, reading and atomic writing.

Video files go through FFmpeg's own libraries (PyAV): every frame with its timestamp, the source's
bit depth, chroma layout and colour tags, and its other streams copied in the same pass. Image
files go through OpenCV. Every writer stages beside its output and publishes with one rename.
"""
from __future__ import annotations

import os

from ..errors import DerainError
from .encoding import CONTAINERS, DEFAULT_CODEC, Encoding, codec_name
from .files import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_image_file, is_pattern, is_printf, is_video_file,
                    list_frame_files, list_images, natural_key, pattern_regex)
from .images import ImageSequenceReader, ImageSequenceWriter, as_bgr, image_size, read_image, to_uint8
from .info import DEFAULT_IMAGE_FPS, FrameFormat, VideoInfo
from .overlap import Footprint, check_no_overlap
from .publish import PARTIAL_PREFIX, remove_stale_partials
from .remux import Cut, Trim
from .video_read import VideoReader, count_frames
from .video_write import VideoFileWriter, warn_rotation_lost

__all__ = ["CONTAINERS", "DEFAULT_CODEC", "DEFAULT_IMAGE_FPS", "IMAGE_EXTENSIONS", "PARTIAL_PREFIX",
           "VIDEO_EXTENSIONS", "Cut", "Encoding", "Footprint", "FrameFormat", "ImageSequenceReader",
           "ImageSequenceWriter", "Trim", "VideoFileWriter", "VideoInfo", "VideoReader", "as_bgr", "check_no_overlap",
           "codec_name", "count_frames", "image_size", "is_image_file", "is_pattern", "is_printf", "is_video_file",
           "list_frame_files", "list_images", "natural_key", "open_reader", "pattern_regex", "read_image",
           "read_video", "remove_stale_partials", "to_uint8", "warn_rotation_lost"]


def open_reader(spec: str | os.PathLike, fps: float | None = None) -> VideoReader | ImageSequenceReader:
    """Open a video file, or an image sequence (a folder, a ``%06d.png`` pattern or a glob)."""
    text = str(spec)
    if is_pattern(text) or os.path.isdir(text):
        return ImageSequenceReader(text, fps)
    if not os.path.exists(text):
        raise DerainError(f"Cannot read {text}: no such file or folder.")
    if is_image_file(text):
        raise DerainError(f"{text} is a single image: derain needs frames over time; pass their folder or a "
                          "pattern like frames/%06d.png.")
    return VideoReader(text)


def read_video(path: str | os.PathLike, start: int = 0, count: int | None = None):
    """Frames ``start .. start+count-1`` (all if None) of a video file as a list of BGR arrays.

    Fewer frames than asked for is an error (the file is shorter than its pairing said).
    """
    reader = VideoReader(path)
    try:
        frames = list(reader.frames(start, None if count is None else start + count))
    finally:
        reader.close()
    if count is not None and len(frames) < count:
        raise DerainError(f"{path} ended after {start + len(frames)} frames while frames {start}.."
                          f"{start + count - 1} were needed.")
    return frames
