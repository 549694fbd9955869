"""``rainmamba derain``: derain video files, image sequences, or whole folders of them.

Under ``torchrun --nproc-per-node N`` (any number of nodes) the inputs are shared out over the ranks,
each on its own GPU, writing its own outputs. Exit status: 0 when every input was derained, 1 when
something failed (one line per failure), 2 for bad usage, 130 when interrupted.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import sys
import warnings
from collections.abc import Iterator

import click
import cv2
from tqdm import tqdm

from .audio import NO_FFMPEG, ffmpeg_path
from .distributed import Launch, RankInfo, shard
from .errors import DerainError
from .frames import make_derainer
from .jobs import is_video_path, plan_jobs
from .runner import OutputOptions, check_job, derain_job, is_video_target
from .scene_cuts import DEFAULT_THRESHOLD

# What a user can cause and fix: reported as one line, never as a traceback.
USER_ERRORS = (DerainError, ValueError, OSError, RuntimeError)
INTERRUPTED = 130


def _parse_tile(ctx: click.Context, param: click.Parameter, value: str | None) -> int | tuple[int, int] | None:
    if value is None:
        return None
    parts = value.lower().replace("x", " ").replace(",", " ").split()
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise click.BadParameter(f"{value!r} is not a tile size: use HxW (like 256x256), one number, or 0 "
                                 "for whole frames.")
    return int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))


class _TqdmHandler(logging.Handler):
    """Notes and warnings printed above the progress bars instead of through them."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def emit(self, record: logging.LogRecord) -> None:
        kind = "note" if record.levelno < logging.WARNING else record.levelname.lower()
        tqdm.write(f"{self.label}{kind}: {record.getMessage()}", file=sys.stderr)


@contextlib.contextmanager
def _console(label: str) -> Iterator[None]:
    """For the command's duration: notes and warnings as one line above the progress bars, and SIGTERM
    (a scheduler or torchrun stopping us) handled like Ctrl-C, so partial outputs are cleaned up."""
    logger = logging.getLogger("opencv_filter")
    handler, propagate, level = _TqdmHandler(label), logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    opencv_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our messages say it in one line
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: keep the default
        previous = None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, *args, **kwargs: tqdm.write(f"{label}warning: {message}",
                                                                               file=sys.stderr)
            yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        cv2.utils.logging.setLogLevel(opencv_level)
        logger.removeHandler(handler)
        logger.propagate, logger.level = propagate, level


@click.command("derain", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, metavar="INPUT... OUTPUT")
@click.option("-m", "--model", default=None, metavar="MODEL",
              help="Shipped default (omit), a preset with installed weights (vrds, lwdds, rainvidss, rainsynall100), "
                   "or a checkpoint file (.pth / .safetensors).")
@click.option("--mode", type=click.Choice(["fast", "official"]), default="fast", show_default=True,
              help="fast: each frame computed once; official: the authors' overlapping windows (slower).")
@click.option("--tile", callback=_parse_tile, metavar="HxW",
              help="Spatial tile (multiples of 8; 0 = whole frame). Default: the preset's.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N. Default: a GPU when there is one, else the CPU.")
@click.option("--fp16", is_flag=True, help="Half precision on the GPU (faster, less memory).")
@click.option("--bf16", is_flag=True,
              help="bfloat16 on a GPU or a CPU (on CPUs with AVX-512 BF16 or AMX: about 1.2-1.5x faster for "
                   "the larger presets, output within about 1e-3).")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Window tiles per forward pass.")
@click.option("--fourcc", "--codec", "fourcc", default=None, metavar="CODE",
              help="Video codec as a FourCC: mp4v (.mp4/.mov), MJPG (.avi), FFV1 (lossless, .mkv/.avi), VP80 "
                   "(.webm). Default: by the output's extension.")
@click.option("--quality", type=click.IntRange(0, 100), default=None,
              help="0-100, for MJPG video (.avi, whole frame rates) and JPEG/WebP frames.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First frame to derain.")
@click.option("--end", type=click.IntRange(min=1), default=None, help="Stop before this frame (default: the end).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Frame rate of image-sequence inputs (default 25), used for video output.")
@click.option("--no-scene-change", is_flag=True,
              help="Do not look for scene cuts (by default no temporal window spans one; rain does not trigger it).")
@click.option("--sc-threshold", type=click.FloatRange(0, 1), default=DEFAULT_THRESHOLD, show_default=True,
              help="How different (0-1) the frames on the two sides of a scene cut must be; lower finds more.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--no-audio", is_flag=True, help="Do not copy the input's audio track.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def derain_command(paths: tuple[str, ...], model: str | None, mode: str, tile, device: str | None, fp16: bool,
                   bf16: bool, batch_size: int, fourcc: str | None, quality: int | None, start: int, end: int | None,
                   fps: float | None, no_scene_change: bool, sc_threshold: float, overwrite: bool, no_audio: bool,
                   no_progress: bool) -> None:
    """Derain INPUT into OUTPUT, keeping size, frame rate, frame count and (with ffmpeg) audio.

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
      rainmamba derain test/lq/ derained/ --model vrds                  # a dataset's sequences
      torchrun --nproc-per-node 8 --no-python rainmamba derain videos/ out/   # over 8 GPUs

    Outputs are written under a temporary name and renamed when complete, so an interrupted run
    leaves no partial file.
    """
    if len(paths) < 2:
        raise click.UsageError("Give an INPUT and an OUTPUT.")
    if fp16 and bf16:
        raise click.UsageError("--fp16 and --bf16 are both given: choose one.")
    info = RankInfo.from_env()
    label = f"[rank {info.rank}] " if info.distributed else ""
    options = OutputOptions(start=start, end=end, fps=fps, fourcc=fourcc, quality=quality, overwrite=overwrite,
                            audio=not no_audio, progress=not no_progress, label=label,
                            sc_threshold=None if no_scene_change else sc_threshold)
    engine = dict(model=model, mode=mode, tile=tile, dtype="float16" if fp16 else "bfloat16" if bf16 else None, batch_size=batch_size)
    with _console(label):
        _derain(paths, info, options, device, engine)


def _derain(paths: tuple[str, ...], info: RankInfo, options: OutputOptions, device: str | None,
            engine: dict) -> None:
    """Plan, check, shard and run this rank's share; exits with the command's status."""
    try:
        jobs = plan_jobs(list(paths[:-1]), paths[-1])
        for job in jobs:  # every rank checks every job, so all refuse together before any writes
            check_job(job, options.overwrite)
    except DerainError as error:
        raise click.ClickException(str(error)) from None
    if options.audio and info.rank == 0 and ffmpeg_path() is None and any(
            is_video_target(job.target) and is_video_path(job.source) for job in jobs):
        logging.getLogger("opencv_filter").info(NO_FFMPEG)
    device = info.device(device)
    failures: list[str] = []
    try:
        with Launch(info) as launch:
            launch.barrier()
            mine = shard(jobs, [job.size for job in jobs], info.rank, info.world_size)
            if mine:
                failures = _run_jobs(mine, options, device=device, **engine)
            everyone = launch.all_failures(failures)
    except KeyboardInterrupt:
        click.echo(f"{options.label}Interrupted: no partial output was left behind.", err=True)
        sys.exit(INTERRUPTED)
    if everyone:
        if len(jobs) > 1 and info.rank == 0:
            click.echo(f"Error: {len(everyone)} of {len(jobs)} inputs failed.", err=True)
        sys.exit(1)


def _run_jobs(jobs, options: OutputOptions, **engine) -> list[str]:
    """Run this rank's jobs with one engine; returns one message per failure (also printed)."""
    failures: list[str] = []

    def fail(message: str) -> None:
        failures.append(message)
        tqdm.write(f"{options.label}Error: {message}", file=sys.stderr)

    try:
        derainer = make_derainer(engine.pop("model"), **engine)
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

