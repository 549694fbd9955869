"""Text subtitles moved into a container that cannot hold their codec (SubRip into .mp4 as mov_text).

FFmpeg decodes every text subtitle codec to the same ASS dialogue lines, and its text encoders take
those lines back, so a text track can change codec without losing its words or its times. Bitmap
subtitles (DVD, Blu-ray) have no such common form and are not converted.
"""
from __future__ import annotations

from collections.abc import Iterator

import av
from av.subtitles.subtitle import SubtitleSet

# Text subtitle codecs in the order a container's first one is chosen (the names FFmpeg's muxers list).
TEXT_CODECS = ("subrip", "mov_text", "webvtt", "ass")


def text_target(stream: av.stream.Stream, supported: set[str]) -> str | None:
    """The text codec ``stream`` becomes in a container taking ``supported``; None if it is no text track."""
    context = stream.codec_context
    if context is None or not context.codec.text_sub:
        return None
    return next((codec for codec in TEXT_CODECS if codec in supported), None)


class TextSubtitleConverter:
    """Re-encodes the packets of one text subtitle stream into ``out``, keeping times and durations."""

    def __init__(self, source: av.stream.Stream, out: av.stream.Stream) -> None:
        self.source, self.out = source, out
        decoder = source.codec_context
        decoder.open(strict=False)  # the decoder sets the ASS header (styles) the text encoders start from
        out.time_base = source.time_base
        out.codec_context.time_base = source.time_base
        if decoder.subtitle_header is not None:
            out.codec_context.subtitle_header = decoder.subtitle_header

    def convert(self, packet: av.Packet) -> Iterator[av.Packet]:
        """The packet in the output's codec, with the source packet's pts, dts, duration and time base."""
        subtitle = self.source.codec_context.decode2(packet)
        lines = [rect.ass for rect in subtitle or () if rect.type in (b"ass", b"text") and rect.ass]
        if not lines:
            return
        # One event per packet: further rects of the same event become new lines of its text.
        text = lines[0] + b"".join(b"\\N" + line.split(b",", 8)[-1] for line in lines[1:])
        duration = packet.duration or round((subtitle.end_display_time - subtitle.start_display_time)
                                            / 1000 / packet.time_base)  # display times are in ms
        encoded = self.out.codec_context.encode_subtitle(SubtitleSet.create(text, 0, duration, packet.pts))
        encoded.pts, encoded.dts, encoded.duration = packet.pts, packet.pts, duration
        encoded.time_base = packet.time_base
        encoded.stream = self.out
        yield encoded
