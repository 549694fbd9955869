"""Argument handling: HolyWu-style [width, height] pairs, devices, and one readable sentence per mistake."""
from __future__ import annotations

import inspect

import pytest
import torch

from vsrainmamba.filter import derain
from vsrainmamba.options import OptionError, engine_options

DEFAULTS = {name: p.default for name, p in inspect.signature(derain).parameters.items()
            if name not in ("clip", "model", "matrix")}


def options(**changes):
    """engine_options with derain's defaults, on the CPU unless asked otherwise."""
    return engine_options(**{**DEFAULTS, "device_index": -1, **changes})


def test_width_height_pairs_become_the_engines_height_width():
    chosen = options(tile=[64, 32], tile_pad=[8, 4]).engine
    assert chosen.tile == (32, 64) and chosen.tile_overlap == (4, 8)
    assert options(tile=0).engine.tile == (0, 0)
    assert options().engine.tile is None


def test_devices():
    assert options(device_index="cpu").device == options(device_index=-1).device == torch.device("cpu")
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert options(device_index=None).device == torch.device(expected)
    with pytest.raises(OptionError, match="device_index must be a GPU number"):
        options(device_index="gpu")


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


@pytest.mark.parametrize("arguments, message", [
    ({"tile": [64, 16]}, "tile=[64, 16] is not allowed: each side must be 0 (whole frame) or a multiple of 8 "
                         "of at least 32"),
    ({"tile_pad": 200}, "tile_pad=200 must be smaller than the tile (tile=["),
    ({"tile": [64, 32], "tile_pad": [8, 40]}, "tile_pad=[8, 40] must be smaller than the tile (tile=[64, 32])"),
])
def test_checks_that_need_the_network_quote_the_arguments_as_typed(mean_net, arguments, message):
    """The engine's checks speak the filter's names and its [width, height] order, not (H, W)."""
    import vapoursynth as vs

    clip = vs.core.std.BlankClip(width=64, height=64, format=vs.RGBS, length=3)
    with pytest.raises(vs.Error) as error:
        derain(clip, model=mean_net, device_index=-1, **arguments)
    assert message in str(error.value)
    assert "tile_overlap" not in str(error.value) and "(16, 64)" not in str(error.value)
