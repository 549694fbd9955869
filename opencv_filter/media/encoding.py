"""How a video file is encoded: the codec, its quality settings and the pixel layout it gets.

Defaults are chosen to be visually lossless, measured on a 640x480 moving-camera clip (24 frames,
astronaut photo, 4:2:0; PSNR of the re-decoded RGB against the frames given, 4:2:0 alone caps it
at 40.85 dB): x264 preset medium CRF 14 / 16 / 18 / 20 gave 38.75 / 38.30 / 37.81 / 37.26 dB at
163 / 125 / 97 / 77 KiB; x265 CRF 18 38.41 dB at 87 KiB; SVT-AV1 preset 8 CRF 25 38.23 dB at 64 KiB.
CRF 16 sits half a dB above the customary CRF 18 for a third more bytes; going lower buys little.

HDR sources (PQ or HLG transfer, or HDR mastering metadata) get x265 by default (CRF 18, as good as
x264 CRF 16 above), or SVT-AV1 where x265 cannot go (.webm, odd sizes): the two encoders that carry
the mastering display and light levels players tone-map with. Any other encoder drops them, and says
which ``--codec`` keeps them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import av

from ..errors import DerainError
from .hdr import is_hdr
from .info import FrameFormat, chroma_of

log = logging.getLogger("opencv_filter")

# Writable containers: FFmpeg's muxer name for each extension.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}
DEFAULT_CODEC = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "libx264",
                 ".webm": "libsvtav1"}
LOSSLESS_CODEC = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "ffv1", ".avi": "ffv1",
                  ".webm": "libvpx-vp9"}
# the muxers that store chapters and a display matrix (a phone video's rotation); AVI stores neither
CHAPTER_AND_ROTATION_FORMATS = frozenset({"mp4", "mov", "matroska", "webm"})
HDR_CONTAINERS = (".mp4", ".m4v", ".mov", ".mkv")  # where the HDR default is x265 (SVT-AV1 for odd sizes)
ALIASES = {"x264": "libx264", "h264": "libx264", "avc": "libx264", "x265": "libx265", "h265": "libx265",
           "hevc": "libx265", "av1": "libsvtav1", "svtav1": "libsvtav1", "svt-av1": "libsvtav1",
           "prores": "prores_ks", "vp9": "libvpx-vp9", "mjpeg": "mjpeg", "ffv1": "ffv1"}
DEFAULT_CRF = {"libx264": 16, "libx265": 18, "libsvtav1": 25, "libvpx-vp9": 24}
CRF_RANGE = {"libx264": 51, "libx265": 51, "libsvtav1": 63, "libvpx-vp9": 63}
DEFAULT_PRESET = {"libx264": "medium", "libx265": "medium", "libsvtav1": "8"}
_NAMED_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                  "placebo")
PRESETS = {"libx264": _NAMED_PRESETS, "libx265": _NAMED_PRESETS, "libsvtav1": tuple(str(n) for n in range(14))}
LOSSLESS_OPTIONS = {"libx264": {"qp": "0"}, "libx265": {"x265-params": "lossless=1:log-level=error"},
                    "libvpx-vp9": {"lossless": "1"}, "ffv1": {}}
# Encoders that refuse (or crash on) odd sizes in every pixel layout, and those that refuse them subsampled.
NO_ODD_SIZES = {"libx265"}
NO_ODD_SUBSAMPLED = {"libx264", "libvpx-vp9", "mjpeg"}
IMAGE_LAYOUTS = ("rgb24", "rgb48le")  # what `FrameFormat.for_images` says: frames from image files or arrays
_SUBSAMPLED = {"420": (True, True), "422": (True, False), "440": (False, True), "411": (True, False),
               "410": (True, True)}


@dataclass(frozen=True)
class Encoding:
    """What the user asked for; None everywhere means the container's visually-lossless default."""

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    lossless: bool = False
    pix_fmt: str | None = None


@dataclass(frozen=True)
class EncoderPlan:
    """The resolved encoder: FFmpeg codec name, its options and the pixel layout frames are encoded in."""

    codec: str
    options: dict[str, str]
    pix_fmt: str


def codec_name(name: str) -> str:
    """FFmpeg's encoder for a codec the user typed (``x265``, ``av1``, ``prores``... or an FFmpeg name)."""
    resolved = ALIASES.get(name.lower(), name)
    try:
        codec = av.codec.Codec(resolved, "w")
    except (av.error.FFmpegError, ValueError, av.codec.codec.UnknownCodecError):
        raise DerainError(f"--codec {name!r} is not an encoder this FFmpeg has: use x264, x265, av1, ffv1, prores, "
                          "vp9, or an FFmpeg encoder name.") from None
    if codec.type != "video":
        raise DerainError(f"--codec {name!r} is a {codec.type} encoder: give a video codec (x264, x265, av1, ...).")
    return resolved


def suffixes_of(formats: frozenset[str] | set[str]) -> str:
    """The output extensions whose muxer is one of ``formats``, for a message: ".mp4 or .mov ..."."""
    return " or ".join(suffix for suffix, name in CONTAINERS.items() if name in formats)


def plan_encoder(encoding: Encoding, suffix: str, source: FrameFormat, size: tuple[int, int]) -> EncoderPlan:
    """Resolve ``encoding`` for a ``size`` (width, height) ``source`` written to a ``suffix`` file."""
    width, height = size
    hdr = is_hdr(source.color_trc, source.hdr)
    if encoding.codec:
        codec = codec_name(encoding.codec)
    elif hdr and suffix in HDR_CONTAINERS and not (width % 2 or height % 2):
        codec = "libx265"
    elif hdr and suffix in HDR_CONTAINERS and not encoding.lossless:
        codec = "libsvtav1"
    else:
        codec = (LOSSLESS_CODEC if encoding.lossless else DEFAULT_CODEC)[suffix]
    options = _quality_options(codec, encoding)
    if source.hdr is not None:
        _hdr_options(codec, source, options)
    if codec in NO_ODD_SIZES and (width % 2 or height % 2):
        raise DerainError(f"{codec} cannot encode the odd size {width}x{height}: use --codec x264 (4:4:4), ffv1 "
                          "or av1, or crop/pad the input to an even size.")
    supported = [f.name for f in av.codec.Codec(codec, "w").video_formats or []]
    if encoding.pix_fmt:
        if supported and encoding.pix_fmt not in supported:
            raise DerainError(f"--pix-fmt {encoding.pix_fmt} is not one {codec} encodes: choose one of "
                              f"{', '.join(supported)}.")
        return EncoderPlan(codec, options, encoding.pix_fmt)
    return EncoderPlan(codec, options, _pixel_layout(codec, supported, source, width, height))


def _hdr_options(codec: str, source: FrameFormat, options: dict[str, str]) -> None:
    """Pass the source's mastering display and light levels to the encoders that write them; say so where
    the encoder cannot."""
    params = {"libx265": ("x265-params", source.hdr.x265_params),
              "libsvtav1": ("svtav1-params", source.hdr.svtav1_params)}.get(codec)
    if params is None:
        log.warning("The source's HDR mastering metadata (mastering display, content light level) is not kept "
                    "by %s, so players may show the output brighter or darker: pass --codec x265 (.mp4, .mov, .mkv) "
                    "or --codec av1 to keep it.", codec)
        return
    key, entries = params
    options[key] = ":".join(filter(None, [options.get(key), *entries()]))


def _quality_options(codec: str, encoding: Encoding) -> dict[str, str]:
    options: dict[str, str] = {"x265-params": "log-level=error"} if codec == "libx265" else {}
    if encoding.lossless:
        if codec not in LOSSLESS_OPTIONS:
            raise DerainError(f"--lossless: {codec} has no lossless mode; use --codec ffv1 (mkv, avi, mov), x264 "
                              "or x265.")
        if encoding.crf is not None:
            raise DerainError("--lossless and --crf are both given: choose one.")
        options.update(LOSSLESS_OPTIONS[codec])
    elif encoding.crf is not None:
        if codec not in CRF_RANGE:
            raise DerainError(f"--crf applies to x264, x265, av1 and vp9, not to {codec} "
                              f"({'always lossless' if codec == 'ffv1' else 'set by its own profile'}).")
        if not 0 <= encoding.crf <= CRF_RANGE[codec]:
            raise DerainError(f"--crf {encoding.crf} is outside {codec}'s range 0-{CRF_RANGE[codec]}.")
        options["crf"] = str(encoding.crf)
    elif codec in DEFAULT_CRF:
        options["crf"] = str(DEFAULT_CRF[codec])
    if codec == "libvpx-vp9" and "crf" in options:
        options["b"] = "0"  # constant quality, no bitrate cap
    if codec == "prores_ks":
        options["profile"] = "3"  # HQ
    if codec == "ffv1":
        options.update({"level": "3", "slicecrc": "1"})
    if encoding.preset is not None:
        if codec not in DEFAULT_PRESET:
            raise DerainError(f"--preset applies to x264, x265 and av1, not to {codec}.")
        if encoding.preset not in PRESETS[codec]:
            raise DerainError(f"--preset {encoding.preset} is not one of {codec}'s: {', '.join(PRESETS[codec])}.")
        options["preset"] = encoding.preset
    elif codec in DEFAULT_PRESET:
        options["preset"] = DEFAULT_PRESET[codec]
    return options


def _layout_name(chroma: str, depth: int) -> str:
    if chroma == "400":
        return "gray" if depth == 8 else f"gray{depth}le"
    return f"yuv{chroma}p" if depth == 8 else f"yuv{chroma}p{depth}le"


def _pixel_layout(codec: str, supported: list[str], source: FrameFormat, width: int, height: int) -> str:
    """The source's chroma layout and bit depth where the encoder has them, else the nearest, with a note."""
    if not supported:
        return source.pix_fmt
    chroma, depth = source.chroma, source.depth
    if source.pix_fmt in IMAGE_LAYOUTS and not _lossless_layout(codec):
        # image files: the usual delivery layout, at the source's depth class; said, since it subsamples
        chroma, depth = "420", (8 if depth <= 8 else 10)
        log.info("frames from image files are encoded %s-bit 4:2:0, the layout every player takes (pass "
                 "--pix-fmt yuv444p%s, or --codec ffv1 in .mkv, to keep full colour resolution).", depth,
                 "10le" if depth > 8 else "")
    elif chroma == "rgb":  # RGB video: RGB where the encoder has it, else full-resolution YUV
        rgb = f"gbrp{depth}le" if depth > 8 else "gbrp"
        if rgb in supported or source.pix_fmt in supported:
            return source.pix_fmt if source.pix_fmt in supported else rgb
        chroma = "444"
    odd_w, odd_h = width % 2 == 1, height % 2 == 1
    sub_w, sub_h = _SUBSAMPLED.get(chroma, (False, False))
    if codec in NO_ODD_SUBSAMPLED and ((odd_w and sub_w) or (odd_h and sub_h)):
        log.info("%dx%d is an odd size, which %s cannot subsample: the video is encoded 4:4:4 to keep every "
                 "pixel (it plays in FFmpeg-based players, not in browsers; pass --codec ffv1 or av1 to keep "
                 "4:%s:%s, or crop/pad the input to an even size).", width, height, codec, chroma[1], chroma[2])
        chroma = "444"
    wanted = [source.pix_fmt] if (chroma, depth) == (source.chroma, source.depth) else []
    wanted.append(_layout_name(chroma, depth))
    for name in wanted:
        if name in supported:
            return name
    same_chroma = sorted((f for f in supported if _safe_chroma(f) == chroma and "a" not in f.split("p")[0][3:]),
                         key=lambda f: (av.VideoFormat(f).components[0].bits < depth,
                                        abs(av.VideoFormat(f).components[0].bits - depth)))
    choice = same_chroma[0] if same_chroma else _fallback(supported, depth)
    log.info("%s cannot encode %s: the video is encoded as %s (pass --pix-fmt or --codec to choose).", codec,
             _layout_name(chroma, depth), choice)
    return choice


def _lossless_layout(codec: str) -> bool:
    """Codecs chosen to keep every sample (FFV1): image frames keep their full chroma there."""
    return codec == "ffv1"


def _safe_chroma(pix_fmt: str) -> str | None:
    try:
        return chroma_of(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        return None


def _fallback(supported: list[str], depth: int) -> str:
    for name in (_layout_name("420", 10 if depth > 8 else 8), "yuv420p"):
        if name in supported:
            return name
    return supported[0]
