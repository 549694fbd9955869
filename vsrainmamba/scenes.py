"""Scene cuts for the frame server, found lazily: no window may span a cut.

A frame server cannot scan the whole clip before its first frame, so cuts are looked up on demand
and remembered. For output frame n the engine's plan needs the start of n's shot (found by walking
back, amortised to O(1) per frame by caching every frame's shot start) and whether the shot ends
within the next 2T frames (a bounded look-ahead; see `ShotIndex.shot_bounds`).

Cuts come from the ``_SceneChangePrev``/``_SceneChangeNext`` frame props when a frame has them,
else from the project's one rain-proof rule (`models.scenes`), which reads frames k-2..k+1 only, so
the answer for frame k is the same in any request order.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import vapoursynth as vs

from models import scenes

_UNKNOWN = -1
_SIGNATURES_KEPT = 64     # signatures are tiny; enough for every request pattern the server makes


class ShotIndex:
    """Shot boundaries of an ``n_frames`` clip from a per-frame ``is_cut(k)`` test (k starts a new shot).

    ``is_cut=None`` means a single shot. Thread-safe in practice: all state is plain numpy writes
    of values that every thread would compute identically.
    """

    def __init__(self, n_frames: int, is_cut: Callable[[int], bool] | None) -> None:
        self.n_frames = n_frames
        self._is_cut = is_cut
        self._flags = np.full(n_frames, _UNKNOWN, dtype=np.int8)
        self._shot_start = np.full(n_frames, _UNKNOWN, dtype=np.int64)

    def is_cut(self, k: int) -> bool:
        """True when frame ``k`` starts a new shot (never for frame 0)."""
        if k <= 0 or self._is_cut is None:
            return False
        flag = self._flags[k]
        if flag == _UNKNOWN:
            flag = self._flags[k] = int(bool(self._is_cut(k)))
        return bool(flag)

    def shot_start(self, n: int) -> int:
        """The first frame of frame ``n``'s shot."""
        walked = []
        k = n
        while True:
            known = self._shot_start[k]
            if known != _UNKNOWN:
                start = int(known)
                break
            walked.append(k)
            if k == 0 or self.is_cut(k):
                start = k
                break
            k -= 1
        self._shot_start[walked] = start
        return start

    def shot_bounds(self, n: int, horizon: int) -> tuple[int, int]:
        """``(start, stop)`` of frame ``n``'s shot, with ``stop`` looked for only up to ``n + horizon``.

        When no cut comes within the horizon, ``stop`` is ``min(n + horizon, n_frames)``. With
        ``horizon >= 2T`` this truncation cannot change the windows covering n: in the engine's plan
        a shot's windows start every ``stride <= T`` frames and only the last one is aligned to the
        shot's end, and that last one starts at or after ``n + T`` in the truncated shot.
        """
        start = self.shot_start(n)
        limit = min(n + horizon, self.n_frames)
        for k in range(n + 1, limit):
            if self.is_cut(k):
                return start, k
        return start, limit


def scene_cut_test(clip: vs.VideoNode, threshold: float | None) -> Callable[[int], bool]:
    """An ``is_cut(k)`` test (k >= 1) for an RGB clip of at least two frames.

    Frame k starts a shot if it has ``_SceneChangePrev`` set or frame k-1 has ``_SceneChangeNext``
    set; when neither frame carries those props, by `models.scenes.is_cut` on the signatures of
    frames k-2..k+1 with ``threshold``. ``threshold=None``: the props only (no props, no cut).
    """
    signatures = _Signatures(clip)

    def is_cut(k: int) -> bool:
        props = clip.get_frame(k).props
        before = clip.get_frame(k - 1).props
        if "_SceneChangePrev" in props or "_SceneChangeNext" in before:
            return bool(props.get("_SceneChangePrev", 0)) or bool(before.get("_SceneChangeNext", 0))
        if threshold is None:
            return False
        before, after = scenes.CONTEXT
        return scenes.is_cut([signatures(i) for i in range(k - before, k + after + 1)], threshold)

    return is_cut


class _Signatures:
    """`models.scenes.frame_signature` of a clip's frames, computed on demand and the recent ones kept;
    None for indices outside the clip."""

    def __init__(self, clip: vs.VideoNode) -> None:
        self.clip = clip
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, k: int) -> np.ndarray | None:
        if not 0 <= k < self.clip.num_frames:
            return None
        with self._lock:
            if k in self._kept:
                self._kept.move_to_end(k)
                return self._kept[k]
        frame = self.clip.get_frame(k)
        signature = scenes.frame_signature(np.stack([np.asarray(frame[p]) for p in range(3)]))
        with self._lock:
            self._kept[k] = signature
            while len(self._kept) > _SIGNATURES_KEPT:
                self._kept.popitem(last=False)
        return signature
