"""Atomic publishing: stage beside the output, fsync, rename; clean up what killed runs left behind.

A writer creates its hidden staging file (or folder) with :func:`staging_file` / :func:`staging_folder`
in the output's own folder, so the final ``os.replace`` is one rename on one file system. The name
carries this machine and process id, so a later run can tell a killed run's leftovers (removed by
:func:`remove_stale_partials`) from another live run's (kept).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

log = logging.getLogger("opencv_filter")

PARTIAL_PREFIX = ".rainmamba-partial-"
STALE_AFTER_S = 24 * 3600  # a partial untouched this long is stale whoever made it (a live writer touches it)
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
_OWNER = re.compile(re.escape(PARTIAL_PREFIX) + r"([0-9a-f]{8})-(\d+)-")


def _prefix(stem: str) -> str:
    return f"{PARTIAL_PREFIX}{_HOST}-{os.getpid()}-{stem}-"


def staging_file(path: Path) -> Path:
    """A new hidden, unique, empty file beside ``path`` with the same extension (it picks the container)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path.parent)
    handle, name = tempfile.mkstemp(prefix=_prefix(path.stem), suffix=path.suffix, dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~_umask())  # mkstemp's 0600 would survive the rename
    return Path(name)


def staging_folder(folder: Path) -> Path:
    """A new hidden, unique folder beside ``folder`` (it may become ``folder`` itself on publishing)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder.parent)
    staging = Path(tempfile.mkdtemp(prefix=_prefix(folder.name), dir=folder.parent))
    try:
        os.chmod(staging, 0o777 & ~_umask())
    except BaseException:  # Ctrl-C right after the folder was made: no staging folder left
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _is_stale(entry: Path, now: float) -> bool:
    match = _OWNER.match(entry.name)
    try:
        age = now - entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    if match and match.group(1) == _HOST:
        pid = int(match.group(2))
        return pid != os.getpid() and (not _alive(pid) or age > STALE_AFTER_S)
    return age > STALE_AFTER_S


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the partial outputs of killed runs in ``folder`` (not those of live runs); returns them."""
    try:
        entries = [folder / n for n in os.listdir(folder) if n.startswith(PARTIAL_PREFIX)]
    except OSError:
        return []
    now, removed = time.time(), []
    for entry in entries:
        if not _is_stale(entry, now):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    if removed:
        log.info("removed %d partial output(s) left in %s by an interrupted run", len(removed), folder)
    return removed


def fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_folder(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def publish_file(staged: Path, target: Path) -> None:
    """Flush ``staged`` to disk and rename it to ``target`` in one step (replacing what was there)."""
    fsync_file(staged)
    os.replace(staged, target)
    fsync_folder(target.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
