"""Give freed heap memory back to the system while frames are rendered from Python.

Rendering from Python (``clip.frames()``, ``clip.output()``, preview tools) allocates and frees each
frame's arrays and tensors on VapourSynth's worker threads. glibc keeps the freed pages in per-thread
arenas, so resident memory climbs by about half a megabyte per 320x512 frame although nothing stays
alive (vspipe's pattern of threads happens not to show it). ``malloc_trim(0)`` hands those pages back;
it walks every arena, so it runs once every `TRIM_EVERY` output frames rather than per frame
(benchmarks/vs_memory.py measures both). Where the C library has no ``malloc_trim`` (macOS, Windows,
musl) `HeapTrimmer.tick` does nothing.
"""
from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable

from models.memory import glibc

TRIM_EVERY = 32


def find_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the C library already loaded in this process, or None."""
    libc = glibc()
    if libc is None:
        return None
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """Calls ``trim(0)`` on every ``every``-th `tick` (thread-safe; ctypes releases the GIL meanwhile)."""

    def __init__(self, every: int = TRIM_EVERY, trim: Callable[[int], int] | None = None) -> None:
        self.every = every
        self.trim = trim
        self._ticks = itertools.count(1)  # next() on it is atomic under the GIL

    def tick(self) -> None:
        if self.trim is not None and next(self._ticks) % self.every == 0:
            self.trim(0)


# One for the process: every filter instance's output frames count towards the same trims.
HEAP = HeapTrimmer(trim=find_malloc_trim())
