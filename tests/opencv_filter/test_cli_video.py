"""``rainmamba derain`` on real video files made with PyAV: every frame, stream, timestamp and colour kept,
exact sizes, encoding close to x264 CRF 18, and no file lost or touched by any failure."""
from __future__ import annotations

import errno
import io
import os
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from av_clips import BT709, BT2020, decode, encode, psnr, smooth_frames
from click.testing import CliRunner

import models
import opencv_filter.cli
from models.cli import main
from opencv_filter.media import PARTIAL_PREFIX, VideoFileWriter
from opencv_filter.media import video_write
from tests.conftest import IdentityNet, partial_name

SIZE = (64, 48)


@pytest.fixture(autouse=True)
def identity_model(monkeypatch):
    """Every run of the command derains with a network that returns its input, so output == input."""
    monkeypatch.setattr(opencv_filter.cli, "make_derainer", lambda model, **engine: models.Derainer(IdentityNet()))


def derain(*args) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(main, ["derain", *map(str, args), "--no-progress"])


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error")]


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith(PARTIAL_PREFIX)]


def assert_same_picture(source: dict, out: dict, min_psnr: float) -> None:
    assert out["size"] == source["size"] and len(out["frames"]) == len(source["frames"])
    assert out["times"] == pytest.approx(source["times"], abs=1e-6)
    assert out["pix_fmt"] == source["pix_fmt"] and out["tags"] == source["tags"]
    peak = 65535.0 if source["frames"][0].dtype == np.uint16 else 255.0
    assert psnr(np.stack(out["frames"]), np.stack(source["frames"]), peak) > min_psnr


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_h264_with_an_audio_track_longer_than_the_video(tmp_path, suffix):
    """The old OpenCV reader stopped with 'ended after 20 of its 23 frames' on such files."""
    source = encode(tmp_path / "rainy.mkv", smooth_frames(12, SIZE), audio_s=0.62, metadata={"title": "rainy day"},
                    chapters=True)
    result = derain(source, tmp_path / f"clean{suffix}")
    assert result.exit_code == 0, result.output
    before, after = decode(source), decode(tmp_path / f"clean{suffix}")
    assert_same_picture(before, after, 35)
    assert after["audio"]["codec"] == before["audio"]["codec"] == "aac"
    assert (after["audio"]["rate"], after["audio"]["channels"]) == (before["audio"]["rate"], 2)
    assert after["audio"]["duration"] == pytest.approx(before["audio"]["duration"], abs=0.05)
    assert after["metadata"].get("title") == "rainy day" and after["chapters"] == 1
    assert no_leftovers(tmp_path)


@pytest.mark.parametrize("codec, pix_fmt, suffix, tags", [
    ("libx265", "yuv420p10le", ".mkv", BT2020),
    ("libx264", "yuv420p10le", ".mov", BT709),
    ("libx264", "yuv444p", ".mp4", BT709),
    ("libx265", "yuv444p", ".mkv", dict(BT709, color_range=2)),  # full range
])
def test_bit_depth_chroma_layout_and_colour_tags_are_kept(tmp_path, codec, pix_fmt, suffix, tags):
    deep = "10" in pix_fmt
    source = encode(tmp_path / f"rainy{suffix}", smooth_frames(8, SIZE, deep=deep), codec=codec, pix_fmt=pix_fmt,
                    tags=tags)
    result = derain(source, tmp_path / f"clean{suffix}", "--codec", codec)
    assert result.exit_code == 0, result.output
    assert_same_picture(decode(source), decode(tmp_path / f"clean{suffix}"), 36)


def test_rgb_video_stays_rgb_or_full_resolution(tmp_path):
    tags = dict(color_primaries=1, color_trc=13, colorspace=0, color_range=2)
    source = encode(tmp_path / "rgb.mkv", smooth_frames(6, SIZE), codec="libx265", pix_fmt="gbrp", tags=tags)
    assert derain(source, tmp_path / "same.mkv", "--codec", "x265").exit_code == 0
    assert_same_picture(decode(source), decode(tmp_path / "same.mkv"), 36)
    result = derain(source, tmp_path / "yuv.mkv")  # x264 has no RGB: 4:4:4, never subsampled
    assert result.exit_code == 0, result.output
    assert decode(tmp_path / "yuv.mkv")["pix_fmt"] == "yuv444p"


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_variable_frame_rate_timestamps_are_kept(tmp_path, suffix):
    pts = [0, 40, 90, 120, 200, 240, 300, 333, 400, 480]
    source = encode(tmp_path / f"vfr{suffix}", smooth_frames(len(pts), SIZE), pts=pts)
    result = derain(source, tmp_path / f"clean{suffix}")
    assert result.exit_code == 0, result.output
    assert decode(tmp_path / f"clean{suffix}")["times"] == pytest.approx([p / 1000 for p in pts], abs=1e-6)


def test_odd_sizes_are_kept_exactly(tmp_path):
    source = encode(tmp_path / "odd.mkv", smooth_frames(6, (33, 17)), codec="ffv1", pix_fmt="yuv420p")
    result = derain(source, tmp_path / "clean.mp4")
    assert result.exit_code == 0, result.output
    assert "odd size" in result.output and "4:4:4" in result.output  # said, not silent
    out = decode(tmp_path / "clean.mp4")
    assert out["size"] == (33, 17) and out["pix_fmt"] == "yuv444p" and len(out["frames"]) == 6
    result = derain(source, tmp_path / "clean.mkv", "--codec", "ffv1")  # a codec that subsamples odd sizes
    assert result.exit_code == 0, result.output
    assert (decode(tmp_path / "clean.mkv")["size"], decode(tmp_path / "clean.mkv")["pix_fmt"]) == ((33, 17), "yuv420p")


def _x264_crf18(frames: list[np.ndarray]) -> list[np.ndarray]:
    """What x264 CRF 18, preset medium gives for these BGR frames, re-decoded."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "18", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(io.BytesIO(buffer.getvalue())) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def test_default_encoding_is_at_least_as_good_as_x264_crf18(tmp_path):
    rng = np.random.default_rng(0)
    frames = [np.clip(f.astype(int) + rng.integers(-20, 21, f.shape), 0, 255).astype(np.uint8)  # detail to lose
              for f in smooth_frames(8, (128, 96))]
    source = encode(tmp_path / "rainy.mkv", frames, codec="ffv1", pix_fmt="yuv420p")
    assert derain(source, tmp_path / "clean.mp4").exit_code == 0
    given = decode(source)["frames"]  # the derained frames (identity network)
    ours = psnr(np.stack(decode(tmp_path / "clean.mp4")["frames"]), np.stack(given))
    assert ours >= psnr(np.stack(_x264_crf18(given)), np.stack(given)) - 1.5


def test_lossless_gives_the_frames_back(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(6, SIZE), codec="ffv1", pix_fmt="yuv444p")
    result = derain(source, tmp_path / "clean.mkv", "--lossless")
    assert result.exit_code == 0, result.output
    before, after = decode(source), decode(tmp_path / "clean.mkv")
    assert after["streams"][0] == ("video", "ffv1") and after["pix_fmt"] == "yuv444p"
    difference = np.abs(np.stack(after["frames"]).astype(int) - np.stack(before["frames"]))
    assert difference.max() <= 1  # only the RGB round trip's rounding


def test_audio_the_container_cannot_hold_is_reencoded_with_a_note(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(6, SIZE), audio_s=0.3)
    result = derain(source, tmp_path / "clean.webm", "--preset", "12")
    assert result.exit_code == 0, result.output
    assert "audio stream 1 (aac) cannot go into this container, so it is re-encoded as" in result.output
    out = decode(tmp_path / "clean.webm")
    assert out["streams"][0] == ("video", out["streams"][0][1]) and out["audio"]["codec"] == "opus"
    assert out["audio"]["duration"] == pytest.approx(0.3, abs=0.05)


def test_a_frame_range_cuts_the_audio_with_it(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(12, SIZE), audio_s=0.48)
    result = derain(source, tmp_path / "clean.mkv", "--start", 4, "--end", 10)
    assert result.exit_code == 0, result.output
    out = decode(tmp_path / "clean.mkv")
    assert out["times"] == pytest.approx([i * 0.04 for i in range(6)], abs=1e-6)  # starts where the source did
    assert out["audio"]["duration"] == pytest.approx(6 * 0.04, abs=0.05)


def test_attachments_and_stream_tags_are_kept_where_the_container_has_them(tmp_path):
    source = tmp_path / "rainy.mkv"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        video.metadata["language"] = "fra"
        out.add_attachment("font.ttf", "font/ttf", b"FONTDATA" * 8)
        for i, image in enumerate(smooth_frames(4, SIZE)):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    assert derain(source, tmp_path / "clean.mkv").exit_code == 0
    with av.open(str(tmp_path / "clean.mkv")) as container:
        assert container.streams.video[0].metadata.get("language") == "fra"
        assert bytes(container.streams.attachments[0].data) == b"FONTDATA" * 8
    result = derain(source, tmp_path / "clean.mp4")
    assert result.exit_code == 0 and "attachment stream 1" in result.output
    assert "cannot go into this container and is dropped (a .mkv output keeps it)" in result.output


def test_no_audio_writes_the_picture_only(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(6, SIZE), audio_s=0.3)
    assert derain(source, tmp_path / "clean.mkv", "--no-audio").exit_code == 0
    assert decode(tmp_path / "clean.mkv")["streams"] == [("video", "h264")]


# ---------------------------------------------------------------------------------------- nothing lost


def _sequence(folder: Path, n: int = 6) -> dict[str, bytes]:
    folder.mkdir()
    for i, frame in enumerate(smooth_frames(n, SIZE)):
        cv2.imwrite(str(folder / f"{i:06d}.png"), frame)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("source, target", [("seq/%06d.png", "seq/%04d.png"), ("seq", "seq"),
                                            ("seq", "seq/%06d.png"), ("seq/%06d.png", "seq")])
def test_overwrite_never_touches_an_input(tmp_path, monkeypatch, source, target):
    monkeypatch.chdir(tmp_path)
    before = _sequence(tmp_path / "seq")
    result = derain(source, target, "--overwrite")
    assert result.exit_code == 1, result.output
    assert len(error_lines(result)) == 1 and "which INPUT" in error_lines(result)[0] and "reads" in result.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "seq").iterdir()} == before


def test_an_output_folder_holding_an_input_is_refused_before_any_job_runs(tmp_path):
    first = encode(tmp_path / "a.mkv", smooth_frames(5, SIZE))
    (tmp_path / "out").mkdir()
    second = encode(tmp_path / "out" / "b.mkv", smooth_frames(5, SIZE))
    kept = second.read_bytes()
    result = derain(first, second, tmp_path / "out", "--overwrite")
    assert result.exit_code == 1 and "which INPUT" in result.output
    assert second.read_bytes() == kept and not (tmp_path / "out" / "a.mkv").exists()  # no job ran


def test_a_failing_encoder_leaves_no_output_and_an_existing_one_untouched(tmp_path, monkeypatch):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(8, SIZE), audio_s=0.3)
    target = tmp_path / "clean.mp4"
    target.write_bytes(b"precious")
    real = VideoFileWriter._encode
    calls = []

    def failing(self, image, pts):
        calls.append(pts)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, image, pts)

    monkeypatch.setattr(VideoFileWriter, "_encode", failing)
    result = derain(source, target, "--overwrite")
    assert result.exit_code == 1, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in result.output
    assert target.read_bytes() == b"precious" and no_leftovers(tmp_path)


def test_a_file_missing_frames_after_closing_is_not_published(tmp_path, monkeypatch):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(6, SIZE))
    monkeypatch.setattr(video_write, "_count_video_packets", lambda path: 5)
    result = derain(source, tmp_path / "clean.mkv")
    assert result.exit_code == 1 and "holds 5 of the 6 frames" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rainy.mkv"]


def test_a_full_disk_leaves_no_output_and_an_existing_one_untouched(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'mount failed'})")
    try:
        source = encode(tmp_path / "rainy.mkv", smooth_frames(24, (128, 96)), codec="ffv1", pix_fmt="yuv444p")
        assert source.stat().st_size > 150_000  # more than the disk holds
        target = disk / "clean.mkv"
        target.write_bytes(b"precious")
        result = derain(source, target, "--lossless", "--overwrite")
        assert result.exit_code == 1, result.output
        assert len(error_lines(result)) == 1 and "Traceback" not in result.output
        assert sorted(os.listdir(disk)) == ["clean.mkv"] and target.read_bytes() == b"precious"
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_the_next_run_removes_what_a_killed_run_left(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(5, SIZE))
    (tmp_path / "out").mkdir()
    process = subprocess.Popen(["true"])
    process.wait()
    stale = tmp_path / "out" / partial_name(process.pid, "clean-x1.mkv")
    live = tmp_path / "out" / partial_name(os.getppid(), "clean-x2.mkv")
    stale.write_bytes(b"half")
    live.write_bytes(b"being written")
    assert derain(source, tmp_path / "out" / "clean.mkv").exit_code == 0
    assert sorted(os.listdir(tmp_path / "out")) == sorted(["clean.mkv", live.name])


def test_a_video_onto_itself_or_a_link_to_it_is_refused(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(5, SIZE))
    kept = source.read_bytes()
    os.symlink(source, tmp_path / "alias.mkv")
    for target in (source, tmp_path / "alias.mkv"):
        result = derain(source, target, "--overwrite")
        assert result.exit_code == 1 and "which INPUT" in result.output, result.output
    assert source.read_bytes() == kept


def test_options_for_the_other_kind_of_output_are_refused(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(5, SIZE))
    result = derain(source, tmp_path / "out.mkv", "--quality", 80)
    assert result.exit_code == 1 and "--quality applies to JPEG/WebP frames; for video use --crf" in result.output
    result = derain(source, tmp_path / "frames", "--crf", 20)
    assert result.exit_code == 1 and "apply to video output, not to the frames" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rainy.mkv"]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
@pytest.mark.parametrize("pts", [[3600 + 40 * i for i in range(8)], [3600, 3640, 3700, 3720, 3800, 3840, 3900, 3940]])
def test_a_late_start_time_is_kept(tmp_path, suffix, pts):
    """A clip cut from a longer recording starts at 3.6 s: its frames stay there, constant rate or not."""
    source = encode(tmp_path / f"late{suffix}", smooth_frames(len(pts), SIZE), pts=pts)
    result = derain(source, tmp_path / f"clean{suffix}")
    assert result.exit_code == 0, result.output
    assert decode(tmp_path / f"clean{suffix}")["times"] == pytest.approx(decode(source)["times"], abs=1e-6)
    assert decode(source)["times"][0] == pytest.approx(3.6)


def test_ffmpeg_logs_through_no_python_callback_while_the_command_runs(tmp_path, monkeypatch):
    """PyAV's Python log callback takes the GIL from FFmpeg's decoder threads: freeing a frame-threaded decoder
    while one of them logged deadlocked a run. The command turns FFmpeg's logging off (level None: no callback)
    and gives the caller's level back afterwards."""
    seen = []
    real_job = opencv_filter.cli.derain_job
    monkeypatch.setattr(opencv_filter.cli, "derain_job",
                        lambda *args, **kwargs: seen.append(av.logging.get_level()) or real_job(*args, **kwargs))
    source = encode(tmp_path / "rainy.mkv", smooth_frames(5, SIZE))
    before = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        result = derain(source, tmp_path / "out.mkv")
        assert result.exit_code == 0, result.output
        assert seen == [None] and av.logging.get_level() == av.logging.WARNING
    finally:
        av.logging.set_level(before)
