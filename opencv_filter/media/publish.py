"""Atomic publishing: stage beside the output, fsync, rename; clean up what killed runs left behind.

A writer creates its hidden staging file (or folder) with :func:`staging_file` / :func:`staging_folder`
in the output's own folder, so the final ``os.replace`` is one rename on one file system. The name
carries this machine and process id (`models.atomic`, the one naming and clean-up rule for every staged
file of the project), so a later run can tell a killed run's leftovers (removed by
:func:`remove_stale_partials`) from another live run's (kept).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from models import atomic
from models.atomic import PARTIAL_PREFIX

log = logging.getLogger("opencv_filter")

__all__ = ["PARTIAL_PREFIX", "fsync_file", "fsync_folder", "publish_file", "remove_stale_partials", "staging_file",
           "staging_folder"]


def staging_file(path: Path) -> Path:
    """A new hidden, unique, empty file beside ``path`` with the same extension (it picks the container)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path.parent)
    handle, name = tempfile.mkstemp(prefix=atomic.partial_name(path.stem), suffix=path.suffix, dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~atomic.umask())  # mkstemp's 0600 would survive the rename
    return Path(name)


def staging_folder(folder: Path) -> Path:
    """A new hidden, unique folder beside ``folder`` (it may become ``folder`` itself on publishing)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder.parent)
    staging = Path(tempfile.mkdtemp(prefix=atomic.partial_name(folder.name), dir=folder.parent))
    try:
        os.chmod(staging, 0o777 & ~atomic.umask())
    except BaseException:  # Ctrl-C right after the folder was made: no staging folder left
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the partial outputs of killed runs in ``folder`` (not those of live runs), saying so."""
    removed = atomic.remove_stale_partials(folder)
    if removed:
        log.info("removed %d partial output(s) left in %s by an interrupted run", len(removed), folder)
    return removed


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


fsync_folder = atomic.fsync_dir


def publish_file(staged: Path, target: Path) -> None:
    """Flush ``staged`` to disk and rename it to ``target`` in one step (replacing what was there)."""
    fsync_file(staged)
    os.replace(staged, target)
    fsync_folder(target.parent)
