"""Atomic writes of the project's non-video files, and one-line errors when the disk refuses them.

Weights, training checkpoints, logs rewritten on resume, reports, benchmark JSON and synthetic datasets
are all staged under a hidden ``.rainmamba-partial-pid<PID>@<HOST>-...`` name beside their destination,
flushed to disk, given the permissions the umask asks for, and renamed into place: a full disk, a
read-only folder or a kill at any moment leaves the earlier file (or nothing) under the real name.

The pid and host in the staging name let a later writer into the same folder tell a killed run's
leftovers (removed) from a live concurrent run's (kept): :func:`remove_stale_partials`.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

PARTIAL_PREFIX = ".rainmamba-partial-"
_FOREIGN_STALE_SECONDS = 24 * 3600  # another host's leftovers (shared file system): only by age
_CAUSES = {
    errno.ENOSPC: "the disk is full: free some space or write somewhere else",
    errno.EDQUOT: "the disk quota is used up: free some space or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.EACCES: "permission denied: write to a folder you may write to",
    errno.EPERM: "permission denied: write to a folder you may write to",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
}


class WriteError(OSError):
    """A file that could not be written: its path as the caller gave it, and the cause, in one line."""

    def __init__(self, path: str | os.PathLike, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.path = os.fspath(path)
        reason = _CAUSES.get(cause.errno) or (cause.strerror or str(cause)).rstrip(".")
        self.message = f"Cannot write {self.path}: {reason}."

    def __str__(self) -> str:
        return self.message


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "", socket.gethostname())[:40]


def partial_name(label: str) -> str:
    """The start of a staging name owned by this process (``label``: what it will become)."""
    return f"{PARTIAL_PREFIX}pid{os.getpid()}@{_host()}-{label}-"


_OWNER = re.compile(rf"^{re.escape(PARTIAL_PREFIX)}pid(\d+)@([A-Za-z0-9.]*)-")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def is_stale(path: Path) -> bool:
    """Whether ``path`` is a staging file or folder of a writer that no longer runs."""
    match = _OWNER.match(path.name)
    if match is None:
        return False
    if match.group(2) == _host():
        return not _alive(int(match.group(1)))
    try:
        return time.time() - path.lstat().st_mtime > _FOREIGN_STALE_SECONDS
    except OSError:
        return False


def remove_stale_partials(folder: str | os.PathLike) -> list[Path]:
    """Delete the staging files and folders in ``folder`` left by killed writers; returns what went."""
    folder = Path(folder)
    removed = []
    try:
        candidates = [folder / name for name in os.listdir(folder) if name.startswith(PARTIAL_PREFIX)]
    except OSError:
        return removed
    for path in candidates:
        if not is_stale(path):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass  # best effort: a leftover we cannot remove harms nothing
    return removed


def umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` durable (a no-op where folders cannot be opened or synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def make_parent(path: str | os.PathLike, shown: str | os.PathLike | None = None) -> Path:
    """Create the folder ``path`` goes into (a WriteError naming ``shown`` if it cannot be)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(shown if shown is not None else path, err) from None
    return target


def write_atomic(path: str | os.PathLike, data: bytes | str, shown: str | os.PathLike | None = None) -> Path:
    """Write ``data`` to ``path`` atomically: staged beside it, fsynced, chmodded per the umask, renamed.

    Any OS refusal (full disk, read-only or forbidden folder) is a :class:`WriteError` naming ``shown``
    (default ``path``, as the caller gave it); the earlier file at ``path`` is left as it was.
    """
    shown = shown if shown is not None else path
    target = make_parent(path, shown)
    payload = data.encode() if isinstance(data, str) else data
    remove_stale_partials(target.parent)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=partial_name(target.name), dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp's 0600 would survive the rename
        os.replace(tmp, target)
        tmp = None
    except OSError as err:
        raise WriteError(shown, err) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    fsync_dir(target.parent)
    return target


def check_writable(path: str | os.PathLike, shown: str | os.PathLike | None = None) -> None:
    """Fail now, not after an hour of work, when ``path``'s folder cannot take a new file (made on demand)."""
    shown = shown if shown is not None else path
    target = make_parent(path, shown)
    try:
        fd, tmp = tempfile.mkstemp(prefix=partial_name(target.name), dir=target.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise WriteError(shown, err) from None


def new_partial_dir(folder: str | os.PathLike, label: str, shown: str | os.PathLike | None = None) -> Path:
    """A new staging folder inside ``folder`` (made on demand), with the umask's permissions."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(folder)
        staging = Path(tempfile.mkdtemp(prefix=partial_name(label), dir=folder))
        os.chmod(staging, 0o777 & ~umask())
    except OSError as err:
        raise WriteError(shown if shown is not None else folder, err) from None
    return staging
