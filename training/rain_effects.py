"""The weather around the streaks of :mod:`training.synth`: what real rain adds besides bright lines.

Each function takes a clip (T, H, W, 3) or a streak layer (T, H, W) float32 in [0, 1] and a seeded
``np.random.Generator`` and returns a new array; :func:`training.synth.add_rain` decides per sequence which
apply (the ``RainParams`` probabilities), so every effect can be trained on, or left out, on its own.

- :func:`overcast`: the dimming and contrast loss of an overcast sky; a change of lighting, applied to
  the clean *and* the rainy clip, so that a model learns to leave it alone;
- :func:`haze`: bright, flat light (sunlit haze, snow, glare) lifting the whole scene towards a pale level; a
  look of rain-free footage that resembles a veiled rainy scene, given to rain-free pairs so that a model learns
  to keep it;
- :func:`veil`: mist and veiling, light scattered by the rain that lifts every pixel towards a drifting,
  smooth glow;
- :func:`splashes`: drops bursting on the ground in the lower part of the frame, each visible a frame or two;
- :func:`defocus`: a streak layer blurred as the lens blurs rain off the focal plane;
- :func:`darken`: streaks darker than the scene (rain against a bright sky), multiplied in.
"""
from __future__ import annotations

import cv2
import numpy as np

from .scenes import value_noise

__all__ = ["darken", "defocus", "haze", "overcast", "splashes", "veil"]


def overcast(clip: np.ndarray, strength: float) -> np.ndarray:
    """Dim by ``strength`` (0..1) and pull the contrast towards the clip's mean by half as much."""
    mean = clip.mean(axis=(1, 2, 3), keepdims=True)
    flat = clip + (mean - clip) * (strength / 2)
    return flat * (1 - strength)


def haze(clip: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Blend the whole clip by ``strength`` (0..1) towards one pale, slightly tinted level: bright and flat."""
    level = rng.uniform(0.7, 1.0) * rng.uniform(0.92, 1.0, 3).astype(np.float32)
    return clip * (1 - strength) + level * strength


def veil(clip: np.ndarray, opacity: float, rng: np.random.Generator) -> np.ndarray:
    """Blend towards a bright, smooth, slowly drifting glow with mean opacity ``opacity``."""
    frames, height, width = clip.shape[:3]
    texture = value_noise(rng, height + frames + 1, width, octaves=2, base_cells=2)
    level = rng.uniform(0.75, 0.95)
    out = np.empty_like(clip)
    for t in range(frames):   # the glow drifts down a pixel a frame, with the rain
        amount = opacity * (0.7 + 0.6 * texture[frames - t:frames - t + height])[..., None]
        out[t] = clip[t] * (1 - amount) + level * amount
    return out


def splashes(frames: int, height: int, width: int, count: float, rng: np.random.Generator) -> np.ndarray:
    """A (T, H, W) layer of splashes: about ``count`` per frame per 100x100 px in the lower half, each a small
    crown of bright dots lasting one or two frames."""
    layer = np.zeros((frames, height, width), np.float32)
    per_frame = count * height * width / 1e4
    for t in range(frames):
        for _ in range(rng.poisson(per_frame)):
            x, y = rng.uniform(0, width), rng.uniform(height / 2, height)
            radius = rng.uniform(1.0, 3.0)
            life = 1 + int(rng.random() < 0.5)
            angles = rng.uniform(np.pi, 2 * np.pi, rng.integers(4, 8))      # upward-thrown droplets
            for age in range(life):
                if t + age >= frames:
                    break
                spread = radius * (1 + age)
                for a in angles:
                    px, py = int(round(x + spread * np.cos(a))), int(round(y + spread * np.sin(a) * 0.6))
                    if 0 <= px < width and 0 <= py < height:
                        layer[t + age, py, px] = max(layer[t + age, py, px], rng.uniform(0.4, 0.9) / (1 + age))
    for t in range(frames):
        layer[t] = cv2.GaussianBlur(layer[t], (0, 0), 0.7)
    return np.clip(layer * 2.5, 0, 1)


def defocus(layer: np.ndarray, sigma: float) -> np.ndarray:
    """Blur each frame of a streak layer by a Gaussian of ``sigma`` pixels, keeping its total light."""
    if sigma <= 0:
        return layer
    return np.stack([cv2.GaussianBlur(frame, (0, 0), sigma) for frame in layer])


def darken(clip: np.ndarray, streaks: np.ndarray, depth: float) -> np.ndarray:
    """Multiply streaks in as shadows: a streak pixel of value s keeps ``1 - depth * s`` of the light."""
    return clip * (1 - depth * streaks)
