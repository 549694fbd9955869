"""Presets in four parts (architecture, test protocol, training recipe, weight source), and their metadata."""
from __future__ import annotations

import dataclasses

import pytest

import models
from models.checkpoint import preset_from_metadata
from models.presets import OFFICIAL_PRESETS, PRESETS


@pytest.mark.parametrize("name", OFFICIAL_PRESETS)
def test_official_presets_say_where_their_weights_are(name):
    source = PRESETS[name].weights
    assert source.file.endswith(".pth") and source.page.startswith("https://github.com/TonyHongtaoWu/RainMamba")
    assert len(source.drive_id) > 20 and source.view_url == f"https://drive.google.com/file/d/{source.drive_id}/view"
    assert source.download_url == f"https://drive.google.com/uc?export=download&id={source.drive_id}"
    assert len({PRESETS[n].weights.drive_id for n in OFFICIAL_PRESETS}) == len(OFFICIAL_PRESETS)


def test_tiny_has_no_released_weights_and_the_error_says_to_train(model_home):
    assert PRESETS["tiny"].weights is None
    with pytest.raises(FileNotFoundError, match="no released weights: train them with `rainmamba train`"):
        models.resolve_model("tiny")


def test_missing_official_weights_point_at_the_drive_file(model_home):
    with pytest.raises(FileNotFoundError) as err:
        models.resolve_model("vrds")
    message = str(err.value)
    assert PRESETS["vrds"].weights.view_url in message
    assert "rainmamba models import VRDS.pth --preset vrds" in message


def test_metadata_round_trip_and_older_flat_metadata():
    tiny = PRESETS["tiny"]
    arch = {"name": "tiny", **dataclasses.asdict(tiny.arch)}
    assert preset_from_metadata(arch, dataclasses.asdict(tiny.protocol), dataclasses.asdict(tiny.recipe)) is tiny
    # Files written before the split: one flat entry, recipe fields under other names, no recipe entry.
    flat = {**arch, **dataclasses.asdict(tiny.protocol), "train_crop": 64, "batch_per_gpu": 4, "weights_url": ""}
    assert preset_from_metadata(flat) is tiny
    other = preset_from_metadata({**flat, "num_features": 16})
    assert other.arch.num_features == 16 and other.protocol == tiny.protocol and other.recipe == tiny.recipe


def test_the_shipped_file_reads_as_the_registered_preset():
    assert models.resolve_model(None).preset is PRESETS["tiny"]
