"""Resident memory of the VapourSynth filter while rendering from Python (`clip.frames()` or
`clip.output()`), with an identity network so that only the filter's own memory shows.

    python benchmarks/vs_memory.py                          # 3,000 frames of 320x512 YUV420P8, frames()
    python benchmarks/vs_memory.py --frames 1000 --render output --format RGBS --json out.json
    python benchmarks/vs_memory.py --no-trim                # without the filter's heap trimming

Prints RSS every ``--every`` frames and a summary line (growth after the first window, in MB, and its
slope per 1,000 frames). Issue 13's target: under 300 MB of growth over 3,000 frames at 320x512.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import vapoursynth as vs
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import models  # noqa: E402
import vsrainmamba  # noqa: E402
from vsrainmamba.memory import HEAP  # noqa: E402

FORMATS = {"YUV420P8": vs.YUV420P8, "RGBS": vs.RGBS, "RGB24": vs.RGB24}


class Identity(nn.Module):
    """Returns its input, with the tiny preset's window and tiles."""

    def __init__(self) -> None:
        super().__init__()
        self.preset = models.get_preset("tiny")
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0 * self.dummy


def rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def source(frames: int, width: int, height: int, fmt: int) -> vs.VideoNode:
    """Frames that differ (a slow brightness ramp, repeated), so caches cannot hand back one frame."""
    core = vs.core
    ramp = [core.std.BlankClip(width=width, height=height, length=1, format=vs.YUV420P8, color=[60 + k, 128, 128],
                               keep=True) for k in range(100)]
    yuv = core.std.Loop(core.std.Splice(ramp), times=frames // len(ramp) + 1)[:frames]
    yuv = core.std.SetFrameProps(yuv, _Matrix=1, _Range=0)
    return yuv if fmt == vs.YUV420P8 else core.resize.Bicubic(yuv, format=fmt, matrix_in=1)


def measure(frames: int, width: int, height: int, fmt: int, render: str, every: int) -> dict:
    clip = vsrainmamba.derain(source(frames, width, height, fmt), model=Identity(), device_index=-1)
    samples = []
    start = time.perf_counter()
    if render == "frames":
        for n, _ in enumerate(clip.frames()):
            if n % every == 0 or n == frames - 1:
                samples.append((n, rss_mb()))
    else:
        def progress(current: int, total: int) -> None:
            if current % every == 0 or current == total:
                samples.append((current, rss_mb()))

        with open(os.devnull, "wb") as sink:
            clip.output(sink, progress_update=progress)
    elapsed = time.perf_counter() - start
    base = next((mb for n, mb in samples if n >= every), samples[0][1])
    growth = samples[-1][1] - base
    span = max(samples[-1][0] - every, 1)
    return {"frames": frames, "size": f"{width}x{height}", "format": vs.core.get_video_format(fmt).name,
            "render": render, "heap_trim": HEAP.trim is not None, "threads": vs.core.num_threads,
            "torch_threads": torch.get_num_threads(),
            "rss_start_mb": round(samples[0][1], 1), "rss_end_mb": round(samples[-1][1], 1),
            "growth_mb": round(growth, 1), "mb_per_1000_frames": round(growth / span * 1000, 1),
            "seconds": round(elapsed, 1), "samples": [(n, round(mb, 1)) for n, mb in samples]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--format", choices=sorted(FORMATS), default="YUV420P8")
    parser.add_argument("--render", choices=("frames", "output"), default="frames")
    parser.add_argument("--every", type=int, default=250, help="frames between RSS samples")
    parser.add_argument("--threads", type=int, default=None, help="core.num_threads (default: VapourSynth's)")
    parser.add_argument("--no-trim", action="store_true",
                        help="turn off the filter's heap trimming (vsrainmamba/memory.py), to see what it saves")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    if args.threads:
        vs.core.num_threads = args.threads
    if args.no_trim:
        HEAP.trim = None
    result = measure(args.frames, args.width, args.height, FORMATS[args.format], args.render, args.every)
    for n, mb in result["samples"]:
        print(f"frame {n:6d}  rss {mb:8.1f} MB")
    print(f"growth after frame {args.every}: {result['growth_mb']} MB ({result['mb_per_1000_frames']} MB per 1,000 "
          f"frames), {result['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
