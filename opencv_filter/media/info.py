"""What a source says about its frames: size, rate and count, and the format needed to write them back."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av

from .hdr import HdrMetadata

DEFAULT_IMAGE_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """Size and rate of a source; ``frame_count`` is -1 when it is only known once every frame is decoded."""

    width: int
    height: int
    fps: float
    frame_count: int


@dataclass(frozen=True)
class FrameFormat:
    """How a source stores its pictures and times, so an output can keep them.

    ``pix_fmt`` is FFmpeg's name (``yuv420p10le``; ``rgb24``/``rgb48le`` for image files); colour tags
    are FFmpeg's enum values (2 = unspecified primaries/transfer/matrix, 0 = unspecified range).
    ``hdr`` is the mastering display and light levels of HDR video; ``display_matrix`` FFmpeg's 3x3
    display matrix (16.16 fixed point, row by row), which turns the stored picture upright for viewing.
    """

    pix_fmt: str = "rgb24"
    time_base: Fraction = Fraction(1, 25)
    rate: Fraction | None = Fraction(25)
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    color_range: int = 0
    sample_aspect_ratio: Fraction | None = None
    hdr: HdrMetadata | None = None
    display_matrix: tuple[int, ...] | None = None

    @classmethod
    def for_images(cls, fps: float, sixteen_bit: bool) -> FrameFormat:
        """RGB frames numbered 0, 1, 2 ... at ``fps`` (image sequences and arrays)."""
        rate = Fraction(fps).limit_denominator(1001 * 1000)
        return cls(pix_fmt="rgb48le" if sixteen_bit else "rgb24", time_base=1 / rate, rate=rate)

    @property
    def depth(self) -> int:
        """Bits per sample of the first component."""
        return av.VideoFormat(self.pix_fmt).components[0].bits

    @property
    def chroma(self) -> str:
        """``444``, ``422``, ``420``, ``440``, ``411``, ``410``, ``400`` (grey) or ``rgb``."""
        return chroma_of(self.pix_fmt)


def chroma_of(pix_fmt: str) -> str:
    fmt = av.VideoFormat(pix_fmt)
    if fmt.is_rgb:
        return "rgb"
    if len([c for c in fmt.components if not c.is_alpha]) == 1:
        return "400"
    w, h = fmt.chroma_width(64), fmt.chroma_height(64)
    return {(64, 64): "444", (32, 64): "422", (32, 32): "420", (64, 32): "440", (16, 64): "411",
            (16, 16): "410"}.get((w, h), "420")
