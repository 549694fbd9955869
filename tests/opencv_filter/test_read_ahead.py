"""``read_ahead``: frames decoded in a background thread, in order, bounded, errors and closing kept."""
from __future__ import annotations

import threading

import pytest

from opencv_filter.read_ahead import read_ahead


def test_items_come_in_order_from_another_thread():
    producers = set()

    def source():
        for i in range(50):
            producers.add(threading.get_ident())
            yield i

    assert list(read_ahead(source(), depth=3)) == list(range(50))
    assert producers and threading.get_ident() not in producers


def test_the_producer_stays_within_depth_of_the_consumer():
    produced = []
    ahead = []

    def source():
        for i in range(30):
            produced.append(i)
            yield i

    for consumed, item in enumerate(read_ahead(source(), depth=4), start=1):
        threading.Event().wait(0.002)  # give the producer time to run ahead as far as it may
        ahead.append(len(produced) - consumed)
    # up to `depth` items queued, plus one in the producer's hands waiting for room
    assert max(ahead) <= 4 + 1 and max(ahead) >= 2


def test_an_error_comes_after_the_items_before_it():
    def source():
        yield from range(3)
        raise ValueError("frame 3 is corrupt")

    got = []
    with pytest.raises(ValueError, match="frame 3 is corrupt"):
        for item in read_ahead(source(), depth=2):
            got.append(item)
    assert got == [0, 1, 2]


def test_closing_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()
    closing_threads = []

    def source():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closing_threads.append(threading.get_ident())
            closed.set()

    stream = read_ahead(source(), depth=2)
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()
    assert closed.is_set()  # closed before close() returned: a file behind it is free to go
    assert closing_threads != [threading.get_ident()]
    assert not any(t.name == "rainmamba-read-ahead" for t in threading.enumerate())


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth must be at least 1"):
        next(read_ahead([1], depth=0))


def test_closing_a_prefetching_run_stream_stops_its_reader(tiny_engine):
    """The CLI closes the stream before it closes the reader: the reading thread must be gone by then."""
    import numpy as np

    from opencv_filter.frames import FrameCodec, run_stream

    closed = threading.Event()

    def frames():
        try:
            for _ in range(40):
                yield np.zeros((32, 32, 3), np.uint8)
        finally:
            closed.set()

    stream = run_stream(tiny_engine, frames(), FrameCodec(), prefetch=True)
    assert next(stream).shape == (32, 32, 3)
    stream.close()
    assert closed.is_set()
    assert not any(t.name == "rainmamba-read-ahead" for t in threading.enumerate())
