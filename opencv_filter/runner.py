"""Derain one input file or sequence into one output: read, derain, write atomically, keep the other streams.

The command line plans the jobs and owns the model; this module checks a plan against the disk
(nothing overwritten without ``--overwrite``, no input ever touched) and runs one job with a
progress bar.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .errors import DerainError
from .frames import FrameCodec, run_stream
from .jobs import Job
from .media import (CONTAINERS, Encoding, Footprint, ImageSequenceReader, ImageSequenceWriter, Trim,
                    VideoFileWriter, VideoReader, check_no_overlap, is_image_file, is_pattern, is_printf,
                    list_images, open_reader, pattern_regex, warn_rotation_lost)
from .scene_cuts import DEFAULT_THRESHOLD

DEFAULT_FRAME_PATTERN = "%06d.png"


@dataclass(frozen=True)
class OutputOptions:
    """What the command line says about frame range, input rate and output encoding."""

    start: int = 0
    end: int | None = None         # exclusive; None: to the last frame
    fps: float | None = None       # frame rate of image-sequence inputs
    encoding: Encoding = field(default_factory=Encoding)
    quality: int | None = None     # JPEG/WebP frames
    overwrite: bool = False
    streams: bool = True           # copy the input's audio, subtitle and data streams
    progress: bool = True
    label: str = ""                # prefix of the progress bar (the rank, under torchrun)
    sc_threshold: float | None = DEFAULT_THRESHOLD   # scene-cut detection (models.scenes); None: off


def _frames_target(target: str, source: str) -> tuple[Path, str | None, list[str] | None]:
    """For frame output: the folder, its printf pattern (or None), and the input's file names (or None).

    A pattern target numbers frames by the pattern; a plain folder receives the input's own file
    names when the input is an image sequence, else ``%06d.png`` numbered by input frame.
    """
    if is_pattern(target):
        if not is_printf(target):
            raise DerainError(f"OUTPUT {target} is a glob: name output frames with a pattern like out/%06d.png.")
        return Path(os.path.dirname(target) or "."), os.path.basename(target), None
    if is_image_file(target):
        raise DerainError(f"OUTPUT {target} names one image: give a folder or a pattern like out/%06d.png.")
    if Path(source).is_dir() or is_pattern(source):
        return Path(target), None, [p.name for p in list_images(source)[0]]
    return Path(target), DEFAULT_FRAME_PATTERN, None


def is_video_target(target: str) -> bool:
    return Path(target).suffix.lower() in CONTAINERS and not is_pattern(target)


def _footprint(job: Job) -> Footprint:
    """The existing files writing ``job.target`` would replace or delete."""
    if is_video_target(job.target):
        return Footprint(Path(job.target))
    folder, pattern, names = _frames_target(job.target, job.source)
    if pattern:
        return Footprint(folder, regex=pattern_regex(pattern))
    return Footprint(folder, names=frozenset(names))


def _read_files(job: Job) -> list[Path]:
    if is_pattern(job.source) or Path(job.source).is_dir():
        return list_images(job.source)[0]
    return [Path(job.source)]


def check_job(job: Job, overwrite: bool) -> None:
    """Before any work: the input exists, the output does not (unless ``overwrite``) and is not the input."""
    check_jobs([job], overwrite)


def check_jobs(jobs: Iterable[Job], overwrite: bool) -> None:
    """Check every job, then that no output would replace or delete a file any input reads."""
    jobs = list(jobs)
    footprints = []
    for job in jobs:
        if not (is_pattern(job.source) or Path(job.source).exists()):
            raise DerainError(f"Cannot read {job.source}: no such file or folder.")
        footprint = _footprint(job)
        if footprint.existing() and not overwrite:
            raise DerainError(f"{job.target} already exists: pass --overwrite to replace it.")
        footprints.append((job.target, footprint))
    check_no_overlap(((job.source, _read_files(job)) for job in jobs), footprints)


def _frame_range(reader: VideoReader | ImageSequenceReader, options: OutputOptions) -> tuple[int, int | None]:
    count = reader.info.frame_count
    if options.end is not None and options.end <= options.start:
        raise DerainError(f"--end {options.end} must be after --start {options.start}.")
    if count > 0 and options.start >= count:
        raise DerainError(f"--start {options.start} is past the last frame: {reader.path} has {count} frames.")
    if count <= 0:
        return options.start, options.end
    return options.start, count if options.end is None else min(options.end, count)


def _open_writer(job: Job, reader: VideoReader | ImageSequenceReader, start: int, stop: int | None,
                 options: OutputOptions) -> VideoFileWriter | ImageSequenceWriter:
    if is_video_target(job.target):
        if options.quality is not None:
            raise DerainError("--quality applies to JPEG/WebP frames; for video use --crf (or --lossless).")
        video = isinstance(reader, VideoReader)
        trim = Trim(start, stop is not None and (reader.info.frame_count <= 0 or stop < reader.info.frame_count),
                    reader.origin_s if video else 0.0)
        return VideoFileWriter(job.target, reader.format, (reader.info.width, reader.info.height), options.encoding,
                               copy_from=reader.path if video and options.streams else None,
                               video_index=reader.stream_index if video else 0, trim=trim)
    if options.encoding != Encoding():
        raise DerainError(f"--codec, --crf, --preset, --lossless and --pix-fmt apply to video output, not to the "
                          f"frames written to {job.target}.")
    if isinstance(reader, VideoReader) and reader.format.display_matrix is not None:
        warn_rotation_lost(job.target, reader.format.display_matrix)
    folder, pattern, names = _frames_target(job.target, job.source)
    if names is not None:
        selected = names[start:]
        name = selected.__getitem__
    else:
        first = reader.first_number + start
        name = lambda i: pattern % (first + i)  # noqa: E731
    return ImageSequenceWriter(folder, name, str(folder / pattern) if pattern else None, options.quality)


def derain_job(job: Job, derainer, options: OutputOptions) -> int:
    """Derain ``job.source`` into ``job.target``; returns the number of frames written.

    The output appears only when every frame is written and the file checked; an error or Ctrl-C
    part-way removes the partial output and leaves an existing one untouched.
    """
    check_job(job, options.overwrite)
    reader = open_reader(job.source, options.fps)
    try:
        start, stop = _frame_range(reader, options)
        total = None if stop is None else stop - start
        name = Path(job.source).name or job.source
        # closing() stops the frame-reading thread before the reader is closed, also on an error
        with _open_writer(job, reader, start, stop, options) as writer, \
                tqdm(total=total, unit="frame", desc=f"{options.label}{name}", disable=not options.progress,
                     leave=True, dynamic_ncols=True) as bar, \
                contextlib.closing(run_stream(derainer, reader.frames(start, stop), FrameCodec(), None,
                                              prefetch=True, sc_threshold=options.sc_threshold)) as frames:
            written = 0
            for frame in frames:
                writer.write(frame, reader.pts(start + written))
                written += 1
                bar.update()
            writer.commit()
        return written
    finally:
        reader.close()
