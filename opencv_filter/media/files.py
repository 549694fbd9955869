"""Which files are media and in what order: extensions, frame-file patterns and the one natural sort.

Every reader and writer of the project (``rainmamba derain``, the dataset loaders, the demo) asks
this module whether a path is a video or an image and how frame files are ordered, so a file that
one part accepts is never refused by another.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import DerainError

# Containers PyAV (FFmpeg) reads; the writable ones are `encoding.CONTAINERS`.
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                              ".flv", ".ts", ".mts", ".m2ts", ".ogv", ".3gp", ".y4m"})
# Image formats OpenCV reads and writes.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                              ".pnm"})
PRINTF = re.compile(r"%(0?)(\d*)d")


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def natural_key(name: str) -> tuple:
    """Sort key ordering the digit runs of a name by value (``2.jpg`` < ``10.jpg``), case-insensitively."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", name) if part)


def is_pattern(spec: str) -> bool:
    """Whether ``spec`` names an image sequence by a printf pattern or a glob rather than a path."""
    return bool(PRINTF.search(os.path.basename(spec))) or any(c in spec for c in "*?[")


def is_printf(spec: str) -> bool:
    return bool(PRINTF.search(os.path.basename(spec))) and not any(c in spec for c in "*?[")


def pattern_regex(pattern: str) -> re.Pattern:
    """A regex matching the file names of a printf pattern's basename, capturing the number."""
    name = os.path.basename(pattern)
    if len(PRINTF.findall(name)) != 1 or "%" in PRINTF.sub("", name):
        raise DerainError(f"{pattern!r} must hold exactly one %d-style field (like frames/%06d.png) "
                          "in its file name.")
    zero, width = PRINTF.search(name).groups()
    digits = rf"(\d{{{width},}})" if zero and width else r"(\d+)"
    head, tail = PRINTF.split(name, maxsplit=1)[0], PRINTF.split(name, maxsplit=1)[-1]
    return re.compile(re.escape(head) + digits + re.escape(tail) + r"\Z")


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder``, in natural order (hidden files skipped)."""
    folder = Path(folder)
    return sorted((folder / n for n in listdir(folder) if is_image_file(n) and not n.startswith(".")
                   and (folder / n).is_file()), key=lambda p: natural_key(p.name))


def list_images(spec: str) -> tuple[list[Path], int]:
    """The frame files of a sequence, in order, and the number of the first (0 unless a printf pattern).

    ``spec`` is a folder, a printf pattern (``frames/%06d.png``: numbered, gaps are an error) or a glob.
    """
    if is_printf(spec):
        folder = Path(os.path.dirname(spec) or ".")
        regex = pattern_regex(spec)
        numbered = sorted((int(m.group(1)), folder / name) for name in listdir(folder)
                          if (m := regex.match(name)))
        if not numbered:
            raise DerainError(f"No file matches {spec}: check the folder and the number of digits.")
        numbers = [n for n, _ in numbered]
        for before, after in zip(numbers, numbers[1:]):
            if after != before + 1:
                raise DerainError(f"The sequence {spec} has a gap: frame {before + 1} is missing "
                                  f"between {before} and {after}.")
        return [p for _, p in numbered], numbers[0]
    if is_pattern(spec):
        folder, glob = Path(os.path.dirname(spec) or "."), os.path.basename(spec)
        files = sorted((p for p in folder.glob(glob) if is_image_file(p) and p.is_file()),
                       key=lambda p: natural_key(p.name))
        if not files:
            raise DerainError(f"No image matches {spec}.")
        return files, 0
    files = list_frame_files(spec)
    if not files:
        raise DerainError(f"The folder {spec} holds no image ({', '.join(sorted(IMAGE_EXTENSIONS))}).")
    return files, 0


def listdir(folder: str | os.PathLike) -> list[str]:
    """``os.listdir`` with a one-line error for a missing folder or a file."""
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        raise DerainError(f"Cannot read {folder}: no such folder.") from None
    except NotADirectoryError:
        raise DerainError(f"Cannot read {folder}: it is not a folder.") from None
