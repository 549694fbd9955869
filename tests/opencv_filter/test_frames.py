"""derain_frames: every frame once, in order, bit-equal to the engine, in the caller's colour order and depth."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from cv_clips import CLIP_FRAMES, rainy_frames, read_video

from opencv_filter import DerainError, derain_frames


def engine_reference(engine, bgr_frames: list[np.ndarray]) -> list[np.ndarray]:
    """What the engine gives for the whole clip at once, converted back to BGR (H, W, 3)."""
    video = np.stack([f[:, :, ::-1].transpose(2, 0, 1) for f in bgr_frames])
    return [np.ascontiguousarray(f.transpose(1, 2, 0)[:, :, ::-1]) for f in engine(video)]


def test_capture_loop_matches_engine_bit_for_bit(clip, tiny_engine):
    decoded, _ = read_video(clip)
    capture = cv2.VideoCapture(str(clip))
    out = list(derain_frames(capture, model=tiny_engine))
    capture.release()
    # 7 frames with T=5: the tail (frames 5 and 6) comes from the shifted last window and must come out
    assert len(out) == len(decoded) == CLIP_FRAMES
    reference = engine_reference(tiny_engine, decoded)
    for got, want in zip(out, reference):
        assert got.shape == decoded[0].shape and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_a_network_is_wrapped_in_an_engine(tiny_engine):
    frames = rainy_frames(6)
    out = list(derain_frames(frames, model=tiny_engine.net))
    for got, want in zip(out, engine_reference(tiny_engine, frames), strict=True):
        np.testing.assert_array_equal(got, want)


def test_rgb_flag_swaps_both_ways(tiny_engine):
    bgr = rainy_frames(5)
    from_bgr = list(derain_frames(bgr, model=tiny_engine))
    from_rgb = list(derain_frames([f[:, :, ::-1] for f in bgr], model=tiny_engine, rgb=True))
    for a, b in zip(from_bgr, from_rgb, strict=True):
        np.testing.assert_array_equal(a, b[:, :, ::-1])


def test_uint16_frames_come_back_uint16(tiny_engine):
    eight = list(derain_frames(rainy_frames(5), model=tiny_engine))
    sixteen = list(derain_frames(rainy_frames(5, dtype=np.uint16), model=tiny_engine))
    assert [f.dtype for f in sixteen] == [np.dtype(np.uint16)] * 5
    for a, b in zip(eight, sixteen, strict=True):  # same picture, finer steps
        assert np.abs(b.astype(np.int64) - a.astype(np.int64) * 257).max() <= 257


def test_any_frame_size_and_a_4d_array(tiny_engine):
    frames = np.stack(rainy_frames(3, size=(37, 21)))  # odd sizes, fewer frames than T
    out = list(derain_frames(frames, model=tiny_engine))
    assert [f.shape for f in out] == [(21, 37, 3)] * 3


def test_lookahead_is_bounded(tiny_engine):
    """The wrapper pulls at most one buffer of frames ahead of what it has yielded."""
    pulled = 0

    def source():
        nonlocal pulled
        for frame in rainy_frames(12, size=(16, 16)):
            pulled += 1
            yield frame

    yielded = 0
    for _ in derain_frames(source(), model=tiny_engine):
        yielded += 1
        assert pulled - yielded <= tiny_engine.max_buffered_frames
    assert yielded == 12


@pytest.mark.parametrize("frames, message", [
    ([np.zeros((16, 16, 3), np.uint8), np.zeros((24, 16, 3), np.uint8)], "one frame size"),
    ([np.zeros((16, 16), np.uint8)], "expected (H, W, 3)"),
    ([np.zeros((16, 16, 3), np.float32)], "uint8 or uint16"),
    (["not a frame"], "not a numpy array"),
])
def test_bad_frames_give_one_clear_error(tiny_engine, frames, message):
    with pytest.raises(DerainError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(derain_frames(frames, model=tiny_engine))


def test_an_unopened_capture_fails_at_the_call(tiny_engine, tmp_path):
    with pytest.raises(DerainError, match="not open"):
        derain_frames(cv2.VideoCapture(str(tmp_path / "missing.mp4")), model=tiny_engine)


def test_a_missing_model_fails_at_the_call(tmp_path):
    with pytest.raises((FileNotFoundError, ValueError), match="missing.safetensors"):
        derain_frames(rainy_frames(2), model=str(tmp_path / "missing.safetensors"))


class _ShortCapture:
    """A capture that announces more frames (CAP_PROP_FRAME_COUNT) than it gives, like a truncated file."""

    def __init__(self, frames, announced):
        self.frames, self.announced, self.position = list(frames), announced, 0

    def isOpened(self):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FRAME_COUNT: self.announced, cv2.CAP_PROP_POS_FRAMES: self.position}.get(prop, 0.0)

    def read(self):
        if self.position >= len(self.frames):
            return False, None
        self.position += 1
        return True, self.frames[self.position - 1]


def test_a_capture_that_ends_before_its_frame_count_warns(tiny_engine):
    frames = rainy_frames(4)
    with pytest.warns(UserWarning, match="ended after 4 of the 7 frames it announced"):
        out = list(derain_frames(_ShortCapture(frames, 7), model=tiny_engine, scene_change=False))
    assert len(out) == 4


def test_a_whole_capture_does_not_warn(clip, tiny_engine, recwarn):
    out = list(derain_frames(cv2.VideoCapture(str(clip)), model=tiny_engine))
    assert len(out) == CLIP_FRAMES
    assert not [w for w in recwarn if "announced" in str(w.message)]
