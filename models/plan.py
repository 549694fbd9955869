"""Temporal windows: shots from cuts, the windows of a shot, the windows covering one frame, the blend.

The network sees T frames at a time. A video is split at its cuts into shots that no window spans,
and each shot ``[start, stop)`` into windows:

- regular windows start every ``stride`` frames from the shot's first frame;
- the last window ends at the shot's last frame (shifted back so it keeps T frames of context);
  in ``official`` mode (the authors' protocol) it joins the mean like the others, in ``fast`` mode
  it only fills the frames the regular windows did not reach (weight 0 elsewhere);
- a shot shorter than T is one window (bounced to T frames when it runs, see `bounce`).

A frame's result is the weighted mean of the windows covering it (`combine`). `Planner.covering`
answers "which windows cover frame n of shot [start, stop)" directly, without planning the shot,
for random-access callers (the VapourSynth frame server).
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from .convert import finish_frame

__all__ = ["MODES", "Window", "Planner", "cut_set", "windows_covering", "combine", "bounce"]

MODES = ("fast", "official")

Cuts = Iterable[int] | Sequence[bool] | np.ndarray | None


@dataclass(frozen=True)
class Window:
    """Frames ``[start, stop)`` run through the network together.

    ``weights[i]`` is the weight of the window's output for frame ``start + i`` in that frame's
    blend; 0 means the frame is there only as context (the shifted last window of ``fast`` mode).
    """

    start: int
    stop: int
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop or len(self.weights) != self.stop - self.start:
            raise ValueError(f"Invalid window {self!r}: need 0 <= start < stop and one weight per frame.")

    @property
    def length(self) -> int:
        return self.stop - self.start

    def weight(self, index: int) -> float:
        """The weight of this window's output for frame ``index`` (0 outside the window)."""
        return self.weights[index - self.start] if self.start <= index < self.stop else 0.0


@dataclass(frozen=True)
class Planner:
    """The window rule for ``frames`` (T) frames per window and a ``stride``; ``fill_tail_only`` is
    ``fast`` mode's last window (weight only where the regular windows did not reach)."""

    frames: int
    stride: int
    fill_tail_only: bool

    def shot(self, start: int, stop: int) -> list[Window]:
        """Every window of the shot ``[start, stop)``, sorted by start."""
        length = stop - start
        if length <= self.frames:
            return [Window(start, stop, (1.0,) * length)]
        regular = range(0, length - self.frames, self.stride)
        windows = [Window(start + s, start + s + self.frames, (1.0,) * self.frames) for s in regular]
        return windows + [self._tail(start, stop, regular[-1])]

    def covering(self, n: int, start: int, stop: int) -> list[Window]:
        """The windows of shot ``[start, stop)`` that give frame ``n`` weight, in plan order.

        Equal to ``windows_covering(self.shot(start, stop), n)`` at a cost of T / stride, not of the
        shot's length. It is the same for any ``stop >= n + 2T`` (the last window of such a shot
        starts after n), so a caller may look for the shot's end only that far.
        """
        if not start <= n < stop:
            raise ValueError(f"Frame {n} is outside the shot {start}..{stop - 1}.")
        length, offset = stop - start, n - start
        if length <= self.frames:
            return [Window(start, stop, (1.0,) * length)]
        tail = length - self.frames
        last_regular = (tail - 1) // self.stride                  # index of the last regular window
        first = max(0, -(-(offset - self.frames + 1) // self.stride))
        windows = [Window(start + k * self.stride, start + k * self.stride + self.frames, (1.0,) * self.frames)
                   for k in range(first, min(offset // self.stride, last_regular) + 1)]
        if offset >= tail:
            last = self._tail(start, stop, last_regular * self.stride)
            if last.weight(n):
                windows.append(last)
        return windows

    def plan(self, n_frames: int, cuts: Cuts = None) -> list[Window]:
        """The windows of a video of ``n_frames`` frames split at ``cuts``, sorted by start."""
        if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
            raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}.")
        bounds = [0, *sorted(cut_set(cuts, int(n_frames))), int(n_frames)]
        return [window for start, stop in zip(bounds, bounds[1:]) for window in self.shot(start, stop)]

    def _tail(self, start: int, stop: int, last_regular_start: int) -> Window:
        """The shot's last window, ending at ``stop``."""
        tail = stop - start - self.frames
        reached = last_regular_start + self.frames
        weights = tuple(0.0 if self.fill_tail_only and tail + j < reached else 1.0 for j in range(self.frames))
        return Window(start + tail, stop, weights)


def cut_set(cuts: Cuts, n_frames: int | None = None) -> frozenset[int]:
    """The frames (> 0) that start a new shot, from frame indices or one bool flag per frame.

    With ``n_frames`` (a whole video) flags must number one per frame and indices lie inside the
    video; without it (a stream of unknown length) neither can be checked.
    """
    if cuts is None:
        return frozenset()
    if isinstance(cuts, np.ndarray) and cuts.dtype == np.bool_ or _is_flag_sequence(cuts):
        flags = [bool(c) for c in cuts]
        if n_frames is not None and len(flags) != n_frames:
            raise ValueError(f"cuts has {len(flags)} per-frame flags for {n_frames} frames: give one flag per frame.")
        return frozenset(i for i, flag in enumerate(flags) if flag and i > 0)
    indices = {_as_index(c) for c in cuts}
    bad = sorted(i for i in indices if i < 0 or n_frames is not None and i >= n_frames)
    if bad:
        where = f"the video's frames 0..{n_frames - 1}" if n_frames is not None else "the video"
        raise ValueError(f"Cut at frame {bad[0]} is outside {where}: drop it.")
    return frozenset(i for i in indices if i > 0)


def _is_flag_sequence(cuts: Any) -> bool:
    return isinstance(cuts, (list, tuple)) and len(cuts) > 0 and all(isinstance(c, (bool, np.bool_)) for c in cuts)


def _as_index(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"cuts must be frame indices (ints) or one bool flag per frame, got {value!r}.")
    return int(value)


def windows_covering(plan: Sequence[Window], index: int) -> list[Window]:
    """The windows of ``plan`` (sorted by start, as `Planner.plan` returns it) that give frame
    ``index`` a non-zero weight, in plan order: compute these, then `combine` them."""
    # Starts and stops both increase along a plan, so the candidates are one contiguous run.
    lo = bisect.bisect_right(plan, index, key=lambda w: w.stop)
    hi = bisect.bisect_right(plan, index, key=lambda w: w.start)
    return [w for w in plan[lo:hi] if w.weight(index) != 0]


def combine(index: int, contributions: Iterable[tuple[Window, Tensor]], frame: Tensor | None) -> Tensor:
    """Frame ``index`` of the output, from the outputs of the windows covering it.

    ``contributions`` pairs each covering window with its output ((t, 3, H, W), as
    `Derainer.run_window` returns it), in plan order; ``frame`` is input frame ``index`` (None when
    it is known to lie in [0, 1], as uint8 input does). Result, float32 (3, H, W): the weighted
    mean, clamped to [0, 1], plus the input's own values outside [0, 1] (`convert.finish_frame`).
    Summing in plan order and dividing last reproduces the authors' accumulate-then-divide exactly.
    """
    total, acc = 0.0, None
    for window, output in contributions:
        weight = window.weight(index)
        if weight == 0:
            continue
        term = output[index - window.start] * weight
        acc = term if acc is None else acc + term
        total += weight
    if acc is None:
        raise ValueError(f"No window covers frame {index}: pass the windows from windows_covering(plan, {index}).")
    return finish_frame(acc / total, frame)


def bounce(length: int, target: int) -> list[int]:
    """Indices that extend a clip of ``length`` frames to ``target`` by mirroring (0 1 2 1 0 1 ...)."""
    if length == 1:
        return [0] * target
    period = 2 * (length - 1)
    return [i % period if i % period < length else period - i % period for i in range(target)]
