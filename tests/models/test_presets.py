"""Presets in four parts (architecture, test protocol, training recipe, weight source), and their metadata."""
from __future__ import annotations

import dataclasses

import pytest
import torch

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
    assert models.resolve_model(None).preset is PRESETS["lite"]


def test_asking_for_lite_by_name_points_at_the_shipped_default(model_home):
    """lite has no released weights, but the default model is one: the error says how to use it."""
    with pytest.raises(FileNotFoundError, match="train them with `rainmamba train`. The shipped default model is a "
                                                "trained 'lite' network: give no model"):
        models.resolve_model("lite")
    with pytest.raises(FileNotFoundError) as err:
        models.resolve_model("tiny")
    assert "shipped default" not in str(err.value)


def test_lite_is_tiny_without_its_first_high_resolution_pair():
    """The shipped default's architecture: its tensors are tiny's, less the first H/4 pair of Mamba blocks,
    numbered like the official files (its one H/4 pair is block 1)."""
    with torch.device("meta"):
        tiny, lite = models.build("tiny").state_dict(), models.build("lite").state_dict()
    first_pair = ("GlobalMambaBlock1.", "LocalMambaBlock1.")
    kept = {k.replace("MambaBlock2.", "MambaBlock1."): tuple(v.shape) for k, v in tiny.items()
            if not k.startswith(first_pair)}
    assert {k: tuple(v.shape) for k, v in lite.items()} == kept
    assert PRESETS["lite"].weights is None and PRESETS["lite"].protocol == PRESETS["tiny"].protocol


@pytest.mark.parametrize("name", ["tiny", "lite"])
def test_a_bare_state_dict_is_told_the_one_preset_its_tensors_fit(tmp_path, name):
    """tiny and lite share C=32: the error names the preset whose tensors the file holds, not both."""
    torch.manual_seed(0)
    path = tmp_path / f"{name}.pth"
    torch.save(models.build(name).state_dict(), path)
    with pytest.raises(models.CheckpointError, match=f"Pass preset='{name}'") as err:
        models.load(path)
    assert f"it could be {name})" in str(err.value)
    assert models.load(path, preset=name).preset is PRESETS[name]
