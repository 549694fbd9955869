"""Lazy scene-cut lookup: shot starts and bounded look-ahead, props first, the core rule otherwise."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import vapoursynth as vs

from models import scenes
from models.engine import Derainer
from tests.models.scene_corpus import clip_named
from tests.vsrainmamba.helpers import clip_from_array, clip_to_array, shots_video
from vsrainmamba import derain
from vsrainmamba.scenes import ShotIndex, scene_cut_test


@pytest.fixture(scope="module")
def rainy() -> dict[str, np.ndarray]:
    """A continuous heavy-rain shot, a two-shot rainy clip (cut at 10) and a lightning clip (cuts 6, 7)."""
    return {"shot": clip_named("shot/chelsea/heavy").video, "cut": clip_named("cut/astronaut-coffee/heavy").video,
            "flash": clip_named("flash/chelsea/heavy").video}


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


def test_the_core_rule_finds_hard_cuts():
    clip = clip_from_array(shots_video([3, 4]))
    is_cut = scene_cut_test(clip, scenes.DEFAULT_THRESHOLD)
    assert [is_cut(k) for k in range(1, 7)] == [False, False, True, False, False, False]


@pytest.mark.parametrize("name", ["shot", "cut", "flash"])
def test_cuts_are_the_core_rules_in_any_request_order(rainy, name):
    video = rainy[name]
    expected = scenes.detect_cuts(video)
    assert expected == {"shot": [], "cut": [10], "flash": [6, 7]}[name]
    order = random.Random(0).sample(range(1, len(video)), len(video) - 1)
    is_cut = scene_cut_test(clip_from_array(video), scenes.DEFAULT_THRESHOLD)
    assert sorted(k for k in order if is_cut(k)) == expected


def test_no_threshold_means_the_props_only(rainy):
    plain = clip_from_array(rainy["cut"])
    assert not any(scene_cut_test(plain, None)(k) for k in range(1, plain.num_frames))
    marked = vs.core.std.FrameEval(plain, lambda n: plain.std.SetFrameProps(_SceneChangePrev=int(n == 4)))
    assert [k for k in range(1, plain.num_frames) if scene_cut_test(marked, None)(k)] == [4]


@pytest.fixture
def two_shots(rainy) -> np.ndarray:
    """18 rainy frames, 32x48, cut at 8: not a multiple of T = 5, so without the cut a window spans it."""
    return rainy["cut"][2:, :, :32, :48].copy()


def test_the_filter_keeps_windows_inside_each_shot_by_default(mean_net, two_shots):
    video = two_shots
    out = clip_to_array(derain(clip_from_array(video), model=mean_net, device_index=-1))
    tensor = torch.from_numpy(video)
    assert np.array_equal(out, Derainer(mean_net, device="cpu")(tensor, cuts=[8]).numpy())
    spanning = clip_to_array(derain(clip_from_array(video), model=mean_net, device_index=-1, scene_change=False))
    assert np.array_equal(spanning, Derainer(mean_net, device="cpu")(tensor).numpy())
    assert not np.array_equal(out, spanning)


def test_a_continuous_rainy_shot_is_one_shot_by_default(mean_net, rainy):
    video = rainy["shot"][:, :, :32, :48].copy()
    out = clip_to_array(derain(clip_from_array(video), model=mean_net, device_index=-1))
    assert np.array_equal(out, Derainer(mean_net, device="cpu")(torch.from_numpy(video)).numpy())


def test_sc_threshold_none_uses_the_props_only(mean_net, two_shots):
    clip = clip_from_array(two_shots)
    out = clip_to_array(derain(clip, model=mean_net, device_index=-1, sc_threshold=None))
    assert np.array_equal(out, Derainer(mean_net, device="cpu")(torch.from_numpy(two_shots)).numpy())
    marked = vs.core.std.FrameEval(clip, lambda n: clip.std.SetFrameProps(_SceneChangeNext=int(n == 2)))
    out = clip_to_array(derain(marked, model=mean_net, device_index=-1, sc_threshold=None))
    assert np.array_equal(out, Derainer(mean_net, device="cpu")(torch.from_numpy(two_shots), cuts=[3]).numpy())


def test_props_win_over_the_rule_in_the_filter(mean_net, two_shots):
    clip = clip_from_array(two_shots, props={"_SceneChangePrev": 0, "_SceneChangeNext": 0})
    out = clip_to_array(derain(clip, model=mean_net, device_index=-1))
    assert np.array_equal(out, Derainer(mean_net, device="cpu")(torch.from_numpy(two_shots)).numpy())


def test_scene_change_props_win_over_the_luma_difference():
    plain = clip_from_array(shots_video([3, 4]), props={"_SceneChangePrev": 0, "_SceneChangeNext": 0})
    marked = plain.std.SetFrameProps(_SceneChangeNext=1)
    clip = vs.core.std.FrameEval(plain, lambda n: marked if n == 4 else plain)
    is_cut = scene_cut_test(clip, 0.1)
    assert [is_cut(k) for k in range(1, 7)] == [False, False, False, False, True, False]
