"""The trainer on CPU with the tiny preset: learning, logs, export, the VGG paths, NaN guard, config, encoder init."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import models
from training.cli_train import train_command
from training.config import TrainConfig, build_config, resolve
from training.distributed import ResumableSampler
from training.encoder_init import init_encoder
from training.losses import DCLL_LAYERS, PERCEPTUAL_LAYERS
from training.synth import write_synthetic_dataset
from training.trainer import Trainer, train
from training.vgg import build_vgg_features

TINY_RUN = dict(preset="tiny", crop=32, frames=3, batch_size=1, warmup_iterations=0, progress=False, threads=1)


def fake_vgg_files(folder: Path) -> dict[str, str]:
    """Random VGG16/VGG19 weights under torchvision's names: the losses run, nothing is downloaded."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for depth, layers in ((16, PERCEPTUAL_LAYERS), (19, DCLL_LAYERS)):
        torch.manual_seed(depth)
        state = {f"features.{k}": v for k, v in build_vgg_features(depth, layers).state_dict().items()}
        torch.save(state, folder / f"vgg{depth}.pth")
        paths[f"vgg{depth}_weights"] = str(folder / f"vgg{depth}.pth")
    return paths


@pytest.fixture
def no_vgg_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))


def test_loss_decreases_logs_and_export(tmp_path):
    data = write_synthetic_dataset(tmp_path / "data", 1, 3, 32, 32, seed=0)
    config = build_config(overrides=dict(TINY_RUN, data=str(data), out=str(tmp_path / "run"), iterations=8, lr=2e-3,
                                         augment=False, checkpoint_every=4, dcll_samples=2,
                                         dcll_negative_distance=(8, 4), **fake_vgg_files(tmp_path / "vgg")))
    result = train(config)

    assert result.losses_used == ["charbonnier", "perceptual", "dcll"] and result.skipped_steps == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == list(range(1, 9))
    assert records[-1]["loss"] < 0.8 * records[0]["loss"]
    assert all(r["dcll"] > 0 and r["perceptual"] > 0 and r["lr"] > 0 for r in records)
    header = (tmp_path / "run" / "log.csv").read_text().splitlines()[0]
    assert header.startswith("iteration,lr,loss,charbonnier,perceptual,dcll")
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["iter_00000004.pt",
                                                                                   "iter_00000008.pt"]
    net = models.load(result.export)
    assert net.preset.name == "tiny"
    assert net.provenance["iterations"] == 8 and net.provenance["losses"] == result.losses_used
    assert net.provenance["data"] == str(data)
    # a training checkpoint is a model too: ship-eval, derain and models import take it as it is
    last = models.load(tmp_path / "run" / "checkpoints" / "iter_00000008.pt")
    assert last.preset.name == "tiny" and last.provenance["meta.iter"] == 8
    assert all(torch.equal(a, b) for a, b in zip(last.state_dict().values(), net.state_dict().values()))
    middle = models.load(tmp_path / "run" / "checkpoints" / "iter_00000004.pt")
    assert not all(torch.equal(a, b) for a, b in zip(middle.state_dict().values(), net.state_dict().values()))


def test_missing_vgg_warns_and_continues(tmp_path, no_vgg_cache):
    data = write_synthetic_dataset(tmp_path / "data", 1, 3, 32, 32, seed=1)
    args = ["--preset", "tiny", "--data", str(data), "--crop", "32", "--frames", "3", "--batch-size", "1",
            "--threads", "1", "--no-progress"]
    result = CliRunner().invoke(train_command, args + ["--out", str(tmp_path / "run"), "--iterations", "1"])
    assert result.exit_code == 0, result.output
    assert "VGG16 ImageNet weights not found" in result.output and "continues without" in result.output
    assert models.load(tmp_path / "run" / "model.safetensors").provenance["losses"] == ["charbonnier"]

    strict = CliRunner().invoke(train_command, args + ["--out", str(tmp_path / "run2"), "--require-vgg"])
    assert strict.exit_code == 1
    assert "Error: VGG16 ImageNet weights not found" in strict.output and "--require-vgg" in strict.output
    assert "Traceback" not in strict.output and not (tmp_path / "run2" / "model.safetensors").exists()

    # fine-tuning: --init without --preset takes the checkpoint's preset and weights
    first = tmp_path / "run" / "model.safetensors"
    tune = CliRunner().invoke(train_command, args[2:] + ["--out", str(tmp_path / "run3"), "--iterations", "1",
                                                         "--init", str(first), "--lr", "1e-12"])
    assert tune.exit_code == 0, tune.output
    tuned = models.load(tmp_path / "run3" / "model.safetensors")
    assert tuned.provenance["init"] == str(first) and tuned.preset.name == "tiny"
    start = models.load(first).state_dict()
    assert torch.allclose(tuned.state_dict()["conv_last.weight"], start["conv_last.weight"], atol=1e-6)


class _PairsWithNaN(torch.utils.data.Dataset):
    """Four fixed windows; the second has a NaN pixel, so its loss is NaN."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.items = [{"lq": torch.rand(3, 3, 32, 32, generator=g), "gt": torch.rand(3, 3, 32, 32, generator=g)}
                      for _ in range(4)]
        self.items[1]["lq"][0, 0, 0, 0] = float("nan")

    def __len__(self) -> int:
        return 4

    def set_epoch(self, epoch: int) -> None:
        pass

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def test_nan_guard_skips_the_step(tmp_path, no_vgg_cache):
    config = build_config(overrides=dict(TINY_RUN, out=str(tmp_path / "run"), iterations=4, clip_grad=0.5,
                                         checkpoint_every=100))
    result = Trainer(config, dataset=_PairsWithNaN()).run()
    assert result.skipped_steps == 1
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in records].count(1) == 1
    assert "the step was skipped" in (tmp_path / "run" / "train.log").read_text()
    assert all(torch.isfinite(t).all() for t in models.load(result.export).state_dict().values())


def test_fresh_run_refuses_a_used_folder_and_resume_needs_one(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "iter_00000002.pt").write_bytes(b"x")
    used = CliRunner().invoke(train_command, ["--preset", "tiny", "--data", str(tmp_path), "--out",
                                              str(tmp_path / "run")])
    assert used.exit_code == 1 and "--resume" in used.output
    broken = CliRunner().invoke(train_command, ["--out", str(tmp_path / "run"), "--resume"])
    assert broken.exit_code == 1 and "not a readable rainmamba training checkpoint" in broken.output
    empty = CliRunner().invoke(train_command, ["--out", str(tmp_path / "none"), "--resume"])
    assert empty.exit_code == 1 and "Nothing to resume" in empty.output


# ------------------------------------------------------------------------------------------ config
def test_recipe_comes_from_the_preset():
    vrds = resolve(TrainConfig(preset="vrds"))
    assert (vrds.iterations, vrds.batch_size, vrds.crop, vrds.frames, vrds.lr) == (300_000, 2, 256, 5, 4e-4)
    assert (vrds.warmup_iterations, vrds.dcll_samples, vrds.dcll_negative_distance) == (2000, 5, (96, 60))
    vidss = resolve(TrainConfig(preset="rainvidss"))
    assert (vidss.frames, vidss.crop, vidss.lr, vidss.dcll_samples) == (7, 128, 2e-4, 10)
    assert vidss.dcll_negative_distance == (56, 48)


def test_every_preset_recipe_fills_the_config_by_name():
    """The recipe's fields carry TrainConfig's names; only the two that are facts, not settings, do not."""
    import dataclasses

    from models import PRESETS
    from training.config import FIELDS

    names = {f.name for f in dataclasses.fields(next(iter(PRESETS.values())).recipe)}
    assert names - set(FIELDS) == {"gpus", "dcll_samples_per_batch"}
    for name, preset in PRESETS.items():
        config = resolve(TrainConfig(preset=name))
        for field in names & set(FIELDS) - {"dcll_samples"}:
            assert getattr(config, field) == getattr(preset.recipe, field), (name, field)


def test_config_file_then_options_override(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('[train]\npreset = "lwdds"\nlr = 1e-4\nbatch-size = 4\ndcll_negative_distance = [80, 50]\n')
    config = resolve(build_config(toml, {"batch_size": 2, "iterations": None}))
    assert (config.preset, config.lr, config.batch_size, config.iterations) == ("lwdds", 1e-4, 2, 300_000)
    assert config.dcll_negative_distance == (80, 50)
    (tmp_path / "c.json").write_text(json.dumps({"iterations": 10, "crop": 64}))
    assert build_config(tmp_path / "c.json").iterations == 10

    (tmp_path / "bad.toml").write_text("learning_rate = 1\n")
    with pytest.raises(ValueError, match="unknown setting 'learning_rate'"):
        build_config(tmp_path / "bad.toml")
    with pytest.raises(ValueError, match="multiple of 8"):
        resolve(TrainConfig(preset="tiny", crop=30))
    with pytest.raises(ValueError, match="batch-size must be a positive"):
        resolve(TrainConfig(preset="tiny", batch_size=0))


def test_sampler_resumes_mid_epoch_and_splits_ranks():
    full = ResumableSampler(10, 2, seed=3)
    full.set_epoch(1)
    order = list(full)
    full.set_epoch(1, skip_batches=2)
    assert list(full) == order[4:] and len(full) == 6
    ranks = [ResumableSampler(10, 2, rank=r, world_size=2, seed=3) for r in range(2)]
    for s in ranks:
        s.set_epoch(1)
    first, second = list(ranks[0]), list(ranks[1])
    assert len(first) == len(second) == 4 and set(first).isdisjoint(second)
    assert first == order[0::2][:4] and second == order[1::2][:4]


# ------------------------------------------------------------------------------------ encoder init
def _rename_timm(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "downsample_layers":
        return f"stem.{parts[2]}.{parts[3]}" if parts[1] == "0" else f"stages.{parts[1]}.downsample.{'.'.join(parts[2:])}"
    table = {"depthwise_conv": "conv_dw", "pointwise_conv1": "mlp.fc1", "pointwise_conv2": "mlp.fc2"}
    layer = table.get(parts[3], parts[3])
    return f"stages.{parts[1]}.blocks.{parts[2]}.{layer}" + (f".{parts[4]}" if len(parts) > 4 else "")


def test_encoder_init_from_mmcls_and_timm_names(tmp_path):
    torch.manual_seed(1)
    source = {k[len("feat_extract."):]: v for k, v in models.build("tiny").state_dict().items()
              if k.startswith("feat_extract.")}
    mmcls = {f"backbone.{k}": v for k, v in source.items()}
    mmcls["head.fc.weight"] = torch.zeros(1000, 192)
    torch.save({"meta": {}, "state_dict": mmcls}, tmp_path / "mmcls.pth")
    torch.manual_seed(2)
    net = models.build("tiny")
    report = init_encoder(net, tmp_path / "mmcls.pth")
    assert len(report.mapped) == len(source) and report.unused == ["head.fc.weight"] and not report.not_initialised
    assert all(torch.equal(net.state_dict()[f"feat_extract.{k}"], v) for k, v in source.items())

    timm = {_rename_timm(k): v for k, v in source.items() if not k.startswith("norm")}
    timm["head.norm.weight"] = torch.ones(192)
    torch.save(timm, tmp_path / "timm.pth")
    torch.manual_seed(3)
    net = models.build("tiny")
    report = init_encoder(net, tmp_path / "timm.pth")
    assert report.unused == ["head.norm.weight"]
    assert sorted(report.not_initialised) == sorted(f"feat_extract.norm{i}.{p}" for i in range(4)
                                                    for p in ("weight", "bias"))
    assert torch.equal(net.state_dict()["feat_extract.stages.2.1.pointwise_conv1.weight"],
                       source["stages.2.1.pointwise_conv1.weight"])
    assert "tensors loaded" in report.summary()

    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="no ConvNeXt encoder tensors"):
        init_encoder(net, tmp_path / "other.pth")
