"""The LRU of computed windows: bounded, least recently used out first, one computation per key at a time."""
from __future__ import annotations

import threading
import time

import pytest

from vsrainmamba.window_cache import WindowCache


def test_evicts_the_least_recently_used():
    cache = WindowCache(2)
    cache.get_or_compute("a", lambda: 1)
    cache.get_or_compute("b", lambda: 2)
    assert cache.get("a") == 1          # "a" is now the most recent
    cache.get_or_compute("c", lambda: 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2 and cache.computed == 3


def test_concurrent_requests_compute_a_key_once():
    cache = WindowCache(4)
    calls = []
    start = threading.Barrier(6)

    def slow():
        calls.append(1)
        time.sleep(0.05)
        return "value"

    results = []

    def worker():
        start.wait()
        results.append(cache.get_or_compute("w", slow))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["value"] * 6
    assert len(calls) == 1 and cache.computed == 1


def test_a_failed_computation_is_not_cached_and_can_be_retried():
    cache = WindowCache(2)

    def boom():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("w", boom)
    assert cache.get_or_compute("w", lambda: 7) == 7


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="cache_windows"):
        WindowCache(0)
