"""A small scene-cut corpus: rainy clips with known shot boundaries, and counts of a rule's mistakes on it.

Each clip is RGB float32 (N, 3, H, W) in [0, 1] with the indices of the frames that start a new shot.
Rain is rendered over the whole clip at once (`training.synth.add_rain`), so it continues across a cut
as it would in real footage; scenes are procedural or skimage photographs filmed by a moving camera
(`training.scenes`). Kinds:

- ``shot``: one continuous shot, per scene and rain intensity (none .. torrential, lens drops, fog),
  also a fast pan and JPEG-compressed frames: every detected cut is a false cut;
- ``cut``: two shots of different scenes, and ``similar``: two crops of one photograph (shifted, or
  zoomed in): the one true cut must be found;
- ``fade``: a cross-fade between two shots: not a hard cut, so a detector may mark at most one frame
  inside the transition and none outside it;
- ``flash``: one shot with one lightning frame (the scene lit brighter): cut before and after it, since
  the shipped model derains such a clip better with the flash frame as a shot of its own (measured:
  `flash_psnr`, and models/scenes.py).

`count_errors` scores any ``is_cut(video) -> set of cut indices`` rule; `python -m tests.models.scene_corpus`
prints the counts for the shipped rule and for the old mean-luma-difference rule.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.scenes import CameraMotion, camera_clip, load_skimage_photo, photo_scene, procedural_scene, to_float_image
from training.synth import RainParams, add_rain

HEIGHT, WIDTH, SHOT = 64, 96, 10
RAIN_SCALE = 2
FLASH = 6                    # the lightning frame of the flash clips
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")

# rain intensities, from none to a downpour; 'drops' adds lens drops, 'fog' haze
RAIN = {
    "dry": None,
    "light": RainParams(density=(8, 12), brightness=(0.15, 0.3), speed=(10, 20), fog_prob=0.0),
    "medium": RainParams(density=(30, 40), brightness=(0.3, 0.5), fog_prob=0.0),
    "heavy": RainParams(density=(70, 80), brightness=(0.5, 0.7), length=(20, 40), fog_prob=0.0),
    "torrential": RainParams(density=(100, 110), brightness=(0.6, 0.8), length=(25, 45), width=(1.5, 3.0),
                             fog_prob=0.0),
    "drops": RainParams(density=(40, 50), brightness=(0.4, 0.6), fog_prob=0.0, drop_prob=1.0,
                        drop_count=(8, 12), drop_speed=(0.5, 1.5)),
    "fog": RainParams(density=(60, 70), brightness=(0.4, 0.6), fog=(0.3, 0.4), fog_prob=1.0),
}


@dataclass
class Clip:
    """One corpus clip: ``video`` (N, 3, H, W) float32 RGB, the true ``cuts``, and the frames where a
    detection is neither required nor an error (``free``), with at most ``free_budget`` of them used."""

    name: str
    kind: str
    video: np.ndarray
    cuts: set[int] = field(default_factory=set)
    free: set[int] = field(default_factory=set)
    free_budget: int = 0


def _scene(source: str, frames: int, rng: np.random.Generator, camera_speed: float | None = None) -> np.ndarray:
    """A clean (T, H, W, 3) clip of a procedural scene ('procedural') or a photo (its skimage name)."""
    if source == "procedural":
        return procedural_scene(frames, HEIGHT, WIDTH, rng)
    image = load_skimage_photo(source)
    if camera_speed is None:
        return photo_scene(image, frames, HEIGHT, WIDTH, rng)
    return np.clip(camera_clip(to_float_image(image), frames, HEIGHT, WIDTH, rng, CameraMotion(pan=camera_speed)), 0, 1)


def _crop_scene(photo: str, box: tuple[float, float, float, float], frames: int,
                rng: np.random.Generator) -> np.ndarray:
    """A clip filmed inside ``box`` = (top, left, bottom, right) fractions of one photograph."""
    image = load_skimage_photo(photo)
    h, w = image.shape[:2]
    top, left, bottom, right = box
    return photo_scene(image[int(top * h):int(bottom * h), int(left * w):int(right * w)], frames, HEIGHT, WIDTH,
                       rng)


def _rainy(clean: np.ndarray, rain: str, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) clean -> (T, 3, H, W) rainy float32.

    The rain is rendered at ``RAIN_SCALE`` times the size and the frames area-averaged back, so that
    streak sizes (in pixels in `RainParams`) relate to the frame as they do in footage a few hundred
    pixels high rather than being a wall of rain over a thumbnail.
    """
    params = RAIN[rain]
    if params is None:
        rainy = clean
    else:
        big = np.stack([cv2.resize(f, (WIDTH * RAIN_SCALE, HEIGHT * RAIN_SCALE), interpolation=cv2.INTER_LINEAR)
                        for f in clean])
        rainy = np.stack([cv2.resize(f, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
                          for f in add_rain(big, params, rng)])
    return np.ascontiguousarray(rainy.transpose(0, 3, 1, 2), dtype=np.float32)


def _jpeg(video: np.ndarray, quality: int = 25) -> np.ndarray:
    """Every frame through a JPEG round trip (blocking and ringing, as compressed video has)."""
    out = np.empty_like(video)
    for t, frame in enumerate(video):
        bgr = (frame[::-1].transpose(1, 2, 0) * 255).round().astype(np.uint8)
        decoded = cv2.imdecode(cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
        out[t] = decoded.transpose(2, 0, 1)[::-1] / np.float32(255)
    return out


def lightning(frame: np.ndarray) -> np.ndarray:
    """A lightning-lit version of one (3, H, W) frame: much brighter, slightly blue."""
    lit = frame * 1.6 + np.array([0.30, 0.32, 0.38], np.float32)[:, None, None]
    return np.clip(lit, 0, 1).astype(np.float32)


def corpus(seed: int = 0) -> Iterator[Clip]:
    """The corpus clips, deterministically from ``seed`` (about 50 clips of 10-20 frames at 64x96)."""
    rng = np.random.default_rng(seed)
    sources = ("procedural", *PHOTOS)
    for rain in RAIN:                                               # continuous shots
        for source in sources:
            yield Clip(f"shot/{source}/{rain}", "shot", _rainy(_scene(source, 12, rng), rain, rng))
    for source in ("procedural", "chelsea"):
        yield Clip(f"shot/{source}/fast-pan/heavy", "shot",
                   _rainy(_scene(source, 12, rng, camera_speed=8.0), "heavy", rng))
        yield Clip(f"shot/{source}/jpeg/heavy", "shot", _jpeg(_rainy(_scene(source, 12, rng), "heavy", rng)))
    for rain in ("dry", "medium", "heavy", "torrential"):         # hard cuts between different scenes
        for a, b in (("procedural", "procedural"), ("astronaut", "coffee"), ("chelsea", "procedural"),
                     ("rocket", "astronaut")):
            clean = np.concatenate([_scene(a, SHOT, rng), _scene(b, SHOT, rng)])
            yield Clip(f"cut/{a}-{b}/{rain}", "cut", _rainy(clean, rain, rng), cuts={SHOT})
    for rain in ("dry", "heavy", "torrential"):                    # cuts between two crops of one photograph
        for photo in ("astronaut", "chelsea", "coffee"):
            shifted = np.concatenate([_crop_scene(photo, (0, 0, 1, 0.6), SHOT, rng),
                                      _crop_scene(photo, (0, 0.4, 1, 1), SHOT, rng)])
            yield Clip(f"similar/{photo}-shift/{rain}", "similar", _rainy(shifted, rain, rng), cuts={SHOT})
            zoomed = np.concatenate([_crop_scene(photo, (0, 0, 1, 1), SHOT, rng),
                                     _crop_scene(photo, (0.25, 0.25, 0.75, 0.75), SHOT, rng)])
            yield Clip(f"similar/{photo}-zoom/{rain}", "similar", _rainy(zoomed, rain, rng), cuts={SHOT})
    for rain in ("dry", "heavy"):                                  # cross-fade over 6 frames
        a, b = _scene("coffee", 16, rng), _scene("procedural", 16, rng)
        alpha = np.clip((np.arange(16) - 5) / 7, 0, 1).astype(np.float32)[:, None, None, None]
        yield Clip(f"fade/coffee-procedural/{rain}", "fade", _rainy(a * (1 - alpha) + b * alpha, rain, rng),
                   free=set(range(6, 12)), free_budget=1)
    for rain in ("dry", "medium", "heavy"):                        # a lightning flash inside one shot
        for source in ("procedural", "chelsea"):
            video = _rainy(_scene(source, 12, rng), rain, rng)
            video[FLASH] = lightning(video[FLASH])
            yield Clip(f"flash/{source}/{rain}", "flash", video, cuts={FLASH, FLASH + 1})


@functools.cache
def corpus_clips(seed: int = 0) -> tuple[Clip, ...]:
    """`corpus` made once per process (the test modules share it; treat the frames as read-only)."""
    return tuple(corpus(seed))


def clip_named(name: str) -> Clip:
    """One clip of the default corpus by its name, e.g. ``"cut/astronaut-coffee/heavy"``."""
    return next(clip for clip in corpus_clips() if clip.name == name)


@dataclass
class Errors:
    """A rule's mistakes on the corpus: per clip kind, false and missed cuts, and the clips concerned."""

    false: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    clips: dict[str, int] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    @property
    def total_false(self) -> int:
        return sum(self.false.values())

    @property
    def total_missed(self) -> int:
        return sum(self.missed.values())


def count_errors(detect: Callable[[np.ndarray], set[int]], clips: list[Clip]) -> Errors:
    """Score ``detect(video) -> cut indices`` on ``clips``: a false cut is a detection that is not a true
    cut (beyond a clip's free budget); a missed cut is a true cut not detected."""
    errors = Errors()
    for clip in clips:
        found = set(detect(clip.video))
        free_used = len(found & clip.free)
        false = len(found - clip.cuts - clip.free) + max(0, free_used - clip.free_budget)
        missed = len(clip.cuts - found)
        errors.false[clip.kind] = errors.false.get(clip.kind, 0) + false
        errors.missed[clip.kind] = errors.missed.get(clip.kind, 0) + missed
        errors.clips[clip.kind] = errors.clips.get(clip.kind, 0) + 1
        if false or missed:
            errors.wrong.append(f"{clip.name}: found {sorted(found)}, true {sorted(clip.cuts)}")
    return errors


def mean_luma_rule(threshold: float = 0.1) -> Callable[[np.ndarray], set[int]]:
    """The old VapourSynth rule: mean |luma difference| to the previous frame above ``threshold``."""
    def detect(video: np.ndarray) -> set[int]:
        luma = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), video, axes=([0], [1]))
        diff = np.abs(np.diff(luma, axis=0)).mean(axis=(1, 2))
        return {k + 1 for k in np.flatnonzero(diff > threshold)}
    return detect


def table(rules: dict[str, Callable[[np.ndarray], set[int]]], clips: list[Clip]) -> str:
    """A plain-text table of false / missed cuts per clip kind for each rule."""
    kinds = list(dict.fromkeys(clip.kind for clip in clips))
    lines = [f"{'clip kind':<10} {'clips':>5} {'true cuts':>9}  " + "  ".join(f"{name:>24}" for name in rules)]
    results = {name: count_errors(rule, clips) for name, rule in rules.items()}
    for kind in kinds:
        n = sum(clip.kind == kind for clip in clips)
        true = sum(len(clip.cuts) for clip in clips if clip.kind == kind)
        cells = [f"{r.false[kind]:>4} false {r.missed[kind]:>3} missed" for r in results.values()]
        lines.append(f"{kind:<10} {n:>5} {true:>9}  " + "  ".join(f"{c:>24}" for c in cells))
    cells = [f"{r.total_false:>4} false {r.total_missed:>3} missed" for r in results.values()]
    lines.append(f"{'all':<10} {len(clips):>5} {sum(len(c.cuts) for c in clips):>9}  "
                 + "  ".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def flash_psnr(derainer, seed: int = 5) -> dict[str, np.ndarray]:
    """Lightning kept inside the shot or cut around: mean PSNR (dB) against the clean frames of rainy clips
    whose frame ``FLASH`` is lit (clean and rainy alike), as [whole clip, flash frame, other frames].

    ``derainer``: a `models.Derainer` (its ``cuts=`` decide the two cases).
    """
    rng = np.random.default_rng(seed)
    results: dict[str, list] = {"inside the shot": [], "cut around": []}
    for source in ("procedural", "chelsea", "astronaut"):
        for rain in ("light", "medium", "heavy"):
            clean = _scene(source, 12, rng)
            clean[FLASH] = lightning(clean[FLASH].transpose(2, 0, 1)).transpose(1, 2, 0)
            rainy, target = _rainy(clean, rain, rng), clean.transpose(0, 3, 1, 2)
            for name, cuts in (("inside the shot", None), ("cut around", [FLASH, FLASH + 1])):
                out = derainer(rainy, cuts=cuts)
                psnr = [10 * np.log10(1 / np.mean((out[t] - target[t]) ** 2)) for t in range(len(out))]
                results[name].append([np.mean(psnr), psnr[FLASH], np.mean(psnr[:FLASH] + psnr[FLASH + 1:])])
    return {name: np.mean(rows, axis=0) for name, rows in results.items()}


if __name__ == "__main__":
    import sys

    from models.scenes import detect_cuts
    clips = list(corpus())
    print(table({"models.scenes (default)": lambda v: set(detect_cuts(v)),
                 "mean luma diff > 0.1": mean_luma_rule(0.1)}, clips))
    if "--flash" in sys.argv:   # needs the shipped model; about a minute on a CPU
        import models
        engine = models.Derainer(models.resolve_model(None, device="cpu"), device="cpu")
        for name, (whole, flash, others) in flash_psnr(engine).items():
            print(f"lightning {name:<16} PSNR {whole:.2f} dB (flash frame {flash:.2f}, other frames {others:.2f})")
