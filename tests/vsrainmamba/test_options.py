"""Argument handling: HolyWu-style [width, height] pairs, devices, and one readable sentence per mistake."""
from __future__ import annotations

import inspect

import pytest
import torch

from vsrainmamba.filter import derain
from vsrainmamba.options import OptionError, engine_options, resolve_device

DEFAULTS = {name: p.default for name, p in inspect.signature(derain).parameters.items()
            if name not in ("clip", "model", "matrix")}


def options(**changes):
    """engine_options with derain's defaults, on the CPU unless asked otherwise."""
    return engine_options(**{**DEFAULTS, "device_index": -1, **changes})


def test_width_height_pairs_become_the_engines_height_width():
    chosen = options(tile=[64, 32], tile_pad=[8, 4])
    assert chosen.tile == (32, 64) and chosen.tile_overlap == (4, 8)
    assert options(tile=0).tile == (0, 0)
    assert options().tile is None


def test_devices():
    assert resolve_device("cpu") == resolve_device(-1) == torch.device("cpu")
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None) == torch.device(expected)
    with pytest.raises(OptionError, match="device_index must be a GPU number"):
        resolve_device("gpu")


@pytest.mark.parametrize("arguments, message", [
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0."),
    ({"cache_windows": 0}, "cache_windows must be an integer >= 1, got 0."),
    ({"stride": 1.5}, "stride must be an integer >= 1, got 1.5."),
    ({"tile_pad": [1, 2, 3]}, "tile_pad must be an int >= 0 or a [width, height] pair of them"),
])
def test_mistakes_are_named(arguments, message):
    with pytest.raises(OptionError) as error:
        options(**arguments)
    assert str(error.value).startswith(message)
