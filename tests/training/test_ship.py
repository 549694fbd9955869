"""``rainmamba ship-eval``: the held-out evaluation of the model card (sets, gains, baselines, identity, CLI)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import models
from models.cli import main
from training.heldout import held_out_sets, read_train_params, unseen_variants
from training.render import render_pair
from training.ship_eval import QUICK, evaluate_generalisation
from training.ship_report import markdown_table
from training.synth import RainParams, write_synthetic_dataset

SETS = ["in_distribution", "unseen_rain", "photo_scenes", "unseen_kinds"]


class Scaled(nn.Module):
    """``x * factor``: identity at 1, a known degradation below it."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.preset = models.get_preset("tiny")
        self.factor = nn.Parameter(torch.tensor(factor))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def _quick(model, **kw):
    return evaluate_generalisation(model, clips=QUICK["clips"], frames=QUICK["frames"], size=QUICK["size"], **kw)


def _numbers(summary: dict) -> list[float]:
    return [summary[part][key] for part in ("input", "output", "gain") for key in ("psnr", "ssim")]


def test_identity_gains_nothing_and_darkening_loses():
    same, dark = _quick(Scaled(1.0)), _quick(Scaled(0.5))
    assert list(same["sets"]) == SETS == list(dark["sets"])
    for key in SETS:
        assert same["sets"][key]["output"] == same["sets"][key]["input"]
        assert same["sets"][key]["gain"] == {"psnr": 0.0, "ssim": 0.0}
        # the same clips are rendered for both models (same seed), so the inputs agree
        assert dark["sets"][key]["input"] == same["sets"][key]["input"]
        gain = dark["sets"][key]["gain"]
        # halving brightens nothing, but a veiled rainy input is so far off that it loses less there
        assert gain["psnr"] < (-1 if key == "unseen_kinds" else -3) and gain["ssim"] < 0
        assert gain["psnr"] == pytest.approx(dark["sets"][key]["output"]["psnr"] - dark["sets"][key]["input"]["psnr"])


def test_identity_model_keeps_all_rain_and_changes_no_clean_input():
    same, dark = _quick(Scaled(1.0)), _quick(Scaled(0.5))
    for key in ("in_distribution", "unseen_rain", "photo_scenes"):
        assert same["sets"][key]["streak_left"]["output"] == pytest.approx(1.0)
        assert dark["sets"][key]["streak_left"]["output"] < 0.5
    assert same["identity"]["rain_free"]["worst_psnr"]["output"] == math.inf
    assert same["identity"]["rain_free_fast_pan"]["worst_psnr"]["output"] == math.inf
    assert dark["identity"]["rain_free_fast_pan"]["psnr"]["output"] < 15
    per_clip = dark["identity"]["rain_free"]["clip_psnr"]["output"]      # one score per clip, scenes in order
    assert len(per_clip) == len(dark["identity"]["rain_free"]["scenes"])
    assert min(per_clip) == dark["identity"]["rain_free"]["worst_psnr"]["output"]
    grey = same["identity"]["flat_fields"]["mid_grey"]
    assert grey["output"] == {"mean_abs": 0.0, "channels": [0.0, 0.0, 0.0]} == grey["median"]
    # x * 0.5 on 128 gives 64: a shift of 64 codes down in every channel
    assert dark["identity"]["flat_fields"]["mid_grey"]["output"] == {"mean_abs": 64.0, "channels": [-64.0] * 3}
    assert dark["identity"]["rain_free"]["psnr"]["output"] < 15
    # the median baseline is the same for both models and is scored on every set
    assert same["sets"]["photo_scenes"]["median"] == dark["sets"]["photo_scenes"]["median"]
    assert 0 < same["sets"]["in_distribution"]["streak_left"]["median"] < 1


def test_reference_is_scored_beside_the_model_and_images_are_written(tmp_path):
    report = _quick(Scaled(0.5), reference=Scaled(1.0), images=tmp_path / "img")
    for summary in report["sets"].values():
        assert summary["reference"] == summary["input"] and summary["output"] != summary["input"]
    assert report["reference"]["name"] == "Scaled"
    assert report["identity"]["flat_fields"]["pale_blue_sky"]["reference"]["mean_abs"] == 0.0
    table = markdown_table(report)
    assert "reference PSNR / SSIM" in table and "Reference: Scaled" in table
    names = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert names == sorted([f"{key}.png" for key in SETS] + ["identity.png"])
    grid = cv2.imread(str(tmp_path / "img" / "in_distribution.png"))
    h, w = QUICK["size"]
    # 5 columns (rainy | median | reference | model | clean), a header and one row per clip
    assert grid.shape[1] == 5 * w + 4 * 2 and grid.shape[0] > QUICK["clips"] * (h + 2)


def test_seed_changes_the_clips():
    a, b = _quick(Scaled(1.0), seed=1), _quick(Scaled(1.0), seed=2)
    assert a["sets"]["in_distribution"]["input"] != b["sets"]["in_distribution"]["input"]


def test_unseen_settings_lie_outside_the_training_ranges():
    train = RainParams(density=(20, 60), angle=(-15, 15), length=(10, 30), width=(1, 2))
    variants = {v.key: v.params for v in unseen_variants(train)}
    assert variants["steep_wind"].angle[0] > train.angle[1]
    assert variants["dense"].density[0] > train.density[1]
    assert variants["sparse"].density[1] < train.density[0]
    assert variants["long_thick"].length[0] > train.length[1] and variants["long_thick"].width[1] > train.width[1]
    # everything not named stays as trained
    assert variants["dense"].replace(density=train.density) == train
    # streaks lengthened by a training exposure blur still count: unseen streaks are longer than those
    blurred = train.replace(exposure=(1.0, 1.5))
    long_thick = {v.key: v.params for v in unseen_variants(blurred)}["long_thick"]
    assert long_thick.length[0] > blurred.length[1] * blurred.exposure[1] and long_thick.exposure == (1.0, 1.0)
    in_dist = held_out_sets(train)[0]
    assert in_dist.variants[0].params == train


def test_training_settings_come_from_synth_json(tmp_path):
    params = RainParams(density=(5, 25), angle=(-5, 5), fog_prob=0.0)
    write_synthetic_dataset(tmp_path / "data", 1, 1, 16, 16, params=params)
    assert read_train_params(tmp_path / "data") == params
    assert read_train_params(tmp_path / "data" / "synth.json") == params
    with pytest.raises(ValueError, match="synth.json"):
        read_train_params(tmp_path)


def test_render_pair_is_quantised_and_rainy():
    clean = np.full((3, 32, 32, 3), 0.4, np.float32)
    clean_u8, rainy_u8 = render_pair(clean, RainParams(density=(60, 60), fog_prob=0.0), np.random.default_rng(0))
    assert clean_u8.dtype == rainy_u8.dtype == np.uint8 and clean_u8.shape == rainy_u8.shape == (3, 32, 32, 3)
    assert (clean_u8 == 102).all() and (rainy_u8 > clean_u8).any()


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One quick ``rainmamba ship-eval`` over a tiny random-weight checkpoint: (result, JSON report)."""
    folder = tmp_path_factory.mktemp("ship")
    torch.manual_seed(0)
    checkpoint = models.save_checkpoint(models.build("tiny"), folder / "tiny.safetensors")
    result = CliRunner().invoke(main, ["ship-eval", "--model", str(checkpoint), "--quick", "--json",
                                       str(folder / "report.json"), "--images", str(folder / "images")])
    report = json.loads((folder / "report.json").read_text()) if result.exit_code == 0 else None
    return result, report


def test_command_line_prints_the_table_and_writes_json(cli_run):
    result, report = cli_run
    assert result.exit_code == 0, result.output
    assert list(report["sets"]) == SETS and report["preset"] == "tiny"
    for summary in report["sets"].values():
        assert summary["clips"] == QUICK["clips"]
        assert all(math.isfinite(x) for x in _numbers(summary))
        assert summary["gain"]["ssim"] == pytest.approx(summary["output"]["ssim"] - summary["input"]["ssim"])
    assert len(report["clips"]) == len(SETS) * QUICK["clips"]
    # the shipped model is the reference by default when another model is scored
    assert report["reference"]["name"].startswith("shipped default")
    assert report["images"] and (Path(report["images"]) / "identity.png").is_file()
    table = markdown_table(report)
    assert table in result.output
    assert table.count("| **") == len(SETS) and "gain PSNR / SSIM" in table
    psnr_in = report["sets"]["in_distribution"]["input"]["psnr"]
    assert f"{psnr_in:.2f}" in table


def test_reference_none_scores_the_model_alone(tmp_path):
    result = CliRunner().invoke(main, ["ship-eval", "--model", "default", "--reference", "none", "--clips", "1",
                                       "--frames", "2", "--size", "32x32", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["reference"] is None and "reference" not in report["sets"]["in_distribution"]


@pytest.mark.parametrize("args, words", [(["--model", "no/such.safetensors"], "does not exist"),
                                         (["--size", "8x8"], "too small"),
                                         (["--size", "big"], "HEIGHTxWIDTH"),
                                         (["--device", "warp9"], "Unknown device")])
def test_bad_input_is_one_clear_line(args, words):
    result = CliRunner().invoke(main, ["ship-eval", *args, "--clips", "1", "--frames", "1"])
    assert result.exit_code != 0
    assert words in result.output and "Traceback" not in result.output
