"""DerainedCapture: the cv2.VideoCapture interface over derained frames."""
from __future__ import annotations

import cv2
import numpy as np
from cv_clips import CLIP_FPS, CLIP_FRAMES, CLIP_SIZE, rainy_frames

from opencv_filter import DerainedCapture, derain_frames


def test_read_loop_over_a_file(clip, tiny_engine):
    expected = list(derain_frames(cv2.VideoCapture(str(clip)), model=tiny_engine))
    with DerainedCapture(str(clip), model=tiny_engine) as cap:
        assert cap.isOpened()
        assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == CLIP_SIZE[0]
        assert cap.get(cv2.CAP_PROP_FRAME_HEIGHT) == CLIP_SIZE[1]
        assert cap.get(cv2.CAP_PROP_FPS) == CLIP_FPS
        assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == CLIP_FRAMES
        got = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            got.append(frame)
            assert cap.get(cv2.CAP_PROP_POS_FRAMES) == len(got)  # derained frames handed out, not decoded
        assert frame is None and not cap.read()[0]  # stays at the end
        assert not cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # seeking is refused
        assert cap.get(cv2.CAP_PROP_POS_MSEC) == 1000.0 * CLIP_FRAMES / CLIP_FPS
    assert not cap.isOpened()
    assert len(got) == CLIP_FRAMES
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_wraps_an_open_capture_and_releases_it(clip, tiny_engine):
    inner = cv2.VideoCapture(str(clip))
    cap = DerainedCapture(inner, model=tiny_engine)
    assert cap.grab()
    ok, frame = cap.retrieve()
    assert ok and frame.shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    cap.release()
    assert not inner.isOpened() and not cap.read()[0]


def test_frames_iterable_reports_size_without_losing_a_frame(tiny_engine):
    frames = rainy_frames(6, size=(24, 16))
    cap = DerainedCapture(frames, model=tiny_engine, fps=30)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (24, 16)
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 6 and cap.get(cv2.CAP_PROP_FPS) == 30
    got = list(cap)
    assert len(got) == 6
    np.testing.assert_array_equal(got[0], next(derain_frames(frames, model=tiny_engine)))


def test_read_into_a_given_buffer(tiny_engine):
    frames = rainy_frames(2, size=(16, 16))
    buffer = np.zeros((16, 16, 3), np.uint8)
    ok, frame = DerainedCapture(frames, model=tiny_engine).read(buffer)
    assert ok and frame is buffer and buffer.any()


def test_a_missing_file_reads_nothing_like_videocapture(tmp_path, tiny_engine):
    cap = DerainedCapture(str(tmp_path / "missing.mp4"), model=tiny_engine)
    assert not cap.isOpened()
    assert cap.read() == (False, None)
