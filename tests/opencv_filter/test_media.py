"""Reading files exactly (truncation is an error) and writing them atomically (abort leaves nothing)."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from cv_clips import CLIP_FPS, CLIP_FRAMES, rainy_frames, read_video, write_video

from opencv_filter import DerainError, ImageSequenceWriter, VideoFileWriter, open_reader
from opencv_filter.video_io import PARTIAL_PREFIX, ImageSequenceReader, VideoReader


def test_video_reader_gives_every_frame_and_the_rate(clip):
    reader = open_reader(clip)
    assert isinstance(reader, VideoReader)
    assert (reader.info.width, reader.info.height, reader.info.fps, reader.info.frame_count) == (48, 40, CLIP_FPS, 7)
    assert len(list(reader.frames())) == CLIP_FRAMES
    assert len(list(open_reader(clip).frames(2, 5))) == 3


def test_truncated_avi_is_an_error_not_a_short_video(tmp_path):
    path = write_video(tmp_path / "full.avi", rainy_frames(12))
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(DerainError, match=r"ended after \d+ of its 12 frames: the file is truncated or corrupt"):
        list(open_reader(cut).frames())


@pytest.mark.parametrize("damage", ["truncate", "junk"])
def test_unreadable_video_is_an_error(tmp_path, clip, damage):
    bad = tmp_path / "bad.mp4"
    data = clip.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else bytes(range(256)) * 20)
    with pytest.raises(DerainError, match="OpenCV cannot open it as a video"):
        open_reader(bad)


def test_missing_input_and_single_image(tmp_path):
    with pytest.raises(DerainError, match="no such file"):
        open_reader(tmp_path / "nope.mp4")
    cv2.imwrite(str(tmp_path / "one.png"), rainy_frames(1)[0])
    with pytest.raises(DerainError, match="single image"):
        open_reader(tmp_path / "one.png")


def write_frames(folder, frames, pattern="%06d.png", first=0):
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / (pattern % (first + i))), frame)


def test_image_sequences_by_pattern_folder_and_glob(tmp_path):
    frames = rainy_frames(11, dtype=np.uint16)
    write_frames(tmp_path / "seq", frames, "%d.png", first=1)  # 1.png ... 11.png: natural order matters
    for spec in (tmp_path / "seq" / "%d.png", tmp_path / "seq", str(tmp_path / "seq" / "*.png")):
        reader = open_reader(str(spec))
        assert isinstance(reader, ImageSequenceReader) and reader.info.frame_count == 11
        got = list(reader.frames())
        assert got[0].dtype == np.uint16
        for a, b in zip(got, frames, strict=True):
            np.testing.assert_array_equal(a, b)
    assert open_reader(str(tmp_path / "seq" / "%d.png")).first_number == 1


def test_image_sequence_errors(tmp_path):
    write_frames(tmp_path / "gap", rainy_frames(3))
    os.remove(tmp_path / "gap" / "000001.png")
    with pytest.raises(DerainError, match="has a gap: frame 1 is missing"):
        open_reader(str(tmp_path / "gap" / "%06d.png"))
    write_frames(tmp_path / "sizes", rainy_frames(1) + rainy_frames(1, size=(16, 16)))
    with pytest.raises(DerainError, match="must share one size"):
        list(open_reader(tmp_path / "sizes").frames())
    (tmp_path / "broken").mkdir()
    write_frames(tmp_path / "broken", rainy_frames(2))
    (tmp_path / "broken" / "000001.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DerainError, match="000001.png: it is truncated, corrupt"):
        list(open_reader(tmp_path / "broken").frames())
    with pytest.raises(DerainError, match="No file matches"):
        open_reader(str(tmp_path / "gap" / "%04d.jpg"))


def leftovers(folder):
    return [n for n in os.listdir(folder) if n.startswith(PARTIAL_PREFIX)]


def test_video_writer_publishes_only_on_commit(tmp_path):
    target = tmp_path / "out.avi"
    frames = rainy_frames(4)
    with VideoFileWriter(target, 10.0, (48, 40)) as writer:
        for frame in frames[:2]:
            writer.write(frame)
        assert not target.exists() and len(leftovers(tmp_path)) == 1
    assert not target.exists() and not leftovers(tmp_path)  # left without commit: aborted
    with VideoFileWriter(target, 10.0, (48, 40)) as writer:
        for frame in frames:
            writer.write(frame)
        writer.commit()
    got, fps = read_video(target)
    assert len(got) == 4 and fps == 10.0 and not leftovers(tmp_path)
    with VideoFileWriter(target, 29.97, (48, 40)) as writer:  # fractional rates survive
        writer.write(frames[0])
        writer.commit()
    assert read_video(target)[1] == pytest.approx(29.97)
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_video_writer_rejects_unknown_codecs_and_quality_it_cannot_set(tmp_path):
    with pytest.raises(DerainError, match="codec 'ZZZZ'"):
        VideoFileWriter(tmp_path / "out.mp4", 10.0, (48, 40), fourcc="ZZZZ")
    with pytest.raises(DerainError, match="four-character"):
        VideoFileWriter(tmp_path / "out.mp4", 10.0, (48, 40), fourcc="h264x")
    with pytest.raises(DerainError, match="--quality needs MJPG"):
        VideoFileWriter(tmp_path / "out.mp4", 10.0, (48, 40), quality=50)
    with pytest.raises(DerainError, match="cannot keep the frame rate 12.5"):
        VideoFileWriter(tmp_path / "out.avi", 12.5, (48, 40), quality=50)
    with pytest.raises(DerainError, match=r"Cannot write video as \.wmv"):
        VideoFileWriter(tmp_path / "out.wmv", 10.0, (48, 40))
    assert os.listdir(tmp_path) == []


def test_ctrl_c_while_a_writer_opens_leaves_no_staging_file(tmp_path, monkeypatch):
    """The staging file exists before FFmpeg's set-up; a Ctrl-C arriving during it must remove it."""
    def interrupted(*args, **kwargs):
        assert leftovers(tmp_path)  # the staging file is already there
        raise KeyboardInterrupt

    monkeypatch.setattr(cv2, "VideoWriter", interrupted)
    with pytest.raises(KeyboardInterrupt):
        VideoFileWriter(tmp_path / "out.mp4", 10.0, (48, 40))
    assert os.listdir(tmp_path) == []


def test_mjpg_quality_changes_the_file(tmp_path):
    sizes = []
    for quality in (10, 95):
        with VideoFileWriter(tmp_path / f"q{quality}.avi", 10.0, (48, 40), quality=quality) as writer:
            for frame in rainy_frames(3):
                writer.write(frame)
            writer.commit()
        sizes.append((tmp_path / f"q{quality}.avi").stat().st_size)
    assert sizes[0] < sizes[1]


def test_sequence_writer_new_folder_and_overwrite_of_a_longer_one(tmp_path):
    folder = tmp_path / "frames"
    with ImageSequenceWriter(folder, lambda i: "%04d.png" % i, str(folder / "%04d.png")) as writer:
        for frame in rainy_frames(5, dtype=np.uint16):
            writer.write(frame)
        writer.commit()
    assert sorted(os.listdir(folder)) == [f"{i:04d}.png" for i in range(5)]
    assert cv2.imread(str(folder / "0000.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    (folder / "notes.txt").write_text("mine")
    with ImageSequenceWriter(folder, lambda i: "%04d.png" % i, str(folder / "%04d.png")) as writer:
        for frame in rainy_frames(3):
            writer.write(frame)
        writer.commit()
    # the older, longer run's frames 3 and 4 are gone; files that are not frames stay
    assert sorted(os.listdir(folder)) == ["0000.png", "0001.png", "0002.png", "notes.txt"]
    with pytest.raises(DerainError, match="not to .png frames"):
        ImageSequenceWriter(tmp_path / "png", lambda i: f"{i}.png", quality=80)
    with ImageSequenceWriter(tmp_path / "aborted", lambda i: f"{i}.jpg") as writer:
        writer.write(rainy_frames(1)[0])
    assert not (tmp_path / "aborted").exists() and not (tmp_path / "png").exists() and not leftovers(tmp_path)
