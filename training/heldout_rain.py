"""Rain the trainer never renders: held-out kinds for ``rainmamba ship-eval`` only.

:mod:`training.synth` draws streaks as anti-aliased lines, screen-blended. To test whether a model removes
rain rather than inverting that one renderer, this module makes rain another way, the way image-editing
tutorials and several deraining datasets do: a sparse random-dot field, smeared along the fall direction
with a line kernel (motion blur), softened to the streak width and *added* to the scene. The dot field moves
with the wind from frame to frame, so the rain is temporally coherent. On top of that, each kind adds its own
weather:

- ``thin_bright``: thin, bright streaks only;
- ``veiled_wide``: wide, soft streaks and a flat veiling glow (the scene's contrast drops towards grey);
- ``dark``: streaks darker than the scene (rain against a bright sky), multiplied instead of added;
- ``overcast``: the whole scene dimmed and flattened, with streaks on top.

Nothing in the training data code may import this module: that is what keeps it held out (a test checks).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["HELDOUT_KINDS", "HeldOutRain", "add_heldout_rain"]

Range = tuple[float, float]
HELDOUT_KINDS = ("thin_bright", "veiled_wide", "dark", "overcast")


@dataclass(frozen=True)
class HeldOutRain:
    """One held-out rain kind and the ranges (low, high) each clip's settings are drawn from."""

    kind: str
    density: Range = (0.004, 0.01)      # share of pixels seeding a streak
    length: Range = (15.0, 30.0)        # motion-blur length, pixels
    angle: Range = (-20.0, 20.0)        # degrees from vertical
    width: Range = (0.0, 0.6)           # extra Gaussian softening, pixels (0: one pixel wide)
    strength: Range = (0.5, 0.9)        # peak streak brightness (darkening for ``dark``), 0..1
    speed: Range = (8.0, 20.0)          # fall speed, pixels per frame
    veil: Range = (0.0, 0.0)            # veiling glow opacity, 0..1
    dim: Range = (0.0, 0.0)             # overcast dimming of the scene, 0..1

    def __post_init__(self) -> None:
        if self.kind not in HELDOUT_KINDS:
            raise ValueError(f"Unknown held-out rain kind {self.kind!r}: choose one of {', '.join(HELDOUT_KINDS)}.")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple) and not 0 <= value[0] <= value[1] and field.name != "angle":
                raise ValueError(f"Held-out rain {field.name}={value} is invalid: give 0 <= low <= high.")

    @classmethod
    def preset(cls, kind: str) -> "HeldOutRain":
        """The settings ``ship-eval`` uses for ``kind``."""
        settings = {
            "thin_bright": {},
            "veiled_wide": {"width": (1.5, 2.5), "strength": (0.3, 0.5), "length": (25.0, 45.0), "veil": (0.2, 0.35)},
            "dark": {"strength": (0.25, 0.45), "width": (0.5, 1.0)},
            "overcast": {"dim": (0.25, 0.4), "strength": (0.3, 0.6), "density": (0.008, 0.02)},
        }
        return cls(kind, **settings[kind])


def _line_kernel(length: float, angle_deg: float) -> np.ndarray:
    size = int(np.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    centre = size // 2
    dx, dy = np.sin(np.deg2rad(angle_deg)), np.cos(np.deg2rad(angle_deg))
    for s in np.linspace(-length / 2, length / 2, 4 * size):
        x, y = int(round(centre + s * dx)), int(round(centre + s * dy))
        if 0 <= x < size and 0 <= y < size:
            kernel[y, x] = 1.0
    return kernel / kernel.sum()


def streak_field(frames: int, height: int, width: int, params: HeldOutRain,
                 rng: np.random.Generator) -> np.ndarray:
    """(T, H, W) float32 in [0, 1]: motion-blurred dots falling coherently, peak ``strength``."""
    angle, length = rng.uniform(*params.angle), rng.uniform(*params.length)
    speed, soft = rng.uniform(*params.speed), rng.uniform(*params.width)
    pad = int(length) + 4
    travel = np.array([np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))]) * speed
    big_w, big_h = (np.array([width, height]) + 2 * pad + np.ceil(np.abs(travel) * (frames - 1)) + 1).astype(int)
    dots = (rng.random((big_h, big_w)) < rng.uniform(*params.density)) * rng.uniform(0.5, 1.0, (big_h, big_w))
    blurred = cv2.filter2D(dots.astype(np.float32), -1, _line_kernel(length, angle))
    if soft > 0:
        blurred = cv2.GaussianBlur(blurred, (0, 0), soft)
    blurred /= max(float(np.percentile(blurred[blurred > 0], 99)) if (blurred > 0).any() else 1.0, 1e-6)
    layer = np.empty((frames, height, width), np.float32)
    start = pad + np.maximum(travel, 0) * (frames - 1)
    for t in range(frames):
        # the frame window moves against the fall direction, so the rain falls with it
        ox, oy = np.round(start - travel * t).astype(int)
        layer[t] = blurred[oy:oy + height, ox:ox + width]
    return np.clip(layer, 0, 1) * rng.uniform(*params.strength)


def add_heldout_rain(clean: np.ndarray, params: HeldOutRain, rng: np.random.Generator) -> np.ndarray:
    """Render ``params.kind`` rain over a clean clip (T, H, W, 3) float in [0, 1]; returns the rainy clip."""
    clip = np.asarray(clean, dtype=np.float32)
    frames, height, width = clip.shape[:3]
    streaks = streak_field(frames, height, width, params, rng)[..., None]
    if params.kind == "overcast":
        dim = rng.uniform(*params.dim)
        clip = clip * (1 - dim) + dim * 0.3 * clip.mean()              # darker and flatter
    if params.veil[1] > 0:
        veil = rng.uniform(*params.veil)
        clip = clip * (1 - veil) + veil * rng.uniform(0.75, 0.9)
    if params.kind == "dark":
        return np.clip(clip * (1 - streaks), 0, 1)
    return np.clip(clip + streaks, 0, 1)
