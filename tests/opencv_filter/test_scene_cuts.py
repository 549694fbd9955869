"""Scene cuts in derain_frames, DerainedCapture and `rainmamba derain`: found by default, off on request."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from models.cli import main
from opencv_filter import DerainedCapture, DerainError, derain_frames
from tests.models.scene_corpus import clip_named

CUT = 3     # not a multiple of T = 5: without the cut a window spans it


@pytest.fixture(scope="module")
def two_shots() -> list[np.ndarray]:
    """8 rainy BGR uint8 frames (32x48) of two shots, the second starting at frame ``CUT``."""
    video = clip_named("cut/astronaut-coffee/heavy").video[10 - CUT:15, :, :32, :48]
    return [np.ascontiguousarray((f.transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)) for f in video]


def engine_output(engine, frames: list[np.ndarray], cuts=None) -> np.ndarray:
    video = np.stack([f[:, :, ::-1].transpose(2, 0, 1) for f in frames])
    return np.stack([f.transpose(1, 2, 0)[:, :, ::-1] for f in engine(video, cuts=cuts)])


def test_derain_frames_finds_the_cut_by_default(tiny_engine, two_shots):
    out = np.stack(list(derain_frames(two_shots, model=tiny_engine)))
    assert np.array_equal(out, engine_output(tiny_engine, two_shots, cuts=[CUT]))
    spanning = np.stack(list(derain_frames(two_shots, model=tiny_engine, scene_change=False)))
    assert np.array_equal(spanning, engine_output(tiny_engine, two_shots))
    assert not np.array_equal(out, spanning)


def test_a_lower_threshold_or_given_cuts_add_to_the_found_ones(tiny_engine, two_shots):
    out = np.stack(list(derain_frames(two_shots, model=tiny_engine, cuts=[6])))
    assert np.array_equal(out, engine_output(tiny_engine, two_shots, cuts=[CUT, 6]))
    everything = np.stack(list(derain_frames(two_shots, model=tiny_engine, sc_threshold=1.0)))
    assert np.array_equal(everything, engine_output(tiny_engine, two_shots))


def test_derained_capture_finds_the_cut_by_default(tiny_engine, two_shots):
    with DerainedCapture(two_shots, model=tiny_engine) as capture:
        out = np.stack(list(capture))
    assert np.array_equal(out, engine_output(tiny_engine, two_shots, cuts=[CUT]))
    with DerainedCapture(two_shots, model=tiny_engine, scene_change=False) as capture:
        assert np.array_equal(np.stack(list(capture)), engine_output(tiny_engine, two_shots))


@pytest.mark.parametrize("bad", [2.0, -0.1, float("nan"), "0.1"])
def test_a_bad_threshold_is_one_clear_error(tiny_engine, bad):
    with pytest.raises(DerainError, match="sc_threshold must be a number from 0 to 1"):
        derain_frames([], model=tiny_engine, sc_threshold=bad)
    with pytest.raises(DerainError, match="sc_threshold must be a number from 0 to 1"):
        DerainedCapture([], model=tiny_engine, sc_threshold=bad)


def _write_frames(folder, frames: list[np.ndarray]):
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), frame)
    return folder


def _read_frames(folder) -> np.ndarray:
    return np.stack([cv2.imread(str(path)) for path in sorted(folder.iterdir())])


def test_the_command_line_finds_the_cut_unless_told_not_to(tmp_path, tiny_engine, tiny_checkpoint, two_shots):
    source = _write_frames(tmp_path / "rainy", two_shots)
    runner = CliRunner()
    for flags, cuts, target in (([], [CUT], "default"), (["--no-scene-change"], None, "off")):
        result = runner.invoke(main, ["derain", str(source), str(tmp_path / target), "--model", str(tiny_checkpoint),
                                      "--device", "cpu", "--no-progress", *flags])
        assert result.exit_code == 0, result.output
        assert np.array_equal(_read_frames(tmp_path / target), engine_output(tiny_engine, two_shots, cuts=cuts))


def test_the_command_line_refuses_a_bad_threshold(tmp_path, tiny_checkpoint, two_shots):
    source = _write_frames(tmp_path / "rainy", two_shots[:2])
    result = CliRunner().invoke(main, ["derain", str(source), str(tmp_path / "out"), "--sc-threshold", "1.5"])
    assert result.exit_code == 2 and "--sc-threshold" in result.output and not (tmp_path / "out").exists()
