"""SMPTE timecodes moved on by frames: non-drop, drop-frame at 29.97 and 59.94 fps, wrapping at 24 hours."""
from __future__ import annotations

from fractions import Fraction

import pytest

from opencv_filter.media.timecode import Timecode, shift_timecode

NTSC, NTSC60 = Fraction(30000, 1001), Fraction(60000, 1001)


@pytest.mark.parametrize("text, frames, rate, expected", [
    ("01:02:03:04", 21, Fraction(25), "01:02:04:00"),
    ("00:59:59:23", 1, Fraction(24000, 1001), "01:00:00:00"),   # 23.976 fps counts 24 labels a second, no drops
    ("23:59:59:24", 2, Fraction(25), "00:00:00:01"),            # the clock wraps at 24 hours
    ("00:00:59;29", 1, NTSC, "00:01:00;02"),                    # ;00 and ;01 skipped at minute 1
    ("00:09:59;29", 1, NTSC, "00:10:00;00"),                    # but not at minute 10
    ("00:00:00;00", 17982, NTSC, "00:10:00;00"),                # 17982 frames in ten drop-frame minutes
    ("00:00:59;59", 1, NTSC60, "00:01:00;04"),                  # four labels at 59.94 fps
    ("00:00:59.29", 1, NTSC, "00:01:00;02"),                    # '.' marks drop-frame too (FFmpeg's rule)
    ("23:59:59;29", 1, NTSC, "00:00:00;00"),
])
def test_shift(text, frames, rate, expected):
    assert shift_timecode(text, frames, rate) == expected


def test_every_drop_frame_label_of_an_hour_is_one_frame_after_the_last():
    """Counting frame by frame from 00:00:00;00 agrees with moving on by n frames at once, label for label."""
    labels = []
    seconds = frames = 0
    while len(labels) < 30 * 3600:
        minute = seconds // 60
        if not (seconds % 60 == 0 and frames < 2 and minute % 10):
            labels.append(f"{seconds // 3600:02d}:{minute % 60:02d}:{seconds % 60:02d};{frames:02d}")
        frames += 1
        if frames == 30:
            seconds, frames = seconds + 1, 0
    for n in range(0, len(labels), 7):
        assert shift_timecode("00:00:00;00", n, NTSC) == labels[n]
        assert Timecode.parse(labels[n], NTSC).frame == n


@pytest.mark.parametrize("text, rate, reason", [
    ("01:02:03;04", Fraction(25), "drop-frame, which a 25 fps video has not"),
    ("00:01:00;01", NTSC, "a label drop-frame timecode skips"),
    ("01:02:03:25", Fraction(25), "no timecode at 25 frames per second"),
    ("01:02:03", Fraction(25), "not HH:MM:SS:FF"),
])
def test_timecodes_that_cannot_be_counted_are_refused(text, rate, reason):
    with pytest.raises(ValueError, match=reason):
        shift_timecode(text, 1, rate)
