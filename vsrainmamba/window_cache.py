"""A bounded, thread-safe LRU of computed temporal windows, each computed at most once at a time.

VapourSynth asks for frames from several threads in any order, and neighbouring frames share
windows. Two threads wanting the same missing window must not both run the network: the first
computes it while the second waits for its result. Only the network runs under a window's lock (the
caller fetches the input frames first), so a waiting thread never waits on VapourSynth and the
frame server cannot deadlock even with a single VapourSynth thread.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class WindowCache(Generic[V]):
    """Up to ``capacity`` results, least recently used evicted first.

    ``computed`` counts how many times a result was actually produced, so tests (and users
    tuning ``cache_windows``) can check that no window was computed twice.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"cache_windows must be at least 1, got {capacity}.")
        self.capacity = capacity
        self.computed = 0
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, tuple[threading.Lock, int]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: Hashable) -> V | None:
        """The cached result for ``key`` (marked as recently used), or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The result for ``key``, calling ``compute()`` only if no one has it or is making it."""
        value = self.get(key)
        if value is not None:
            return value
        key_lock = self._acquire_key_lock(key)
        try:
            with key_lock:
                value = self.get(key)
                if value is None:
                    value = compute()
                    self._store(key, value)
                return value
        finally:
            self._release_key_lock(key)

    def _store(self, key: Hashable, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            self.computed += 1
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def _acquire_key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            lock, users = self._key_locks.get(key, (None, 0))
            lock = lock or threading.Lock()
            self._key_locks[key] = (lock, users + 1)
            return lock

    def _release_key_lock(self, key: Hashable) -> None:
        with self._lock:
            lock, users = self._key_locks[key]
            if users == 1:
                del self._key_locks[key]
            else:
                self._key_locks[key] = (lock, users - 1)
