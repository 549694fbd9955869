"""Tiny test videos encoded with PyAV: any codec, pixel layout, size, timestamps, colour tags, audio,
subtitles (packets of a SubRip file, read by FFmpeg's srt demuxer), data streams and chapters."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BT709 = dict(color_primaries=1, color_trc=1, colorspace=1, color_range=1)
BT2020 = dict(color_primaries=9, color_trc=14, colorspace=9, color_range=1)


def smooth_frames(n: int, size: tuple[int, int], seed: int = 0, deep: bool = False) -> list[np.ndarray]:
    """Smooth moving BGR frames (codecs keep them well); uint16 when ``deep``."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for t in range(n):
        b = 128 + 90 * np.sin(xx / 7 + t / 2 + seed)
        g = 128 + 90 * np.cos(yy / 5 - t / 3)
        r = 128 + 90 * np.sin((xx + yy) / 9 + t / 4)
        frame = np.stack([b, g, r], -1)
        frames.append(np.round(frame * 257).astype(np.uint16) if deep else np.round(frame).astype(np.uint8))
    return frames


def encode(path: Path, frames: list[np.ndarray], codec: str = "libx264", pix_fmt: str = "yuv420p",
           pts: list[int] | None = None, time_base: Fraction = Fraction(1, 1000), rate: int | Fraction = 25,
           tags: dict | None = None, audio_s: float | None = None, audio_codec: str = "aac",
           metadata: dict | None = None, chapters: bool | list[dict] = False, srt: Path | None = None,
           subtitle_tags: dict | None = None, data: list[tuple[int, bytes]] | None = None,
           data_tags: dict | None = None, timecode: str | None = None, rotation: int | None = None,
           codec_params: str = "") -> Path:
    """Write ``frames`` (BGR) with PyAV; ``pts`` in ``time_base`` (default: 1/rate apart); optional audio track,
    the subtitles of the SubRip file ``srt`` (with ``subtitle_tags``), and a ``bin_data`` stream of ``data``
    packets (ms, payload), 40 ms long each; ``timecode`` (the MOV/MP4 muxers write it as a timecode track) and a
    ``rotation`` display tag (degrees counter-clockwise) on the picture; ``codec_params`` for libx265 or libsvtav1
    (their ``x265-params``/``svtav1-params``: HDR metadata)."""
    tags = BT709 if tags is None else tags
    height, width = frames[0].shape[:2]
    pts = pts if pts is not None else [round(i / (rate * time_base)) for i in range(len(frames))]
    with av.open(str(path), "w") as out:
        options = {"x265-params": ":".join(filter(None, ["log-level=error", codec_params]))} if codec == "libx265" \
            else {"svtav1-params": codec_params, "preset": "12"} if codec == "libsvtav1" and codec_params else {}
        video = out.add_stream(codec, rate=rate, options=options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = video.codec_context.time_base = time_base
        for name, value in tags.items():
            setattr(video.codec_context, name, value)
        if timecode is not None:
            video.metadata["timecode"] = timecode
        if rotation is not None:
            video.set_display_rotation(rotation)
        if audio_s is not None:
            audio = out.add_stream(audio_codec, rate=48000)
            audio.layout = "stereo"
        if metadata:
            out.metadata.update(metadata)
        if chapters:
            out.set_chapters(chapters if isinstance(chapters, list) else [
                {"id": 1, "start": 0, "end": 100, "time_base": Fraction(1, 1000), "metadata": {"title": "one"}}])
        if srt is not None:
            subtitles_in = av.open(str(srt))
            subtitles = out.add_stream_from_template(subtitles_in.streams.subtitles[0])
            subtitles.metadata.update(subtitle_tags or {})
        if data is not None:
            data_stream = out.add_data_stream("bin_data")
            data_stream.time_base = Fraction(1, 1000)
            data_stream.metadata.update(data_tags or {})
        for image, stamp in zip(frames, pts):
            picture = av.VideoFrame.from_ndarray(image, format="bgr24" if image.dtype == np.uint8 else "bgr48le")
            frame = picture.reformat(format=pix_fmt, dst_colorspace=tags.get("colorspace") or None,
                                     dst_color_range=tags.get("color_range") or None)
            frame.pts, frame.time_base = stamp, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio_s is not None:
            samples, step = round(48000 * audio_s), 1024
            t = np.arange(samples) / 48000
            wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for at in range(0, samples, step):
                chunk = wave[at:at + step]
                block = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
                block.sample_rate, block.pts, block.time_base = 48000, at, Fraction(1, 48000)
                out.mux(audio.encode(block))
            out.mux(audio.encode(None))
        if srt is not None:
            for packet in subtitles_in.demux():
                if packet.dts is not None:
                    packet.stream = subtitles
                    out.mux(packet)
            subtitles_in.close()
        for at_ms, payload in data or []:
            packet = av.Packet(payload)
            packet.pts = packet.dts = at_ms
            packet.duration, packet.time_base, packet.stream = 40, Fraction(1, 1000), data_stream
            out.mux(packet)
    return path


def write_srt(path: Path, events: list[tuple[float, float, str]]) -> Path:
    """A SubRip file of (start s, end s, text) events."""
    def stamp(seconds: float) -> str:
        ms = round(seconds * 1000)
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    path.write_text("".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n"
                            for i, (a, b, text) in enumerate(events, 1)))
    return path


def packets(path: Path, kind: str) -> dict:
    """Codec, tags and (start s, duration s, payload; times to the microsecond) of every packet of the first ``kind`` stream."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        codec = stream.codec_context.codec.canonical_name if stream.codec_context else stream.name
        found = [(round(float(p.pts * p.time_base), 6), round(float(p.duration * p.time_base), 6), bytes(p))
                 for p in container.demux(stream) if p.size]
        return {"codec": codec, "tags": dict(stream.metadata), "packets": found,
                "disposition": stream.disposition}


def subtitle_texts(path: Path) -> list[tuple[float, float, str]]:
    """(start s, end s, text; times to the microsecond) of every event of the first subtitle stream, whatever
    its codec."""
    events = []
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        for packet in container.demux(stream):
            if not packet.size:
                continue
            subtitle = stream.codec_context.decode2(packet)
            text = "".join(rect.ass.split(b",", 8)[-1].decode() for rect in subtitle or ())
            if text:
                start = float(packet.pts * packet.time_base)
                events.append((round(start, 6), round(start + float(packet.duration * packet.time_base), 6), text))
    return events


def decode(path: Path) -> dict:
    """Frames (BGR, 8 or 16 bits), timestamps in seconds, video format and every stream of a file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        context = video.codec_context
        info = {"pix_fmt": context.format.name, "size": (context.width, context.height),
                "tags": {name: int(getattr(context, name)) for name in BT709},
                "metadata": dict(container.metadata), "chapters": len(container.chapters())}
        streams = [(s.type, s.codec_context.name if s.codec_context else None) for s in container.streams]
        audio = None
        if container.streams.audio:
            a = container.streams.audio[0]
            audio = {"codec": a.codec_context.name, "rate": a.rate, "channels": a.layout.nb_channels}
        deep = av.VideoFormat(context.format.name).components[0].bits > 8
        frames, times = [], []
        for frame in container.decode(video):
            frames.append(frame.to_ndarray(format="bgr48le" if deep else "bgr24",
                                           src_color_range=int(frame.color_range) or None))
            times.append(float(frame.pts * frame.time_base))
    if audio is not None:
        audio["duration"] = _audio_duration(path)
    return dict(info, frames=frames, times=times, streams=streams, audio=audio)


def _audio_duration(path: Path) -> float:
    """Seconds of decoded audio samples (what a player plays), from the first sample's time."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        first, samples = None, 0
        for frame in container.decode(stream):
            first = frame.time if first is None else first
            samples += frame.samples
        return samples / stream.rate


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak ** 2 / mse)
