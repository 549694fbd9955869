"""Turning ``rainmamba derain INPUT... OUTPUT`` into a list of (input, output) jobs.

One input: OUTPUT is written as given (a video file by its extension, else frames: a folder or a
``%06d.png`` pattern). Several inputs, or a library folder (videos and/or sub-folders of frames):
OUTPUT is a folder, and each input keeps its name inside it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DerainError
from .media import CONTAINERS, is_image_file, is_pattern, is_video_file


@dataclass(frozen=True)
class Job:
    """One input to derain and where its result goes."""

    source: str
    target: str

    @property
    def size(self) -> int:
        """Bytes of input, the cost estimate that balances jobs across ranks."""
        path = Path(self.source)
        try:
            if path.is_file():
                return path.stat().st_size
            folder = path if path.is_dir() else path.parent
            return sum(p.stat().st_size for p in folder.iterdir() if is_image_file(p))
        except OSError:  # missing or unreadable: its job will say so
            return 0


def _has_images(folder: Path) -> bool:
    return any(is_image_file(p) and p.is_file() for p in folder.iterdir())


def library_members(spec: str) -> list[str] | None:
    """The videos and frame folders inside ``spec`` when it is a library folder, else None.

    A folder that holds images directly is one image sequence, not a library.
    """
    folder = Path(spec)
    if is_pattern(spec) or not folder.is_dir() or _has_images(folder):
        return None
    members = [p for p in folder.iterdir()
               if (p.is_file() and is_video_file(p)) or (p.is_dir() and _has_images(p))]
    if not members:
        raise DerainError(f"The folder {spec} holds no video, no image and no sub-folder of images to derain.")
    return [str(p) for p in sorted(members)]


def _name_in_folder(source: str, folder: Path) -> str:
    """Where ``source`` goes inside the output folder: same file name, or a folder named like its frames'."""
    path = Path(source)
    if path.is_file():
        suffix = path.suffix if path.suffix.lower() in CONTAINERS else ".mp4"
        return str(folder / (path.stem + suffix))
    frames_folder = path.parent if is_pattern(source) else path
    name = frames_folder.resolve().name
    printf = is_pattern(source) and not any(c in path.name for c in "*?[")  # a glob target cannot name files
    return str(folder / name / path.name) if printf else str(folder / name)


def plan_jobs(inputs: list[str], output: str) -> list[Job]:
    """Pair every input with its output; reject plans that would write two results to one place."""
    if not inputs:
        raise DerainError("Give at least one INPUT before OUTPUT.")
    library = library_members(inputs[0]) if len(inputs) == 1 else None
    if len(inputs) == 1 and library is None:
        return [Job(inputs[0], output)]
    if is_video_file(output) or is_pattern(output) or Path(output).is_file():
        raise DerainError(f"With several inputs (or a folder of videos) OUTPUT must be a folder, not {output}.")
    sources = library if library is not None else inputs
    jobs = [Job(source, _name_in_folder(source, Path(output))) for source in sources]
    seen: dict[str, str] = {}
    for job in jobs:
        key = os.path.normcase(os.path.abspath(job.target))
        if key in seen:
            raise DerainError(f"{seen[key]} and {job.source} would both be written to {job.target}: "
                              "derain them into different output folders.")
        seen[key] = job.source
    return jobs
