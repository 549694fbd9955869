"""The held-out evaluation sets behind the shipped model's card: what is rendered, never what is scored.

Rainy sets (scored against their clean clips):

- ``in_distribution``: procedural scenes with the rain settings the training data used
  (``RainParams`` defaults, or the ``params`` recorded in the training set's ``synth.json``);
- ``unseen_rain``: procedural scenes with rain *outside* those ranges, one setting per clip in turn
  (:func:`unseen_variants`): steeper wind, much denser rain, much sparser rain, longer and thicker streaks;
- ``photo_scenes``: scikit-image's photographs filmed by a moving camera, with training rain; half the
  clips use colour photos ``rainmamba synth --scenes photos|mixed`` can train on, half ``camera`` (grey),
  a photo that no synthetic training set contains;
- ``unseen_kinds``: the same photographs with rain of kinds the trainer never renders
  (:mod:`training.heldout_rain`: thin bright, veiled wide, dark, overcast).

Identity sets (the model should change nothing): ``rain_free`` clips (procedural and photo scenes with no
rain), the same filmed by a camera panning up to :data:`FAST_PAN` pixels per frame (footage pans that fast;
a model that blends misaligned frames smears them), and :data:`FLAT_FIELDS` (a mid-grey and a pale-blue sky
field, still).

Clip ``j`` of set ``k`` draws all its randomness from :func:`clip_rng` ``default_rng([seed, TAG, k + 1, j])``:
training sequences use ``default_rng([seed, index])`` and numpy pads seeds with zeros, so the two never
share a stream whatever the seeds.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .heldout_rain import HELDOUT_KINDS, HeldOutRain
from .scenes import CameraMotion
from .synth import RainParams

__all__ = ["DEFAULT_SEED", "EvalSet", "FAST_PAN", "FLAT_FIELDS", "RAIN_FREE_SCENES", "RAIN_FREE_SETS", "TAG", "Variant", "clip_rng",
           "held_out_sets", "read_train_params", "unseen_variants"]

DEFAULT_SEED = 2024
TAG = 0x5417                      # any non-zero constant: keeps held-out streams apart from training ones
TRAINING_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")
UNSEEN_PHOTO = "camera"           # in skimage.data, not in training.scenes.SKIMAGE_PHOTOS
RAIN_FREE_SCENES = ("procedural", "astronaut", UNSEEN_PHOTO, "coffee")
FAST_PAN = 24.0  # output pixels per frame: the fastest pan of the fast-camera rain-free clips
# the rain-free identity sets: report key, label, set index of their clip_rng streams (no rainy set's), camera
RAIN_FREE_SETS = (("rain_free", "rain-free clips", -1, CameraMotion()),
                  ("rain_free_fast_pan", f"rain-free clips, camera panning up to {FAST_PAN:g} px/frame", 1000,
                   CameraMotion(pan=FAST_PAN)))
# 8-bit RGB of the still fields a model must return unchanged
FLAT_FIELDS = {"mid_grey": (128, 128, 128), "pale_blue_sky": (170, 200, 235)}


@dataclass(frozen=True)
class Variant:
    """One rain setting over one kind of scene; ``scenes`` are "procedural" or skimage photo names."""

    key: str
    label: str
    params: RainParams | HeldOutRain
    scenes: tuple[str, ...] = ("procedural",)


@dataclass(frozen=True)
class EvalSet:
    """A held-out set: clip ``j`` uses ``variants[j % len(variants)]``."""

    key: str
    label: str
    variants: tuple[Variant, ...]

    def clip(self, j: int) -> tuple[Variant, str]:
        """The variant and scene of clip ``j``: variants in turn, then each variant's scenes in turn."""
        variant = self.variants[j % len(self.variants)]
        return variant, variant.scenes[(j // len(self.variants)) % len(variant.scenes)]


def clip_rng(seed: int, set_index: int, clip: int) -> np.random.Generator:
    """The random stream of one held-out clip (disjoint from every training sequence's)."""
    return np.random.default_rng([seed, TAG, set_index + 1, clip])


def _span(bounds: tuple[float, float], unit: str = "") -> str:
    return f"{bounds[0]:g} to {bounds[1]:g}{unit}"


def unseen_variants(train: RainParams) -> tuple[Variant, ...]:
    """Rain settings outside the training ranges ``train``; everything not named stays as in training."""
    angle = (min(train.angle[1] + 10, 80.0), min(train.angle[1] + 20, 89.0))
    dense = (train.density[1] * 1.5, train.density[1] * 2.5)
    sparse = (max(train.density[0] * 0.2, 0.5), max(train.density[0] * 0.5, 1.0))
    longest = train.length[1] * train.exposure[1]   # an exposure blur lengthens trained streaks too
    length = (longest * 1.25, longest * 2.0)
    width = (train.width[1], train.width[1] + 1.5)
    return (
        Variant("steep_wind", f"wind {_span(angle, '°')} from vertical (trained {_span(train.angle, '°')})",
                train.replace(angle=angle)),
        Variant("dense", f"density {_span(dense)} streaks/100² px (trained {_span(train.density)})",
                train.replace(density=dense)),
        Variant("sparse", f"density {_span(sparse)} streaks/100² px (trained {_span(train.density)})",
                train.replace(density=sparse)),
        Variant("long_thick", f"streaks {_span(length)} px long, {_span(width)} px wide (trained "
                              f"{_span(train.length)} long, {_span(train.width)} wide)",
                train.replace(length=length, width=width, exposure=(1.0, 1.0))),
    )


_KIND_LABELS = {"thin_bright": "thin bright streaks, added (motion-blurred dots)",
                "veiled_wide": "wide soft streaks under a veiling glow",
                "dark": "streaks darker than the scene",
                "overcast": "overcast: scene dimmed and flattened, streaks on top"}


def held_out_sets(train: RainParams | None = None) -> tuple[EvalSet, ...]:
    """The rainy held-out sets for a model trained on rain drawn from ``train`` (default ``RainParams()``)."""
    train = train or RainParams()
    photos = (*TRAINING_PHOTOS, UNSEEN_PHOTO)
    return (
        EvalSet("in_distribution", "in-distribution: procedural scenes, training rain",
                (Variant("training_rain", "training rain settings", train),)),
        EvalSet("unseen_rain", "unseen rain: procedural scenes, rain outside the training ranges",
                unseen_variants(train)),
        EvalSet("photo_scenes", "photo scenes: scikit-image photographs, moving camera, training rain",
                (Variant("training_photos", f"photos synth can train on ({', '.join(TRAINING_PHOTOS)}), "
                                            "new camera paths and rain", train, TRAINING_PHOTOS),
                 Variant("unseen_photo", f"a photo never in synthetic training data ({UNSEEN_PHOTO}, grey)",
                         train, (UNSEEN_PHOTO,)))),
        EvalSet("unseen_kinds", "unseen rain kinds: another renderer over moving photographs",
                tuple(Variant(kind, _KIND_LABELS[kind], HeldOutRain.preset(kind), photos[i:] + photos[:i])
                      for i, kind in enumerate(HELDOUT_KINDS))),
    )


def read_train_params(path: str | os.PathLike) -> RainParams:
    """The ``RainParams`` a synthetic training set was made with, from its ``synth.json`` (or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "synth.json"
    try:
        record = json.loads(path.read_text())
        params = record["params"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"Cannot read rain settings from {path} ({err}): give the synth.json that "
                         "`rainmamba synth` wrote next to the training data.") from None
    fields = {f.name for f in dataclasses.fields(RainParams)}
    return RainParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k in fields})
