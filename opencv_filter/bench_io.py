"""``rainmamba bench --sections io``: what decoding and encoding a video file cost next to the network.

For each preset and size asked for, encodes a synthetic clip with x264, then times, one after the other
in this process: decoding it with the media layer's ``VideoReader``, deraining the decoded frames with
the engine, and encoding the result with ``VideoFileWriter`` at derain's defaults for .mp4 (x264 CRF 16,
preset medium), including the writer's flush, frame-count check and fsync. ``rainmamba derain`` decodes
and encodes in threads of their own beside the engine, so the share is an upper bound on what they can
take from the network. Registered in pyproject.toml's ``rainmamba.bench_sections``.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import models
from models.bench_measure import load_network
from models.bench_sections import BenchRequest, BenchSection
from models.sizes import parse_size

from .frames import FrameCodec
from .media import Encoding, FrameFormat, VideoFileWriter, VideoReader

_RATE = 25.0


def moving_clip(frames: int, height: int, width: int) -> list[np.ndarray]:
    """BGR uint8 frames of a blocky random texture panning by 3 px per frame (something x264 must work at)."""
    rng = np.random.default_rng(0)
    canvas = (rng.random(((height + 3) // 4, (width + 3 * frames + 3) // 4, 3)) * 255).astype(np.uint8)
    canvas = np.repeat(np.repeat(canvas, 4, 0), 4, 1)[:height]
    return [np.ascontiguousarray(canvas[:, 3 * i:3 * i + width]) for i in range(frames)]


def _encode(path: Path, frames: list[np.ndarray], source: FrameFormat, pts: list[int] | None = None) -> None:
    height, width = frames[0].shape[:2]
    with VideoFileWriter(path, source, (width, height), Encoding()) as writer:
        for index, frame in enumerate(frames):
            writer.write(frame, None if pts is None else pts[index])
        writer.commit()


def measure(engine: models.Derainer, frames: int, height: int, width: int) -> dict[str, float]:
    """Seconds per frame of decoding, deraining and encoding a ``frames`` x ``height`` x ``width`` clip."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "rainy.mp4"
        _encode(source, moving_clip(frames, height, width), FrameFormat.for_images(_RATE, sixteen_bit=False))
        reader = VideoReader(source)
        try:
            started = time.perf_counter()
            decoded = list(reader.frames())
            decode_s = time.perf_counter() - started
            codec = FrameCodec()
            warm_up = decoded[:engine.frames]
            list(engine.stream(codec.encode(f, i) for i, f in enumerate(warm_up)))
            started = time.perf_counter()
            derained = [codec.decode(out) for out in engine.stream(codec.encode(f, i) for i, f in enumerate(decoded))]
            engine_s = time.perf_counter() - started
            started = time.perf_counter()
            _encode(Path(folder) / "clean.mp4", derained, reader.format, [reader.pts(i) for i in range(frames)])
            encode_s = time.perf_counter() - started
        finally:
            reader.close()
    return {"decode_s": decode_s, "engine_s": engine_s, "encode_s": encode_s}


def io_rows(request: BenchRequest) -> list[dict[str, Any]]:
    """One row per preset and size, at the first of the requested clip lengths."""
    frames = request.frames[0]
    rows = []
    for name in request.presets:
        engine = models.Derainer(load_network(name), mode=request.mode, device=request.device,
                                 dtype=request.dtype, tile=request.tile)
        for size in request.sizes:
            height, width = parse_size(size, named=True)
            request.log(f"io: {name} {size} x{frames}: decode, derain, encode ...")
            seconds = measure(engine, frames, height, width)
            rows.append({"preset": name, "device": request.device.type, "dtype": str(request.dtype)[6:],
                         "threads": request.threads, "size": f"{size} ({height}x{width})", "frames": frames,
                         "codec": "x264 CRF 16 medium",
                         **{f"{stage}_ms_per_frame": 1e3 * s / frames for stage, s in
                            (("decode", seconds["decode_s"]), ("engine", seconds["engine_s"]),
                             ("encode", seconds["encode_s"]))},
                         "io_share_of_engine": (seconds["decode_s"] + seconds["encode_s"]) / seconds["engine_s"]})
    return rows


io_section = BenchSection(
    title="Decoding and encoding a video file next to the engine (one after the other: an upper bound)",
    columns=["preset", "device", "dtype", "threads", "size", "frames", "codec", "decode_ms_per_frame",
             "engine_ms_per_frame", "encode_ms_per_frame", "io_share_of_engine"],
    run=io_rows)
