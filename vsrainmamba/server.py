"""The random-access frame server behind the VapourSynth filter.

For output frame n it asks the engine's plan which temporal windows cover n, computes each missing
window once (bounded LRU, `WindowCache`), and blends them with the engine's `combine`, so frame n
comes out the same whatever order frames are requested in and however many threads ask. The
network runs on a pool of ``num_streams`` engines, each used by one thread at a time (the lock
around the model); input frames are fetched before a window's lock is taken (see `WindowCache`).
"""
from __future__ import annotations

import contextlib
import math
import queue
from collections.abc import Callable, Sequence

import torch

from models.engine import Derainer, Window, combine, windows_covering

from .scenes import ShotIndex
from .window_cache import WindowCache


def default_cache_windows(frames: int, stride: int, threads: int) -> int:
    """Enough windows that frames requested in order by ``threads`` threads never recompute one:
    the windows covering one frame (plus a shot's shifted last window) and those of the frames
    being worked on ahead of it."""
    return math.ceil(frames / stride) + 1 + math.ceil(max(threads, 1) / stride) + 1


class FrameServer:
    """Derained frames of an ``n_frames`` clip, in any order, from several threads.

    ``fetch(k)`` returns input frame k as a (3, H, W) float tensor; ``shots`` says where shots
    start. All engines must share the same settings (they are copies for parallel streams).
    """

    def __init__(self, engines: Sequence[Derainer], n_frames: int, fetch: Callable[[int], torch.Tensor],
                 shots: ShotIndex, cache_windows: int | None = None, threads: int = 1) -> None:
        if not engines:
            raise ValueError("FrameServer needs at least one engine.")
        self.engine = engines[0]
        self.n_frames = n_frames
        self.fetch = fetch
        self.shots = shots
        self.frames = self.engine.frames
        capacity = cache_windows or default_cache_windows(self.frames, self.engine.stride, threads)
        self.cache: WindowCache[torch.Tensor] = WindowCache(capacity)
        self._pool: queue.SimpleQueue = queue.SimpleQueue()
        for engine in engines:
            stream = torch.cuda.Stream(engine.device) if engine.device.type == "cuda" else None
            self._pool.put((engine, stream))

    def windows_for(self, n: int) -> list[Window]:
        """The windows of the engine's plan that give frame ``n`` weight, in plan order.

        Only a stretch of n's shot is planned: it starts at a regular window start at least 2T
        frames before n (so every window covering n keeps its place) and ends at the shot's end
        or, when that is farther, 2T frames after n (see `ShotIndex.shot_bounds`).
        """
        start, stop = self.shots.shot_bounds(n, 2 * self.frames)
        stride = self.engine.stride
        origin = start + stride * max(0, (n - 2 * self.frames - start) // stride)
        plan = [Window(w.start + origin, w.stop + origin, w.weights) for w in self.engine.plan(stop - origin)]
        return windows_covering(plan, n)

    def frame(self, n: int) -> torch.Tensor:
        """Output frame ``n`` as a (3, H, W) float32 tensor in [0, 1]."""
        if not 0 <= n < self.n_frames:
            raise IndexError(f"frame {n} is outside the clip's frames 0..{self.n_frames - 1}.")
        contributions = []
        for window in self.windows_for(n):
            key = (window.start, window.stop)
            output = self.cache.get(key)
            if output is None:
                inputs = torch.stack([self.fetch(k) for k in range(window.start, window.stop)])
                output = self.cache.get_or_compute(key, lambda: self._run(inputs))
            contributions.append((window, output))
        return combine(n, contributions)

    def _run(self, inputs: torch.Tensor) -> torch.Tensor:
        engine, stream = self._pool.get()
        try:
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                return engine.run_window(inputs)
        finally:
            self._pool.put((engine, stream))
