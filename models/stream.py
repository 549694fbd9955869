"""The bounded incremental driver behind `Derainer.__call__` and `Derainer.stream`.

Frames arrive one at a time; the driver plans windows as the stream reveals them, runs them in
batches, and releases each output frame once every window that can touch it is known and
computed, then drops what no later frame needs. Memory is a few windows, whatever the length.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from .convert import Kind, Video, check_video, frame_in, frame_out
from .plan import Cuts, Window, combine, cut_set, windows_covering

if TYPE_CHECKING:
    from .engine import Derainer


class Driver:
    """One incremental pass over a stream of float32 (3, H, W) frames on the engine's device.

    A regular window starting at c is certain once frame c + T exists (the stream goes past it);
    the shot's last window is known when the shot ends (a cut or the end of the stream). The
    windows it schedules are exactly `Derainer.plan` for the same frames and cuts.
    """

    def __init__(self, engine: "Derainer") -> None:
        self.engine = engine
        self.planner = engine.planner
        self.T, self.stride = engine.frames, engine.stride
        self.inputs: dict[int, Tensor] = {}
        self.in_range: dict[int, bool] = {}
        self.queue: list[Window] = []        # scheduled, not yet computed
        self.done: list[Window] = []         # computed, still needed for output
        self.outputs: dict[Window, Tensor] = {}
        self.shape: tuple[int, ...] | None = None
        self.shot_start = 0
        self.confirmed = 0                   # regular windows of the current shot scheduled so far
        self.seen = 0
        self.emitted = 0
        self.peak_buffered = 0
        self.ended = False

    def push(self, frame: Tensor, cut: bool, in_range: bool = False) -> list[tuple[int, Tensor]]:
        """Add the next frame (``cut``: it starts a new shot; ``in_range``: its values are known to
        lie in [0, 1]); returns the output frames that became final, as (index, frame)."""
        index = self.seen
        if self.shape is None:
            self.shape = tuple(frame.shape)
        elif tuple(frame.shape) != self.shape:
            raise ValueError(f"Frame {index} is {frame.shape[-2]}x{frame.shape[-1]} but earlier frames are "
                             f"{self.shape[-2]}x{self.shape[-1]}: one stream must keep one frame size.")
        if cut and index > self.shot_start:
            self._close_shot(index)
        self.inputs[index], self.in_range[index] = frame, in_range
        self.seen += 1
        self.peak_buffered = max(self.peak_buffered, len(self.inputs))
        while self._next_regular() + self.T < self.seen:
            start = self._next_regular()
            self._schedule(Window(start, start + self.T, (1.0,) * self.T))
            self.confirmed += 1
        return self._release()

    def finish(self) -> list[tuple[int, Tensor]]:
        """End the stream; returns the remaining output frames."""
        if self.seen == 0:
            raise ValueError("The video has no frames: give at least one frame.")
        self._close_shot(self.seen)
        self._compute()
        self.ended = True
        return self._release()

    def _next_regular(self) -> int:
        return self.shot_start + self.confirmed * self.stride

    def _close_shot(self, stop: int) -> None:
        for window in self.planner.shot(self.shot_start, stop)[self.confirmed:]:
            self._schedule(window)
        self.shot_start, self.confirmed = stop, 0

    def _schedule(self, window: Window) -> None:
        self.queue.append(window)
        if len(self.queue) >= self.engine.batch_size:
            self._compute()

    def _compute(self) -> None:
        if not self.queue:
            return
        clips = [torch.stack([self.inputs[i] for i in range(w.start, w.stop)]) for w in self.queue]
        outputs = self.engine.run_windows(clips, starts=[w.start for w in self.queue])
        for window, output in zip(self.queue, outputs):
            self.done.append(window)
            self.outputs[window] = output
        self.queue = []

    def _release(self) -> list[tuple[int, Tensor]]:
        """Blend and return the frames no future window can change; drop what is no longer needed."""
        # Future windows of this shot start at or after max(shot_start, seen - T).
        horizon = max(self.shot_start, self.seen - self.T)
        if self.ended:
            final = self.seen
        else:
            final = horizon
            if self.planner.fill_tail_only and self.confirmed:  # the last window only fills frames after these
                final = max(final, self._next_regular() - self.stride + self.T)
            final = min(final, self._next_regular())
            if self.queue:
                final = min(final, self.queue[0].start)
        released = []
        for index in range(self.emitted, final):
            covering = windows_covering(self.done, index)
            frame = None if self.in_range[index] else self.inputs[index]
            released.append((index, combine(index, ((w, self.outputs[w]) for w in covering), frame)))
        self.emitted = max(self.emitted, final)
        while self.done and self.done[0].stop <= self.emitted:
            del self.outputs[self.done.pop(0)]
        keep_from = min([horizon] + [w.start for w in self.queue])
        for index in [i for i in self.inputs if i < keep_from]:
            del self.inputs[index], self.in_range[index]
        return released


def derain_video(engine: "Derainer", video: Video, cuts: Cuts = None) -> Video:
    """`Derainer.__call__`: a whole (N, 3, H, W) video through one `Driver`."""
    check_video(video)
    n = int(video.shape[0])
    is_cut = cut_set(cuts, n)
    uint8 = video.dtype in (np.uint8, torch.uint8)
    if isinstance(video, np.ndarray):
        out: Video = np.empty(video.shape, np.uint8 if uint8 else np.float32)
    else:
        out = torch.empty(video.shape, dtype=torch.uint8 if uint8 else torch.float32, device=video.device)
    driver = Driver(engine)
    kind: Kind | None = None
    for i in range(n):
        frame, kind = frame_in(video[i], i, engine.device)
        for j, result in driver.push(frame, i in is_cut, in_range=kind.uint8):
            out[j] = frame_out(result, kind)
    for j, result in driver.finish():
        out[j] = frame_out(result, kind)
    return out


def derain_stream(engine: "Derainer", frames: Iterable[Any], cuts: Cuts = None) -> Iterator[Video]:
    """`Derainer.stream`: frames (or ``(frame, is_cut)`` pairs) in, each output frame as soon as it is final."""
    is_cut = cut_set(cuts)
    driver = Driver(engine)
    kinds: dict[int, Kind] = {}
    for i, item in enumerate(frames):
        frame, flag = item if isinstance(item, tuple) else (item, False)
        tensor, kinds[i] = frame_in(frame, i, engine.device)
        for j, result in driver.push(tensor, bool(flag) or i in is_cut, in_range=kinds[i].uint8):
            yield frame_out(result, kinds.pop(j))
    for j, result in driver.finish():
        yield frame_out(result, kinds.pop(j))
