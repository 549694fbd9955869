"""PSNR and SSIM the way the deraining papers compute them (docs/NETWORK.md, "Metrics").

Images are 8-bit (H, W, 3) RGB arrays. RGB metrics use all three channels with no border crop; SSIM is the
MATLAB-style one (11x11 Gaussian window, sigma 1.5, statistics over the fully covered region only),
computed per channel and averaged. Y metrics use the BT.601 luma of MATLAB's rgb2ycbcr,
Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, kept in floating point (not re-quantised), as the Python
evaluation tools of these papers (mmedit, basicsr) do.
"""
from __future__ import annotations

import cv2
import numpy as np

_K1, _K2 = 0.01, 0.03


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 by clamp, scale and round (mmedit's tensor2img); uint8 passes through."""
    if frame.dtype == np.uint8:
        return frame
    return (np.clip(frame.astype(np.float64), 0.0, 1.0) * 255.0).round().astype(np.uint8)


def rgb_to_y(frame: np.ndarray) -> np.ndarray:
    """BT.601 luma in [16, 235] (float64) of an 8-bit RGB (H, W, 3) frame."""
    rgb = frame.astype(np.float64)
    return 16.0 + (rgb @ np.array([65.481, 128.553, 24.966])) / 255.0


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"cannot compare frames of shapes {a.shape} and {b.shape}: they must be the same size.")


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB over every pixel and channel; inf for identical images."""
    _check(a, b)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range ** 2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable correlation of a 2-D float64 image with ``taps`` on both axes, kept where the window fits."""
    r = taps.size // 2
    return cv2.sepFilter2D(img, cv2.CV_64F, taps, taps, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]


def _ssim_channel(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    taps = _gaussian_window()
    if min(a.shape) < taps.size:
        raise ValueError(f"SSIM needs frames of at least {taps.size}x{taps.size} pixels, got {a.shape[1]}x{a.shape[0]}.")
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, taps), _filter_valid(b, taps)
    var_a = _filter_valid(a * a, taps) - mu_a ** 2
    var_b = _filter_valid(b * b, taps) - mu_b ** 2
    cov = _filter_valid(a * b, taps) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """MATLAB-style SSIM; (H, W, C) images are scored per channel and averaged, (H, W) directly."""
    _check(a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if a64.ndim == 2:
        return _ssim_channel(a64, b64, data_range)
    return float(np.mean([_ssim_channel(a64[..., c], b64[..., c], data_range) for c in range(a64.shape[2])]))


def frame_metrics(output: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM on RGB and on Y of one pair of 8-bit RGB frames."""
    out_y, gt_y = rgb_to_y(output), rgb_to_y(target)
    return {"psnr": psnr(output, target), "ssim": ssim(output, target),
            "psnr_y": psnr(out_y, gt_y), "ssim_y": ssim(out_y, gt_y)}
