"""How a process this package owns gets its memory: large tensors from glibc's heap, kept after use.

PyTorch's CPU allocator takes every tensor from ``malloc``. glibc serves anything above its mmap
threshold (at most 32 MB) with a fresh ``mmap`` and unmaps it when freed, so each whole-frame activation
(a 480p window's MLP tensor is 66 MB) is page-faulted in and zeroed by the kernel on first touch, on
every forward: up to a million minor faults per ten 480p frames, and a projection into a fresh tensor
taking several times as long as into a reused one. Served from the heap and not trimmed, the same memory
is reused from one window to the next.

This is a process-wide setting, so only the processes this package starts apply it (the ``rainmamba``
command and ``python -m models.bench``); a VapourSynth host or a user's script keeps its own allocator
behaviour unless it calls `keep_large_tensors_on_the_heap` itself or sets glibc's
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=-1`` environment variables. The process's resident size
then stays near its peak until it exits.
"""
from __future__ import annotations

import ctypes
import functools
import os

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4   # mallopt parameters, glibc's malloc.h
_applied = False   # set once keep_large_tensors_on_the_heap has taken effect in this process
_GLIBC_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """The C library this process runs on when it is glibc, else None (musl, macOS, Windows): the one lookup
    of the allocator's controls (``mallopt`` here, ``malloc_trim`` in the VapourSynth filter)."""
    try:
        libc = ctypes.CDLL(None)    # the symbols already loaded in this process
        libc.gnu_get_libc_version   # glibc only
        libc.mallopt
        libc.malloc_trim
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no CDLL(None)
        return None
    return libc


def keep_large_tensors_on_the_heap() -> bool:
    """Serve every allocation of this process from glibc's heap and never give freed memory back to the OS.

    Returns True when applied; False on a C library other than glibc, or when the user has set any of
    glibc's ``MALLOC_*_`` tuning variables (their choice is kept).
    """
    global _applied
    if any(name in os.environ for name in _GLIBC_VARIABLES):
        return False
    libc = glibc()
    if libc is None:
        return False
    if libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1):
        _applied = True
    return _applied


def large_tensors_kept_on_the_heap() -> bool:
    """Whether `keep_large_tensors_on_the_heap` has been applied in this process (a process the bench
    spawns to measure the engine applies it too, so that it measures what the command runs)."""
    return _applied
