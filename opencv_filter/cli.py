"""``rainmamba derain``: derain video files, image sequences, or whole folders of them.

Under ``torchrun --nproc-per-node N`` (any number of nodes) the inputs are shared out over the ranks,
each on its own GPU, writing its own outputs. Exit status: 0 when every input was derained, 1 when
something failed (one line per failure), 2 for bad usage, 130 when interrupted.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import warnings
from collections.abc import Iterator

import av
import click
import cv2
from tqdm import tqdm

from models.options import CLI, EngineOptions, OptionError, parse_pair

from .distributed import Launch, RankInfo, shard
from .errors import DerainError
from .frames import make_derainer
from .jobs import plan_jobs
from .media import Encoding
from .runner import OutputOptions, check_jobs, derain_job
from .scene_cuts import DEFAULT_THRESHOLD

# What a user can cause and fix: reported as one line, never as a traceback.
USER_ERRORS = (DerainError, ValueError, OSError, RuntimeError)
INTERRUPTED = 130


# How this command spells the engine settings, so their errors quote the options as typed.
ENGINE_SPELLING = dataclasses.replace(CLI, names={"batch_size": "--batch"},
                                      dtypes={"float16": "--fp16", "bfloat16": "--bf16", "float32": "neither"})


def _check_tile(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_pair(value, "tile", ENGINE_SPELLING)
        except OptionError as error:
            raise click.BadParameter(str(error)) from None
    return value


class _TqdmHandler(logging.Handler):
    """Notes and warnings printed above the progress bars instead of through them."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def emit(self, record: logging.LogRecord) -> None:
        kind = "note" if record.levelno < logging.WARNING else record.levelname.lower()
        tqdm.write(f"{self.label}{kind}: {record.getMessage()}", file=sys.stderr)


def _exit_now(code: int) -> None:
    """End the process with ``code`` at once, skipping the interpreter's shutdown; only once every output is
    cleaned up, after a signal.

    After Ctrl-C or SIGTERM a native library's worker thread can still be inside a call; tearing the interpreter
    and its C++ statics down around it occasionally aborted the process ("terminate called without an active
    exception", SIGABRT) instead of exiting 130, which a shell script or scheduler reads as a crash.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def _console(label: str) -> Iterator[list[int]]:
    """For the command's duration: notes and warnings as one line above the progress bars, and SIGTERM
    (a scheduler or torchrun stopping us) handled like Ctrl-C, so partial outputs are cleaned up. Yields the
    list of the signals received (SIGINT or SIGTERM), so the command knows the interrupt came from outside."""
    logger = logging.getLogger("opencv_filter")
    handler, propagate, level = _TqdmHandler(label), logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)

    received: list[int] = []

    def interrupt(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    opencv_level, ffmpeg_level = cv2.utils.logging.getLogLevel(), av.logging.get_level()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our messages say it in one line
    # FFmpeg logs nothing: PyAV's Python log callback takes the GIL from FFmpeg's decoder threads, which deadlocks
    # when the main thread frees a frame-threaded decoder (holding the GIL) while one of them logs an error
    av.logging.set_level(None)
    try:
        previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: keep the defaults
        previous = {}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, *args, **kwargs: tqdm.write(f"{label}warning: {message}",
                                                                               file=sys.stderr)
            yield received
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        cv2.utils.logging.setLogLevel(opencv_level)
        av.logging.set_level(ffmpeg_level)
        logger.removeHandler(handler)
        logger.propagate, logger.level = propagate, level


@click.command("derain", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, metavar="INPUT... OUTPUT")
@click.option("-m", "--model", default=None, metavar="MODEL",
              help="Shipped default (omit), a preset with installed weights (vrds, lwdds, rainvidss, rainsynall100), "
                   "or a checkpoint file (.pth / .safetensors).")
@click.option("--mode", type=click.Choice(["fast", "official"]), default="fast", show_default=True,
              help="fast: each frame computed once; official: the authors' overlapping windows (slower).")
@click.option("--tile", callback=_check_tile, metavar="HxW",
              help="Spatial tile (multiples of 8; 0 = whole frame). Default: the preset's; in fast mode the "
                   "shipped model runs whole frames up to a 3 GiB window (1080p), larger frames in the largest tiles that fit.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N. Default: a GPU when there is one, else the CPU.")
@click.option("--fp16", is_flag=True, help="Half precision on the GPU (faster, less memory).")
@click.option("--bf16", is_flag=True,
              help="bfloat16 on a GPU or a CPU (on CPUs with AVX-512 BF16 or AMX: about 1.2-1.5x faster for "
                   "the larger presets, output within about 1e-3).")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Window tiles per forward pass.")
@click.option("--codec", default=None, metavar="CODEC",
              help="Video codec: x264, x265, av1, ffv1 (lossless), prores, vp9, or an FFmpeg encoder name. "
                   "Default: x264 (.mp4 .m4v .mov .mkv .avi), av1 (.webm).")
@click.option("--crf", type=click.IntRange(min=0), default=None,
              help="Constant quality for x264/x265 (0-51), av1/vp9 (0-63); lower is better. Default: a visually "
                   "lossless one (x264 16, x265 18, av1 25).")
@click.option("--preset", default=None, help="Encoder speed preset: x264/x265 ultrafast..veryslow (default "
                                             "medium), av1 0-13 (default 8).")
@click.option("--lossless", is_flag=True,
              help="Lossless video (ffv1 in .mkv/.avi, x264 lossless in .mp4/.mov, or the --codec's lossless mode).")
@click.option("--pix-fmt", default=None, metavar="FORMAT",
              help="Pixel layout of the video, like yuv420p or yuv444p10le. Default: the input's bit depth and "
                   "chroma layout.")
@click.option("--quality", type=click.IntRange(0, 100), default=None, help="0-100, for JPEG/WebP frames.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First frame to derain.")
@click.option("--end", type=click.IntRange(min=1), default=None, help="Stop before this frame (default: the end).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Frame rate of image-sequence inputs (default 25), used for video output.")
@click.option("--no-scene-change", is_flag=True,
              help="Do not look for scene cuts (by default no temporal window spans one; rain does not trigger it).")
@click.option("--sc-threshold", type=click.FloatRange(0, 1), default=DEFAULT_THRESHOLD, show_default=True,
              help="How different (0-1) the frames on the two sides of a scene cut must be; lower finds more.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--no-audio", is_flag=True,
              help="Write the picture only (by default audio, subtitle and data streams, chapters and tags are "
                   "copied).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def derain_command(paths: tuple[str, ...], model: str | None, mode: str, tile, device: str | None, fp16: bool,
                   bf16: bool, batch_size: int, codec: str | None, crf: int | None, preset: str | None, lossless: bool,
                   pix_fmt: str | None, quality: int | None, start: int, end: int | None, fps: float | None,
                   no_scene_change: bool, sc_threshold: float, overwrite: bool, no_audio: bool,
                   no_progress: bool) -> None:
    """Derain INPUT into OUTPUT, keeping size, timestamps, bit depth, colours, audio and subtitles.

    \b
    INPUT: a video file, a folder of frames, a pattern (frames/%06d.png) or a glob ('frames/*.jpg').
    OUTPUT: a video file (by its extension: .mp4 .mov .avi .mkv .webm), a folder, or a pattern.
    Several INPUTs, or one folder of videos / of frame folders: OUTPUT is a folder that receives
    each result under its input's name.

    \b
    Examples:
      rainmamba derain rainy.mp4 clean.mp4
      rainmamba derain rainy.mp4 clean.mp4 --model vrds --device cuda --fp16
      rainmamba derain rainy.mp4 clean.mp4 --bf16                       # faster on recent CPUs
      rainmamba derain rainy.mov clean.mkv --lossless                   # ffv1, for further editing
      rainmamba derain test/lq/ derained/ --model vrds                  # a dataset's sequences
      torchrun --nproc-per-node 8 --no-python rainmamba derain videos/ out/   # over 8 GPUs

    Outputs are written under a temporary name and renamed when complete and checked, so an
    interrupted or failed run leaves no partial file; --overwrite never replaces an input.
    """
    if len(paths) < 2:
        raise click.UsageError("Give an INPUT and an OUTPUT.")
    if fp16 and bf16:
        raise click.UsageError("--fp16 and --bf16 are both given: choose one.")
    info = RankInfo.from_env()
    label = f"[rank {info.rank}] " if info.distributed else ""
    encoding = Encoding(codec=codec, crf=crf, preset=preset, lossless=lossless, pix_fmt=pix_fmt)
    options = OutputOptions(start=start, end=end, fps=fps, encoding=encoding, quality=quality,
                            overwrite=overwrite, streams=not no_audio, progress=not no_progress, label=label,
                            sc_threshold=None if no_scene_change else sc_threshold)
    try:  # no device, or a bare cuda: this rank's GPU under torchrun
        engine = EngineOptions.parse(mode=mode, tile=tile, device=device, batch_size=batch_size,
                                     dtype="float16" if fp16 else "bfloat16" if bf16 else None,
                                     spelling=ENGINE_SPELLING, local_rank=info.local_rank)
    except OptionError as error:
        raise click.UsageError(str(error)) from None
    with _console(label) as signals:
        _derain(paths, info, options, model, engine, signals)


def _derain(paths: tuple[str, ...], info: RankInfo, options: OutputOptions, model: str | None,
            engine: EngineOptions, signals: list[int]) -> None:
    """Plan, check, shard and run this rank's share; exits with the command's status (``signals``: those
    received, by :func:`_console`)."""
    try:
        jobs = plan_jobs(list(paths[:-1]), paths[-1])
        check_jobs(jobs, options.overwrite)  # every rank checks every job: all refuse together before any write
    except DerainError as error:
        raise click.ClickException(str(error)) from None
    failures: list[str] = []
    try:
        with Launch(info) as launch:
            launch.barrier()
            mine = shard(jobs, [job.size for job in jobs], info.rank, info.world_size)
            if mine:
                failures = _run_jobs(mine, options, model, engine)
            everyone = launch.all_failures(failures)
    except KeyboardInterrupt:
        click.echo(f"{options.label}Interrupted: no partial output was left behind.", err=True)
        if signals:
            _exit_now(INTERRUPTED)
        sys.exit(INTERRUPTED)
    if everyone:
        if len(jobs) > 1 and info.rank == 0:
            click.echo(f"Error: {len(everyone)} of {len(jobs)} inputs failed.", err=True)
        sys.exit(1)


def _run_jobs(jobs, options: OutputOptions, model: str | None, engine: EngineOptions) -> list[str]:
    """Run this rank's jobs with one engine; returns one message per failure (also printed)."""
    failures: list[str] = []

    def fail(message: str) -> None:
        failures.append(message)
        tqdm.write(f"{options.label}Error: {message}", file=sys.stderr)

    try:
        derainer = make_derainer(model, options=engine)
    except USER_ERRORS as error:
        fail(str(error))
        return failures
    for job in jobs:
        try:
            derain_job(job, derainer, options)
        except USER_ERRORS as error:
            message = str(error)
            fail(message if len(jobs) == 1 or job.source in message else f"{job.source}: {message}")
    return failures

