"""Decode frames in a background thread while the network works on earlier ones.

Reading a video (decoding, colour conversion, the copy to the engine's layout) and deraining it are
independent until a frame is needed, so `read_ahead` runs the source in its own thread, a bounded
number of items ahead. On a GPU this keeps the device busy while the CPU decodes; on a CPU it costs
nothing (decoding is a small fraction of the work). The source is iterated and closed in that thread
only, items come out in order, and an error raised by the source is raised to the consumer after the
items that came before it.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

_END = object()
_POLL_S = 0.1      # how often a blocked producer checks whether the consumer has gone
_JOIN_S = 10.0     # how long a closing consumer waits for the producer to close the source


def read_ahead(items: Iterable[Item], depth: int) -> Iterator[Item]:
    """Yield ``items`` in order, produced by a background thread at most ``depth`` items ahead.

    Closing the returned generator (``break``, an exception, garbage collection) stops the thread and
    closes ``items`` there (if it has a ``close``), so a file it reads is released.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}.")
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put((_END, error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="rainmamba-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join(_JOIN_S)
