"""PSNR/SSIM against scikit-image and closed-form values."""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from training.metrics import frame_metrics, psnr, rgb_to_y, ssim, to_uint8


def _pair(seed: int = 0, shape=(37, 53, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    noise = rng.integers(-25, 26, shape)
    return a, np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    return structural_similarity(a, b, channel_axis=2 if a.ndim == 3 else None, **kwargs)


@pytest.mark.parametrize("seed", [0, 1])
def test_rgb_psnr_ssim_equal_scikit_image(seed):
    a, b = _pair(seed)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-10)
    assert ssim(a, b) == pytest.approx(_sk_ssim(a, b), abs=1e-10)


def test_y_metrics_equal_scikit_image_on_luma():
    a, b = _pair(2)
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    values = frame_metrics(a, b)
    assert values["psnr_y"] == pytest.approx(peak_signal_noise_ratio(ya, yb, data_range=255), abs=1e-10)
    assert values["ssim_y"] == pytest.approx(_sk_ssim(ya, yb), abs=1e-10)
    assert values["psnr"] == pytest.approx(psnr(a, b)) and values["ssim"] == pytest.approx(ssim(a, b))


def test_closed_form_values():
    black = np.zeros((16, 16, 3), np.uint8)
    white = np.full((16, 16, 3), 255, np.uint8)
    assert rgb_to_y(black)[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(white)[0, 0] == pytest.approx(235.0)
    assert psnr(black, white) == pytest.approx(0.0)
    assert psnr(black, np.full_like(black, 1)) == pytest.approx(10 * math.log10(255 ** 2))
    assert psnr(white, white) == math.inf and ssim(white, white) == pytest.approx(1.0)


def test_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="same size"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))


def test_to_uint8_rounds_like_tensor2img():
    x = np.array([-0.1, 0.0, 0.5 / 255, 1.49 / 255, 0.5, 1.2])
    assert to_uint8(x).tolist() == [0, 0, 0, 1, 128, 255]
