"""The frame server: any request order, any thread count, gives the engine's frames; windows run once."""
from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import torch

from models.engine import Derainer
from tests.vsrainmamba.helpers import shots_video
from vsrainmamba.scenes import ShotIndex
from vsrainmamba.server import FrameServer, default_cache_windows

CASES = [  # (shot lengths, mode, stride)
    ([3], "fast", None),
    ([31], "fast", None),
    ([6, 2, 23, 9], "fast", None),
    ([6, 2, 23, 9], "fast", 3),
    ([12, 1, 17], "official", None),
    ([12, 1, 17], "official", 2),
]


def make_server(net, lengths, mode, stride, cache_windows=None, threads=1):
    video = torch.from_numpy(shots_video(lengths, height=8, width=8))
    cuts = set(np.cumsum(lengths)[:-1].tolist())
    engine = Derainer(net, mode=mode, stride=stride, device="cpu")
    server = FrameServer([engine], len(video), lambda k: video[k], ShotIndex(len(video), cuts.__contains__),
                         cache_windows=cache_windows, threads=threads)
    expected = engine(video, cuts=sorted(cuts))
    return server, expected, engine.plan(len(video), sorted(cuts))


@pytest.mark.parametrize("lengths, mode, stride", CASES)
def test_any_order_gives_the_engine_output(mean_net, lengths, mode, stride):
    server, expected, plan = make_server(mean_net, lengths, mode, stride, cache_windows=1000)
    order = list(range(len(expected)))
    random.Random(len(order)).shuffle(order)
    got = {n: server.frame(n) for n in order}
    assert torch.equal(torch.stack([got[n] for n in range(len(expected))]), expected)
    assert server.cache.computed == len(plan)  # every window of the plan, each once


@pytest.mark.parametrize("lengths, mode, stride", CASES[2:5])
def test_linear_order_with_the_default_cache_computes_each_window_once(mean_net, lengths, mode, stride):
    server, expected, plan = make_server(mean_net, lengths, mode, stride)
    frames = [server.frame(n) for n in range(len(expected))]
    assert torch.equal(torch.stack(frames), expected)
    assert server.cache.computed == len(plan)
    assert server.cache.capacity == default_cache_windows(5, server.engine.stride, 1)


def test_a_tiny_cache_recomputes_but_stays_exact(mean_net):
    server, expected, plan = make_server(mean_net, [12, 1, 17], "official", None, cache_windows=1)
    order = list(range(len(expected)))[::-1]
    got = {n: server.frame(n) for n in order}
    assert torch.equal(torch.stack([got[n] for n in range(len(expected))]), expected)
    assert server.cache.computed > len(plan)


def test_threads_in_random_order_compute_each_window_once(mean_net):
    server, expected, plan = make_server(mean_net, [6, 2, 23, 9], "official", None, cache_windows=1000, threads=4)
    order = list(range(len(expected))) * 2
    random.Random(0).shuffle(order)
    got: dict[int, torch.Tensor] = {}

    def work(part):
        for n in part:
            got[n] = server.frame(n)

    threads = [threading.Thread(target=work, args=(order[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert torch.equal(torch.stack([got[n] for n in range(len(expected))]), expected)
    assert server.cache.computed == len(plan)


def test_frames_outside_the_clip_are_refused(mean_net):
    server, expected, _ = make_server(mean_net, [4], "fast", None)
    with pytest.raises(IndexError, match="outside the clip"):
        server.frame(len(expected))


def _identity_server(video: torch.Tensor, mode: str = "fast") -> FrameServer:
    from tests.models.engine_helpers import IdentityNet

    engine = Derainer(IdentityNet(frames=5, tile=(16, 16), overlap=(2, 4, 4)), mode=mode, device="cpu")
    return FrameServer([engine], len(video), lambda k: video[k], ShotIndex(len(video), None))


def test_values_outside_0_1_survive_the_frame_server():
    """Superwhite / sub-black values (as a YUV -> RGB conversion gives) come back as they went in."""
    video = torch.rand(9, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 1.3 - 0.15
    server = _identity_server(video)
    frames = [server.frame(n) for n in reversed(range(9))][::-1]
    assert torch.equal(torch.stack(frames), video)


def test_a_nan_frame_fails_the_frames_that_need_it_and_only_those():
    video = torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    video[7, 1, 3, 3] = float("nan")
    server = _identity_server(video)                # fast mode, T=5: windows [0, 5), [5, 10), [7, 12)
    with pytest.raises(ValueError, match="Frame 7 contains NaN or infinite values"):
        server.frame(6)
    with pytest.raises(ValueError, match="Frame 7 contains NaN"):
        server.frame(11)
    assert torch.equal(torch.stack([server.frame(n) for n in range(5)]), video[:5])
