"""Temporally coherent synthetic rain over clean clips, and paired datasets made of it.

:func:`add_rain` renders, over a clean clip (T, H, W, 3):

1. optional rain fog: a smooth haze towards a grey airlight, denser towards the top;
2. rain streaks: each streak has a depth that sets its length, width, speed and brightness (near
   streaks are longer, wider, faster, brighter), a fall direction around the sequence's wind angle,
   and a position advanced by its velocity every frame, wrapping around a margin outside the frame,
   so the same streaks move coherently through the clip; drawn as anti-aliased motion-blurred lines
   and screen-blended onto the scene;
3. optional raindrops on the lens: elliptic drops that persist through the clip and slide slowly
   down, each showing a flipped, magnified, defocused view of the scene behind it inside a soft mask
   with a darker rim (``refract``), or only a defocused view (``blur``), or a long sliding trail
   (``smear``).

Optional, each with its own ``RainParams`` probability or range (all off by default, so a seed makes the
same data as before they existed): streaks lengthened and dimmed by the exposure, several depth layers of
streaks (far ones shorter, thinner, slower and dimmer: parallax) with defocus away from a focal depth,
streaks darker than the scene, backlit streaks (lit whatever their depth), crisp streaks (no anti-aliasing),
splashes, mist and veiling, overcast dimming (applied to the clean clip too, by :func:`add_rain_pair`) and
rain-free pairs, some of them lit bright and flat (haze). The effects themselves are in
:mod:`training.rain_effects`.

:func:`write_synthetic_dataset` writes such pairs in the ``generic`` layout that
:func:`training.layouts.find_pairs` reads: ``OUT/rainy/<seq>/%06d.png`` + ``OUT/clean/<seq>/%06d.png``,
plus ``OUT/synth.json`` recording how they were made. Each sequence depends only on (seed, its index).
The dataset is written into a hidden staging folder inside OUT and swapped in by renames at the end, so a
full disk or a kill leaves the previous dataset (with ``overwrite``) whole.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.atomic import PARTIAL_PREFIX, WriteError, new_partial_dir

from . import rain_effects
from .scenes import SCENE_KINDS, CameraMotion, FolderClips, scene_clip, value_noise

__all__ = ["DROP_KINDS", "RainParams", "add_rain", "add_rain_pair", "render_streaks", "write_synthetic_dataset",
           "SCENE_KINDS"]

Range = tuple[float, float]
DROP_KINDS = ("refract", "blur", "smear")
_BRIGHTNESS_LEVELS = 16   # streaks are drawn in this many grey levels, one OpenCV call per level


@dataclass(frozen=True)
class RainParams:
    """Ranges (low, high) the rain of each sequence is drawn from; units in the comments.

    Streak length, width, speed and brightness are drawn per streak, correlated through its depth;
    density, wind angle, fog and drops per sequence.
    """

    density: Range = (10.0, 80.0)          # streaks per 100x100 pixels
    angle: Range = (-25.0, 25.0)           # degrees from vertical; positive leans right
    angle_jitter: float = 4.0              # per-streak spread around the sequence angle, degrees
    length: Range = (8.0, 40.0)            # pixels
    width: Range = (1.0, 2.5)              # pixels
    speed: Range = (10.0, 40.0)            # pixels per frame along the fall direction
    brightness: Range = (0.2, 0.7)         # peak added light, 0..1
    fog: Range = (0.05, 0.4)               # haze opacity at the densest point, 0..1
    fog_prob: float = 0.3                  # chance a sequence has fog
    drop_prob: float = 0.0                 # chance a sequence has raindrops on the lens
    drop_count: Range = (2.0, 10.0)        # drops per 256x256 pixels
    drop_radius: Range = (0.03, 0.10)      # fraction of min(H, W)
    drop_speed: Range = (0.0, 0.6)         # sliding speed, pixels per frame
    drop_kinds: tuple[str, ...] = ("refract",)  # one per sequence, from DROP_KINDS
    exposure: Range = (1.0, 1.0)           # streak length x this, brightness / this (motion blur)
    layers: int = 1                        # depth layers of streaks (parallax: far layers slower, shorter)
    defocus: Range = (0.0, 0.0)            # blur sigma (px) of the layer farthest from the focal depth
    dark_prob: float = 0.0                 # chance the streaks are darker than the scene
    dark_depth: Range = (0.5, 0.9)         # share of the light a dark streak takes away, per unit streak
    splash_prob: float = 0.0               # chance a sequence has splashes
    splash_count: Range = (0.5, 2.0)       # splashes per 100x100 px per frame, lower half of the frame
    veil_prob: float = 0.0                 # chance a sequence has mist / veiling
    veil: Range = (0.05, 0.25)             # veiling opacity, 0..1
    overcast_prob: float = 0.0             # chance a sequence is overcast (clean and rainy alike)
    overcast: Range = (0.1, 0.35)          # dimming, 0..1
    clean_prob: float = 0.0                # chance a pair has no rain at all (rainy == clean)
    haze_prob: float = 0.0                 # chance a rain-free pair is lit bright and flat (haze, snow, glare)
    haze: Range = (0.2, 0.6)               # how far such a scene is lifted towards a pale level, 0..1
    backlit_prob: float = 0.0              # chance a sequence's streaks are lit whatever their depth (backlit rain)
    crisp_prob: float = 0.0                # chance a sequence's streaks are drawn crisp (a short shutter)

    def __post_init__(self) -> None:
        bounds = {"density": (0, None), "length": (0, None), "width": (0.1, None), "speed": (0, None),
                  "brightness": (0, 1), "fog": (0, 1), "drop_count": (0, None), "drop_radius": (0.001, 1),
                  "drop_speed": (0, None), "angle": (-89, 89), "exposure": (1, None), "defocus": (0, None),
                  "dark_depth": (0, 1), "splash_count": (0, None), "veil": (0, 1), "overcast": (0, 0.9),
                  "haze": (0, 1)}
        for name, (least, most) in bounds.items():
            low, high = getattr(self, name)
            if low > high or low < least or (most is not None and high > most):
                allowed = f"between {least} and {most}" if most is not None else f"at least {least}"
                raise ValueError(f"Rain parameter {name}={low},{high} is invalid: give low <= high, "
                                 f"both {allowed}.")
        for name in ("fog_prob", "drop_prob", "dark_prob", "splash_prob", "veil_prob", "overcast_prob",
                     "clean_prob", "haze_prob", "backlit_prob", "crisp_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"Rain parameter {name}={getattr(self, name)} must be a probability "
                                 f"in [0, 1].")
        if self.haze_prob > 0 and self.clean_prob == 0:
            raise ValueError(f"Rain parameter haze_prob={self.haze_prob} lights only rain-free pairs, and "
                             "clean_prob is 0: give clean_prob > 0 (--clean-prob) too, or leave haze_prob at 0.")
        if self.angle_jitter < 0:
            raise ValueError(f"Rain parameter angle_jitter={self.angle_jitter} must be >= 0.")
        if not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"Rain parameter layers={self.layers} must be a whole number >= 1.")
        if not self.drop_kinds or any(kind not in DROP_KINDS for kind in self.drop_kinds):
            raise ValueError(f"Rain parameter drop_kinds={self.drop_kinds} is invalid: choose from "
                             f"{', '.join(DROP_KINDS)}.")

    def replace(self, **changes) -> "RainParams":
        return dataclasses.replace(self, **changes)


def _between(rng: np.random.Generator, bounds: Range, size=None):
    return rng.uniform(bounds[0], bounds[1], size)


def _lerp(bounds: Range, t: np.ndarray) -> np.ndarray:
    return bounds[0] + (bounds[1] - bounds[0]) * t


# ----------------------------------------------------------------------------------------------------
# streaks


def render_streaks(frames: int, height: int, width: int, params: RainParams,
                   rng: np.random.Generator, *, backlit: bool = False, crisp: bool = False) -> np.ndarray:
    """The streak layer alone: (T, H, W) float32 in [0, 1], streaks moving coherently from frame to frame.

    Each streak's depth sets its length, speed, width and brightness (near streaks are longer, faster, wider,
    brighter). ``backlit``: brightness is drawn apart from depth, so thin far streaks shine as brightly as
    near ones, as rain lit from behind (by the sun or a street lamp) does. ``crisp``: lines are drawn without
    anti-aliasing or softening, one pixel sharp, as a short shutter or a sharpened video shows them.
    """
    margin = params.length[1] + params.speed[1] + 2 * params.width[1]
    span = np.array([width + 2 * margin, height + 2 * margin])           # wrap domain (x, y)
    count = int(round(_between(rng, params.density) * span.prod() / 1e4))
    layer = np.zeros((frames, height, width), np.float32)
    if count == 0:
        return layer
    depth = rng.random(count) ** 1.5                                     # most streaks are far/thin
    angle = np.deg2rad(_between(rng, params.angle) + rng.normal(0, params.angle_jitter, count))
    direction = np.stack([np.sin(angle), np.cos(angle)], axis=1)        # (x, y), falling down
    length = _lerp(params.length, np.clip(depth + rng.normal(0, 0.1, count), 0, 1))
    speed = _lerp(params.speed, np.clip(depth + rng.normal(0, 0.1, count), 0, 1))
    thickness = np.clip(np.round(_lerp(params.width, depth)), 1, None).astype(np.int32)
    light = _lerp(params.brightness, depth) * rng.uniform(0.7, 1.0, count)
    start = rng.random((count, 2)) * span
    if backlit:                                  # drawn last, so the other draws of a seed stay as they were
        light = _lerp(params.brightness, np.sqrt(rng.random(count))) * rng.uniform(0.85, 1.0, count)
    level = np.round(np.clip(light, 0, 1) * (_BRIGHTNESS_LEVELS - 1)).astype(np.int32)  # quantised: batched drawing
    velocity = direction * speed[:, None]
    # sub-pixel thickness: a thinner-than-drawn streak gets proportionally dimmer
    gain = np.clip(_lerp(params.width, depth) / thickness, 0.3, 1.0)
    canvas = np.zeros((height, width), np.uint8)
    shift = 4                                                            # 1/16-pixel coordinates
    line = cv2.LINE_8 if crisp else cv2.LINE_AA
    for t in range(frames):
        head = np.mod(start + velocity * t, span) - margin
        tail = head - direction * length[:, None]
        segments = np.round(np.stack([tail, head], axis=1) * (1 << shift)).astype(np.int32)
        canvas[:] = 0
        for lvl, thick in sorted(set(zip(level.tolist(), thickness.tolist()))):
            chosen = (level == lvl) & (thickness == thick)
            value = lvl / (_BRIGHTNESS_LEVELS - 1) * 255 * float(gain[chosen].mean())
            cv2.polylines(canvas, list(segments[chosen]), False, int(round(value)), int(thick), line, shift)
        layer[t] = canvas
    layer *= 1 / 255
    if not crisp:
        for t in range(frames):
            layer[t] = cv2.GaussianBlur(layer[t], (0, 0), 0.6)
    return layer


def _streak_layers(frames: int, height: int, width: int, params: RainParams, rng: np.random.Generator,
                   extra: np.random.Generator | None) -> np.ndarray:
    """The streak layer with the optional exposure blur, depth layers and defocus (``extra`` draws those)."""
    if extra is None:
        return render_streaks(frames, height, width, params, rng)
    exposure = _between(extra, params.exposure)
    focus = extra.random()
    sigma = _between(extra, params.defocus)
    # drawn only when asked for, so a seed's other effects stay as they were before these options existed
    backlit = params.backlit_prob > 0 and extra.random() < params.backlit_prob
    crisp = params.crisp_prob > 0 and extra.random() < params.crisp_prob
    combined = np.zeros((frames, height, width), np.float32)
    for k in range(params.layers):
        near = (k + 1) / params.layers          # 1: the nearest layer
        layer_params = params.replace(
            density=tuple(d / params.layers for d in params.density),
            length=tuple(v * near * exposure for v in params.length),
            speed=tuple(v * near for v in params.speed),
            width=tuple(max(v * near, 0.1) for v in params.width),
            brightness=tuple(min(v * (0.5 + 0.5 * near) / exposure, 1.0) for v in params.brightness))
        layer = render_streaks(frames, height, width, layer_params, np.random.default_rng(rng.integers(0, 2 ** 63)),
                               backlit=backlit, crisp=crisp)
        layer = rain_effects.defocus(layer, sigma * abs(near - focus))
        combined = 1 - (1 - combined) * (1 - layer)
    return combined


# ----------------------------------------------------------------------------------------------------
# fog and lens drops


def _fog(clip: np.ndarray, params: RainParams, rng: np.random.Generator) -> np.ndarray:
    """Blend towards a grey airlight through a smooth haze map, denser near the top of the frame."""
    frames, height, width = clip.shape[:3]
    strength = _between(rng, params.fog)
    texture = value_noise(rng, height, width, octaves=3, base_cells=3)
    falloff = np.linspace(1.0, rng.uniform(0.4, 1.0), height, dtype=np.float32)[:, None]
    haze = (strength * (0.6 + 0.4 * texture) * falloff)[None, :, :, None]
    airlight = rng.uniform(0.7, 0.95) + rng.uniform(-0.03, 0.03, 3).astype(np.float32)
    return clip * (1 - haze) + airlight * haze


def _drop_layout(height: int, width: int, params: RainParams, rng: np.random.Generator) -> dict:
    count = int(round(_between(rng, params.drop_count) * height * width / 256 ** 2))
    count = max(count, 1)
    radius = _between(rng, params.drop_radius, count) * min(height, width)
    return {
        "centre": rng.random((count, 2)) * (width, height),
        "radii": np.stack([radius, radius * rng.uniform(0.8, 1.4, count)], axis=1),
        "velocity": np.stack([rng.normal(0, 0.05, count), _between(rng, params.drop_speed, count)], axis=1),
        "zoom": rng.uniform(0.3, 0.6, count),     # the view inside is shrunk (magnified lens, wide field)
        "blur": rng.uniform(0.8, 2.0),
    }


def _drop_maps(layout: dict, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampling maps (map_x, map_y) of the refracted view and the drop opacity (H, W) at frame t."""
    map_y, map_x = np.mgrid[0:height, 0:width].astype(np.float32)
    alpha = np.zeros((height, width), np.float32)
    for centre, radii, velocity, zoom in zip(layout["centre"], layout["radii"], layout["velocity"],
                                             layout["zoom"]):
        cx, cy = centre + velocity * t
        rx, ry = radii
        x0, x1 = max(int(cx - rx) - 1, 0), min(int(cx + rx) + 2, width)
        y0, y1 = max(int(cy - ry) - 1, 0), min(int(cy + ry) + 2, height)
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = (xs - cx) / rx, (ys - cy) / ry
        r = np.sqrt(dx * dx + dy * dy)
        mask = np.clip((1 - r) / 0.25, 0, 1)
        mask = mask * mask * (3 - 2 * mask)                               # smooth edge
        bulge = zoom * (1 + 0.6 * r * r)                                  # stronger bending at the rim
        src_x = cx - (xs - cx) * bulge                                    # flipped: a lens inverts
        src_y = cy - (ys - cy) * bulge - 0.5 * ry
        region = (slice(y0, y1), slice(x0, x1))
        nearer = mask > alpha[region]
        map_x[region] = np.where(nearer, src_x, map_x[region])
        map_y[region] = np.where(nearer, src_y, map_y[region])
        alpha[region] = np.maximum(alpha[region], mask)
    return map_x, map_y, alpha


def _lens_drops(clip: np.ndarray, params: RainParams, rng: np.random.Generator, kind: str = "refract") -> np.ndarray:
    frames, height, width = clip.shape[:3]
    layout = _drop_layout(height, width, params, rng)
    if kind == "smear":                       # long trails left by drops sliding down the glass
        layout["radii"][:, 1] *= rng.uniform(2.0, 3.5)
        layout["zoom"][:] = 1.0
    out = np.empty_like(clip)
    for t in range(frames):
        map_x, map_y, alpha = _drop_maps(layout, t, height, width)
        if kind == "refract":
            view = cv2.remap(clip[t], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            view = cv2.GaussianBlur(view, (0, 0), layout["blur"]) * 1.05
        elif kind == "blur":                  # an out-of-focus blob: the scene behind, blurred, no flip
            view = cv2.GaussianBlur(clip[t], (0, 0), 3 * layout["blur"]) * 1.03
        else:                                 # smeared: the scene behind, blurred along the trail
            view = cv2.blur(clip[t], (3, max(3, int(4 * layout["blur"]) | 1))) * 1.02
        rim = 4 * alpha * (1 - alpha)                                    # peaks on the soft edge
        view *= (1 - 0.3 * rim)[..., None]
        out[t] = clip[t] * (1 - alpha[..., None]) + view * alpha[..., None]
    return out


# ----------------------------------------------------------------------------------------------------
# public rendering


def _has_extras(params: RainParams) -> bool:
    return (params.exposure != (1.0, 1.0) or params.layers > 1 or params.defocus[1] > 0 or params.dark_prob > 0
            or params.splash_prob > 0 or params.veil_prob > 0 or len(params.drop_kinds) > 1
            or params.drop_kinds != ("refract",) or params.backlit_prob > 0 or params.crisp_prob > 0)


def _check_clip(clean: np.ndarray) -> np.ndarray:
    clip = np.asarray(clean, dtype=np.float32)
    if clip.ndim != 4 or clip.shape[-1] != 3 or min(clip.shape[:3]) < 1:
        raise ValueError(f"add_rain needs a clean clip of shape (T, H, W, 3), got {clip.shape}: add a frame "
                         f"axis for a single image (image[None]).")
    return clip


def add_rain(clean: np.ndarray, params: RainParams | None = None,
             rng: np.random.Generator | None = None) -> np.ndarray:
    """Render rain over a clean clip (T, H, W, 3) float in [0, 1]; return the rainy clip, clipped.

    All randomness comes from ``rng`` (a seeded ``np.random.Generator`` makes it reproducible). Overcast
    lighting and rain-free pairs change the clean clip too: :func:`add_rain_pair` applies those.
    """
    params = params or RainParams()
    rng = rng if rng is not None else np.random.default_rng()
    clip = _check_clip(clean)
    frames, height, width = clip.shape[:3]
    # draw every per-sequence decision first, so each component's randomness is independent of the others
    fog_rng, streak_rng, drop_rng = (np.random.default_rng(s) for s in rng.integers(0, 2 ** 63, 3))
    with_fog, with_drops = rng.random() < params.fog_prob, rng.random() < params.drop_prob
    tint = rng.uniform(0.85, 1.0, 3).astype(np.float32)
    # the optional effects draw from their own stream, so the base rain of a seed stays as it was
    extra = np.random.default_rng(rng.integers(0, 2 ** 63)) if _has_extras(params) else None
    if with_fog:
        clip = _fog(clip, params, fog_rng)
    streaks = _streak_layers(frames, height, width, params, streak_rng, extra)[..., None] * tint
    if extra is not None and extra.random() < params.dark_prob:
        clip = rain_effects.darken(clip, streaks.mean(-1, keepdims=True), _between(extra, params.dark_depth))
    else:
        clip = 1 - (1 - clip) * (1 - streaks)                            # screen blend
    if extra is not None and extra.random() < params.splash_prob:
        splash = rain_effects.splashes(frames, height, width, _between(extra, params.splash_count), extra)
        clip = 1 - (1 - clip) * (1 - splash[..., None] * tint)
    if extra is not None and extra.random() < params.veil_prob:
        clip = rain_effects.veil(clip, _between(extra, params.veil), extra)
    if with_drops:
        kind = params.drop_kinds[int(extra.integers(len(params.drop_kinds)))] if extra is not None else "refract"
        clip = _lens_drops(clip, params, drop_rng, kind)
    return np.clip(clip, 0, 1)


def add_rain_pair(clean: np.ndarray, params: RainParams | None = None,
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(clean, rainy) float32 clips for training: the optional overcast lighting applied to both (it is the
    scene's light, not rain, so a model must keep it), and ``clean_prob`` of pairs left without rain, of which
    ``haze_prob`` are lit bright and flat: rain-free footage that looks like a veiled rainy scene."""
    params = params or RainParams()
    rng = rng if rng is not None else np.random.default_rng()
    clip = _check_clip(clean)
    if params.overcast_prob > 0 and rng.random() < params.overcast_prob:
        clip = rain_effects.overcast(clip, _between(rng, params.overcast))
    if params.clean_prob > 0 and rng.random() < params.clean_prob:
        if params.haze_prob > 0 and rng.random() < params.haze_prob:
            clip = rain_effects.haze(clip, _between(rng, params.haze), rng)
        return clip, clip.copy()
    return clip, add_rain(clip, params, rng)


# ----------------------------------------------------------------------------------------------------
# datasets on disk


def _clean_clip(index: int, frames: int, height: int | None, width: int | None, scenes: str,
                source: FolderClips | None, rng: np.random.Generator, camera: CameraMotion) -> np.ndarray:
    if source is not None:
        return source.clip(index, frames, height, width, rng, camera)
    if height is None or width is None:
        raise ValueError("Procedural and photo scenes need a frame size: give height and width (--size HxW).")
    return scene_clip(scenes, frames, height, width, rng, camera)


_OUTPUTS = ("rainy", "clean", "synth.json")


def _check_output(out_root: Path, overwrite: bool) -> None:
    if out_root.exists() and not out_root.is_dir():
        raise FileExistsError(f"{out_root} is a file, not a folder: choose another output folder.")
    if out_root.is_dir() and not overwrite and any(not n.startswith(PARTIAL_PREFIX) for n in os.listdir(out_root)):
        raise FileExistsError(f"{out_root} is not empty: choose an empty or new folder, or pass "
                              f"overwrite=True (--overwrite) to replace its rainy/, clean/ and "
                              f"synth.json.")


def _write_file(path: Path, data: bytes, shown: Path) -> None:
    """One file inside the staging folder, on disk before the folder is published."""
    try:
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        raise WriteError(shown, err) from None


def _write_frames(staging: Path, shown: Path, clip_u8: np.ndarray) -> None:
    try:
        staging.mkdir(parents=True)
    except OSError as err:
        raise WriteError(shown, err) from None
    for t, frame in enumerate(clip_u8):
        ok, png = cv2.imencode(".png", frame[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise ValueError(f"OpenCV could not encode {shown / f'{t:06d}.png'} as PNG.")
        _write_file(staging / f"{t:06d}.png", png.tobytes(), shown / f"{t:06d}.png")


def _publish(staging: Path, out_root: Path) -> None:
    """Swap the staged rainy/, clean/ and synth.json in for the old ones: renames within one folder."""
    trash = staging / "replaced"
    trash.mkdir()
    moved: list[str] = []
    try:
        for name in _OUTPUTS:
            if (out_root / name).exists() or (out_root / name).is_symlink():
                os.rename(out_root / name, trash / name)
            moved.append(name)
            os.rename(staging / name, out_root / name)
    except OSError as err:
        for name in moved:  # put back what was there
            if (trash / name).exists() and not (out_root / name).exists():
                os.rename(trash / name, out_root / name)
        raise WriteError(out_root, err) from None


def _to_u8(clip: np.ndarray) -> np.ndarray:
    return (np.clip(clip, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_synthetic_dataset(out_root: str | os.PathLike, n_sequences: int, frames: int, height: int | None,
                            width: int | None, seed: int = 0, params: RainParams | None = None,
                            clean_source: str | os.PathLike | None = None, drops: bool | None = None,
                            scenes: str = "procedural", overwrite: bool = False,
                            progress: Callable[[int], None] | None = None,
                            camera: CameraMotion = CameraMotion()) -> Path:
    """Write ``n_sequences`` rainy/clean pairs in the generic layout and return ``out_root``.

    Clean clips come from ``clean_source`` (a folder of videos, of per-sequence frame folders, and/or
    of photos; sequence i uses item i mod count) or else from ``scenes`` (see ``training.scenes.SCENE_KINDS``). ``height``/``width`` None keeps the source's size
    (``clean_source`` only). ``drops`` True/False forces lens drops on every/no sequence; None keeps
    ``params.drop_prob``. ``camera``: how fast the camera filming generated scenes and the photos of
    ``clean_source`` may pan, zoom and roll, and how close it may frame them (a camera other than the default is refused for a
    ``clean_source`` without photos: its videos and frame folders keep the motion they were filmed with). A non-empty ``out_root`` is refused unless ``overwrite``. ``progress`` is
    called with 1 after each sequence.
    """
    params = params or RainParams()
    if drops is not None:
        params = params.replace(drop_prob=1.0 if drops else 0.0)
    if scenes not in SCENE_KINDS:
        raise ValueError(f"Unknown scene kind {scenes!r}: choose one of {', '.join(SCENE_KINDS)}.")
    if n_sequences < 1 or frames < 1:
        raise ValueError(f"Need at least one sequence of one frame, got {n_sequences} sequences of {frames}.")
    if (height is None) != (width is None) or (height is not None and min(height, width) < 8):
        raise ValueError(f"Frame size {height}x{width} is invalid: give both height and width, each >= 8.")
    source = FolderClips(clean_source) if clean_source is not None else None
    if source is not None:
        if camera != CameraMotion() and not source.has_photos:
            raise ValueError(f"The camera (--camera-speed, --camera-zoom, --camera-roll, --camera-closeup) films "
                             f"generated scenes and photos, and the --clean folder {clean_source} holds no photos: its videos and frame "
                             f"folders keep the motion they were filmed with. Drop the camera options.")
        source.check(frames)
    out = Path(out_root)
    _check_output(out, overwrite)
    created = not out.exists()
    staging = new_partial_dir(out, "synth", shown=out)
    try:
        for index in range(n_sequences):
            rng = np.random.default_rng([seed, index])
            scene = _to_u8(_clean_clip(index, frames, height, width, scenes, source, rng, camera))
            clean, rainy = (_to_u8(clip) for clip in add_rain_pair(scene.astype(np.float32) / 255, params, rng))
            name = f"seq_{index:05d}"
            _write_frames(staging / "clean" / name, out / "clean" / name, clean)
            _write_frames(staging / "rainy" / name, out / "rainy" / name, rainy)
            if progress is not None:
                progress(1)
        record = {"generator": "rainmamba synth", "sequences": n_sequences, "frames": frames,
                  "size": None if height is None else [height, width], "seed": seed, "scenes": scenes,
                  "camera": dataclasses.asdict(camera),
                  "clean_source": None if clean_source is None else os.path.abspath(clean_source),
                  "params": dataclasses.asdict(params), "layout": "generic"}
        _write_file(staging / "synth.json", json.dumps(record, indent=2).encode(), out / "synth.json")
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed first run leaves no empty folder behind
    return out
