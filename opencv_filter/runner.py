"""Derain one input file or sequence into one output: read, derain, write atomically, keep the audio.

The command line plans the jobs and owns the model; this module runs one job with a progress bar.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from . import audio
from .errors import DerainError
from .frames import FrameCodec, run_stream
from .jobs import Job
from .scene_cuts import DEFAULT_THRESHOLD
from .video_io import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ImageSequenceReader, ImageSequenceWriter, VideoFileWriter,
                       VideoReader, list_images, is_pattern, open_reader, output_exists)

DEFAULT_FRAME_PATTERN = "%06d.png"


@dataclass(frozen=True)
class OutputOptions:
    """What the command line says about frame range, input rate and output encoding."""

    start: int = 0
    end: int | None = None         # exclusive; None: to the last frame
    fps: float | None = None       # frame rate of image-sequence inputs
    fourcc: str | None = None
    quality: int | None = None
    overwrite: bool = False
    audio: bool = True
    progress: bool = True
    label: str = ""                # prefix of the progress bar (the rank, under torchrun)
    sc_threshold: float | None = DEFAULT_THRESHOLD   # scene-cut detection (models.scenes); None: off


def _frames_target(target: str, source: str) -> tuple[Path, str | None, list[str] | None]:
    """For frame output: the folder, its printf pattern (or None), and the input's file names (or None).

    A pattern target numbers frames by the pattern; a plain folder receives the input's own file
    names when the input is an image sequence, else ``%06d.png`` numbered by input frame.
    """
    if is_pattern(target):
        if any(c in target for c in "*?["):
            raise DerainError(f"OUTPUT {target} is a glob: name output frames with a pattern like out/%06d.png.")
        return Path(os.path.dirname(target) or "."), os.path.basename(target), None
    if Path(target).suffix.lower() in IMAGE_EXTENSIONS:
        raise DerainError(f"OUTPUT {target} names one image: give a folder or a pattern like out/%06d.png.")
    if Path(source).is_dir() or is_pattern(source):
        return Path(target), None, [p.name for p in list_images(source)[0]]
    return Path(target), DEFAULT_FRAME_PATTERN, None


def is_video_target(target: str) -> bool:
    return Path(target).suffix.lower() in VIDEO_EXTENSIONS and not is_pattern(target)


def check_job(job: Job, overwrite: bool) -> None:
    """Before any work: the input exists, the output does not (unless ``overwrite``) and is not the input."""
    if not (is_pattern(job.source) or Path(job.source).exists()):
        raise DerainError(f"Cannot read {job.source}: no such file or folder.")
    if os.path.abspath(job.source) == os.path.abspath(job.target):
        raise DerainError(f"OUTPUT {job.target} is the INPUT itself: write the result somewhere else.")
    if is_video_target(job.target):
        taken = output_exists(job.target)
    else:
        folder, pattern, names = _frames_target(job.target, job.source)
        taken = output_exists(folder / pattern if pattern else folder, names)
    if taken and not overwrite:
        raise DerainError(f"{job.target} already exists: pass --overwrite to replace it.")


def _frame_range(reader: VideoReader | ImageSequenceReader, options: OutputOptions) -> tuple[int, int | None]:
    count = reader.info.frame_count
    if options.end is not None and options.end <= options.start:
        raise DerainError(f"--end {options.end} must be after --start {options.start}.")
    if count > 0 and options.start >= count:
        raise DerainError(f"--start {options.start} is past the last frame: {reader.path} has {count} frames.")
    if count <= 0:
        return options.start, options.end
    return options.start, count if options.end is None else min(options.end, count)


def _open_writer(job: Job, reader: VideoReader | ImageSequenceReader, start: int, options: OutputOptions):
    if is_video_target(job.target):
        return VideoFileWriter(job.target, reader.info.fps, (reader.info.width, reader.info.height),
                               options.fourcc, options.quality)
    if options.fourcc:
        raise DerainError(f"--fourcc applies to video output, not to the frames written to {job.target}.")
    folder, pattern, names = _frames_target(job.target, job.source)
    if names is not None:
        selected = names[start:]
        name = selected.__getitem__
    else:
        first = reader.first_number + start
        name = lambda i: pattern % (first + i)  # noqa: E731
    return ImageSequenceWriter(folder, name, str(folder / pattern) if pattern else None, options.quality)


def _audio_step(reader: VideoReader | ImageSequenceReader, start: int, count: int) -> Callable[[Path], Path] | None:
    """The remux that copies the input's audio for the derained frames, when there is audio to copy."""
    if not isinstance(reader, VideoReader) or audio.ffmpeg_path() is None:
        return None
    fps = reader.info.fps
    return lambda video: audio.remux_audio(video, reader.path, start / fps, count / fps)


def derain_job(job: Job, derainer, options: OutputOptions) -> int:
    """Derain ``job.source`` into ``job.target``; returns the number of frames written.

    The output appears only when every frame is written (and the audio remuxed); an error or
    Ctrl-C part-way removes the partial output.
    """
    check_job(job, options.overwrite)
    reader = open_reader(job.source, options.fps)
    try:
        start, stop = _frame_range(reader, options)
        total = None if stop is None else stop - start
        name = Path(job.source).name or job.source
        # closing() stops the frame-reading thread before the reader is closed, also on an error
        with _open_writer(job, reader, start, options) as writer, \
                tqdm(total=total, unit="frame", desc=f"{options.label}{name}", disable=not options.progress,
                     leave=True, dynamic_ncols=True) as bar, \
                contextlib.closing(run_stream(derainer, reader.frames(start, stop), FrameCodec(), None,
                                              prefetch=True, sc_threshold=options.sc_threshold)) as frames:
            written = 0
            for frame in frames:
                writer.write(frame)
                written += 1
                bar.update()
            if isinstance(writer, VideoFileWriter):
                writer.commit(_audio_step(reader, start, written) if options.audio else None)
            else:
                writer.commit()
        return written
    finally:
        reader.close()
