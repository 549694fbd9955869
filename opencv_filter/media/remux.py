"""Every other stream of the source, carried into the output in the same pass as the encoded video.

Audio, subtitle, data and extra video streams are copied packet by packet without re-encoding, with
their metadata, disposition and the container's chapters and tags. Where the output container cannot
hold a stream's codec, audio is re-encoded to the container's usual codec and other streams are
dropped, each with a one-line note. A frame range (``--start``/``--end``) cuts every stream at the
same times and shifts them together, so they stay in sync with the picture: the writer sets ``cut``
once the first and last frames' times are known.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger("opencv_filter")

_AUDIO_CODECS = ("aac", "libopus", "opus", "flac", "mp3")


@dataclass(frozen=True)
class Trim:
    """Which ends of the source a frame range cuts off; ``origin_s`` is where the source's timeline starts."""

    start: bool = False
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
_OWN_TAGS = {"encoder", "duration", "number_of_frames", "number_of_bytes", "bps", "_statistics_tags",
             "_statistics_writing_app", "_statistics_writing_date_utc"}


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
    context = getattr(stream, "codec_context", None)
    return context.name if context is not None else None


class StreamCopier:
    """Adds the source's other streams to ``output`` and feeds their packets in time order."""

    def __init__(self, output: av.container.OutputContainer, source: Path, video_index: int,
                 video_out: av.stream.Stream, label: str) -> None:
        self.output, self.cut, self.label = output, Cut(), label
        self.input = av.open(str(source), "r")
        self._routes: dict[int, tuple[av.stream.Stream, av.stream.Stream, bool]] = {}
        supported = output.supported_codecs
        for stream in self.input.streams:
            if stream.index == video_index:
                _copy_tags(stream, video_out)
                continue
            self._add(stream, supported)
        output.metadata.update(_tags(self.input.metadata))
        chapters = self.input.chapters()
        if chapters:
            try:
                output.set_chapters(chapters)  # before the header is written
            except (av.error.FFmpegError, ValueError, TypeError) as error:
                log.info("%s: the chapters could not be kept (%s).", label, error)
        self._packets = self._all_packets()
        self._pending: tuple[float, av.Packet] | None = None

    def _add(self, stream: av.stream.Stream, supported: set[str]) -> None:
        codec = _codec_of(stream)
        what = f"{stream.type} stream {stream.index} ({codec or 'unknown codec'})"
        if stream.type == "attachment":  # a file (a font) with no packets: copied whole where the container has them
            try:
                if "matroska" not in self.output.format.name:
                    raise ValueError("this container has no attachments")
                _copy_tags(stream, self.output.add_stream_from_template(stream))
            except (av.error.FFmpegError, ValueError, TypeError) as error:
                log.info("%s: the %s is dropped (%s).", self.label, what, error)
            return
        if codec is not None and codec in supported:
            out = self.output.add_stream_from_template(stream)
            reencode = False
        elif stream.type == "audio":
            target = next((c for c in _AUDIO_CODECS if c in supported), self.output.default_audio_codec)
            out = self.output.add_stream(target, rate=stream.rate)
            out.layout = stream.layout
            reencode = True
            log.info("%s: the %s cannot go into this container, so it is re-encoded as %s.", self.label, what,
                     target)
        else:
            log.info("%s: the %s cannot go into this container and is dropped.", self.label, what)
            return
        _copy_tags(stream, out)
        self._routes[stream.index] = (stream, out, reencode)

    def _all_packets(self) -> Iterator[tuple[float, av.Packet]]:
        """(time in seconds, packet for the output) for every kept packet, in the source's file order."""
        if not self._routes:
            return
        streams = [route[0] for route in self._routes.values()]
        for packet in self.input.demux(*streams):
            source, out, reencode = self._routes[packet.stream.index]
            if reencode:
                for frame in source.codec_context.decode(packet) if packet.size or packet.dts is None else []:
                    if frame.time is None or not self.cut.keeps(frame.time):
                        continue
                    frame.pts -= round(self.cut.shift_s / frame.time_base)
                    for encoded in out.encode(frame):
                        yield frame.time - self.cut.shift_s, encoded
                continue
            if packet.dts is None and packet.pts is None:  # the demuxer's end-of-stream marker
                continue
            time_s = float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base)
            if not self.cut.keeps(time_s):
                continue
            shift = round(self.cut.shift_s / packet.time_base)
            if shift:
                if packet.pts is not None:
                    packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
            packet.stream = out
            yield time_s - self.cut.shift_s, packet
        for source, out, reencode in self._routes.values():
            if reencode:
                for encoded in out.encode(None):
                    yield float("inf"), encoded

    def mux_until(self, time_s: float) -> None:
        """Mux every packet due up to ``time_s`` (seconds on the output's timeline)."""
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    return
            if self._pending[0] > time_s:
                return
            self.output.mux(self._pending[1])
            self._pending = None

    def finish(self) -> None:
        """Mux everything left (the part of the audio that runs past the last frame)."""
        self.mux_until(float("inf"))

    def close(self) -> None:
        self.input.close()
