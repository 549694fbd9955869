"""Clip formats: the network works on RGBS (or RGBH) frames; everything else is converted there and back.

YUV needs a colour matrix: the ``matrix`` argument, else the first frame's ``_Matrix`` prop; when
neither says, the conversion would silently guess, so it is refused with a message saying how to set
it. Range and chroma siting follow the first frame's ``_Range``/``_ChromaLocation`` (VapourSynth's
defaults when absent). The original frame props are copied back onto every output frame.

Nothing here clips: the RGBS intermediate keeps what falls outside [0, 1] (superwhites, sub-blacks,
YUV colours outside the RGB cube), so with an identity network the output equals a plain
``core.resize`` round trip bit for bit (tests/vsrainmamba/test_format_round_trip.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import vapoursynth as vs

NATIVE_FORMATS = (vs.RGBS, vs.RGBH)
# _Matrix values that name a YUV matrix (0 = RGB, 2 = unspecified, 3 = reserved).
_YUV_MATRICES = {1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}


class FormatError(ValueError):
    """The clip cannot be derained as it is; the message says what to change."""


@dataclass(frozen=True)
class RgbView:
    """The clip as the network sees it, and how to return a result to the input's format."""

    rgb: vs.VideoNode
    restore: Callable[[vs.VideoNode], vs.VideoNode]


def check_clip(clip: object) -> vs.VideoNode:
    """Refuse anything but a constant-format, constant-size video clip."""
    if not isinstance(clip, vs.VideoNode):
        raise FormatError(f"clip must be a video clip (vs.VideoNode), got {type(clip).__name__}.")
    if clip.format is None or clip.format.id == vs.NONE:
        raise FormatError("the clip has a variable format: convert it to one format first, "
                          "e.g. core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s='709').")
    if clip.width == 0 or clip.height == 0:
        raise FormatError("the clip has a variable frame size: resize it to one size first, "
                          "e.g. core.resize.Bicubic(clip, width=1920, height=1080).")
    return clip


def to_rgb(clip: vs.VideoNode, matrix: int | None = None) -> RgbView:
    """RGBS/RGBH pass through; other formats become RGBS, with the inverse conversion to restore them."""
    check_clip(clip)
    fmt = clip.format
    if fmt.id in NATIVE_FORMATS:
        return RgbView(clip, lambda out: out)
    core = vs.core
    if fmt.color_family == vs.RGB:
        rgb = core.resize.Point(clip, format=vs.RGBS)
        return RgbView(rgb, lambda out: core.std.CopyFrameProps(core.resize.Point(out, format=fmt.id), clip))
    props = clip.get_frame(0).props
    range_in, range_out = _range_arguments(props)
    if fmt.color_family == vs.GRAY:
        gray = core.resize.Point(clip, format=vs.GRAYS, **range_in)
        rgb = core.std.ShufflePlanes([gray, gray, gray], [0, 0, 0], vs.RGB)

        def restore_gray(out: vs.VideoNode) -> vs.VideoNode:
            mean = core.std.Expr(core.std.SplitPlanes(out), "x y + z + 3 /", format=vs.GRAYS)
            back = core.resize.Point(mean, format=fmt.id, **range_out)
            return core.std.CopyFrameProps(back, clip)

        return RgbView(rgb, restore_gray)
    matrix = _yuv_matrix(props, matrix)
    chroma = {"chromaloc": int(props["_ChromaLocation"])} if "_ChromaLocation" in props else {}
    rgb = core.resize.Bicubic(clip, format=vs.RGBS, matrix_in=matrix, **range_in)

    def restore_yuv(out: vs.VideoNode) -> vs.VideoNode:
        back = core.resize.Bicubic(out, format=fmt.id, matrix=matrix, **range_out, **chroma)
        return core.std.CopyFrameProps(back, clip)

    return RgbView(rgb, restore_yuv)


def _range_arguments(props: vs.FrameProps) -> tuple[dict[str, int], dict[str, int]]:
    """resize's ``range_in``/``range`` (0 limited, 1 full) from the frame's range prop; empty when absent,
    so both directions use resize's same default."""
    if "_Range" in props:  # R7x+: 0 = limited, 1 = full, as resize numbers them
        value = int(props["_Range"])
    elif "_ColorRange" in props:  # older cores: 0 = full, 1 = limited
        value = 1 - int(props["_ColorRange"])
    else:
        return {}, {}
    return {"range_in": value}, {"range": value}


def _yuv_matrix(props: vs.FrameProps, matrix: int | None) -> int:
    if matrix is not None:
        if int(matrix) not in _YUV_MATRICES:
            raise FormatError(f"matrix={matrix} is not a YUV colour matrix: use a _Matrix code such as "
                              "1 (BT.709), 5 or 6 (BT.601) or 9 (BT.2020).")
        return int(matrix)
    found = props.get("_Matrix")
    if found is None or int(found) not in _YUV_MATRICES:
        what = "no _Matrix prop" if found is None else f"_Matrix={found}, which names no YUV matrix"
        raise FormatError(f"the clip is YUV but its first frame has {what}, so the colour matrix is unknown: "
                          "pass matrix= (1 = BT.709, 6 = BT.601, 9 = BT.2020) or set it with "
                          "core.std.SetFrameProps(clip, _Matrix=1).")
    return int(found)
