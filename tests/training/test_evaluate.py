"""``evaluate``: the engine runs over a test set and the paper's averaging is applied per dataset.

An identity "network" makes every output frame equal its rainy input, so the expected numbers are the
metrics of rainy vs clean, computed here independently with scikit-image.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import models
from training.cli_train import evaluate_command
from training.evaluate import evaluate, summarise
from tests.conftest import IdentityNet


Identity = IdentityNet


def _write_sequence(folder: Path, frames: np.ndarray, pattern: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / (pattern % i)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def _clip(seed: int, n: int = 6, h: int = 32, w: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    rainy = np.clip(clean.astype(int) + rng.integers(-30 - 10 * seed, 31, clean.shape), 0, 255).astype(np.uint8)
    return rainy, clean


def _expected(rainy: np.ndarray, clean: np.ndarray) -> list[tuple[float, float]]:
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=2)
    return [(peak_signal_noise_ratio(c, r, data_range=255), structural_similarity(r, c, **kw))
            for r, c in zip(rainy, clean)]


def test_generic_layout_averages_per_video(tmp_path):
    clips = {f"seq{i}": _clip(i, n=4 + 2 * i) for i in range(2)}  # different lengths: averaging matters
    for name, (rainy, clean) in clips.items():
        _write_sequence(tmp_path / "rainy" / name, rainy, "%06d.png")
        _write_sequence(tmp_path / "clean" / name, clean, "%06d.png")
    report = evaluate(Identity(), tmp_path, "generic", device="cpu", progress=False,
                      save_frames=tmp_path / "out")
    per_video = {n: _expected(*c) for n, c in clips.items()}
    video_means = [np.mean([p for p, _ in v]) for v in per_video.values()]
    assert report["averaging"] == "per video, then over videos"
    assert report["overall"]["psnr"] == pytest.approx(np.mean(video_means), abs=1e-9)
    assert report["overall"]["ssim"] == pytest.approx(np.mean([np.mean([s for _, s in v])
                                                               for v in per_video.values()]), abs=1e-9)
    assert report["overall"]["frames"] == 10 and report["overall"]["videos"] == 2
    assert [v["frames"] for v in report["videos"]] == [4, 6]
    assert report["videos"][1]["psnr"] == pytest.approx(video_means[1], abs=1e-9)
    assert "psnr_y" in report["overall"] and "not computed" in report["lpips"]
    saved = sorted((tmp_path / "out" / "seq1").glob("*.png"))
    assert len(saved) == 6
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(saved[2])), cv2.COLOR_BGR2RGB), clips["seq1"][0][2])


def test_rainvidss_pools_frames_and_reports_groups(tmp_path):
    clips = {"seq_short_0": _clip(0, n=3), "seq_long_0": _clip(1, n=5)}
    for name, (rainy, clean) in clips.items():
        _write_sequence(tmp_path / "val" / "rainy" / name, rainy, "%04d.png")
        _write_sequence(tmp_path / "val" / "gt" / name, clean, "%04d.png")
    report = evaluate(Identity(), tmp_path, "rainvidss", device="cpu", progress=False)
    pooled = [p for c in clips.values() for p, _ in _expected(*c)]
    assert report["averaging"] == "all frames pooled"
    assert report["overall"]["psnr"] == pytest.approx(np.mean(pooled), abs=1e-9)
    assert set(report["groups"]) == {"ImageNet-VID+", "Cam-Vid+"}
    assert report["groups"]["Cam-Vid+"]["psnr"] == pytest.approx(
        np.mean([p for p, _ in _expected(*clips["seq_long_0"])]), abs=1e-9)


def test_summarise_averaging_and_s2vd_trim():
    records = [{"video": "a", "index": i, "psnr": 10.0} for i in range(2)] + \
              [{"video": "b", "index": i, "psnr": 40.0} for i in range(6)]
    assert summarise(records, "videos", ("psnr",))["psnr"] == pytest.approx(25.0)
    assert summarise(records, "frames", ("psnr",))["psnr"] == pytest.approx((20 + 240) / 8)


def test_nturain_reports_s2vd_y(tmp_path):
    rainy, clean = _clip(3, n=7)
    _write_sequence(tmp_path / "seq_a" / "rainy", rainy, "%04d.png")
    _write_sequence(tmp_path / "seq_a" / "clean", clean, "%04d.png")
    report = evaluate(Identity(), tmp_path, "nturain", device="cpu", progress=False)
    y = [peak_signal_noise_ratio(_y(c), _y(r), data_range=255) for r, c in zip(rainy, clean)]
    assert report["s2vd_y"]["frames"] == 3
    assert report["s2vd_y"]["psnr_y"] == pytest.approx(np.mean(y[2:5]), abs=1e-9)


def _y(rgb: np.ndarray) -> np.ndarray:
    return 16 + (rgb.astype(np.float64) @ np.array([65.481, 128.553, 24.966])) / 255


def test_evaluate_command_writes_report_and_frames(tmp_path):
    rainy, clean = _clip(4, n=5)
    _write_sequence(tmp_path / "data" / "rainy" / "s", rainy, "%06d.png")
    _write_sequence(tmp_path / "data" / "clean" / "s", clean, "%06d.png")
    torch.manual_seed(0)
    weights = models.save_checkpoint(models.build("tiny"), tmp_path / "tiny.safetensors")
    result = CliRunner().invoke(evaluate_command, [
        "--model", str(weights), "--data", str(tmp_path / "data"), "--mode", "fast", "--tile", "0",
        "--device", "cpu", "--save-frames", str(tmp_path / "frames"), "--report", str(tmp_path / "r.json"),
        "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    outputs = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
               for p in sorted((tmp_path / "frames" / "s").glob("*.png"))]
    assert len(outputs) == 5 and report["preset"] == "tiny"
    expected = np.mean([peak_signal_noise_ratio(c, o, data_range=255) for o, c in zip(outputs, clean)])
    assert report["overall"]["psnr"] == pytest.approx(expected, abs=1e-9)
    assert "PSNR" in result.output

    missing = CliRunner().invoke(evaluate_command, ["--model", str(weights), "--data", str(tmp_path)])
    assert missing.exit_code != 0 and "Traceback" not in missing.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
@pytest.mark.parametrize("args, message", [
    (["--dtype", "float16", "--device", "cpu"],
     "--dtype float16 needs a CUDA GPU; on the CPU use --dtype bfloat16 or --dtype float32"),
    (["--device", "cuda:2"], "--device cuda:2 asks for CUDA GPU 2 but torch sees no GPU: pass --device cpu"),
    (["--tile", "20"], "--tile 20 is not allowed: each side must be 0 (whole frame) or a multiple of 8"),
])
def test_evaluate_command_reports_engine_options_as_typed(tmp_path, args, message):
    result = CliRunner().invoke(evaluate_command, ["--data", str(tmp_path), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
