"""SMPTE timecodes (``HH:MM:SS:FF``, drop-frame ``HH:MM:SS;FF``) moved on by a number of frames.

A frame range (``--start N``) makes the output's first frame the source's frame N, so the timecode
the output carries (a QuickTime timecode track, a Matroska ``TIMECODE`` tag) must name that frame.
Timecodes count frames at the nominal rate (30 for 29.97 fps); drop-frame timecodes skip the labels
``;00`` and ``;01`` (``;00``-``;03`` at 59.94 fps) at the start of every minute except each tenth, so
that they keep up with the clock. Frame labels wrap at 24 hours, as the timecode's clock does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")
_DAY_S = 24 * 3600


@dataclass(frozen=True)
class Timecode:
    """A timecode as a frame number from 00:00:00:00 at ``fps`` nominal frames per second."""

    frame: int
    fps: int
    drop: bool

    @classmethod
    def parse(cls, text: str, rate: Fraction) -> Timecode:
        """Read ``text`` for a video of ``rate`` frames per second; ValueError if it is no valid timecode."""
        match = _TIMECODE.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not HH:MM:SS:FF")
        hours, minutes, seconds, frames = (int(match.group(i)) for i in (1, 2, 3, 5))
        drop = match.group(4) != ":"  # FFmpeg's rule: ';', '.' or ',' before the frames mean drop-frame
        rate = Fraction(rate.numerator, rate.denominator)  # PyAV gives its own rational type
        fps = round(rate)
        if fps <= 0 or minutes > 59 or seconds > 59 or frames >= fps:
            raise ValueError(f"{text!r} is no timecode at {fps} frames per second")
        if drop and fps % 30:
            raise ValueError(f"{text!r} is drop-frame, which a {float(rate):g} fps video has not")
        dropped = _dropped_per_minute(fps) if drop else 0
        if dropped and seconds == 0 and frames < dropped and minutes % 10:
            raise ValueError(f"{text!r} is a label drop-frame timecode skips")
        total_minutes = 60 * hours + minutes
        frame = (3600 * hours + 60 * minutes + seconds) * fps + frames
        frame -= dropped * (total_minutes - total_minutes // 10)
        return cls(frame, fps, drop)

    def __add__(self, frames: int) -> Timecode:
        return Timecode((self.frame + frames) % self._frames_per_day(), self.fps, self.drop)

    def _frames_per_day(self) -> int:
        return _DAY_S * self.fps - (_dropped_per_minute(self.fps) * 24 * 54 if self.drop else 0)

    def __str__(self) -> str:
        frame = self.frame
        if self.drop:  # put back the labels skipped before this frame
            dropped = _dropped_per_minute(self.fps)
            per_minute = 60 * self.fps - dropped
            per_ten = 10 * per_minute + dropped
            tens, within = divmod(frame, per_ten)
            frame += 9 * dropped * tens + (dropped * ((within - dropped) // per_minute) if within >= dropped else 0)
        seconds, frames = divmod(frame, self.fps)
        separator = ";" if self.drop else ":"
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}{separator}{frames:02d}"


def _dropped_per_minute(fps: int) -> int:
    return fps // 15  # 2 at 30 fps, 4 at 60 fps


def shift_timecode(text: str, frames: int, rate: Fraction) -> str:
    """The timecode ``frames`` frames after ``text`` for a video of ``rate`` fps (ValueError if invalid)."""
    return str(Timecode.parse(text, rate) + frames)
