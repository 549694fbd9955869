"""With an identity network the filter gives exactly what a plain format round trip gives (core.resize
to RGBS and back with the same matrix and range): superwhites, sub-blacks and YUV colours outside the
RGB cube survive, bit for bit on 8-bit formats."""
from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

from tests.conftest import IdentityNet
from tests.vsrainmamba.helpers import clip_to_array
from vsrainmamba import derain

HEIGHT, WIDTH, LENGTH = 48, 64, 6   # one spatial tile of the tiny preset: no tile blending


def planes_clip(fmt: int, low: int, high: int, props: dict, seed: int = 0) -> vs.VideoNode:
    """A clip of ``fmt`` whose samples are uniform in [low, high] (per plane, subsampled planes too)."""
    core = vs.core
    blank = core.std.BlankClip(width=WIDTH, height=HEIGHT, length=LENGTH, format=fmt)
    info = blank.format
    rng = np.random.default_rng(seed)
    shapes = [(HEIGHT, WIDTH)] + [(HEIGHT >> info.subsampling_h, WIDTH >> info.subsampling_w)] * (info.num_planes - 1)
    data = [[rng.integers(low, high + 1, shape) for shape in shapes] for _ in range(LENGTH)]

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p, plane in enumerate(data[n]):
            np.copyto(np.asarray(out[p]), plane.astype(np.asarray(out[p]).dtype))
        return out

    return core.std.SetFrameProps(core.std.ModifyFrame(blank, blank, fill), **props)


def _forward(arguments: dict[str, int]) -> dict[str, int]:
    """resize's input-side names for the output-side ``matrix``/``range``."""
    return {f"{name}_in": value for name, value in arguments.items()}


def plain_round_trip(clip: vs.VideoNode, **arguments: int) -> vs.VideoNode:
    """To float RGB (float GRAY for GRAY clips) and back with the same matrix and range."""
    core = vs.core
    rgb = core.resize.Bicubic(clip, format=vs.GRAYS if clip.format.color_family == vs.GRAY else vs.RGBS,
                              **_forward(arguments))
    return core.resize.Bicubic(rgb, format=clip.format.id, **arguments)


def assert_identical(out: vs.VideoNode, expected: vs.VideoNode) -> None:
    assert out.format.id == expected.format.id
    for n in range(out.num_frames):
        a, b = out.get_frame(n), expected.get_frame(n)
        for p in range(a.format.num_planes):
            assert np.array_equal(np.asarray(a[p]), np.asarray(b[p])), f"frame {n} plane {p} differs"


OUTSIDE_THE_RGB_CUBE = [
    # limited-range 4:2:0 with sub-blacks (Y 4-15), superwhites (Y 236-250) and saturated chroma
    pytest.param(vs.YUV420P8, 4, 250, {"_Matrix": 1, "_Range": 0}, {"matrix": 1, "range": 0},
                 id="yuv420p8-709-limited"),
    pytest.param(vs.YUV444P8, 0, 255, {"_Matrix": 6, "_Range": 1}, {"matrix": 6, "range": 1}, id="yuv444p8-601-full"),
    pytest.param(vs.YUV422P8, 4, 250, {"_Matrix": 9, "_Range": 0}, {"matrix": 9, "range": 0}, id="yuv422p8-2020"),
    pytest.param(vs.GRAY8, 4, 250, {"_Range": 0}, {"range": 0}, id="gray8-limited"),
]


@pytest.mark.parametrize("fmt, low, high, props, arguments", OUTSIDE_THE_RGB_CUBE)
def test_identity_network_equals_the_plain_round_trip(fmt, low, high, props, arguments):
    clip = planes_clip(fmt, low, high, props)
    plain = plain_round_trip(clip, **arguments)
    rgb = clip_to_array(vs.core.resize.Bicubic(plain, format=vs.RGBS, **_forward(arguments)))
    assert rgb.min() < -0.01 and rgb.max() > 1.01  # the content does leave the [0, 1] cube
    assert_identical(derain(clip, model=IdentityNet(), device_index=-1), plain)


def test_identity_network_keeps_rgb24_exactly():
    clip = planes_clip(vs.RGB24, 0, 255, {})
    assert_identical(derain(clip, model=IdentityNet(), device_index=-1), clip)
