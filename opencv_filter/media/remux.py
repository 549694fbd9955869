"""Every other stream of the source, carried into the output in the same pass as the encoded video.

Audio, subtitle, data and extra video streams are copied packet by packet without re-encoding, with
their metadata, disposition and the container's chapters and tags. Where the output container cannot
hold a stream's codec, audio is re-encoded to the container's usual codec, text subtitles to its text
subtitle codec, and other streams are dropped, each with a one-line note. A frame range
(``--start``/``--end``) cuts every stream and the chapters at the same times and shifts them together,
so they stay in sync with the picture: the writer sets ``cut`` once the first and last frames' times are
known. The picture's timecode (tag or QuickTime timecode track) then names the new first frame.
"""
from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .encoding import CHAPTER_AND_ROTATION_FORMATS, CONTAINERS, suffixes_of
from .subtitles import TextSubtitleConverter, text_target
from .timecode import shift_timecode

log = logging.getLogger("opencv_filter")

_AUDIO_CODECS = ("aac", "libopus", "opus", "flac", "mp3")


@dataclass(frozen=True)
class Trim:
    """Which ends of the source a frame range cuts off: ``start`` frames from its beginning (0: none), its
    end or not; ``origin_s`` is where the source's timeline starts."""

    start: int = 0
    end: bool = False
    origin_s: float = 0.0


@dataclass(frozen=True)
class Cut:
    """The part of the source's timeline that is written, in seconds, and how far it moves back."""

    start_s: float | None = None   # first kept time (None: from the beginning)
    end_s: float | None = None     # first dropped time (None: to the end)
    shift_s: float = 0.0           # subtracted from every kept timestamp

    def keeps(self, time_s: float) -> bool:
        return (self.start_s is None or time_s >= self.start_s - 1e-6) and (self.end_s is None or time_s < self.end_s)


# Tags the muxer writes itself (and which a cut or a new encoder would make wrong).
_OWN_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "duration", "number_of_frames",
             "number_of_bytes", "bps", "_statistics_tags", "_statistics_writing_app", "_statistics_writing_date_utc"}


def _tags(metadata: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in metadata.items()
            if key.lower() not in _OWN_TAGS and not key.lower().startswith(("duration-", "bps-", "number_of_"))}


def _copy_tags(source: av.stream.Stream, out: av.stream.Stream) -> None:
    """The stream's own tags (language, title, handler) and disposition (default, forced...)."""
    out.metadata.update(_tags(source.metadata))
    try:
        out.disposition = source.disposition
    except (AttributeError, TypeError, ValueError):
        pass


def _codec_of(stream: av.stream.Stream) -> str | None:
    """FFmpeg's name for the stream's codec (``subrip`` for a stream the ``srt`` decoder reads)."""
    context = getattr(stream, "codec_context", None)
    if context is not None:
        return context.codec.canonical_name
    return getattr(stream, "name", None)  # data streams have no decoder, only a codec id


def _holds(format_name: str, stream_type: str, codec: str) -> bool:
    """Whether a ``format_name`` file can hold ``codec`` (data codecs are asked of a throwaway muxer: its
    ``supported_codecs`` lists only codecs FFmpeg can decode or encode)."""
    probe = av.open(io.BytesIO(), "w", format=format_name)
    try:
        if stream_type != "data":
            return codec in probe.supported_codecs
        probe.add_data_stream(codec)
        return True
    except ValueError:
        return False
    finally:
        probe.close()


def _keeping_it(stream_type: str, codec: str | None) -> str:
    """Which output extensions would keep a stream, as the end of a note."""
    formats = {name for name in set(CONTAINERS.values()) if codec is not None and _holds(name, stream_type, codec)}
    if not formats:
        return "no output container rainmamba writes can hold it"
    return f"a {suffixes_of(formats)} output keeps it"


def cut_chapters(chapters: list[dict], cut: Cut) -> list[dict]:
    """The chapters that overlap the written part, clipped to it and moved back with the streams."""
    low = -float("inf") if cut.start_s is None else cut.start_s
    high = float("inf") if cut.end_s is None else cut.end_s
    kept = []
    for chapter in chapters:
        base = Fraction(chapter["time_base"].numerator, chapter["time_base"].denominator)
        start_s, end_s = float(chapter["start"] * base), float(chapter["end"] * base)
        if start_s >= high or end_s < low or (end_s == low and end_s > start_s):
            continue
        start_s, end_s = max(start_s, low), min(end_s, high)
        kept.append(dict(chapter, time_base=base, start=round((start_s - cut.shift_s) / base),
                         end=round((end_s - cut.shift_s) / base)))
    return kept


class StreamCopier:
    """Adds the source's other streams to ``output`` and feeds their packets in time order.

    ``skipped`` is how many frames of the source a frame range leaves out at its start: the picture's
    timecode moves on by that many frames at the source's ``rate``.
    """

    def __init__(self, output: av.container.OutputContainer, source: Path, video_index: int,
                 video_out: av.stream.Stream, label: str, skipped: int = 0, rate: Fraction | None = None) -> None:
        self.output, self.cut, self.label = output, Cut(), label
        self.input = av.open(str(source), "r")
        # source index -> (source stream, output stream, how packets change: None = copied as they are)
        self._routes: dict[int, tuple[av.stream.Stream, av.stream.Stream, str | TextSubtitleConverter | None]] = {}
        supported = output.supported_codecs
        for stream in self.input.streams:
            if stream.index == video_index:
                _copy_tags(stream, video_out)
            elif stream.type == "data" and _codec_of(stream) is None and "timecode" in stream.metadata:
                # A QuickTime timecode track: the MP4/MOV muxers write it again from the picture's
                # timecode tag, which Matroska keeps as a tag.
                video_out.metadata.setdefault("timecode", stream.metadata["timecode"])
            else:
                self._add(stream, supported)
        output.metadata.update(_tags(self.input.metadata))
        if skipped:
            for tags in (video_out.metadata, output.metadata):
                self._shift_timecode(tags, skipped, rate)
        self._chapters = self.input.chapters()  # written at the end, once the cut is known
        if self._chapters and output.format.name not in CHAPTER_AND_ROTATION_FORMATS:
            log.info("%s: the %d chapters are dropped: this container has none (a %s output keeps them).",
                     label, len(self._chapters), suffixes_of(CHAPTER_AND_ROTATION_FORMATS))
            self._chapters = []
        self._packets = self._all_packets()
        self._pending: tuple[float, av.Packet] | None = None

    def _shift_timecode(self, tags: dict[str, str], skipped: int, rate: Fraction | None) -> None:
        """The timecode of the output's first frame, which is the source's frame ``skipped``."""
        for key in [key for key in tags if key.lower() == "timecode"]:
            value = tags.pop(key)
            try:
                if not rate:
                    raise ValueError("the video has no frame rate")
                tags[key] = shift_timecode(value, skipped, rate)
            except ValueError as error:  # a wrong timecode is worse than none
                log.warning("%s: the timecode %s is dropped: it cannot be moved on by the %d frames --start "
                            "skips (%s).", self.label, value, skipped, error)

    def _add(self, stream: av.stream.Stream, supported: set[str]) -> None:
        codec = _codec_of(stream)
        what = f"{stream.type} stream {stream.index} ({codec or 'unknown codec'})"
        if stream.type == "attachment":  # a file (a font) with no packets: copied whole where the container has them
            if self.output.format.name != "matroska":
                log.info("%s: the %s cannot go into this container and is dropped (a .mkv output keeps it).",
                         self.label, what)
                return
            try:
                _copy_tags(stream, self.output.add_stream_from_template(stream))
            except (av.error.FFmpegError, ValueError, TypeError) as error:
                log.info("%s: the %s is dropped (%s).", self.label, what, error)
            return
        holds = codec is not None and _holds(self.output.format.name, stream.type, codec)
        change: str | TextSubtitleConverter | None = None
        if holds:
            out = self.output.add_stream_from_template(stream)
        elif stream.type == "audio":
            target = next((c for c in _AUDIO_CODECS if c in supported), self.output.default_audio_codec)
            out = self.output.add_stream(target, rate=stream.rate)
            out.layout = stream.layout
            change = "audio"
            log.info("%s: the %s cannot go into this container, so it is re-encoded as %s.", self.label, what,
                     target)
        elif stream.type == "subtitle" and (target := text_target(stream, supported)) is not None:
            out = self.output.add_stream(target)
            change = TextSubtitleConverter(stream, out)
            log.info("%s: the %s cannot go into this container, so it is converted to %s.", self.label, what,
                     target)
        else:
            log.info("%s: the %s cannot go into this container and is dropped (%s).", self.label, what,
                     _keeping_it(stream.type, codec))
            return
        _copy_tags(stream, out)
        self._routes[stream.index] = (stream, out, change)

    def _all_packets(self) -> Iterator[tuple[float, av.Packet]]:
        """(time in seconds, packet for the output) for every kept packet, in the source's file order."""
        if not self._routes:
            return
        streams = [route[0] for route in self._routes.values()]
        for packet in self.input.demux(*streams):
            source, out, change = self._routes[packet.stream.index]
            if change == "audio":
                yield from self._reencoded(source, out, packet)
                continue
            if packet.dts is None and packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            time_s = float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base)
            if not self.cut.keeps(time_s):
                continue
            for kept in change.convert(packet) if change is not None else (packet,):
                self._shift(kept)
                kept.stream = out
                yield time_s - self.cut.shift_s, kept
        for source, out, change in self._routes.values():
            if change == "audio":
                for encoded in out.encode(None):
                    yield float("inf"), encoded

    def _reencoded(self, source: av.stream.Stream, out: av.stream.Stream,
                   packet: av.Packet) -> Iterator[tuple[float, av.Packet]]:
        for frame in source.codec_context.decode(packet) if packet.size or packet.dts is None else []:
            if frame.time is None or not self.cut.keeps(frame.time):
                continue
            frame.pts -= round(self.cut.shift_s / frame.time_base)
            for encoded in out.encode(frame):
                yield frame.time - self.cut.shift_s, encoded

    def _shift(self, packet: av.Packet) -> None:
        shift = round(self.cut.shift_s / packet.time_base)
        if shift:
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift

    def mux_until(self, time_s: float) -> None:
        """Mux every packet due up to ``time_s`` (seconds on the output's timeline)."""
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    return
            due, packet = self._pending
            if due > time_s:
                return
            # A packet read ahead before the writer knew the last frame's time is checked again here; the
            # encoders' final packets (due at infinity) always go in.
            if math.isinf(due) or self.cut.keeps(due + self.cut.shift_s):
                self.output.mux(packet)
            self._pending = None

    def finish(self) -> None:
        """Mux everything left (the part of the audio that runs past the last frame), then the chapters,
        cut like the streams (the muxers write them when the file is closed)."""
        self.mux_until(float("inf"))
        if self._chapters:
            try:
                self.output.set_chapters(cut_chapters(self._chapters, self.cut))
            except (av.error.FFmpegError, ValueError, TypeError) as error:
                log.info("%s: the chapters could not be kept (%s).", self.label, error)

    def close(self) -> None:
        self.input.close()
