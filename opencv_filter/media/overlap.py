"""Refusing writes that would touch an input: outputs and inputs compared as sets of real files.

An output may replace a file (a video), replace and delete frame files in a folder (a pattern whose
older frames are removed as stale, or the input's own names), so each output is described by the
existing files it would replace or delete; each input by the files it reads. Files are compared by
device and inode, which sees through symlinks, hard links, ``..`` and case-insensitive names.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DerainError


@dataclass(frozen=True)
class Footprint:
    """The existing files a write would replace or delete: in ``folder``, the ``names`` or those matching ``regex``.

    Neither given: the one file ``folder`` itself names (a video output).
    """

    folder: Path
    names: frozenset[str] | None = None
    regex: re.Pattern | None = None

    def existing(self) -> list[Path]:
        if self.names is None and self.regex is None:
            return [self.folder] if self.folder.is_file() else []
        try:
            listed = os.listdir(self.folder)
        except OSError:
            return []
        return [self.folder / n for n in listed
                if (self.names is not None and n in self.names) or (self.regex is not None and self.regex.match(n))]


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def check_no_overlap(reads: Iterable[tuple[str, Iterable[Path]]], writes: Iterable[tuple[str, Footprint]]) -> None:
    """Raise when a write would replace or delete a file some input reads.

    ``reads``: (the INPUT as typed, the files it reads); ``writes``: (the OUTPUT as typed, its footprint).
    """
    owners: dict[tuple[int, int], str] = {}
    for source, files in reads:
        for file in files:
            identity = _identity(Path(file))
            if identity is not None:
                owners.setdefault(identity, source)
    for target, footprint in writes:
        for file in footprint.existing():
            identity = _identity(file)
            if identity in owners:
                raise DerainError(f"OUTPUT {target} would replace or delete {file}, which INPUT {owners[identity]} "
                                  "reads: write the result to another file or folder (--overwrite never "
                                  "touches an input).")
