"""Lazy scene-cut lookup: shot starts and bounded look-ahead, props first, PlaneStats otherwise."""
from __future__ import annotations

import vapoursynth as vs

from tests.vsrainmamba.helpers import clip_from_array, shots_video
from vsrainmamba.scenes import ShotIndex, scene_cut_test


def counting_cuts(cuts: set[int]):
    asked: list[int] = []

    def is_cut(k: int) -> bool:
        asked.append(k)
        return k in cuts

    return is_cut, asked


def test_shot_bounds_find_the_enclosing_shot():
    is_cut, _ = counting_cuts({4, 9})
    shots = ShotIndex(30, is_cut)
    assert shots.shot_bounds(0, 10) == (0, 4)
    assert shots.shot_bounds(6, 10) == (4, 9)
    assert shots.shot_bounds(9, 10) == (9, 19)     # no cut within the horizon: truncated
    assert shots.shot_bounds(25, 10) == (9, 30)    # ... and never past the clip
    assert not shots.is_cut(0)


def test_each_frame_is_tested_at_most_once_whatever_the_order():
    is_cut, asked = counting_cuts({7})
    shots = ShotIndex(40, is_cut)
    for n in [39, 3, 20, 8, 0, 39, 15]:
        shots.shot_start(n)
    assert shots.shot_start(39) == 7 and shots.shot_start(6) == 0
    assert len(asked) == len(set(asked))


def test_without_a_test_the_clip_is_one_shot():
    shots = ShotIndex(12, None)
    assert shots.shot_bounds(11, 4) == (0, 12)
    assert shots.shot_bounds(2, 4) == (0, 6)


def test_planestats_finds_hard_cuts():
    clip = clip_from_array(shots_video([3, 4]))
    is_cut = scene_cut_test(clip, 0.1)
    assert [is_cut(k) for k in range(1, 7)] == [False, False, True, False, False, False]


def test_scene_change_props_win_over_the_luma_difference():
    plain = clip_from_array(shots_video([3, 4]), props={"_SceneChangePrev": 0, "_SceneChangeNext": 0})
    marked = plain.std.SetFrameProps(_SceneChangeNext=1)
    clip = vs.core.std.FrameEval(plain, lambda n: marked if n == 4 else plain)
    is_cut = scene_cut_test(clip, 0.1)
    assert [is_cut(k) for k in range(1, 7)] == [False, False, False, False, True, False]
