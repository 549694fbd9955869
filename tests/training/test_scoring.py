"""``training.scoring``: streak brightness left, flat-field shift and the temporal-median baseline."""
from __future__ import annotations

import numpy as np
import pytest

from training.metrics import rgb_to_y
from training.scoring import field_shift, streak_brightness, summarise, temporal_median


def _grey(value: int, shape=(2, 4, 4)) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def test_streak_brightness_counts_only_rain_pixels_and_only_what_stays_above_clean():
    clean = _grey(100)
    rainy = clean.copy()
    rainy[:, 0, 0] = 200          # a bright streak pixel (+100 codes, luma +85.9)
    rainy[:, 1, 1] = 104          # a faint change, below the threshold: not a rain pixel
    step = rgb_to_y(np.full((1, 1, 3), 200, np.uint8))[0, 0] - rgb_to_y(np.full((1, 1, 3), 100, np.uint8))[0, 0]
    left, added = streak_brightness(rainy, rainy, clean)
    assert added == pytest.approx(2 * step) and left == pytest.approx(added)
    half = clean.copy()
    half[:, 0, 0] = 150           # half the streak removed
    half[:, 2, 2] = 180           # brightening elsewhere is not counted here
    left, _ = streak_brightness(half, rainy, clean)
    assert left == pytest.approx(added / 2, rel=1e-6)
    dark = clean.copy()
    dark[:, 0, 0] = 60            # over-removal counts as zero, never negative
    assert streak_brightness(dark, rainy, clean)[0] == 0


def test_field_shift_is_mean_absolute_and_signed_per_channel():
    field = _grey(128)
    out = field.astype(np.int16)
    out[..., 0] -= 6
    out[..., 2] += 3
    shift = field_shift(out.astype(np.uint8), field)
    assert shift == {"mean_abs": pytest.approx(3.0), "channels": [-6.0, 0.0, 3.0]}


def test_temporal_median_removes_a_one_frame_flash_and_keeps_a_still_clip():
    clip = _grey(50, (7, 3, 3))
    clip[3] = 250
    out = temporal_median(clip)
    assert out.dtype == np.uint8 and (out == 50).all()
    ramp = np.arange(7, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    # window of 5 kept inside the clip: frame 0 uses frames 0-4, frame 6 uses 2-6
    assert temporal_median(ramp)[:, 0, 0, 0].tolist() == [2, 2, 2, 3, 4, 4, 4]
    assert temporal_median(ramp[:2])[:, 0, 0, 0].tolist() == [0, 0]   # median of (0, 1) = 0.5, rounded to even


def test_summary_pools_streak_shares_over_clips():
    records = [{"input_psnr": 20.0, "input_ssim": 0.5, "output_psnr": 25.0, "output_ssim": 0.7,
                "streak_added": 100.0, "output_streak_left": 50.0},
               {"input_psnr": 22.0, "input_ssim": 0.7, "output_psnr": 24.0, "output_ssim": 0.8,
                "streak_added": 300.0, "output_streak_left": 30.0}]
    summary = summarise(records, ("output",))
    assert summary["streak_left"]["output"] == pytest.approx(80 / 400)
    assert summary["gain"]["psnr"] == pytest.approx(3.5)
    records[0]["streak_added"] = records[1]["streak_added"] = 0.0
    assert summarise(records, ("output",))["streak_left"]["output"] is None
