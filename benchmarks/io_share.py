"""What decoding and encoding a video file cost next to the network, on the path `rainmamba derain` takes.

Encodes a synthetic clip (default 854x480, x264), then times, in one process: decoding it with the media
layer's `VideoReader`, deraining the decoded frames with the engine (shipped model, fast mode, CPU), and
encoding the result with `VideoFileWriter` at the default settings (x264 CRF 16, preset medium). Prints
each stage's seconds per frame and decode + encode as a share of the engine's time. In `rainmamba derain`
decoding and encoding run in threads of their own beside the engine; this measures them one after the
other, so the share is an upper bound on what they can take from the network.

    python benchmarks/io_share.py --frames 10 --size 480x854 [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import models
from models.options import CLI, EngineOptions
from models.sizes import parse_size
from opencv_filter.frames import FrameCodec
from opencv_filter.media import Encoding, FrameFormat, VideoFileWriter, VideoReader


def moving_clip(frames: int, height: int, width: int) -> list[np.ndarray]:
    """BGR uint8 frames of a textured pattern panning by 3 px per frame (something x264 must work at)."""
    rng = np.random.default_rng(0)
    canvas = (rng.random((height, width + 3 * frames, 3)) * 255).astype(np.uint8)
    canvas = np.ascontiguousarray(np.repeat(np.repeat(canvas[::4, ::4], 4, 0), 4, 1)[:height])
    return [np.ascontiguousarray(canvas[:, 3 * i:3 * i + width]) for i in range(frames)]


def _write(path: Path, reader: VideoReader, frames: list[np.ndarray]) -> None:
    with VideoFileWriter(path, reader.format, (reader.info.width, reader.info.height), Encoding()) as writer:
        for index, frame in enumerate(frames):
            writer.write(frame, reader.pts(index))
        writer.commit()


def measure(frames: int, size: tuple[int, int], threads: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    height, width = size
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "rainy.mp4"
        seed_frames = moving_clip(frames, height, width)
        with VideoFileWriter(source, FrameFormat.for_images(25.0, sixteen_bit=False), (width, height), Encoding()) as writer:
            for frame in seed_frames:
                writer.write(frame)
            writer.commit()

        reader = VideoReader(source)
        started = time.perf_counter()
        decoded = list(reader.frames())
        decode_s = time.perf_counter() - started

        engine = models.Derainer(models.resolve_model(None), options=EngineOptions.parse(device="cpu", spelling=CLI))
        codec = FrameCodec()
        list(engine.stream(codec.encode(f, i) for i, f in enumerate(decoded[:engine.frames])))  # warm-up
        started = time.perf_counter()
        derained = [codec.decode(out) for out in engine.stream(codec.encode(f, i) for i, f in enumerate(decoded))]
        engine_s = time.perf_counter() - started

        started = time.perf_counter()
        _write(Path(folder) / "clean.mp4", reader, derained)
        encode_s = time.perf_counter() - started
        reader.close()
    return {"frames": frames, "height": height, "width": width, "threads": threads,
            "decode_s_per_frame": decode_s / frames, "engine_s_per_frame": engine_s / frames,
            "encode_s_per_frame": encode_s / frames, "io_share_of_engine": (decode_s + encode_s) / engine_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", default="480x854", help="HxW (or 480p)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    row = measure(args.frames, parse_size(args.size, named=True), args.threads)
    for key, value in row.items():
        print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
