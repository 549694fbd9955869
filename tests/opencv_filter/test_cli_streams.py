"""``rainmamba derain`` carries the source's subtitle and data streams, chapters and tags into the output:
copied as they are (same codec, payloads and times), converted (text subtitles) or dropped with a note only
where the output container cannot hold them, and cut with the picture by a frame range."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from av_clips import decode, encode, packets, smooth_frames, subtitle_texts, write_srt
from click.testing import CliRunner

import models
import opencv_filter.cli
from models.cli import main
from opencv_filter.media.remux import Cut, cut_chapters
from opencv_filter.media.timecode import Timecode
from tests.conftest import IdentityNet

SIZE = (64, 48)
EVENTS = [(0.04, 0.12, "Rain starts"), (0.2, 0.4, "Rain stops")]
CHAPTERS = [{"id": 1, "start": 0, "end": 200, "time_base": Fraction(1, 1000), "metadata": {"title": "drizzle"}},
            {"id": 2, "start": 200, "end": 480, "time_base": Fraction(1, 1000), "metadata": {"title": "storm"}}]


@pytest.fixture(autouse=True)
def identity_model(monkeypatch):
    """Every run derains with a network that returns its input: these tests are about the other streams."""
    monkeypatch.setattr(opencv_filter.cli, "make_derainer", lambda model, **engine: models.Derainer(IdentityNet()))


def derain(*args) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(main, ["derain", *map(str, args), "--no-progress"])


def subtitled(tmp_path: Path, **extra) -> Path:
    srt = write_srt(tmp_path / "notes.srt", EVENTS)
    return encode(tmp_path / "rainy.mkv", smooth_frames(12, SIZE), srt=srt,
                  subtitle_tags={"language": "eng", "title": "Rain notes"}, **extra)


def chapters_s(path: Path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as container:
        return [(round(float(c["start"] * c["time_base"]), 6), round(float(c["end"] * c["time_base"]), 6),
                 c["metadata"].get("title")) for c in container.chapters()]


def test_subtitles_are_copied_with_the_same_codec_payloads_times_and_tags(tmp_path):
    source = subtitled(tmp_path)
    result = derain(source, tmp_path / "clean.mkv")
    assert result.exit_code == 0, result.output
    before, after = packets(source, "subtitles"), packets(tmp_path / "clean.mkv", "subtitles")
    assert after["codec"] == before["codec"] == "subrip"
    assert [p[2] for p in before["packets"]] == [b"Rain starts", b"Rain stops"]
    assert after["packets"] == before["packets"]  # payloads, start times and durations, in seconds
    assert {k: after["tags"].get(k) for k in ("language", "title")} == {"language": "eng", "title": "Rain notes"}
    assert [kind for kind, _ in decode(tmp_path / "clean.mkv")["streams"]] == ["video", "subtitle"]
    assert "subtitle" not in result.output  # nothing to say: nothing changed


@pytest.mark.parametrize("suffix, codec", [(".mp4", "mov_text"), (".mov", "mov_text")])
def test_text_subtitles_are_converted_only_where_the_container_needs_it_and_it_says_so(tmp_path, suffix, codec):
    source = subtitled(tmp_path)
    out = tmp_path / f"clean{suffix}"
    result = derain(source, out)
    assert result.exit_code == 0, result.output
    assert f"subtitle stream 1 (subrip) cannot go into this container, so it is converted to {codec}" in result.output
    assert packets(out, "subtitles")["codec"] == codec
    assert subtitle_texts(out) == EVENTS  # the same words at the same times
    assert packets(out, "subtitles")["tags"].get("language") == "eng"
    back = tmp_path / "back.mkv"  # and back: Matroska holds no mov_text, so it becomes SubRip again
    result = derain(out, back)
    assert result.exit_code == 0, result.output
    assert f"({codec}) cannot go into this container, so it is converted to subrip" in result.output
    assert packets(back, "subtitles")["packets"] == packets(source, "subtitles")["packets"]


def test_text_subtitles_become_webvtt_in_webm(tmp_path):
    result = derain(subtitled(tmp_path), tmp_path / "clean.webm", "--preset", "12")
    assert result.exit_code == 0, result.output
    assert "subtitle stream 1 (subrip) cannot go into this container, so it is converted to webvtt" in result.output
    assert packets(tmp_path / "clean.webm", "subtitles")["codec"] == "webvtt"
    assert subtitle_texts(tmp_path / "clean.webm") == EVENTS


def test_subtitles_no_container_choice_can_hold_are_dropped_with_a_note_naming_one_that_can(tmp_path):
    source = subtitled(tmp_path)
    result = derain(source, tmp_path / "clean.avi")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "subtitle stream 1" in line]
    assert len(notes) == 1 and "subtitle stream 1 (subrip) cannot go into this container and is dropped " \
                                 "(a .mkv output keeps it)" in notes[0]
    assert [kind for kind, _ in decode(tmp_path / "clean.avi")["streams"]] == ["video"]


def test_forced_and_default_flags_of_a_subtitle_stream_are_kept(tmp_path):
    source = tmp_path / "rainy.mkv"
    srt = write_srt(tmp_path / "notes.srt", EVENTS)
    with av.open(str(srt)) as subtitles_in, av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = *SIZE, "yuv420p"
        subtitles = out.add_stream_from_template(subtitles_in.streams[0])
        subtitles.disposition = av.stream.Disposition.forced | av.stream.Disposition.default
        for i, image in enumerate(smooth_frames(12, SIZE)):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for packet in subtitles_in.demux():
            if packet.dts is not None:
                packet.stream = subtitles
                out.mux(packet)
    assert packets(source, "subtitles")["disposition"] & av.stream.Disposition.forced  # the fixture has it
    assert derain(source, tmp_path / "clean.mkv").exit_code == 0
    assert packets(tmp_path / "clean.mkv", "subtitles")["disposition"] == packets(source, "subtitles")["disposition"]


def test_a_data_stream_is_copied_where_the_container_holds_it_and_dropped_with_a_note_elsewhere(tmp_path):
    data = [(i * 40, f"GPS {i}".encode()) for i in range(12)]
    source = encode(tmp_path / "rainy.mp4", smooth_frames(12, SIZE), data=data,
                    data_tags={"handler_name": "Rain sensor"})
    result = derain(source, tmp_path / "clean.mp4")
    assert result.exit_code == 0, result.output
    before, after = packets(source, "data"), packets(tmp_path / "clean.mp4", "data")
    assert after["codec"] == before["codec"] == "bin_data"
    assert [p[2] for p in before["packets"]] == [payload for _, payload in data]
    assert after["packets"] == before["packets"]
    assert after["tags"].get("handler_name") == "Rain sensor"
    result = derain(source, tmp_path / "part.mp4", "--start", 4, "--end", 10)  # cut and moved with the picture
    assert result.exit_code == 0, result.output
    assert packets(tmp_path / "part.mp4", "data")["packets"] == [(round(i * 0.04, 6), 0.04, f"GPS {i + 4}".encode())
                                                               for i in range(6)]
    result = derain(source, tmp_path / "clean.mkv")
    assert result.exit_code == 0, result.output
    assert "data stream 1 (bin_data) cannot go into this container and is dropped (a .mp4 or .m4v output keeps " \
           "it)" in result.output
    assert [kind for kind, _ in decode(tmp_path / "clean.mkv")["streams"]] == ["video"]


def timecode_of(path: Path) -> tuple[str | None, str | None]:
    """(the picture's timecode tag, the timecode track's) of a file; None where it has none."""
    with av.open(str(path)) as container:
        tags = {key.lower(): value for key, value in container.streams.video[0].metadata.items()}
        track = container.streams.data[0].metadata.get("timecode") if container.streams.data else None
        return tags.get("timecode"), track


def test_a_quicktime_timecode_track_is_kept_with_the_picture(tmp_path):
    """FFmpeg's MOV muxer writes a timecode (tmcd) track from the video's timecode tag; it has no codec
    FFmpeg knows, so it is carried as that tag: a track again in .mov/.mp4, a tag in .mkv."""
    source = encode(tmp_path / "rainy.mov", smooth_frames(4, SIZE), timecode="01:02:03:04")
    assert packets(source, "data")["tags"].get("timecode") == "01:02:03:04"  # the fixture has the track
    for suffix in (".mov", ".mp4", ".mkv"):
        out = tmp_path / f"clean{suffix}"
        result = derain(source, out)
        assert result.exit_code == 0 and "dropped" not in result.output, result.output
        assert timecode_of(out) == ("01:02:03:04", None if suffix == ".mkv" else "01:02:03:04"), suffix


@pytest.mark.parametrize("rate, timecode, start, expected", [
    (25, "01:02:03:04", 5, "01:02:03:09"),
    (25, "01:02:03:04", 30, "01:02:04:09"),
    # drop-frame: the labels ;00 and ;01 are skipped at each minute but the tenth
    (Fraction(30000, 1001), "00:09:59;28", 4, "00:10:00;02"),
    (Fraction(30000, 1001), "00:00:59;28", 4, "00:01:00;04"),
])
def test_the_timecode_names_the_first_frame_of_a_frame_range(tmp_path, rate, timecode, start, expected):
    """--start N makes the source's frame N the output's first, so the timecode must be N frames on."""
    source = encode(tmp_path / "rainy.mov", smooth_frames(start + 3, SIZE), rate=rate, time_base=1 / Fraction(rate),
                    timecode=timecode)
    for suffix in (".mov", ".mkv"):
        out = tmp_path / f"part{suffix}"
        result = derain(source, out, "--start", start)
        assert result.exit_code == 0, result.output
        assert timecode_of(out) == (expected, None if suffix == ".mkv" else expected), suffix
        # and a Matroska TIMECODE tag moves the same way
        again = tmp_path / f"again{suffix}"
        assert derain(tmp_path / "part.mkv" if suffix == ".mkv" else out, again, "--start", 1).exit_code == 0
        assert timecode_of(again)[0] == str(Timecode.parse(expected, Fraction(rate)) + 1)


def test_a_timecode_that_cannot_be_moved_on_is_dropped_with_a_note(tmp_path):
    """A Matroska tag holds any text: drop-frame labels at 25 fps (no such thing) cannot be counted on."""
    source = encode(tmp_path / "rainy.mkv", smooth_frames(4, SIZE), rate=25, time_base=Fraction(1, 25),
                    timecode="01:02:03;04")
    assert timecode_of(source) == ("01:02:03;04", None)
    result = derain(source, tmp_path / "part.mov", "--start", 2)
    assert result.exit_code == 0, result.output
    assert "the timecode 01:02:03;04 is dropped: it cannot be moved on by the 2 frames --start skips" in result.output
    assert timecode_of(tmp_path / "part.mov") == (None, None)
    result = derain(source, tmp_path / "whole.mkv")  # nothing to move: kept as it is
    assert result.exit_code == 0 and "timecode" not in result.output, result.output
    assert timecode_of(tmp_path / "whole.mkv") == ("01:02:03;04", None)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_chapters_and_container_tags_are_kept(tmp_path, suffix):
    """Tag names compare without case, as FFmpeg's do: Matroska stores ARTIST where MP4 stores artist."""
    source = encode(tmp_path / "rainy.mkv", smooth_frames(12, SIZE), chapters=CHAPTERS,
                    metadata={"title": "rainy day", "artist": "the weather", "comment": "take 2"})
    result = derain(source, tmp_path / f"clean{suffix}")
    assert result.exit_code == 0, result.output
    assert chapters_s(tmp_path / f"clean{suffix}") == chapters_s(source)
    assert chapters_s(source) == [(0.0, 0.2, "drizzle"), (0.2, 0.48, "storm")]
    tags = {key.lower(): value for key, value in decode(tmp_path / f"clean{suffix}")["metadata"].items()}
    assert {k: tags.get(k) for k in ("title", "artist", "comment")} == \
        {"title": "rainy day", "artist": "the weather", "comment": "take 2"}


def test_chapters_an_avi_cannot_hold_are_dropped_with_a_note(tmp_path):
    source = encode(tmp_path / "rainy.mkv", smooth_frames(6, SIZE), chapters=CHAPTERS)
    result = derain(source, tmp_path / "clean.avi")
    assert result.exit_code == 0, result.output
    assert "the 2 chapters are dropped: this container has none (a .mp4 or .m4v or .mov or .mkv or .webm output keeps " \
           "them)" in result.output
    assert chapters_s(tmp_path / "clean.avi") == []


def test_a_frame_range_cuts_subtitles_and_chapters_with_the_picture(tmp_path):
    """Frames 4..9 are 0.16-0.40 s of the source; the output starts at 0, so everything moves back 0.16 s."""
    source = subtitled(tmp_path, chapters=CHAPTERS)
    result = derain(source, tmp_path / "clean.mkv", "--start", 4, "--end", 10)
    assert result.exit_code == 0, result.output
    out = tmp_path / "clean.mkv"
    assert decode(out)["times"] == pytest.approx([i * 0.04 for i in range(6)], abs=1e-6)
    assert packets(out, "subtitles")["packets"] == [(0.04, 0.2, b"Rain stops")]  # 0.20 - 0.16
    assert chapters_s(out) == [(0.0, 0.04, "drizzle"), (0.04, 0.24, "storm")]


def test_cut_chapters_drops_the_ones_outside_the_range():
    kept = cut_chapters(CHAPTERS, Cut(start_s=0.25, end_s=0.3, shift_s=0.25))
    assert [(c["start"], c["end"], c["metadata"]["title"]) for c in kept] == [(0, 50, "storm")]
    assert cut_chapters(CHAPTERS, Cut()) == [dict(c, time_base=Fraction(1, 1000)) for c in CHAPTERS]
