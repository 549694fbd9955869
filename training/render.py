"""Clean and rainy 8-bit clips rendered in memory, for held-out evaluation and the demo.

Scenes come from :mod:`training.scenes` (procedural, or a scikit-image photograph filmed by a moving camera),
rain from :mod:`training.synth` (:class:`~training.synth.RainParams`) or from the held-out renderers of
:mod:`training.heldout_rain` (:class:`~training.heldout_rain.HeldOutRain`). Every clip is quantised to 8 bits
exactly as ``rainmamba synth`` writes its PNGs.
"""
from __future__ import annotations

import numpy as np

from .heldout_rain import HeldOutRain, add_heldout_rain
from .metrics import to_uint8
from .scenes import SKIMAGE_PHOTOS, CameraMotion, load_skimage_photo, photo_scene, procedural_scene
from .synth import RainParams, add_rain

__all__ = ["make_scene", "render_pair"]


def _photo(name: str) -> np.ndarray:
    if name in SKIMAGE_PHOTOS:
        return load_skimage_photo(name)
    try:
        import skimage.data
    except ImportError as err:
        raise ImportError("Photo scenes need scikit-image: pip install scikit-image.") from err
    return getattr(skimage.data, name)()    # grey or RGB; photo_scene makes it (H, W, 3) float


def make_scene(scene: str, frames: int, height: int, width: int, rng: np.random.Generator,
               camera: CameraMotion = CameraMotion()) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32: ``"procedural"`` or a scikit-image photo name, filmed by a camera
    moving within ``camera``'s bounds."""
    if scene == "procedural":
        return procedural_scene(frames, height, width, rng, camera)
    return photo_scene(_photo(scene), frames, height, width, rng, camera)


def render_pair(clean: np.ndarray, params: RainParams | HeldOutRain | None,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(clean, rainy) uint8 (T, H, W, 3) RGB; ``params`` None renders no rain (rainy is a copy of clean)."""
    clean_u8 = to_uint8(clean)
    if params is None:
        return clean_u8, clean_u8.copy()
    clean_f = clean_u8.astype(np.float32) / 255
    render = add_heldout_rain if isinstance(params, HeldOutRain) else add_rain
    return clean_u8, to_uint8(render(clean_f, params, rng))
