"""The engine's own tile choice: whole frames in fast mode when a window of them fits the memory bound,
else the largest square tile that does, never below the preset's tile; off wherever a tile is given,
in official mode, and for presets not measured on whole frames."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import models
from models.checkpoint import preset_from_metadata
from models.tiles import WINDOW_MEMORY, largest_tile

from tests.models.engine_helpers import StandInNet


def _whole_frame_net(frames: int = 3, tile: tuple[int, int] = (16, 16)) -> StandInNet:
    """A stand-in net whose preset, like the shipped model's, asks for whole frames in fast mode."""
    net = StandInNet(frames=frames, tile=tile)
    protocol = dataclasses.replace(net.preset.protocol, fast_whole_frames=True)
    net.preset = dataclasses.replace(net.preset, protocol=protocol)
    return net


def test_largest_tile_is_the_whole_frame_when_it_fits_else_the_largest_square_that_does():
    assert largest_tile(480, 854, 480 * 856, (128, 128), 32) == (0, 0)         # 854 pads to 856
    side = largest_tile(480, 854, 480 * 856 - 1, (128, 128), 32)
    assert side[0] == side[1] and side[0] % 8 == 0 and side[0] ** 2 <= 480 * 856 - 1 < (side[0] + 8) ** 2
    assert largest_tile(1080, 1920, 100, (128, 64), 32) == (128, 64)           # never below the fallback


def test_shipped_preset_runs_whole_frames_up_to_the_bound_and_the_largest_fitting_tile_beyond():
    preset = models.get_preset("tiny")
    assert preset.protocol.fast_whole_frames
    net = StandInNet()
    net.preset = preset
    engine = models.Derainer(net, device="cpu")
    budget = WINDOW_MEMORY // (preset.arch.bytes_per_pixel * preset.protocol.frames)
    assert engine.tile_for(480, 854) == (0, 0) and engine.tile_for(1080, 1920) == (0, 0)
    side = engine.tile_for(2160, 3840)[0]
    assert engine.tile_for(2160, 3840) == (side, side)
    assert side * side <= budget < (side + 8) ** 2 and side > preset.protocol.tile[0]
    # a batch of windows shares the bound
    assert models.Derainer(net, device="cpu", batch_size=4).tile_for(1080, 1920) != (0, 0)


@pytest.mark.parametrize("settings", [{"tile": 16}, {"mode": "official"}])
def test_a_given_tile_or_official_mode_keeps_the_tile(settings):
    engine = models.Derainer(_whole_frame_net(), device="cpu", **settings)
    assert engine.tile_for(64, 96) == (16, 16)


def test_presets_without_the_flag_keep_their_tiles():
    engine = models.Derainer(StandInNet(), device="cpu")
    assert not engine.preset.protocol.fast_whole_frames
    assert engine.tile_for(64, 96) == (16, 16)
    for name in models.presets.OFFICIAL_PRESETS:
        assert not models.get_preset(name).protocol.fast_whole_frames


def test_the_chosen_tile_is_what_runs(monkeypatch):
    torch.manual_seed(0)
    video = torch.rand(3, 3, 40, 56)
    net = _whole_frame_net()
    whole = models.Derainer(net, device="cpu", tile=0)(video)
    net.calls.clear()
    assert torch.equal(models.Derainer(net, device="cpu")(video), whole)
    assert net.calls == [(1, 3, 3, 40, 56)]
    # a bound too small for the frame: the largest square tile that fits, cut and blended as if given
    monkeypatch.setattr(models.engine, "WINDOW_MEMORY", 24 * 24 * 3 * net.preset.arch.bytes_per_pixel)
    engine = models.Derainer(net, device="cpu")
    assert engine.tile_for(40, 56) == (24, 24)
    assert torch.equal(engine(video), models.Derainer(net, device="cpu", tile=24)(video))


def test_checkpoints_written_before_the_flag_load_as_the_shipped_preset():
    tiny = models.get_preset("tiny")
    window = dataclasses.asdict(tiny.protocol)
    del window["fast_whole_frames"]
    architecture = {"name": "tiny", **dataclasses.asdict(tiny.arch)}
    assert preset_from_metadata(json.loads(json.dumps(architecture)), json.loads(json.dumps(window))) is tiny
    assert models.resolve_model(None).preset.protocol.fast_whole_frames
