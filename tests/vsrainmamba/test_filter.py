"""vsrainmamba.derain on a real VapourSynth core: engine-equal frames, any order and thread count,
formats and props round-trip, readable errors."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import vapoursynth as vs

from models.engine import Derainer
from tests.vsrainmamba.helpers import WindowMeanNet, clip_from_array, clip_to_array, shots_video
from vsrainmamba import derain

LENGTHS = [7, 11]          # two shots with a hard cut at frame 7
CUTS = [7]


@pytest.fixture
def video() -> np.ndarray:
    return shots_video(LENGTHS, height=16, width=24)


@pytest.fixture
def identity_net() -> WindowMeanNet:
    net = WindowMeanNet()
    net.mix.data.fill_(1.0)
    return net


@pytest.fixture
def threads():
    """Set core.num_threads for one test and restore it."""
    before = vs.core.num_threads
    yield lambda n: setattr(vs.core, "num_threads", n)
    vs.core.num_threads = before


@pytest.mark.parametrize("mode", ["fast", "official"])
def test_frames_equal_the_engine_output_and_props_are_kept(mean_net, video, mode):
    clip = clip_from_array(video, props={"Custom": 42})
    out = derain(clip, model=mean_net, mode=mode, device_index=-1)
    expected = Derainer(mean_net, mode=mode, device="cpu")(torch.from_numpy(video), cuts=CUTS).numpy()
    assert (out.num_frames, out.width, out.height, out.format.id) == (18, 24, 16, vs.RGBS)
    assert np.array_equal(clip_to_array(out), expected)
    for n in (0, 9, 17):
        assert dict(out.get_frame(n).props) == dict(clip.get_frame(n).props)


def test_random_access_and_thread_count_do_not_change_frames(mean_net, video, threads):
    clip = clip_from_array(video)
    results = []
    for count, order in [(1, None), (2, list(range(18))[::-1]), (3, random.Random(1).sample(range(18), 18))]:
        threads(count)
        out = derain(clip, model=mean_net, mode="official", device_index="cpu")
        results.append(clip_to_array(out, order))
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])


def test_linear_rendering_runs_each_window_once(mean_net, video, threads):
    threads(2)
    out = derain(clip_from_array(video), model=mean_net, mode="official", device_index=-1)
    list(out.frames())
    windows = Derainer(mean_net, mode="official", device="cpu").plan(len(video), CUTS)
    assert mean_net.calls == len(windows)


def test_scene_change_off_lets_windows_span_the_cut(mean_net, video):
    out = derain(clip_from_array(video), model=mean_net, scene_change=False, device_index=-1)
    expected = Derainer(mean_net, device="cpu")(torch.from_numpy(video)).numpy()
    assert np.array_equal(clip_to_array(out), expected)


def test_parallel_streams_give_the_same_frames(mean_net, video):
    clip = clip_from_array(video)
    one = clip_to_array(derain(clip, model=mean_net, device_index=-1))
    two = clip_to_array(derain(clip, model=mean_net, num_streams=2, device_index=-1))
    assert np.array_equal(one, two)


def test_rgbh_is_used_directly(mean_net, video):
    clip = vs.core.resize.Point(clip_from_array(video), format=vs.RGBH)
    out = derain(clip, model=mean_net, device_index=-1)
    expected = Derainer(mean_net, device="cpu")(torch.from_numpy(video), cuts=CUTS).numpy()
    assert out.format.id == vs.RGBH
    assert np.abs(clip_to_array(out) - expected).max() < 2e-3


@pytest.mark.parametrize("fmt, tolerance, conversion", [
    (vs.YUV420P8, 2, {"matrix": 1}),
    (vs.YUV444P10, 2, {"matrix": 6, "range": 1}),  # full range
    (vs.RGB24, 0, {}),
    (vs.RGB48, 0, {}),
    (vs.GRAY8, 0, {"matrix": 1}),
])
def test_other_formats_round_trip(identity_net, video, fmt, tolerance, conversion):
    clip = vs.core.resize.Point(clip_from_array(video), format=fmt, **conversion)
    clip = vs.core.std.SetFrameProps(clip, Custom="kept")
    out = derain(clip, model=identity_net, device_index=-1)
    assert (out.format.id, out.width, out.height, out.num_frames) == (fmt, clip.width, clip.height, clip.num_frames)
    for n in (0, 8):
        assert dict(out.get_frame(n).props) == dict(clip.get_frame(n).props)
        src, got = clip.get_frame(n), out.get_frame(n)
        for p in range(clip.format.num_planes):
            assert np.abs(np.asarray(got[p]).astype(int) - np.asarray(src[p]).astype(int)).max() <= tolerance


def test_yuv_without_a_matrix_is_refused_with_a_way_out(mean_net, video):
    clip = vs.core.resize.Point(clip_from_array(video), format=vs.YUV420P8, matrix=1)
    clip = vs.core.std.RemoveFrameProps(clip, "_Matrix")
    with pytest.raises(vs.Error, match=r"colour matrix is unknown: pass matrix="):
        derain(clip, model=mean_net, device_index=-1)
    assert derain(clip, model=mean_net, matrix=1, device_index=-1).format.id == vs.YUV420P8


def test_variable_format_and_size_are_refused(mean_net):
    a = vs.core.std.BlankClip(width=32, height=32, format=vs.RGBS, length=2)
    other_format = vs.core.std.BlankClip(width=32, height=32, format=vs.RGB24, length=2)
    other_size = vs.core.std.BlankClip(width=40, height=32, format=vs.RGBS, length=2)
    with pytest.raises(vs.Error, match="variable format"):
        derain(vs.core.std.Splice([a, other_format], mismatch=True), model=mean_net, device_index=-1)
    with pytest.raises(vs.Error, match="variable frame size"):
        derain(vs.core.std.Splice([a, other_size], mismatch=True), model=mean_net, device_index=-1)


@pytest.mark.parametrize("arguments, message", [
    ({"mode": "slow"}, "mode must be 'fast' or 'official'"),
    ({"tile": [64, 60]}, "tile=[64, 60] is not allowed: each side must be 0 (whole frame) or a multiple of 8"),
    ({"tile": "big"}, "tile must be an int >= 0 or a [width, height] pair of them, got 'big'"),
    ({"tile_pad": -1}, "tile_pad must be an int >= 0"),
    ({"device_index": 7}, "pass device_index=-1 to run on the CPU"),
    ({"fp16": True, "device_index": -1}, "fp16=True needs a CUDA GPU; on the CPU use bf16=True"),
    ({"fp16": True, "bf16": True}, "fp16 and bf16 are both True: choose one"),
    ({"sc_threshold": 2.0}, "sc_threshold must be a number from 0 to 1"),
    ({"num_streams": 0}, "num_streams must be an integer >= 1"),
    ({"stride": 9}, "stride must be an integer from 1 to T=5"),
    ({"model": "/nonexistent/weights.pth"}, "/nonexistent/weights.pth"),  # the core's sentence names the path
    ({"model": "lwdds"}, "lwdds"),                                         # ... or the preset
])
def test_bad_arguments_raise_one_readable_error(mean_net, video, model_home, arguments, message):
    if torch.cuda.is_available() and "device_index" in arguments and arguments["device_index"] >= 0:
        pytest.skip("this machine has a GPU")
    arguments = {"model": mean_net, "device_index": -1, **arguments}
    with pytest.raises(vs.Error) as error:
        derain(clip_from_array(video), **arguments)
    assert message in str(error.value) and "Traceback" not in str(error.value)
    assert str(error.value).startswith("vsrainmamba.derain: ")


def test_a_failing_network_gives_a_short_frame_error(video):
    class Broken(WindowMeanNet):
        def forward(self, x):
            raise RuntimeError("kaboom")

    out = derain(clip_from_array(video), model=Broken(), device_index=-1)
    with pytest.raises(vs.Error, match=r"rainmamba: frame 3 failed: RuntimeError: kaboom") as error:
        out.get_frame(3)
    assert "torch/nn" not in str(error.value)
