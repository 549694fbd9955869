"""Tests of the video engine `models.engine.Derainer`: windows, tiles, padding, cuts, streams, errors."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.engine import Derainer as _Derainer
from models.plan import Window, combine, windows_covering

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_helpers import IdentityNet, StandInNet, reference_official  # noqa: E402

T = 3


def Derainer(net, **settings) -> _Derainer:  # noqa: N802
    """The engine on the CPU unless a test asks otherwise (no device means a GPU when there is one, and
    these tests compare with references computed on the CPU)."""
    return _Derainer(net, **{"device": "cpu", **settings})


def video(n: int, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def per_frame_streams(engine: _Derainer, clip, cuts=None):
    return list(engine.stream(iter(clip), cuts=cuts))


# ---------------------------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------------------------

def test_official_plan_is_the_authors_windows():
    engine = Derainer(StandInNet(frames=5, overlap=(4, 4, 4)), mode="official")
    starts = [w.start for w in engine.plan(9)]
    assert starts == list(range(0, 9 - 5, 1)) + [4]
    assert all(w.length == 5 and set(w.weights) == {1.0} for w in engine.plan(9))


def test_fast_plan_computes_each_frame_once():
    engine = Derainer(StandInNet(frames=3), mode="fast")
    plan = engine.plan(7)
    assert [(w.start, w.stop) for w in plan] == [(0, 3), (3, 6), (4, 7)]
    assert plan[-1].weights == (0.0, 0.0, 1.0)
    for n in range(1, 12):
        counts = [sum(w.weight(i) for w in engine.plan(n)) for i in range(n)]
        assert counts == [1.0] * n


def test_short_clip_is_one_window():
    engine = Derainer(StandInNet(frames=5), mode="official")
    assert engine.plan(2) == [Window(0, 2, (1.0, 1.0))]


def test_cuts_split_the_plan_and_flags_equal_indices():
    engine = Derainer(StandInNet(frames=3), mode="official", stride=1)
    plan = engine.plan(10, cuts=[4, 6])
    assert all(not (w.start < c < w.stop) for w in plan for c in (4, 6))
    flags = [i in (4, 6) for i in range(10)]
    assert engine.plan(10, cuts=flags) == plan
    assert engine.plan(10, cuts=np.array(flags)) == plan


def test_windows_covering_finds_nonzero_windows_in_order():
    engine = Derainer(StandInNet(frames=3), mode="fast")
    plan = engine.plan(7)
    assert windows_covering(plan, 4) == [plan[1]]      # the tail window only fills frame 6
    assert windows_covering(plan, 6) == [plan[2]]
    official = Derainer(StandInNet(frames=3), mode="official").plan(7)
    assert [w.start for w in windows_covering(official, 3)] == [1, 2, 3]


@pytest.mark.parametrize("mode", ["fast", "official"])
@pytest.mark.parametrize("frames,stride", [(3, None), (5, 1), (5, 2), (4, 3), (5, 5)])
def test_windows_for_a_frame_of_a_shot_equal_the_shots_plan(mode, frames, stride):
    """Random access: windows_for(n, start, stop) is windows_covering over the shot's plan, and the
    same for any stop at least 2T past n (the frame server looks no farther for the shot's end)."""
    engine = Derainer(StandInNet(frames=frames, overlap=(2, 4, 4)), mode=mode, stride=stride)
    for start, stop in [(0, 1), (0, frames), (3, 3 + frames + 1), (7, 30), (2, 41)]:
        shot = [Window(w.start + start, w.stop + start, w.weights) for w in engine.plan(stop - start)]
        assert engine.planner.shot(start, stop) == shot
        for n in range(start, stop):
            expected = windows_covering(shot, n)
            assert engine.windows_for(n, start, stop) == expected, (start, stop, n)
            if stop >= n + 2 * frames:
                assert engine.windows_for(n, start, n + 2 * frames) == expected
    with pytest.raises(ValueError, match="outside the shot"):
        engine.windows_for(5, 0, 5)


# ---------------------------------------------------------------------------------------------
# exactness against independent implementations
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overlap,stride", [(4, 1), (4, 2), (5, 1), (6, 3)])
def test_official_equals_the_authors_protocol(overlap, stride):
    net = StandInNet(frames=T, tile=(16, 16), overlap=(T - stride, overlap, overlap))
    clip = video(6, 40, 36)                 # 3 x 3 tiles of 16 px, several windows
    engine = Derainer(net, mode="official")
    expected = reference_official(clip, net, T, stride, 16, overlap)
    assert torch.equal(engine(clip), expected)


def test_official_tiles_blend_with_zero_bands():
    net = StandInNet(frames=T, tile=(16, 16), overlap=(2, 4, 4))
    clip = video(T, 40, 36)
    engine = Derainer(net, mode="official")
    whole = Derainer(net, mode="official", tile=0)
    assert len(net.calls) == 0
    tiled, untiled = engine(clip), whole(clip)
    assert not torch.allclose(tiled, untiled, atol=1e-4)  # tiles really are separate network calls
    assert torch.equal(tiled, reference_official(clip, net, T, 1, 16, 4))


def test_fast_equals_per_window_inference():
    net = StandInNet(frames=T)
    clip = video(8, 16, 24)
    engine = Derainer(net, mode="fast", tile=0)
    with torch.no_grad():
        expected = torch.cat([net(clip[0:3][None])[0], net(clip[3:6][None])[0], net(clip[5:8][None])[0][1:]])
    assert torch.equal(engine(clip), expected.clamp(0, 1))


def test_stride_between_fast_and_official():
    net = StandInNet(frames=T, tile=(16, 16), overlap=(0, 4, 4))
    clip = video(8, 24, 24)
    engine = Derainer(net, mode="official", stride=2)
    assert [w.start for w in engine.plan(8)] == [0, 2, 4, 5]
    assert torch.equal(engine(clip), reference_official(clip, net, T, 2, 16, 4))
    fast = Derainer(net, mode="fast", stride=2)
    assert fast.plan(8)[-1].weights == (0.0, 0.0, 1.0)   # the regular windows reach frame 7 only


def test_random_access_path_equals_call():
    net = StandInNet(frames=T)
    clip = video(7, 24, 16)
    for mode in ("fast", "official"):
        engine = Derainer(net, mode=mode)
        plan = engine.plan(7, cuts=[5])
        cache = {w: engine.run_window(clip[w.start:w.stop]) for w in plan}
        frames = [combine(i, [(w, cache[w]) for w in windows_covering(plan, i)], clip[i]) for i in range(7)]
        assert torch.equal(torch.stack(frames), engine(clip, cuts=[5]))


def test_batching_matches_single_calls():
    net = StandInNet(frames=T)
    clip = video(7, 40, 36)
    single = Derainer(net, mode="official")(clip)
    calls_before = len(net.calls)
    batched = Derainer(net, mode="official", batch_size=4)(clip)
    assert torch.allclose(batched, single, atol=1e-6)
    assert any(shape[0] == 4 for shape in net.calls[calls_before:])


# ---------------------------------------------------------------------------------------------
# sizes, order, padding
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, T - 1, T, T + 1, 2 * T + 3])
@pytest.mark.parametrize("mode", ["fast", "official"])
@pytest.mark.parametrize("size", [(16, 16), (21, 13), (5, 3), (35, 17)])
def test_identity_net_gives_the_video_back(n, mode, size):
    net = IdentityNet(frames=T, tile=(16, 16), overlap=(2, 4, 4))
    clip = video(n, *size)
    out = Derainer(net, mode=mode)(clip)
    assert out.shape == clip.shape and out.dtype == torch.float32
    assert torch.allclose(out, clip, atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, T + 1])
def test_shape_preserved_with_a_real_conv_net(n):
    clip = video(n, 11, 29)
    for mode in ("fast", "official"):
        out = Derainer(StandInNet(frames=T), mode=mode)(clip)
        assert out.shape == clip.shape and torch.isfinite(out).all()


def test_padding_reflects_in_space_and_bounces_in_time():
    net = IdentityNet(frames=5, tile=(16, 16), overlap=(4, 4, 4))
    clip = video(2, 5, 3)
    Derainer(net, mode="official").run_window(clip)
    seen = net.inputs[-1][0]
    assert seen.shape == (5, 3, 8, 8)
    assert [int(torch.equal(seen[t, :, :5, :3], clip[t % 2])) for t in range(5)] == [1] * 5
    assert torch.equal(seen[0, :, 5:8, :3], clip[0, :, [3, 2, 1], :])   # reflect: 5 rows pad 3
    assert torch.equal(seen[0, :, :5, 3:8], clip[0, :, :, [2] * 5])     # replicate: 3 columns pad 5


def test_whole_frame_mode_pads_to_multiple_of_8():
    net = StandInNet(frames=T)
    Derainer(net, mode="fast", tile=0)(video(T, 19, 50))
    assert net.calls[-1] == (1, T, 3, 24, 56)


# ---------------------------------------------------------------------------------------------
# cuts
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["fast", "official"])
def test_cut_separates_windows(mode):
    engine = Derainer(StandInNet(frames=T), mode=mode)
    clip = video(9, 16, 16)
    other = clip.clone()
    other[4:] = video(5, 16, 16, seed=7)
    a, b = engine(clip, cuts=[4]), engine(other, cuts=[4])
    assert torch.equal(a[:4], b[:4])
    assert torch.equal(a, torch.cat([engine(clip[:4]), engine(clip[4:])]))
    assert not torch.equal(engine(clip)[:4], engine(other)[:4])   # without the cut they do mix


# ---------------------------------------------------------------------------------------------
# streams
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,stride,batch", [("fast", None, 1), ("official", None, 1), ("official", 2, 1),
                                               ("fast", 2, 1), ("official", None, 3), ("fast", None, 2)])
def test_stream_equals_call(mode, stride, batch):
    engine = Derainer(StandInNet(frames=T), mode=mode, stride=stride, batch_size=batch)
    for n, cuts in [(1, None), (2, None), (T, None), (T + 1, None), (2 * T + 3, None), (10, [1, 5, 6])]:
        clip = video(n, 16, 8, seed=n)
        streamed = torch.stack(per_frame_streams(engine, clip, cuts=cuts))
        assert torch.equal(streamed, engine(clip, cuts=cuts))


def test_stream_inline_cut_flags_and_numpy_frames():
    engine = Derainer(StandInNet(frames=T), mode="official")
    clip = video(8, 8, 16)
    expected = engine(clip, cuts=[3])
    pairs = [(frame.numpy(), i == 3) for i, frame in enumerate(clip)]
    out = list(engine.stream(pairs))
    assert all(isinstance(f, np.ndarray) and f.dtype == np.float32 for f in out)
    assert np.array_equal(np.stack(out), expected.numpy())


def test_stream_plans_and_releases_exactly_like_plan():
    """The incremental driver schedules plan()'s windows and releases no frame before all of its
    windows are in: every released frame equals the random-access blend over plan()."""
    from models.stream import Driver

    for mode, stride, batch in [("fast", None, 1), ("official", None, 1), ("fast", 2, 2), ("official", 2, 3)]:
        engine = Derainer(StandInNet(frames=4, overlap=(1, 4, 4)), mode=mode, stride=stride, batch_size=batch)
        for n in (1, 2, 4, 5, 6, 9, 11):
            clip = video(n, 8, 8, seed=n)
            for cuts in ([], [n // 2], [1, n - 1]):
                cut_set = {c for c in cuts if 0 < c < n}
                plan = engine.plan(n, cuts=sorted(cut_set))
                outputs = {w: engine.run_window(clip[w.start:w.stop]) for w in plan}
                scheduled: list[Window] = []
                driver = Driver(engine)
                original = driver._schedule
                driver._schedule = lambda w: (scheduled.append(w), original(w))
                released = []
                for i in range(n):
                    released += driver.push(clip[i], i in cut_set)
                released += driver.finish()
                assert scheduled == plan
                assert [i for i, _ in released] == list(range(n))
                for i, frame in released:
                    expected = combine(i, [(w, outputs[w]) for w in windows_covering(plan, i)], clip[i])
                    assert torch.allclose(frame, expected, atol=1e-6), (mode, stride, batch, n, cuts, i)
                assert driver.peak_buffered <= engine.max_buffered_frames


@pytest.mark.parametrize("mode,batch", [("fast", 1), ("official", 1), ("official", 2)])
def test_stream_holds_a_bounded_number_of_frames(mode, batch):
    engine = Derainer(StandInNet(frames=T), mode=mode, batch_size=batch)
    pulled = 0

    def frames():
        nonlocal pulled
        for frame in video(20, 8, 8):
            pulled += 1
            yield frame

    lags = [pulled - i for i, _ in enumerate(engine.stream(frames()))]
    assert len(lags) == 20
    assert max(lags) <= engine.max_buffered_frames
    assert lags[0] < 20                      # outputs start before the stream ends
    if batch == 1:
        assert engine.max_buffered_frames == T + 1


# ---------------------------------------------------------------------------------------------
# data types
# ---------------------------------------------------------------------------------------------

def test_uint8_round_trip_numpy_and_torch():
    net = IdentityNet(frames=T, tile=(16, 16), overlap=(2, 4, 4))
    clip = (video(5, 20, 24) * 255).round().to(torch.uint8)
    engine = Derainer(net, mode="official")
    out = engine(clip)
    assert out.dtype == torch.uint8 and torch.equal(out, clip)
    out_np = engine(clip.numpy())
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.uint8
    assert np.array_equal(out_np, clip.numpy())
    streamed = list(engine.stream(clip.numpy()))
    assert np.array_equal(np.stack(streamed), clip.numpy())


def test_float_values_outside_0_1_are_kept_exactly():
    """The network sees the clamped frame; what lies outside [0, 1] (superwhite, sub-black) comes back
    unchanged: an identity network gives float input back bit for bit, on every path."""
    net = IdentityNet(frames=T)
    clip = video(7, 8, 8) * 1.3 - 0.15                     # -0.15 .. 1.15, as colour conversion makes
    assert clip.min() < 0 and clip.max() > 1
    engine = Derainer(net, mode="fast")
    assert torch.equal(engine(clip), clip)
    out = engine(clip.numpy().astype(np.float64))
    assert out.dtype == np.float32 and np.array_equal(out, clip.numpy())
    assert torch.equal(torch.stack(list(engine.stream(iter(clip)))), clip)
    plan = engine.plan(7)
    outputs = {w: engine.run_window(clip[w.start:w.stop], w.start) for w in plan}
    frames = [combine(i, [(w, outputs[w]) for w in windows_covering(plan, i)], clip[i]) for i in range(7)]
    assert torch.equal(torch.stack(frames), clip)
    assert all(float(x.min()) >= 0 and float(x.max()) <= 1 for x in net.inputs)   # the network saw [0, 1]
    official = Derainer(net, mode="official")(clip)
    assert torch.allclose(official, clip, atol=1e-6)
    outside = (clip < 0) | (clip > 1)
    assert torch.equal(official[outside], clip[outside])


def test_the_network_changes_the_clamped_frame_and_the_rest_is_added_back():
    net = StandInNet(frames=T)
    clip = video(5, 16, 16) * 1.2 - 0.1
    clamped = clip.clamp(0, 1)
    engine = Derainer(net, mode="official")
    assert torch.equal(engine(clip), engine(clamped) + (clip - clamped))
    assert engine(clamped).min() >= 0 and engine(clamped).max() <= 1   # the network's own output is clamped


def test_uint8_output_saturates_at_the_type_limits():
    class Brighten(IdentityNet):
        def forward(self, x):
            return x * 2

    clip = (video(4, 8, 8) * 255).round().to(torch.uint8)
    out = Derainer(Brighten(frames=T))(clip)
    expected = (clip.float() / 255 * 2).clamp(0, 1).mul(255).round().to(torch.uint8)
    assert out.dtype == torch.uint8 and torch.equal(out, expected)


@pytest.mark.parametrize("scale,shift,message", [
    (255, 0, "looks like 0..255 values: divide by 255 or pass uint8"),
    (65535, 0, "looks like 16-bit values"),
    (5, -2, "float frames must be on the 0..1 scale"),
])
def test_float_frames_on_a_wrong_scale_are_refused(scale, shift, message):
    engine = Derainer(IdentityNet(frames=T))
    clip = video(5, 8, 8) * scale + shift
    with pytest.raises(ValueError, match=message):
        engine(clip)
    good = video(5, 8, 8)
    with pytest.raises(ValueError, match=f"Frame 3 has float values .*{message}"):
        list(engine.stream([good[0], good[1], good[2], clip[3], good[4]]))
    with pytest.raises(ValueError, match=f"Frame 11 has float values .*{message}"):
        engine.run_window(torch.stack([good[0], clip[1]]), 10)


def test_nan_and_inf_are_refused_on_the_random_access_path_naming_the_frame():
    engine = Derainer(IdentityNet(frames=T))
    frames = video(3, 8, 8)
    frames[1, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="Frame 8 contains NaN or infinite values"):
        engine.run_window(frames, 7)
    frames[1, 0, 2, 2] = float("inf")
    with pytest.raises(ValueError, match="Frame 1 contains NaN or infinite values"):
        engine.run_window(frames)
    with pytest.raises(ValueError, match="Frame 4 contains NaN"):
        list(engine.stream([*video(4, 8, 8), frames[1]]))


def test_run_window_clamps_the_network_input_not_its_output():
    class Doubling(IdentityNet):
        def forward(self, x):
            super().forward(x)
            return x * 2

    net = Doubling(frames=T)
    frames = video(2, 8, 8) * 1.2 - 0.1
    out = Derainer(net).run_window(frames.double())
    assert out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.equal(net.inputs[-1][0, :2], frames.clamp(0, 1))
    assert torch.allclose(out, frames.clamp(0, 1) * 2) and out.max() > 1.5


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad,message", [
    (torch.zeros(3, 8, 8), "(N, 3, H, W)"),
    (torch.zeros(2, 1, 8, 8), "(N, 3, H, W)"),
    (torch.zeros(0, 3, 8, 8), "at least one frame"),
    (torch.full((2, 3, 8, 8), float("nan")), "NaN"),
    (np.full((2, 3, 8, 8), np.inf, np.float32), "NaN or infinite"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.int32), "uint8"),
    ([[0.0]], "numpy array or torch tensor"),
])
def test_bad_video_errors(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Derainer(IdentityNet())(bad)


def test_stream_errors():
    engine = Derainer(IdentityNet())
    with pytest.raises(ValueError, match="one frame size"):
        list(engine.stream([torch.zeros(3, 8, 8), torch.zeros(3, 8, 16)]))
    with pytest.raises(ValueError, match="no frames"):
        list(engine.stream([]))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        list(engine.stream([torch.zeros(8, 8, 3)]))
    with pytest.raises(ValueError, match="NaN"):
        list(engine.stream([torch.zeros(3, 8, 8), torch.full((3, 8, 8), float("inf"))]))


@pytest.mark.parametrize("kwargs,message", [
    ({"mode": "slow"}, "mode must be 'fast' or 'official', got 'slow'"),
    ({"stride": 0}, "stride must be"),
    ({"stride": T + 1}, "stride must be"),
    ({"tile": 4}, "multiple of 8"),
    ({"tile": 20}, "multiple of 8"),
    ({"tile": (16, 12)}, "multiple of 8"),
    ({"tile_overlap": 16}, "smaller than the tile"),
    ({"tile_overlap": -2}, ">= 0"),
    ({"batch_size": 0}, "batch_size"),
    ({"dtype": torch.float16, "device": "cpu"}, "dtype=torch.float16 needs a CUDA GPU"),
    ({"dtype": "half", "device": "cpu"}, "dtype='half' needs a CUDA GPU; on the CPU use dtype='bfloat16' or "
                                         "dtype='float32'"),
    ({"dtype": torch.int8}, "Unsupported dtype"),
    ({"device": "nonsense"}, "device must be 'cpu', 'cuda', 'cuda:N', a GPU index, or None"),
    ({"device": -1}, "not a GPU index"),
])
def test_bad_settings_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Derainer(IdentityNet(), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no GPU"):
        Derainer(IdentityNet(), device="cuda")


def test_other_errors():
    with pytest.raises(ValueError, match="no .preset"):
        Derainer(torch.nn.Identity())
    engine = Derainer(IdentityNet(frames=T))
    with pytest.raises(ValueError, match="1 to T=3 frames"):
        engine.run_window(video(4))
    with pytest.raises(ValueError, match="outside the video"):
        engine(video(4), cuts=[9])
    with pytest.raises(ValueError, match="one flag per frame"):
        engine.plan(4, cuts=[True, False])
    with pytest.raises(ValueError, match="positive integer"):
        engine.plan(0)
    with pytest.raises(ValueError, match="No window covers"):
        combine(5, [], None)


def test_temporal_overlap_from_three_value_overlap():
    engine = Derainer(IdentityNet(frames=5), mode="official", tile_overlap=(3, 8, 8))
    assert engine.stride == 2 and engine.tile_overlap == (8, 8)
    with pytest.raises(ValueError, match="temporal overlap"):
        Derainer(IdentityNet(frames=5), mode="official", tile_overlap=(5, 8, 8))


# ---------------------------------------------------------------------------------------------
# the real network (once models.build exists)
# ---------------------------------------------------------------------------------------------

def _build_tiny():
    import models

    build = getattr(models, "build", None)
    if build is None:
        pytest.skip("models.build is not available yet")
    torch.manual_seed(0)
    return build("tiny")


@pytest.mark.parametrize("mode", ["fast", "official"])
def test_tiny_network_sizes_and_stream(mode):
    net = _build_tiny()
    engine = Derainer(net, mode=mode, tile=32, tile_overlap=8)
    clip = video(net.preset.protocol.frames + 1, 40, 20)      # 2 tiles down, one padded tile across
    out = engine(clip)
    assert out.shape == clip.shape and torch.isfinite(out).all()
    assert not torch.allclose(out, clip.clamp(0, 1), atol=1e-3)
    assert torch.equal(torch.stack(per_frame_streams(engine, clip)), out)


def test_tiny_network_small_frames_are_padded_to_its_minimum():
    net = _build_tiny()
    engine = Derainer(net, mode="fast", tile=0)
    assert engine.min_size == 32
    out = engine(video(2, 12, 20))
    assert out.shape == (2, 3, 12, 20)
    with pytest.raises(ValueError, match="at least 32"):
        Derainer(net, tile=16)


def test_bfloat16_runs_on_the_cpu_close_to_float32(tiny_net):
    """Autocast in bfloat16 on a CPU: really lower precision (not silently float32), yet close, and the
    Mamba layers' scan still gets float32 SSM parameters."""
    from models import scan

    video = torch.rand(7, 3, 40, 48, generator=torch.Generator().manual_seed(3))
    exact = Derainer(tiny_net, device="cpu")(video)
    seen: list[tuple[torch.dtype, torch.dtype]] = []
    original = scan.selective_scan

    def spy(u, delta, A, *args, **kwargs):
        seen.append((u.dtype, A.dtype))
        return original(u, delta, A, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("models.bimamba.selective_scan", spy)
        fast = Derainer(tiny_net, device="cpu", dtype="bf16")(video)
    assert fast.dtype == torch.float32 and fast.shape == exact.shape
    assert seen and all(u == torch.bfloat16 and a == torch.float32 for u, a in seen)
    err = (fast - exact).abs()
    assert 0 < err.max() < 0.05 and err.mean() < 5e-3


def test_the_engine_flushes_denormal_floats_on_the_cpu():
    """Denormals make CPU arithmetic slow; the engine turns on flush-to-zero in the thread that runs it."""
    tiny_value = torch.tensor([1e-30])
    torch.set_flush_denormal(False)
    try:
        assert (tiny_value * 1e-10).item() != 0          # a denormal result survives by default
        Derainer(IdentityNet(), device="cpu")(torch.rand(2, 3, 32, 32))
        assert (tiny_value * 1e-10).item() == 0          # and is flushed after the engine ran
    finally:
        torch.set_flush_denormal(False)
