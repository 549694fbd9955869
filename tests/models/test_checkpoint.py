"""Reading the authors' checkpoints and our own, strictly, with errors that say what differs."""
from __future__ import annotations

import dataclasses

import pickle

import pytest
import torch

import models
from models import CheckpointError
from tests.conftest import write_official_checkpoint


def _assert_same_weights(net, state):
    ours = net.state_dict()
    assert ours.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(ours[k], v), k


@pytest.fixture(scope="module")
def official_rainsynall100(tmp_path_factory):
    path = tmp_path_factory.mktemp("official") / "RainSynAll100.pth"
    state = write_official_checkpoint(path, "rainsynall100", seed=3)
    return path, state


def test_official_mmcv_checkpoint_loads_strictly_with_preset_from_c64(official_rainsynall100):
    path, state = official_rainsynall100
    net = models.load(path)
    assert net.preset.name == "rainsynall100" and not net.training
    _assert_same_weights(net, state)
    assert net.provenance["meta.iter"] == 300000


def test_preset_comes_from_the_authors_config_text(tmp_path):
    path = tmp_path / "LWDDS.pth"
    state = write_official_checkpoint(path, "lwdds", config="data = dict(train=dict(lq_folder='LWDDS/rainy_vid'))")
    net = models.load(path)
    assert net.preset.name == "lwdds"
    _assert_same_weights(net, state)


def test_c128_without_a_hint_asks_for_the_preset(tmp_path):
    path = tmp_path / "weights.pth"
    write_official_checkpoint(path, "vrds", config="")
    with pytest.raises(CheckpointError, match=r"Pass preset=") as err:
        models.load(path)
    assert "vrds" in str(err.value) and "rainvidss" in str(err.value)
    assert models.load(path, preset="rainvidss").preset.protocol.frames == 7


@pytest.mark.parametrize("prefix", ["", "module.", "module.generator."])
def test_bare_state_dicts_with_or_without_prefixes(tmp_path, tiny_net, prefix):
    path = tmp_path / "bare.pth"
    state = tiny_net.state_dict()
    torch.save({prefix + k: v for k, v in state.items()}, path)
    _assert_same_weights(models.load(path, preset="tiny"), state)


def test_wrong_preset_is_named_and_the_fitting_one_suggested(official_rainsynall100):
    path, _ = official_rainsynall100
    with pytest.raises(CheckpointError, match=r"does not match preset 'vrds'.*mis-shaped.*preset='rainsynall100'"):
        models.load(path, preset="vrds")


def test_missing_and_unexpected_tensors_are_listed_with_counts(tmp_path, tiny_net):
    state = dict(tiny_net.state_dict())
    for name in list(state)[:5]:
        del state[name]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        models.load(path, preset="tiny")
    message = str(err.value)
    assert "5 missing" in message and "(+2 more)" in message and "1 unexpected: extra.weight" in message


@pytest.mark.parametrize("cut", [0, 10, 5000])
def test_truncated_or_corrupt_files_give_a_clear_error(tmp_path, official_rainsynall100, cut):
    path, _ = official_rainsynall100
    broken = tmp_path / "broken.pth"
    broken.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CheckpointError, match=r"(is empty|truncated or corrupt)"):
        models.load(broken)


def test_pickled_code_is_refused_not_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').touch()",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": Boom()}, f)
    with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
        models.load(path, preset="tiny")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_project_format_round_trip_keeps_preset_and_provenance(tmp_path, tiny_net, dtype):
    path = models.save_checkpoint(tiny_net, tmp_path / "run" / "model.safetensors",
                                  {"data": "synthetic", "iterations": 12, "metrics": {"psnr": 30.5}}, dtype=dtype)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    ckpt = models.read_checkpoint(path)
    assert ckpt.source_format == "project" and ckpt.preset.name == "tiny"
    net = models.load(path)
    assert net.provenance == {"data": "synthetic", "iterations": 12, "metrics": {"psnr": 30.5}}
    for k, v in tiny_net.state_dict().items():
        torch.testing.assert_close(net.state_dict()[k], v.to(dtype).float(), rtol=0, atol=0)


def test_project_format_keeps_a_custom_architecture(tmp_path):
    tiny = models.get_preset("tiny")
    preset = dataclasses.replace(tiny, name="tiny-custom", arch=dataclasses.replace(tiny.arch, num_features=16),
                                 protocol=dataclasses.replace(tiny.protocol, frames=3),
                                 recipe=dataclasses.replace(tiny.recipe, lr=5e-4), description="")
    net = models.RainMamba(preset)
    path = models.save_checkpoint(net, tmp_path / "custom.safetensors")
    loaded = models.load(path)
    assert loaded.preset == preset
    _assert_same_weights(loaded, net.state_dict())


def test_import_installs_under_the_preset_and_model_name_finds_it(model_home, official_rainsynall100):
    path, state = official_rainsynall100
    with pytest.raises(FileNotFoundError, match=r"rainmamba models import RainSynAll100.pth --preset rainsynall100"):
        models.resolve_model("rainsynall100")
    installed = models.import_official(path)
    assert installed == model_home / "rainsynall100.safetensors"
    assert models.installed_weights() == {"rainsynall100": installed}
    net = models.resolve_model("rainsynall100")
    _assert_same_weights(net, state)
    assert net.provenance["imported_from"].endswith("RainSynAll100.pth")


def test_missing_file_and_unknown_preset_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        models.load(tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="Unknown preset 'vrdx'"):
        models.build("vrdx")
