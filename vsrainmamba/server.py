"""The random-access frame server behind the VapourSynth filter.

For output frame n it asks the engine which temporal windows cover n inside n's shot
(`Derainer.windows_for`), computes each missing window once (bounded LRU, `WindowCache`), and
blends them with the engine's `combine` (which also keeps n's values outside [0, 1]), so frame n
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

from models.engine import Derainer
from models.plan import Window, combine

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
        """The windows that give frame ``n`` weight, in plan order. The end of n's shot is looked
        for only 2T frames ahead (`ShotIndex.shot_bounds`): farther cannot change these windows."""
        start, stop = self.shots.shot_bounds(n, 2 * self.frames)
        return self.engine.windows_for(n, start, stop)

    def frame(self, n: int) -> torch.Tensor:
        """Output frame ``n`` as a (3, H, W) float32 tensor: the network's result in [0, 1] plus the
        input's own values outside [0, 1] (see `models.convert`)."""
        if not 0 <= n < self.n_frames:
            raise IndexError(f"frame {n} is outside the clip's frames 0..{self.n_frames - 1}.")
        fetched: dict[int, torch.Tensor] = {}
        contributions = []
        for window in self.windows_for(n):
            key = (window.start, window.stop)
            output = self.cache.get(key)
            if output is None:
                for k in range(window.start, window.stop):
                    fetched.setdefault(k, self.fetch(k))
                inputs = torch.stack([fetched[k] for k in range(window.start, window.stop)])
                output = self.cache.get_or_compute(key, lambda: self._run(inputs, window.start))
            contributions.append((window, output))
        frame = fetched[n] if n in fetched else self.fetch(n)
        return combine(n, contributions, frame)

    def _run(self, inputs: torch.Tensor, start: int) -> torch.Tensor:
        engine, stream = self._pool.get()
        try:
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                return engine.run_window(inputs, start)
        finally:
            self._pool.put((engine, stream))
