"""HDR mastering metadata: the display a PQ/HLG video was graded on and its light levels, read and re-encoded.

HDR10 players tone-map a picture to their own display from two pieces of side data: the mastering
display (SMPTE ST 2086: its primaries, white point and luminance range) and the content light level
(MaxCLL, MaxFALL, in cd/m2). Decoders attach both to each frame, whether they came in the bitstream
(HEVC SEI, AV1 metadata OBUs) or from the container. FFmpeg's encoders take them only through their
own parameters, so the writer passes them on as ``x265-params`` (libx265) or ``svtav1-params``
(libsvtav1); every other encoder drops them, and says so.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
from av.sidedata.sidedata import Type

# Transfer functions (FFmpeg's AVColorTransferCharacteristic) of HDR video: SMPTE ST 2084 (PQ) and HLG.
PQ, HLG = 16, 18

# AVMasteringDisplayMetadata: 8 rationals (R, G, B, white point as x/y), min and max luminance, 2 flags.
_MASTERING = struct.Struct("=20i2i")
_LIGHT_LEVEL = struct.Struct("=2I")  # AVContentLightMetadata: MaxCLL, MaxFALL


@dataclass(frozen=True)
class MasteringDisplay:
    """CIE 1931 xy chromaticities of the red, green and blue primaries and the white point, and the
    luminance range in cd/m2."""

    red: tuple[Fraction, Fraction]
    green: tuple[Fraction, Fraction]
    blue: tuple[Fraction, Fraction]
    white: tuple[Fraction, Fraction]
    max_luminance: Fraction
    min_luminance: Fraction


@dataclass(frozen=True)
class HdrMetadata:
    """What a frame says about its mastering display and light levels; either part may be missing."""

    display: MasteringDisplay | None = None
    max_cll: int | None = None   # brightest pixel of the whole video, cd/m2
    max_fall: int | None = None  # brightest frame average, cd/m2

    @classmethod
    def of(cls, frame: av.VideoFrame) -> HdrMetadata | None:
        """The metadata attached to a decoded ``frame``; None when it has none."""
        display = max_cll = max_fall = None
        side_data = frame.side_data
        if Type.MASTERING_DISPLAY_METADATA in side_data:
            display = _mastering(bytes(side_data[Type.MASTERING_DISPLAY_METADATA]))
        if Type.CONTENT_LIGHT_LEVEL in side_data:
            max_cll, max_fall = _LIGHT_LEVEL.unpack(bytes(side_data[Type.CONTENT_LIGHT_LEVEL]))
        if display is None and max_cll is None:
            return None
        return cls(display, max_cll, max_fall)

    def x265_params(self) -> list[str]:
        """x265's ``master-display`` (chromaticities in 0.00002, luminance in 0.0001 cd/m2) and ``max-cll``."""
        return self._params("master-display", lambda v: str(round(v * 50000)), lambda v: str(round(v * 10000)),
                            "max-cll")

    def svtav1_params(self) -> list[str]:
        """SVT-AV1's ``mastering-display`` (chromaticities and cd/m2 as decimals) and ``content-light``."""
        return self._params("mastering-display", _decimal, _decimal, "content-light")

    def _params(self, display_key: str, chromaticity: Callable[[Fraction], str], luminance: Callable[[Fraction], str],
                light_key: str) -> list[str]:
        """The two encoder parameters in one encoder's spelling and units (G, B, R, white point, then L(max,min))."""
        params = []
        if self.display is not None:
            d = self.display
            xy = "".join(f"{name}({chromaticity(x)},{chromaticity(y)})"
                         for name, (x, y) in (("G", d.green), ("B", d.blue), ("R", d.red), ("WP", d.white)))
            params.append(f"{display_key}={xy}L({luminance(d.max_luminance)},{luminance(d.min_luminance)})")
        if self.max_cll is not None:
            params.append(f"{light_key}={self.max_cll},{self.max_fall or 0}")
        return params


def _decimal(value: Fraction) -> str:
    return f"{float(value):.6f}"


def _mastering(data: bytes) -> MasteringDisplay | None:
    values = _MASTERING.unpack(data[:_MASTERING.size])
    has_primaries, has_luminance = values[20:]
    if not (has_primaries and has_luminance):
        return None  # a display half described is no display a player can tone-map to
    rationals = [Fraction(values[i], values[i + 1]) if values[i + 1] else Fraction(0) for i in range(0, 20, 2)]
    xy = [tuple(rationals[i:i + 2]) for i in range(0, 8, 2)]
    return MasteringDisplay(red=xy[0], green=xy[1], blue=xy[2], white=xy[3], min_luminance=rationals[8],
                            max_luminance=rationals[9])


def is_hdr(color_trc: int, metadata: HdrMetadata | None) -> bool:
    """Whether a video with this transfer function and metadata is HDR (PQ or HLG, or mastered as HDR)."""
    return color_trc in (PQ, HLG) or metadata is not None
