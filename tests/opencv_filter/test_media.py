"""The media layer's files: reading exactly (truncation is an error), frame order, atomic writes, leftovers."""
from __future__ import annotations

import os
import struct
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
from av_clips import decode, encode, smooth_frames
from cv_clips import CLIP_FPS, CLIP_FRAMES, rainy_frames, write_video

from opencv_filter import DerainError, ImageSequenceWriter, VideoFileWriter, open_reader
from opencv_filter.media import (PARTIAL_PREFIX, Encoding, Footprint, FrameFormat, ImageSequenceReader,
                                 VideoReader, check_no_overlap, list_images, natural_key, pattern_regex,
                                 remove_stale_partials)
from tests.conftest import partial_name


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
    with pytest.raises(DerainError, match=r"the file is truncated or corrupt \(pass --end \d+ to derain only"):
        list(open_reader(cut).frames())


def test_a_frame_count_the_index_promises_but_the_file_lacks_is_an_error(tmp_path):
    """An mp4 whose index (moov first) lists 12 frames but whose data stops part-way."""
    path = encode(tmp_path / "full.mp4", smooth_frames(12, (64, 48)))
    fast = tmp_path / "fast.mp4"
    with av.open(str(path)) as source, av.open(str(fast), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    data = fast.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 7 // 10])
    with pytest.raises(DerainError, match=r"(ended after \d+ of its 12 frames|cannot be decoded after frame)"):
        list(open_reader(tmp_path / "cut.mp4").frames())


@pytest.mark.parametrize("damage", ["truncate", "junk"])
def test_unreadable_video_is_an_error(tmp_path, clip, damage):
    bad = tmp_path / "bad.mp4"
    data = clip.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else bytes(range(256)) * 20)
    with pytest.raises(DerainError, match="FFmpeg cannot open it as a video"):
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


def test_one_natural_order_for_every_reader(tmp_path):
    names = ["Frame10.png", "frame2.png", "frame1.png", ".hidden3.png"]
    write_frames(tmp_path / "seq", rainy_frames(len(names)), "%d.png")
    for number, name in enumerate(names):
        os.rename(tmp_path / "seq" / f"{number}.png", tmp_path / "seq" / name)
    listed = [p.name for p in list_images(str(tmp_path / "seq"))[0]]
    assert listed == ["frame1.png", "frame2.png", "Frame10.png"] == sorted(listed, key=natural_key)


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
    target = tmp_path / "out.mkv"
    frames = smooth_frames(4, (48, 40))
    source = FrameFormat.for_images(10.0, sixteen_bit=False)
    with VideoFileWriter(target, source, (48, 40)) as writer:
        for frame in frames[:2]:
            writer.write(frame)
        assert not target.exists() and len(leftovers(tmp_path)) == 1
    assert not target.exists() and not leftovers(tmp_path)  # left without commit: aborted
    with VideoFileWriter(target, source, (48, 40)) as writer:
        for frame in frames:
            writer.write(frame)
        writer.commit()
    got = decode(target)
    assert len(got["frames"]) == 4 and got["times"] == pytest.approx([0, 0.1, 0.2, 0.3]) and not leftovers(tmp_path)
    with VideoFileWriter(tmp_path / "ntsc.mp4", FrameFormat.for_images(29.97, sixteen_bit=False), (48, 40)) as writer:
        writer.write(frames[0])
        writer.write(frames[1])
        writer.commit()
    assert decode(tmp_path / "ntsc.mp4")["times"][1] == pytest.approx(1 / 29.97, abs=1e-6)  # fractional rates
    assert oct((tmp_path / "ntsc.mp4").stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


@pytest.mark.parametrize("encoding, message", [
    (Encoding(codec="ZZZZ"), "--codec 'ZZZZ' is not an encoder"),
    (Encoding(codec="aac"), "is a audio encoder"),
    (Encoding(codec="ffv1", crf=10), "--crf applies to x264, x265, av1 and vp9, not to ffv1"),
    (Encoding(crf=70), "--crf 70 is outside libx264's range 0-51"),
    (Encoding(codec="prores", lossless=True), "prores_ks has no lossless mode"),
    (Encoding(codec="ffv1", preset="slow"), "--preset applies to x264, x265 and av1"),
    (Encoding(preset="fastest"), "--preset fastest is not one of libx264's: ultrafast, superfast"),
    (Encoding(codec="av1", preset="14"), "--preset 14 is not one of libsvtav1's: 0, 1"),
    (Encoding(pix_fmt="yuv420p10le", codec="mjpeg"), "--pix-fmt yuv420p10le is not one mjpeg encodes"),
    (Encoding(codec="prores"), "A .mp4 file cannot hold prores_ks video"),
])
def test_video_writer_refuses_what_it_cannot_honour(tmp_path, encoding, message):
    with pytest.raises(DerainError, match=message.replace("(", r"\(").replace(".", r"\.")):
        VideoFileWriter(tmp_path / "out.mp4", FrameFormat(), (48, 40), encoding)
    assert os.listdir(tmp_path) == []


def test_unwritable_container_and_odd_size_hevc(tmp_path):
    with pytest.raises(DerainError, match=r"Cannot write video as \.wmv"):
        VideoFileWriter(tmp_path / "out.wmv", FrameFormat(), (48, 40))
    with pytest.raises(DerainError, match="libx265 cannot encode the odd size 33x17: use --codec x264"):
        VideoFileWriter(tmp_path / "out.mkv", FrameFormat(), (33, 17), Encoding(codec="x265"))
    assert os.listdir(tmp_path) == []


def test_ctrl_c_while_a_writer_opens_leaves_no_staging_file(tmp_path, monkeypatch):
    """The staging file exists before FFmpeg's set-up; a Ctrl-C arriving during it must remove it."""
    def interrupted(*args, **kwargs):
        assert leftovers(tmp_path)  # the staging file is already there
        raise KeyboardInterrupt

    monkeypatch.setattr(av, "open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        VideoFileWriter(tmp_path / "out.mp4", FrameFormat(), (48, 40))
    assert os.listdir(tmp_path) == []


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


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_partials_of_killed_runs_go_and_live_ones_stay(tmp_path):
    dead = tmp_path / partial_name(_dead_pid(), "clean-abc.mp4")
    live = tmp_path / partial_name(os.getppid(), "clean-def.mp4")
    mine = tmp_path / partial_name(os.getpid(), "clean-ghi.mp4")
    elsewhere = tmp_path / partial_name(os.getpid(), "clean-jkl.mp4", host="otherhost")
    folder = tmp_path / partial_name(_dead_pid(), "frames-xyz")
    old = tmp_path / partial_name(1, "clean-old.mp4", host="otherhost")
    for path in (dead, live, mine, elsewhere, old):
        path.write_bytes(b"partial")
    folder.mkdir()
    (folder / "000000.png").write_bytes(b"x")
    os.utime(old, (0, 0))
    (tmp_path / "clean.mp4").write_bytes(b"someone's")
    assert sorted(remove_stale_partials(tmp_path)) == sorted([dead, folder, old])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["clean.mp4", live.name, mine.name, elsewhere.name])


def test_footprints_compare_real_files(tmp_path):
    (tmp_path / "seq").mkdir()
    write_frames(tmp_path / "seq", rainy_frames(2))
    os.symlink(tmp_path / "seq", tmp_path / "alias")
    reads = [("seq", list_images(str(tmp_path / "seq"))[0])]
    with pytest.raises(DerainError, match="OUTPUT alias/%04d.png would replace or delete .* which INPUT seq reads"):
        check_no_overlap(reads, [("alias/%04d.png", Footprint(tmp_path / "alias", regex=pattern_regex("%04d.png")))])
    check_no_overlap(reads, [("x/%04d.png", Footprint(tmp_path / "x", regex=pattern_regex("%04d.png")))])
    check_no_overlap(reads, [("seq/%04d.jpg", Footprint(tmp_path / "seq", regex=pattern_regex("%04d.jpg")))])
    os.link(tmp_path / "seq" / "000000.png", tmp_path / "linked.png")
    with pytest.raises(DerainError, match="would replace"):
        check_no_overlap(reads, [("linked.png", Footprint(tmp_path / "linked.png"))])


def test_a_rotation_tag_is_read_as_the_display_matrix_and_the_picture_stays_as_stored(tmp_path):
    """Phone videos store the picture sideways with a display tag: the reader gives the stored picture and the
    tag (the writer puts it on the output; test_cli_display checks that)."""
    data = bytearray(encode(tmp_path / "phone.mp4", smooth_frames(4, (64, 48))).read_bytes())
    flags = data.index(b"tkhd") + 4
    assert data[flags] == 0  # a version-0 track header: its matrix sits 40 bytes after its version byte
    matrix = (0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    data[flags + 40:flags + 76] = struct.pack(">9i", *matrix)
    (tmp_path / "rotated.mp4").write_bytes(bytes(data))
    reader = open_reader(tmp_path / "rotated.mp4")
    assert reader.format.display_matrix == matrix
    assert [frame.shape for frame in reader.frames()] == [(48, 64, 3)] * 4
    assert open_reader(tmp_path / "phone.mp4").format.display_matrix is None


def test_image_frames_subsampled_for_delivery_are_said_and_ffv1_keeps_them_whole(caplog):
    from opencv_filter.media.encoding import plan_encoder

    frames = FrameFormat.for_images(25.0, sixteen_bit=False)
    with caplog.at_level("INFO", logger="opencv_filter"):
        assert plan_encoder(Encoding(), ".mp4", frames, (64, 48)).pix_fmt == "yuv420p"
    assert "encoded 8-bit 4:2:0" in caplog.text and "--pix-fmt yuv444p" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="opencv_filter"):
        layout = plan_encoder(Encoding(codec="ffv1"), ".mkv", frames, (64, 48)).pix_fmt
    assert "420" not in layout and "4:2:0" not in caplog.text
