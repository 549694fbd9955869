"""Clean video clips to put synthetic rain on: procedural scenes or still photos, filmed by a moving camera.

Both kinds are a large still "canvas" seen through a virtual camera that pans, zooms and rolls a little
over the clip, which gives the network the global and local motion real footage has. Procedural
canvases mix gradients, multi-octave noise textures, building-like blocks with window grids, and
random shapes, with a style drawn per seed, so that no two seeds look alike; a few independently
moving objects are drawn on top. Everything is vectorised numpy/OpenCV: a 10x128x128 clip takes a
few milliseconds.

:class:`FolderClips` cuts clean clips from the user's own material instead: videos, folders of frames,
or photos. Clips are float32 (T, H, W, 3) RGB in [0, 1].
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .datasets import read_frames
from opencv_filter.media import count_frames, is_image_file, is_video_file, list_frame_files, natural_key

__all__ = ["CameraMotion", "FolderClips", "SCENE_KINDS", "SKIMAGE_PHOTOS", "camera_clip", "foliage_scene",
           "load_skimage_photo", "photo_scene", "plain_scene", "procedural_scene", "scene_clip", "structures_scene",
           "value_noise"]

# what ``rainmamba synth --scenes`` offers; "varied" adds plain, low-texture scenes (flat colours, soft
# gradients, skies) to "mixed", so that a model sees large areas it must leave exactly as they are;
# "foliage" is grass, fur and twigs: thin strokes brighter or darker than their ground, which look like
# rain in one frame but move with the scene; "structures" is poles, cables, frames, rims and glints: thin
# bright lines and spots on a darker ground, which look like rain streaks lit from behind but are fixed too
SCENE_KINDS = ("procedural", "photos", "mixed", "varied", "foliage", "structures")
_PLAIN_SHARE = 0.25           # of "varied" clips; the rest split evenly between photos and procedural

# colour photographs shipped with scikit-image (skimage.data) that make good rain backgrounds
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle", "hubble_deep_field",
                  "immunohistochemistry", "retina")
_CANVAS_MARGIN = 1.6          # procedural canvas size relative to the output frame
DEFAULT_CAMERA_SPEED = 3.0    # the fastest pan, output pixels per frame (each clip draws its speed up to it)


# ----------------------------------------------------------------------------------------------------
# camera


@dataclass(frozen=True)
class CameraMotion:
    """How fast the virtual camera may move; each clip draws its own motion up to these bounds.

    ``pan``: the fastest pan, output pixels per frame. ``zoom``: the largest relative zoom change over a
    clip (0.15: up to 15% in or out). ``roll``: the largest roll over a clip, degrees. ``closeup``: the
    closest framing, as a multiple of the widest one (which shows nearly the whole scene); each clip frames
    its scene between the two. The widest framing shrinks a photo to fit a small training frame, so
    its texture comes out far finer than in 480p footage of it; a larger ``closeup`` films it at its own
    scale or closer. The defaults are the camera every earlier synthetic set was filmed with.
    """

    pan: float = DEFAULT_CAMERA_SPEED
    zoom: float = 0.15
    roll: float = 4.0
    closeup: float = 1.6

    def __post_init__(self) -> None:
        if not (0 <= self.pan < math.inf):
            raise ValueError(f"The camera speed (--camera-speed) must be a number of at least 0 pixels per frame, "
                             f"got {self.pan}.")
        if not 0 <= self.zoom < 1:
            raise ValueError(f"The camera zoom (--camera-zoom) must be at least 0% and below 100%, got "
                             f"{self.zoom * 100:g}%.")
        if not (0 <= self.roll < math.inf):
            raise ValueError(f"The camera roll (--camera-roll) must be a number of at least 0 degrees, got {self.roll}.")
        if not (1 <= self.closeup < math.inf):
            raise ValueError(f"The camera close-up (--camera-closeup) must be a number of at least 1 (the widest "
                             f"framing), got {self.closeup}.")


def camera_clip(canvas: np.ndarray, frames: int, height: int, width: int,
                rng: np.random.Generator, camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """Film ``canvas`` (h, w, 3) float32 with a camera panning, zooming and rolling within ``camera``'s
    bounds: (T, H, W, 3)."""
    canvas_h, canvas_w = canvas.shape[:2]
    fit = max(height / (0.9 * canvas_h), width / (0.9 * canvas_w))   # output px per canvas px
    scale0 = fit * rng.uniform(1.0, camera.closeup)
    scale1 = scale0 * (1 + rng.uniform(-camera.zoom, camera.zoom))
    scales = np.maximum(np.linspace(scale0, scale1, frames), fit)
    rolls = np.deg2rad(np.linspace(0, rng.uniform(-camera.roll, camera.roll), frames) + rng.uniform(-3, 3))

    # centre path in canvas pixels, kept where the widest window still fits inside the canvas
    half = np.array([width, height]) / (2 * scales.min())
    low, high = half, np.array([canvas_w, canvas_h]) - half
    angle = rng.uniform(0, 2 * np.pi)
    velocity = rng.uniform(0, camera.pan) / scales.mean() * np.array([np.cos(angle), np.sin(angle)])
    span = velocity * (frames - 1)
    room = np.maximum(high - low - np.abs(span), 0)
    start = low + np.maximum(-span, 0) + rng.random(2) * room
    shake = np.cumsum(rng.normal(0, 0.15, (frames, 2)), axis=0) / scales.mean()
    centres = start + np.outer(np.arange(frames), velocity) + shake

    out = np.empty((frames, height, width, 3), np.float32)
    for t in range(frames):
        cos, sin = np.cos(rolls[t]) / scales[t], np.sin(rolls[t]) / scales[t]
        linear = np.array([[cos, -sin], [sin, cos]])
        offset = centres[t] - linear @ np.array([width / 2, height / 2])
        matrix = np.hstack([linear, offset[:, None]])
        out[t] = cv2.warpAffine(canvas, matrix, (width, height),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REFLECT101)
    return out


# ----------------------------------------------------------------------------------------------------
# procedural canvases


def _colour(rng: np.random.Generator, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    return rng.uniform(low, high, 3).astype(np.float32)


def value_noise(rng: np.random.Generator, height: int, width: int, octaves: int = 4,
           base_cells: int = 4, persistence: float = 0.5) -> np.ndarray:
    """Multi-octave value noise (H, W) in [0, 1]: random grids upsampled bicubically and summed."""
    total = np.zeros((height, width), np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = base_cells * 2 ** octave
        grid = rng.random((max(2, cells * height // max(height, width)) + 1,
                           max(2, cells * width // max(height, width)) + 1)).astype(np.float32)
        total += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        weight += amplitude
        amplitude *= persistence
    total /= weight
    return (total - total.min()) / max(float(np.ptp(total)), 1e-6)


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A two-colour linear gradient at a random angle."""
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return _colour(rng) * (1 - ramp[..., None]) + _colour(rng) * ramp[..., None]


def _textured(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A colour texture: noise mapped between two colours, of a random grain."""
    noise = value_noise(rng, height, width, octaves=int(rng.integers(2, 6)),
                        base_cells=int(rng.integers(2, 12)), persistence=rng.uniform(0.35, 0.7))
    return _colour(rng) * (1 - noise[..., None]) + _colour(rng) * noise[..., None]


def _add_buildings(canvas: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    """Block 'buildings' standing on the horizon, each with a grid of lit or dark windows."""
    height, width = canvas.shape[:2]
    for _ in range(int(rng.integers(3, 14))):
        w = int(rng.uniform(0.06, 0.25) * width)
        h = int(rng.uniform(0.15, 0.7) * height)
        x0 = int(rng.integers(-w // 2, width - w // 2))
        y0 = max(0, horizon - h)
        x_slice = slice(max(0, x0), min(width, x0 + w))
        block = canvas[y0:horizon, x_slice]
        if block.size == 0:
            continue
        block[:] = _colour(rng, 0.1, 0.8) * rng.uniform(0.8, 1.0, (1, 1, 1)).astype(np.float32)
        period_y, period_x = int(rng.integers(5, 14)), int(rng.integers(5, 14))
        yy, xx = np.mgrid[0:block.shape[0], 0:block.shape[1]]
        windows = (yy % period_y < period_y * 0.55) & (xx % period_x < period_x * 0.55)
        lit = (rng.random((yy[-1, 0] // period_y + 1, xx[0, -1] // period_x + 1)) < 0.4)[yy // period_y,
                                                                                        xx // period_x]
        block[windows] = np.where(lit[windows][:, None], _colour(rng, 0.7, 1.0), _colour(rng, 0.0, 0.3))


def _add_shapes(canvas: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Filled circles, ellipses, polygons and thick lines in random colours."""
    height, width = canvas.shape[:2]
    size = min(height, width)
    for _ in range(count):
        colour = tuple(float(c) for c in _colour(rng))
        kind = rng.integers(0, 4)
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if kind == 0:
            cv2.circle(canvas, centre, int(rng.uniform(0.02, 0.15) * size), colour, -1, cv2.LINE_AA)
        elif kind == 1:
            axes = (int(rng.uniform(0.02, 0.2) * size), int(rng.uniform(0.02, 0.2) * size))
            cv2.ellipse(canvas, centre, axes, rng.uniform(0, 180), 0, 360, colour, -1, cv2.LINE_AA)
        elif kind == 2:
            points = np.array(centre) + rng.normal(0, 0.08 * size, (int(rng.integers(3, 7)), 2))
            cv2.fillPoly(canvas, [points.astype(np.int32)], colour, cv2.LINE_AA)
        else:
            end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.line(canvas, centre, end, colour, int(rng.integers(1, 6)), cv2.LINE_AA)


def procedural_canvas(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A still (H, W, 3) float32 image in [0, 1]: sky/ground, textures, buildings and shapes by style."""
    style = rng.choice(["city", "landscape", "abstract"])
    horizon = int(rng.uniform(0.3, 0.75) * height)
    if style == "abstract":
        canvas = _textured(rng, height, width) if rng.random() < 0.6 else _gradient(rng, height, width)
        _add_shapes(canvas, rng, int(rng.integers(10, 40)))
    else:
        canvas = np.empty((height, width, 3), np.float32)
        canvas[:horizon] = _gradient(rng, horizon, width) * 0.5 + 0.5 * _colour(rng, 0.3, 1.0)
        canvas[horizon:] = _textured(rng, height - horizon, width)
        if style == "city":
            _add_buildings(canvas, rng, horizon)
        _add_shapes(canvas, rng, int(rng.integers(2, 12)))
    detail = value_noise(rng, height, width, octaves=2, base_cells=max(8, min(height, width) // 6))
    canvas += (detail[..., None] - 0.5) * rng.uniform(0.02, 0.15)
    return np.clip(canvas, 0, 1)


def _add_moving_objects(clip: np.ndarray, rng: np.random.Generator) -> None:
    """A few filled ellipses crossing the frame on their own straight paths (object motion)."""
    frames, height, width = clip.shape[:3]
    size = min(height, width)
    for _ in range(int(rng.integers(0, 4))):
        colour = tuple(float(c) for c in _colour(rng))
        axes = (max(1, int(rng.uniform(0.03, 0.12) * size)), max(1, int(rng.uniform(0.03, 0.12) * size)))
        position = rng.uniform(0, 1, 2) * (width, height)
        velocity = rng.normal(0, 2.0, 2)
        tilt = rng.uniform(0, 180)
        for t in range(frames):
            x, y = position + velocity * t
            cv2.ellipse(clip[t], (int(x), int(y)), axes, tilt, 0, 360, colour, -1, cv2.LINE_AA)


def _canvas_size(frames: int, height: int, width: int, camera: CameraMotion) -> tuple[int, int]:
    """A canvas the camera can film from: a margin around the frame, and room for a pan faster than the
    default one to travel (the default's canvases are as they always were)."""
    travel = math.ceil(max(0.0, camera.pan - DEFAULT_CAMERA_SPEED) * (frames - 1))
    return math.ceil(height * _CANVAS_MARGIN) + travel, math.ceil(width * _CANVAS_MARGIN) + travel


def procedural_scene(frames: int, height: int, width: int, rng: np.random.Generator,
                     camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32 in [0, 1]: a procedural canvas filmed by a moving camera."""
    _check_clip_size(frames, height, width)
    canvas = procedural_canvas(*_canvas_size(frames, height, width, camera), rng)
    clip = camera_clip(canvas, frames, height, width, rng, camera)
    _add_moving_objects(clip, rng)
    return clip


def plain_canvas(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A still (H, W, 3) float32 image with little or no texture: a flat colour, a soft gradient or a sky.

    Skies get faint clouds (value noise of a few codes); any kind may get a little sensor grain.
    """
    kind = rng.choice(["flat", "gradient", "sky"])
    if kind == "flat":
        canvas = np.broadcast_to(_colour(rng, 0.03, 0.97), (height, width, 3)).copy()
    elif kind == "gradient":
        base = _colour(rng, 0.05, 0.95)
        ramp = _gradient(rng, height, width)
        canvas = base + (ramp - ramp.mean((0, 1))) * rng.uniform(0.05, 0.3)
    else:
        top, bottom = _colour(rng, 0.3, 0.75) * (0.75, 0.85, 1.0), _colour(rng, 0.6, 0.95)
        ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
        clouds = value_noise(rng, height, width, octaves=4, base_cells=int(rng.integers(2, 6)))
        canvas = top * (1 - ramp) + bottom * ramp + (clouds[..., None] - 0.5) * rng.uniform(0.0, 0.12)
    return np.clip(canvas, 0, 1).astype(np.float32)


def plain_scene(frames: int, height: int, width: int, rng: np.random.Generator,
                camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32 of a plain canvas (:func:`plain_canvas`) under a moving camera."""
    _check_clip_size(frames, height, width)
    canvas = plain_canvas(*_canvas_size(frames, height, width, camera), rng)
    clip = camera_clip(canvas, frames, height, width, rng, camera)
    if rng.random() < 0.5:
        clip += rng.normal(0, rng.uniform(0.5, 2.0) / 255, clip.shape).astype(np.float32)
    return np.clip(clip, 0, 1)


def foliage_canvas(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A still (H, W, 3) float32 image of grass, fur or twigs: thousands of thin strokes, 1-3 px wide and a
    few to tens of px long, over a textured ground, each lighter or darker than it.

    Grass stands near vertical, fur lies in one combed direction, twigs point anywhere; colours are greens,
    browns or greys (the grey of a monochrome photo). Strokes as thin and bright as rain streaks, but fixed in
    the scene: the camera moves them, nothing else does.
    """
    style = rng.choice(["grass", "fur", "twigs"])
    palette = rng.choice(["green", "brown", "grey"])
    hue = {"green": (0.7, 1.0, 0.45), "brown": (1.0, 0.8, 0.55), "grey": (1.0, 1.0, 1.0)}[palette]
    jitter = rng.uniform(0.9, 1.1, 3).astype(np.float32)    # drawn for grey too, which keeps its strict grey
    tint = np.array(hue, np.float32) * (jitter if palette != "grey" else 1)
    ground = value_noise(rng, height, width, octaves=4, base_cells=int(rng.integers(3, 10)))
    level = rng.uniform(0.15, 0.6)
    canvas = (level + (ground[..., None] - 0.5) * rng.uniform(0.1, 0.4)) * tint
    direction = {"grass": -np.pi / 2, "fur": rng.uniform(0, 2 * np.pi), "twigs": 0.0}[style]
    spread = {"grass": np.deg2rad(rng.uniform(5, 30)), "fur": np.deg2rad(rng.uniform(5, 20)), "twigs": np.pi}[style]
    count = int(rng.uniform(0.5, 2.5) * height * width / 100)
    lengths = rng.uniform(4, rng.uniform(10, 45), count)
    angles = direction + rng.uniform(-spread, spread, count)
    starts = rng.uniform(0, 1, (count, 2)) * (width, height)
    ends = starts + lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    widths = rng.choice([1, 1, 1, 2, 2, 3], count)
    bright = rng.random() < 0.7           # mostly lit blades on a darker ground, as in sunlit grass
    shades = np.clip(level + np.where(rng.random(count) < (0.8 if bright else 0.2), 1, -1)
                     * rng.uniform(0.1, 0.5, count), 0.02, 1.0)
    for (x0, y0), (x1, y1), w, shade in zip(starts, ends, widths, shades):
        colour = tuple(float(c) for c in np.clip(shade * tint * rng.uniform(0.9, 1.1), 0, 1))
        cv2.line(canvas, (int(x0), int(y0)), (int(x1), int(y1)), colour, int(w), cv2.LINE_AA)
    return np.clip(canvas, 0, 1).astype(np.float32)


def foliage_scene(frames: int, height: int, width: int, rng: np.random.Generator,
                  camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32 of a foliage canvas (:func:`foliage_canvas`) under a moving camera."""
    _check_clip_size(frames, height, width)
    canvas = foliage_canvas(*_canvas_size(frames, height, width, camera), rng)
    return np.clip(camera_clip(canvas, frames, height, width, rng, camera), 0, 1)


def structures_canvas(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A still (H, W, 3) float32 image of man-made thin structures on a darker ground: poles and window
    frames (near vertical), cables (any slope), the lit rims of round things (arcs) and glints (small
    highlights, round or drawn out a little).

    Lines 1-4 px wide and tens to hundreds of px long, mostly far brighter than their ground, as sunlit metal,
    wet paint or a lamp-lit edge at night are: they look like streaks of rain lit from behind in one frame, but
    the camera moves them and nothing else does.
    """
    level = rng.uniform(0.02, 0.45)
    ground = value_noise(rng, height, width, octaves=3, base_cells=int(rng.integers(2, 8)))
    canvas = (level + (ground[..., None] - 0.5) * rng.uniform(0.05, 0.3)) * _colour(rng, 0.7, 1.0)
    area = height * width / 100 ** 2          # in 100x100 px

    def shade() -> tuple[float, ...]:
        lit = rng.random() < 0.8
        value = rng.uniform(0.6, 1.0) if lit else rng.uniform(0.0, max(level - 0.05, 0.0))
        return tuple(float(c) for c in np.clip(value * _colour(rng, 0.8, 1.0), 0, 1))

    for _ in range(int(rng.uniform(1, 6) * area)):            # poles and frames
        x, y, run = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 1.5 * height)
        lean = np.deg2rad(rng.normal(0, 6))
        end = (x + run * np.sin(lean), y + run * np.cos(lean))
        cv2.line(canvas, (int(x), int(y)), (int(end[0]), int(end[1])), shade(), int(rng.integers(1, 5)), cv2.LINE_AA)
    for _ in range(int(rng.uniform(0, 3) * area)):            # cables
        y0, y1 = rng.uniform(0, height, 2)
        sag = rng.uniform(0, 0.1) * width
        xs = np.linspace(0, width, 24)
        ys = y0 + (y1 - y0) * xs / width + sag * (1 - (2 * xs / width - 1) ** 2)
        points = np.round(np.stack([xs, ys], axis=1)).astype(np.int32)
        cv2.polylines(canvas, [points], False, shade(), int(rng.integers(1, 3)), cv2.LINE_AA)
    for _ in range(int(rng.uniform(1, 5) * area)):            # lit rims
        centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        axes = (int(rng.uniform(5, 0.4 * width)), int(rng.uniform(5, 0.4 * height)))
        start = rng.uniform(0, 360)
        cv2.ellipse(canvas, centre, axes, rng.uniform(0, 180), start, start + rng.uniform(20, 120), shade(),
                    int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(int(rng.uniform(3, 20) * area)):           # glints
        centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        axes = (int(rng.integers(1, 3)), int(rng.integers(1, 6)))
        colour = tuple(float(c) for c in np.clip(rng.uniform(0.7, 1.0) * _colour(rng, 0.85, 1.0), 0, 1))
        cv2.ellipse(canvas, centre, axes, rng.uniform(0, 180), 0, 360, colour, -1, cv2.LINE_AA)
    return np.clip(cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 0.8)), 0, 1).astype(np.float32)


def structures_scene(frames: int, height: int, width: int, rng: np.random.Generator,
                     camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32 of a structures canvas (:func:`structures_canvas`) under a moving camera."""
    _check_clip_size(frames, height, width)
    canvas = structures_canvas(*_canvas_size(frames, height, width, camera), rng)
    return np.clip(camera_clip(canvas, frames, height, width, rng, camera), 0, 1)


# ----------------------------------------------------------------------------------------------------
# photographs


def to_float_image(image: np.ndarray) -> np.ndarray:
    """An RGB image of any common dtype/shape -> (H, W, 3) float32 in [0, 1] (alpha dropped, grey tripled)."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"Expected an RGB image of shape (H, W, 3), got shape {array.shape}.")
    array = array[..., :3]
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    return np.clip(array.astype(np.float32), 0, 1)


def photo_scene(image: np.ndarray, frames: int, height: int, width: int,
                rng: np.random.Generator, camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32 from a still RGB photograph filmed by a moving camera.

    A photo smaller than 1.25x the frame is enlarged first, so the camera always has room to move.
    """
    _check_clip_size(frames, height, width)
    canvas = to_float_image(image)
    enlarge = 1.25 * max(height / canvas.shape[0], width / canvas.shape[1])
    if enlarge > 1:
        size = (math.ceil(canvas.shape[1] * enlarge), math.ceil(canvas.shape[0] * enlarge))
        canvas = cv2.resize(canvas, size, interpolation=cv2.INTER_CUBIC)
    return np.clip(camera_clip(canvas, frames, height, width, rng, camera), 0, 1)


def load_skimage_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos (:data:`SKIMAGE_PHOTOS`) as uint8 RGB (H, W, 3)."""
    try:
        import skimage.data
    except ImportError as err:
        raise ImportError("Photo scenes from skimage.data need scikit-image: pip install scikit-image "
                          "(or install vsrainmamba[dev]).") from err
    if name not in SKIMAGE_PHOTOS:
        raise ValueError(f"Unknown skimage photo {name!r}: choose one of {', '.join(SKIMAGE_PHOTOS)}.")
    image = getattr(skimage.data, name)()
    image = np.asarray(image[0] if isinstance(image, tuple) else image)   # stereo pairs: the left view
    return (to_float_image(image) * 255).round().astype(np.uint8)


def scene_clip(kind: str, frames: int, height: int, width: int, rng: np.random.Generator,
               camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32 of scene ``kind`` (one of :data:`SCENE_KINDS`), drawn from ``rng``.

    "mixed" is half photos, half procedural scenes; "varied" is "mixed" with a share of plain scenes;
    "foliage" is :func:`foliage_scene` alone, "structures" :func:`structures_scene` alone.
    ``camera``: how fast the camera may pan, zoom and roll (each clip draws its own motion within it).
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f"Unknown scene kind {kind!r}: choose one of {', '.join(SCENE_KINDS)}.")
    if kind == "foliage":
        return foliage_scene(frames, height, width, rng, camera)
    if kind == "structures":
        return structures_scene(frames, height, width, rng, camera)
    if kind == "varied" and rng.random() < _PLAIN_SHARE:
        return plain_scene(frames, height, width, rng, camera)
    if kind == "photos" or (kind in ("mixed", "varied") and rng.random() < 0.5):
        photo = load_skimage_photo(SKIMAGE_PHOTOS[int(rng.integers(len(SKIMAGE_PHOTOS)))])
        return photo_scene(photo, frames, height, width, rng, camera)
    return procedural_scene(frames, height, width, rng, camera)


def _check_clip_size(frames: int, height: int, width: int) -> None:
    if frames < 1 or height < 8 or width < 8:
        raise ValueError(f"A clip needs at least 1 frame of 8x8 pixels, got {frames} frames of "
                         f"{height}x{width}.")


# ----------------------------------------------------------------------------------------------------
# the user's own clean material


class FolderClips:
    """Clean clips cut from a folder holding videos, per-sequence frame folders and/or photos.

    Item ``index mod count`` (in natural name order) makes clip ``index``: a random run of T
    consecutive frames of a video or frame folder, or a camera move over a photo (within ``camera``'s
    bounds); then, when a size is given, a random crop of that size (enlarging first when the source is
    smaller).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"The clean source {self.root} does not exist or is not a folder: give a folder "
                             f"of clean videos, frame folders or images.")
        self.items: list[tuple[str, Path | list[Path]]] = []
        for path in sorted(self.root.iterdir(), key=lambda p: natural_key(p.name)):
            if path.name.startswith("."):
                continue
            if path.is_dir() and list_frame_files(path):
                self.items.append(("frames", list_frame_files(path)))
            elif path.is_file() and is_video_file(path):
                self.items.append(("video", path))
            elif path.is_file() and is_image_file(path):
                self.items.append(("photo", path))
        if not self.items:
            raise ValueError(f"The clean source {self.root} holds no videos, frame folders or images: add "
                             f"some (mp4/avi/mkv..., folders of png/jpg frames, or png/jpg photos).")

    @property
    def has_photos(self) -> bool:
        """Whether some item is a still photo, the only kind a virtual camera moves over."""
        return any(kind == "photo" for kind, _ in self.items)

    def clip(self, index: int, frames: int, height: int | None, width: int | None,
             rng: np.random.Generator, camera: CameraMotion = CameraMotion()) -> np.ndarray:
        """Clean clip number ``index``: (T, H, W, 3) float32 in [0, 1] (source size if H, W are None).

        ``camera`` bounds the move over a photo; videos and frame folders keep the motion they were filmed with.
        """
        kind, source = self.items[index % len(self.items)]
        if kind == "photo":
            image = read_frames([source])[0]
            size = (height, width) if height is not None else image.shape[:2]
            return photo_scene(image, frames, size[0], size[1], rng, camera)
        available = self._check_length(kind, source, frames)
        start = int(rng.integers(0, available - frames + 1))
        clip = read_frames(source, start, frames).astype(np.float32) / 255.0
        return clip if height is None else _random_crop(clip, height, width, rng)


    def check(self, frames: int) -> None:
        """Raise ValueError, before anything is written, if a video or frame folder is too short."""
        for kind, source in self.items:
            if kind != "photo":
                self._check_length(kind, source, frames)

    @staticmethod
    def _check_length(kind: str, source: Path | list[Path], frames: int) -> int:
        available = len(source) if kind == "frames" else count_frames(source)[0]
        if available < frames:
            where = source[0].parent if kind == "frames" else source
            raise ValueError(f"The clean source {where} has {available} frames, fewer than the {frames} "
                             f"asked for: use fewer frames (--frames) or remove it.")
        return available


def _random_crop(clip: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random (height, width) window of every frame, enlarging the clip first if it is smaller."""
    grow = max(height / clip.shape[1], width / clip.shape[2])
    if grow > 1:
        size = (math.ceil(clip.shape[2] * grow), math.ceil(clip.shape[1] * grow))
        clip = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC) for frame in clip])
    top = int(rng.integers(0, clip.shape[1] - height + 1))
    left = int(rng.integers(0, clip.shape[2] - width + 1))
    return np.clip(clip[:, top:top + height, left:left + width], 0, 1)
