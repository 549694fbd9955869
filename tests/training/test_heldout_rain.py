"""``training.heldout_rain``: rain kinds the trainer never renders, kept out of the training code."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import training
from training.heldout_rain import HELDOUT_KINDS, HeldOutRain, add_heldout_rain, streak_field

CLEAN = np.full((4, 48, 64, 3), 0.4, np.float32)


@pytest.mark.parametrize("kind", HELDOUT_KINDS)
def test_each_kind_renders_reproducible_rain(kind):
    params = HeldOutRain.preset(kind)
    a = add_heldout_rain(CLEAN, params, np.random.default_rng(3))
    b = add_heldout_rain(CLEAN, params, np.random.default_rng(3))
    assert a.shape == CLEAN.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b) and not np.allclose(a, CLEAN)


def test_kinds_differ_as_described():
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    bright = add_heldout_rain(CLEAN, HeldOutRain.preset("thin_bright"), rng())
    dark = add_heldout_rain(CLEAN, HeldOutRain.preset("dark"), rng())
    veiled = add_heldout_rain(CLEAN, HeldOutRain.preset("veiled_wide"), rng())
    overcast = add_heldout_rain(CLEAN, HeldOutRain.preset("overcast"), rng())
    assert bright.min() >= 0.4 - 1e-6 and bright.max() > 0.8           # light is only added
    assert dark.max() <= 0.4 + 1e-6 and dark.min() < 0.35               # light is only taken away
    assert veiled.min() > 0.45                                           # the veil lifts every pixel
    assert np.median(overcast) < 0.4                                     # the scene is dimmed


def test_streaks_fall_coherently_from_frame_to_frame():
    params = HeldOutRain("thin_bright", angle=(0.0, 0.0), speed=(6.0, 6.0))
    layer = streak_field(6, 64, 64, params, np.random.default_rng(0))
    # straight down at 6 px per frame: frame t+1 is frame t moved 6 rows down
    assert np.allclose(layer[1:, 6:], layer[:-1, :-6])
    assert layer[1:].std() > 0 and not np.allclose(layer[1], layer[0])


def test_bad_settings_are_one_clear_line():
    with pytest.raises(ValueError, match="Unknown held-out rain kind 'snow'"):
        HeldOutRain("snow")
    with pytest.raises(ValueError, match="strength"):
        HeldOutRain("dark", strength=(0.5, 0.2))


def test_no_training_data_code_imports_the_held_out_renderer():
    """What keeps this rain held out: only the evaluation modules import it."""
    allowed = {"heldout_rain.py", "heldout.py", "render.py"}
    for path in Path(training.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        if any("heldout_rain" in name for name in names):
            assert path.name in allowed, f"{path.name} imports the held-out rain renderer"
