"""``rainmamba demo``: every output written with the right frames, size and rate, and honest numbers."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import pytest
import torch
from click.testing import CliRunner

import models
import models.registry
from models.cli import main
from opencv_filter.demo import OUTPUTS, run_demo
from tests.conftest import IdentityNet
from tests.opencv_filter.cv_clips import read_video

FRAMES, SIZE, FPS = 6, (64, 96), 25.0


Identity = IdentityNet


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return models.save_checkpoint(models.build("tiny"), tmp_path_factory.mktemp("model") / "tiny.safetensors")


def _video(path: Path) -> tuple[int, int, int, float]:
    """(decoded frame count, height, width, fps) of a video file."""
    frames, fps = read_video(path)
    return len(frames), frames[0].shape[0], frames[0].shape[1], fps


def test_demo_writes_every_output_and_prints_the_numbers(tmp_path, tiny_checkpoint):
    lines: list[str] = []
    summary = run_demo(tmp_path / "out", tiny_checkpoint, frames=FRAMES, size=SIZE, scene="procedural",
                       fps=FPS, echo=lines.append)
    out = tmp_path / "out"
    for name in ("rainy.mp4", "derained.mp4"):
        assert _video(out / name) == (FRAMES, *SIZE, FPS), name
    image = cv2.imread(str(out / OUTPUTS["comparison"]))
    assert image.shape[1] == 3 * SIZE[1] + 2 * 2 and SIZE[0] < image.shape[0] < SIZE[0] + 40
    assert json.loads((out / OUTPUTS["summary"]).read_text()) == json.loads(json.dumps(summary))

    assert summary["model"]["preset"] == "tiny"
    for key in ("before", "after", "gain", "rainy_before_encoding"):
        assert all(math.isfinite(v) for v in summary[key].values()), key
    assert summary["gain"]["psnr"] == pytest.approx(summary["after"]["psnr"] - summary["before"]["psnr"])
    assert summary["before"]["psnr"] < 40  # there is rain to remove
    speed = summary["speed"]
    assert speed["frames"] == FRAMES and speed["frames_per_second"] == pytest.approx(FRAMES / speed["seconds"], rel=1e-2)

    text = "\n".join(lines)
    assert "frames/s" in text and f"{summary['before']['psnr']:.2f}" in text and f"{summary['after']['psnr']:.2f}" in text
    assert "before derained.mp4 was encoded" in text


def test_scores_come_from_the_filter_output_not_the_reencoded_video(tmp_path):
    """With an identity network, 'after' equals 'before' exactly; re-decoding derained.mp4 would not."""
    summary = run_demo(tmp_path, Identity(), frames=5, size=(48, 48), scene="procedural", echo=lambda _: None)
    assert summary["after"] == summary["before"]
    assert summary["gain"] == {"psnr": 0.0, "ssim": 0.0}


def test_missing_shipped_weights_stop_the_demo_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(models.registry, "DEFAULT_MODEL_FILE", tmp_path / "absent.safetensors")
    with pytest.raises(FileNotFoundError, match="shipped default weights are missing"):
        run_demo(tmp_path / "out", None, frames=5, size=(48, 48), scene="procedural", echo=lambda _: None)
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "cli"), "--frames", "5", "--size", "48x48",
                                       "--scene", "procedural"])
    assert result.exit_code == 1 and "shipped default weights are missing" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "cli").exists()


def test_command_line_photo_scene(tmp_path, tiny_checkpoint):
    pytest.importorskip("skimage")
    result = CliRunner().invoke(main, ["demo", str(tmp_path), "--model", str(tiny_checkpoint), "--frames", "5",
                                       "--size", "48x64", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "PSNR" in result.output and "frames/s" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["clip"]["scene"] == "astronaut" and summary["clip"]["seed"] == 3


@pytest.mark.parametrize("args, words", [(["--size", "63x64"], "even height"),
                                         (["--frames", "0"], "at least 1 frame"),
                                         (["--model", "no/such/file.safetensors"], "does not exist")])
def test_bad_options_fail_in_one_line(tmp_path, args, words):
    result = CliRunner().invoke(main, ["demo", str(tmp_path / "out"), *args])
    assert result.exit_code == 1, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "rainy.mp4").exists()
