"""NaN or infinite input pixels: every output frame whose window needs that input frame raises one
readable vs.Error naming it; the other frames render."""
from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

import vsrainmamba.filter as filter_module
from tests.conftest import IdentityNet
from tests.vsrainmamba.helpers import clip_from_array, frame_array, shots_video
from vsrainmamba import derain

BAD = 2


def inputs_needed(video: np.ndarray, n: int, monkeypatch, **options) -> set[int]:
    """The input frames a fresh filter reads to render output frame n (the scene cuts it finds may
    depend on the bad values: an infinite pixel makes an infinite luma step)."""
    read: set[int] = set()
    real = filter_module.frame_to_tensor

    def recording(frame, k):
        read.add(k)
        return real(frame, k)

    with monkeypatch.context() as patch:
        patch.setattr(filter_module, "frame_to_tensor", recording)
        try:
            derain(clip_from_array(video), model=IdentityNet(), device_index=-1, **options).get_frame(n)
        except vs.Error:
            pass
    return read


@pytest.mark.parametrize("bad_value, options", [
    ("nan_patch", {}),
    ("inf_pixel", {"scene_change": False}),
    ("-inf_pixel", {"mode": "official"}),
])
def test_frames_whose_window_needs_a_non_finite_frame_fail_the_others_render(bad_value, options, monkeypatch):
    video = shots_video([12], height=24, width=32)
    clean = video.copy()
    if bad_value == "nan_patch":
        video[BAD, :, 5:15, 8:18] = np.nan
    else:
        video[BAD, 1, 3, 4] = -np.inf if bad_value.startswith("-") else np.inf
    out = derain(clip_from_array(video), model=IdentityNet(), device_index=-1, **options)
    failed = []
    for n in range(len(video)):
        needs_bad = BAD in inputs_needed(video, n, monkeypatch, **options)
        if needs_bad:
            with pytest.raises(vs.Error) as error:
                out.get_frame(n)
            # VapourSynth prints the frame callback's own few lines above it; the error is our one sentence
            text = str(error.value)
            message = text.strip().splitlines()[-1].removeprefix("vapoursynth.Error: ")
            assert message.startswith(f"rainmamba: frame {n} cannot be derained: input frame {BAD} has NaN or "
                                      "infinite pixel values") and message.endswith("(e.g. with std.Expr).")
            assert "torch" not in text and "frames.py" not in text
            failed.append(n)
        else:
            frame = frame_array(out.get_frame(n))
            assert np.isfinite(frame).all()
            np.testing.assert_allclose(frame, clean[n], rtol=0, atol=1e-6)
    assert BAD in failed and len(failed) < len(video)


def test_the_check_names_the_frame_for_half_precision_clips_too():
    video = shots_video([6], height=16, width=16)
    video[4, 0, 0, 0] = np.inf
    half = vs.core.resize.Point(clip_from_array(video), format=vs.RGBH)
    out = derain(half, model=IdentityNet(), device_index=-1, scene_change=False)
    with pytest.raises(vs.Error, match="input frame 4 has NaN or infinite"):
        out.get_frame(4)
