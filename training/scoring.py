"""The scores of ``rainmamba ship-eval``: fidelity to the clean clip, rain left behind, changes to clean input.

All take 8-bit RGB clips (T, H, W, 3).

- :func:`mean_scores`: RGB PSNR (dB) and MATLAB-style SSIM against the clean frames, mean over frames.
- :func:`streak_brightness`: the brightness rain adds and the part of it an output keeps. Rain pixels are
  those where the rainy frame's luma exceeds the clean frame's by more than :data:`STREAK_THRESHOLD`
  (BT.601 luma Y on the 8-bit scale, :func:`training.metrics.rgb_to_y`). On them,
  ``added = sum(Y(rainy) - Y(clean))`` and ``left = sum(max(Y(out) - Y(clean), 0))``; the share of streak
  brightness left is ``left / added``, pooled over every rain pixel of every clip of a set (1.0: the rain
  is untouched; 0: every rain pixel is at or below its clean value).
- :func:`field_shift`: how far an output moves a still flat field: the mean absolute difference in 8-bit
  codes over pixels and channels, and the signed mean difference per channel.
- :func:`temporal_median`: the baseline every score is also given for, a 5-frame temporal median.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import psnr, rgb_to_y, ssim

__all__ = ["MEDIAN_FRAMES", "STREAK_THRESHOLD", "field_shift", "mean_scores", "streak_brightness",
           "summarise", "temporal_median"]

STREAK_THRESHOLD = 10.0     # luma codes (8-bit scale) a pixel must gain to count as a rain pixel
MEDIAN_FRAMES = 5


def mean_scores(frames: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Mean PSNR and SSIM over a clip of 8-bit RGB frames (T, H, W, 3) against its clean frames."""
    if len(frames) != len(clean):
        raise ValueError(f"Cannot score {len(frames)} frames against {len(clean)} clean ones: give one per frame.")
    return {"psnr": float(np.mean([psnr(f, c) for f, c in zip(frames, clean)])),
            "ssim": float(np.mean([ssim(f, c) for f, c in zip(frames, clean)]))}


def temporal_median(clip: np.ndarray, frames: int = MEDIAN_FRAMES) -> np.ndarray:
    """Each frame replaced by the per-pixel median of the ``frames`` nearest frames (window kept inside the clip)."""
    count = len(clip)
    size = min(frames, count)
    out = np.empty_like(clip)
    for t in range(count):
        start = int(np.clip(t - size // 2, 0, count - size))
        out[t] = np.round(np.median(clip[start:start + size], axis=0)).astype(clip.dtype)
    return out


def streak_brightness(output: np.ndarray, rainy: np.ndarray, clean: np.ndarray,
                      threshold: float = STREAK_THRESHOLD) -> tuple[float, float]:
    """(left, added): luma an output keeps above clean on rain pixels, and the luma the rain added there."""
    y_clean, y_rainy, y_out = (np.stack([rgb_to_y(f) for f in clip]) for clip in (clean, rainy, output))
    rain = y_rainy - y_clean > threshold
    return float(np.maximum(y_out - y_clean, 0)[rain].sum()), float((y_rainy - y_clean)[rain].sum())


def field_shift(output: np.ndarray, field: np.ndarray) -> dict[str, Any]:
    """``mean_abs``: mean |output - field| in 8-bit codes; ``channels``: signed mean difference per RGB channel."""
    diff = output.astype(np.float64) - field.astype(np.float64)
    return {"mean_abs": float(np.abs(diff).mean()), "channels": [float(c) for c in diff.reshape(-1, 3).mean(0)]}


def summarise(records: list[dict[str, Any]], methods: tuple[str, ...]) -> dict[str, Any]:
    """Mean scores over clip records: ``input``, each method, ``gain`` (output - input) and streak shares.

    A record holds ``input_psnr``/``input_ssim``, ``<method>_psnr``/``<method>_ssim``, ``streak_added``
    and ``<method>_streak_left`` for each method ("output" is the model).
    """
    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in records]))

    summary: dict[str, Any] = {"clips": len(records)}
    for part in ("input", *methods):
        summary[part] = {"psnr": mean(f"{part}_psnr"), "ssim": mean(f"{part}_ssim")}
    summary["gain"] = {k: summary["output"][k] - summary["input"][k] for k in ("psnr", "ssim")}
    added = sum(r["streak_added"] for r in records)
    summary["streak_left"] = {m: (sum(r[f"{m}_streak_left"] for r in records) / added if added else None)
                              for m in methods}
    return summary
