"""``rainmamba derain``: real files in and out, same size/fps/count, clear one-line failures, no partial output."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from cv_clips import CLIP_FPS, CLIP_FRAMES, CLIP_SIZE, rainy_frames, read_video, write_video

from models.cli import main
from opencv_filter.media import PARTIAL_PREFIX, VideoFileWriter

ROOT = Path(__file__).resolve().parents[2]


def derain(*args: str) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(main, ["derain", *map(str, args), "--no-progress"])


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error")]


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(PARTIAL_PREFIX)]


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_keeps_size_fps_and_frame_count(tmp_path, tiny_checkpoint, suffix):
    source = write_video(tmp_path / f"rainy{suffix}", rainy_frames())
    result = derain(source, tmp_path / f"clean{suffix}", "-m", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    frames, fps = read_video(tmp_path / f"clean{suffix}")
    assert len(frames) == CLIP_FRAMES and fps == CLIP_FPS
    assert frames[0].shape == (CLIP_SIZE[1], CLIP_SIZE[0], 3)
    assert no_leftovers(tmp_path)


def test_frames_folder_keeps_names_depth_and_range(tmp_path, tiny_checkpoint, tiny_engine):
    source = tmp_path / "rainy"
    source.mkdir()
    frames = rainy_frames(8, dtype=np.uint16)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(source / f"{i + 1}.png"), frame)  # numbered from 1, like RainSynAll100
    result = derain(str(source / "%d.png"), tmp_path / "clean", "-m", tiny_checkpoint, "--start", 2, "--end", 7)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "clean"), key=lambda n: int(n[:-4])) == [f"{i}.png" for i in range(3, 8)]
    out = cv2.imread(str(tmp_path / "clean" / "3.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == frames[0].shape
    # to a video: the sequence's frame rate comes from --fps
    result = derain(source, tmp_path / "clean.avi", "-m", tiny_checkpoint, "--fps", 30)
    assert result.exit_code == 0, result.output
    video, fps = read_video(tmp_path / "clean.avi")
    assert len(video) == 8 and fps == 30


def test_bf16_runs_on_the_cpu_and_only_one_precision_flag_is_taken(tmp_path, clip, tiny_checkpoint):
    outputs = {}
    for flags in ((), ("--bf16",)):
        folder = tmp_path / ("bf16" if flags else "float32")
        result = derain(clip, folder / "%03d.png", "-m", tiny_checkpoint, "--end", 6, *flags)
        assert result.exit_code == 0, result.output
        outputs[folder.name] = np.stack([cv2.imread(str(p)) for p in sorted(folder.iterdir())]).astype(int)
    difference = np.abs(outputs["bf16"] - outputs["float32"])
    assert len(outputs["bf16"]) == 6 and 0 < difference.max() <= 16
    result = derain(clip, tmp_path / "x.avi", "-m", tiny_checkpoint, "--fp16", "--bf16")
    assert result.exit_code == 2 and "--fp16 and --bf16 are both given: choose one" in result.output


def test_video_to_a_jpeg_pattern_with_quality(tmp_path, clip, tiny_checkpoint):
    result = derain(clip, tmp_path / "out" / "f_%03d.jpg", "-m", tiny_checkpoint, "--quality", 90, "--start", 3)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "out")) == [f"f_{i:03d}.jpg" for i in range(3, CLIP_FRAMES)]


def test_refuses_to_overwrite_without_the_flag(tmp_path, clip, tiny_checkpoint):
    target = tmp_path / "clean.mp4"
    target.write_bytes(b"precious")
    result = derain(clip, target, "-m", tiny_checkpoint)
    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: {target} already exists: pass --overwrite to replace it."]
    assert target.read_bytes() == b"precious"
    assert derain(clip, target, "-m", tiny_checkpoint, "--overwrite").exit_code == 0
    assert len(read_video(target)[0]) == CLIP_FRAMES


def test_failures_are_one_line_and_leave_nothing(tmp_path, clip, tiny_checkpoint):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 40)
    full = write_video(tmp_path / "full.avi", rainy_frames(12)).read_bytes()
    (tmp_path / "full.avi").unlink()
    (tmp_path / "cut.avi").write_bytes(full[: len(full) * 6 // 10])  # fails after some frames were written
    cases = {
        "truncated": ([tmp_path / "cut.avi", tmp_path / "t.avi", "-m", tiny_checkpoint], "truncated or corrupt"),
        "unreadable": ([junk, tmp_path / "a.mp4", "-m", tiny_checkpoint], "FFmpeg cannot open it as a video"),
        "missing input": ([tmp_path / "nope.mp4", tmp_path / "b.mp4", "-m", tiny_checkpoint], "no such file"),
        "missing model": ([clip, tmp_path / "c.mp4", "-m", tmp_path / "none.safetensors"], "does not exist"),
        "uninstalled preset": ([clip, tmp_path / "d.mp4", "-m", "lwdds"], "rainmamba models import"),
        "unknown codec": ([clip, tmp_path / "e.mp4", "-m", tiny_checkpoint, "--codec", "ZZZZ"],
                          "--codec 'ZZZZ' is not an encoder"),
        "bad range": ([clip, tmp_path / "f.mp4", "-m", tiny_checkpoint, "--start", 9], "past the last frame"),
    }
    for name, (args, message) in cases.items():
        result = derain(*args)
        assert result.exit_code == 1, (name, result.output)
        lines = error_lines(result)
        assert len(lines) == 1 and message in lines[0], (name, result.output)
        assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.avi", "junk.mp4", "rainy.mp4"]
    assert derain(clip, tmp_path / "g.mp4", "--tile", "big").exit_code == 2  # usage error


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-GPU messages")
@pytest.mark.parametrize("args, status, message", [
    (["--tile", "16x64"], 1, "--tile 16x64 is not allowed: each side must be 0 (whole frame) or a multiple of 8 "
                             "of at least 32"),
    (["--tile", "60"], 2, "--tile 60 is not allowed: each side must be 0 (whole frame) or a multiple of 8"),
    (["--device", "cuda:3"], 2, "--device cuda:3 asks for CUDA GPU 3 but torch sees no GPU: pass --device cpu"),
    (["--device", "tpu"], 2, "Unknown --device tpu: --device must be auto, cpu, cuda or cuda:N"),
    (["--fp16"], 2, "--fp16 needs a CUDA GPU; on the CPU use --bf16 or neither"),
    (["--batch", "0"], 2, "--batch"),
])
def test_engine_options_are_reported_as_typed(tmp_path, tiny_checkpoint, args, status, message):
    clip = write_video(tmp_path / "rainy.mp4", rainy_frames())
    result = derain(clip, tmp_path / "out.mp4", "-m", tiny_checkpoint, *args)
    assert result.exit_code == status, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert "tile (" not in result.output and "dtype" not in result.output
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("crash, status", [(KeyboardInterrupt, 130), (RuntimeError, 1)])
def test_a_run_stopped_part_way_leaves_no_output(tmp_path, clip, tiny_checkpoint, monkeypatch, crash, status):
    written = []
    real_write = VideoFileWriter.write

    def write_then_crash(self, frame, pts=None):
        if len(written) == 3:
            raise crash("disk on fire")  # a new exception each run: a shared one would keep its frames alive
        written.append(1)
        real_write(self, frame, pts)

    monkeypatch.setattr(VideoFileWriter, "write", write_then_crash)
    result = derain(clip, tmp_path / "clean.mp4", "-m", tiny_checkpoint)
    assert result.exit_code == status, result.output
    assert len(written) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rainy.mp4"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_on_a_real_process_leaves_no_output(tmp_path, tiny_checkpoint, signum):
    """SIGINT (Ctrl-C) or SIGTERM (a scheduler) while the output is being written: exit 130, and not a crash at
    shutdown, nothing under the output name, no partial file."""
    source = write_video(tmp_path / "long.avi", rainy_frames(300, size=(64, 64)))
    target = tmp_path / "clean.mp4"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-c", "from models.cli import main; main()", "derain", str(source),
                                str(target), "-m", str(tiny_checkpoint), "--no-progress"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(PARTIAL_PREFIX) for p in tmp_path.iterdir()):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.05)
    process.send_signal(signum)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "Interrupted" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.avi"]


def test_several_inputs_and_a_library_folder(tmp_path, tiny_checkpoint):
    library = tmp_path / "library"
    library.mkdir()
    write_video(library / "a.mp4", rainy_frames(6, seed=1))
    write_video(library / "b.avi", rainy_frames(5, seed=2))
    (library / "seq").mkdir()
    for i, frame in enumerate(rainy_frames(5, seed=3)):
        cv2.imwrite(str(library / "seq" / f"{i:08d}.png"), frame)
    result = derain(library, tmp_path / "out", "-m", tiny_checkpoint)
    assert result.exit_code == 0, result.output
    assert len(read_video(tmp_path / "out" / "a.mp4")[0]) == 6
    assert len(read_video(tmp_path / "out" / "b.avi")[0]) == 5
    assert sorted(os.listdir(tmp_path / "out" / "seq")) == [f"{i:08d}.png" for i in range(5)]
    # explicit inputs, one of them broken: the others are still derained, the status says it failed
    (tmp_path / "broken.mp4").write_bytes(b"nothing")
    result = derain(library / "a.mp4", tmp_path / "broken.mp4", tmp_path / "out2", "-m", tiny_checkpoint)
    assert result.exit_code == 1
    assert "1 of 2 inputs failed" in result.output and "broken.mp4" in result.output
    assert len(read_video(tmp_path / "out2" / "a.mp4")[0]) == 6
    result = derain(library / "a.mp4", library / "b.avi", tmp_path / "x.mp4", "-m", tiny_checkpoint)
    assert result.exit_code == 1 and "must be a folder" in result.output
