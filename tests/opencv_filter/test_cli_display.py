"""``rainmamba derain`` keeps how a player shows the source: its display rotation (phone videos) and its HDR
mastering metadata (the display it was graded on and its light levels, which HDR10 players tone-map with)."""
from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.sidedata.sidedata import Type
from av_clips import decode, encode, psnr, smooth_frames
from click.testing import CliRunner

import models
import opencv_filter.cli
from models.cli import main
from opencv_filter.media import FrameFormat
from opencv_filter.media.encoding import Encoding, plan_encoder
from opencv_filter.media.hdr import HdrMetadata, MasteringDisplay
from tests.conftest import IdentityNet

SIZE = (64, 48)
HDR10 = dict(color_primaries=9, color_trc=16, colorspace=9, color_range=1)  # BT.2020, PQ
# x265's units: chromaticities in 0.00002, luminance in 0.0001 cd/m2 (a 1000 cd/m2 P3 display)
MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
EXPECTED = {"red": (0.68, 0.32), "green": (0.265, 0.69), "blue": (0.15, 0.06), "white": (0.3127, 0.329),
            "luminance": (0.005, 1000.0), "light": (1000, 400)}


@pytest.fixture(autouse=True)
def identity_model(monkeypatch):
    monkeypatch.setattr(opencv_filter.cli, "make_derainer", lambda model, **engine: models.Derainer(IdentityNet()))


def derain(*args) -> "click.testing.Result":  # noqa: F821
    return CliRunner().invoke(main, ["derain", *map(str, args), "--no-progress"])


def first_frame_side_data(path: Path) -> tuple[str, dict[str, bytes], int]:
    """(codec, raw side data by type name, rotation) of the first decoded frame of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        return (stream.codec_context.name, {kind.name: bytes(frame.side_data[kind]) for kind in frame.side_data},
                frame.rotation)


def hdr_values(path: Path) -> dict | None:
    """The mastering display (as decimals) and light levels a decoder attaches to the first frame."""
    _, side_data, _ = first_frame_side_data(path)
    if "MASTERING_DISPLAY_METADATA" not in side_data:
        assert "CONTENT_LIGHT_LEVEL" not in side_data
        return None
    v = struct.unpack("=20i2i", side_data["MASTERING_DISPLAY_METADATA"][:88])
    q = [v[i] / v[i + 1] for i in range(0, 20, 2)]
    assert v[20:] == (1, 1)  # primaries and luminance both present
    return {"red": tuple(q[0:2]), "green": tuple(q[2:4]), "blue": tuple(q[4:6]), "white": tuple(q[6:8]),
            "luminance": (q[8], q[9]), "light": struct.unpack("=2I", side_data["CONTENT_LIGHT_LEVEL"])}


def assert_hdr_kept(values: dict | None, precision: float = 1e-9) -> None:
    assert values is not None
    for key, expected in EXPECTED.items():
        assert values[key] == pytest.approx(expected, abs=precision, rel=precision), key


def hdr10_source(path: Path) -> Path:
    return encode(path, smooth_frames(4, SIZE, deep=True), codec="libx265", pix_fmt="yuv420p10le", tags=HDR10,
                  codec_params=f"master-display={MASTER_DISPLAY}:max-cll=1000,400")


@pytest.fixture(scope="module")
def hdr_source(tmp_path_factory) -> Path:
    source = hdr10_source(tmp_path_factory.mktemp("hdr") / "hdr10.mkv")
    assert_hdr_kept(hdr_values(source))  # the fixture has it
    return source


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_hdr10_mastering_metadata_is_kept_by_the_default_encoding(tmp_path, hdr_source, suffix):
    """The default for an HDR source is x265 (10-bit, PQ kept), which writes the metadata again, exactly."""
    out = tmp_path / f"clean{suffix}"
    result = derain(hdr_source, out)
    assert result.exit_code == 0 and "HDR" not in result.output, result.output
    assert first_frame_side_data(out)[0] == "hevc"
    assert_hdr_kept(hdr_values(out))
    source, clean = decode(hdr_source), decode(out)
    assert clean["pix_fmt"] == "yuv420p10le" and clean["tags"] == source["tags"] == HDR10
    assert psnr(np.stack(clean["frames"]), np.stack(source["frames"]), 65535.0) > 36  # as other re-encodes


def test_hdr10_lossless_is_x265_lossless_and_keeps_the_metadata(tmp_path, hdr_source):
    out = tmp_path / "clean.mkv"
    result = derain(hdr_source, out, "--lossless")
    assert result.exit_code == 0 and "HDR" not in result.output, result.output
    assert first_frame_side_data(out)[0] == "hevc"
    assert_hdr_kept(hdr_values(out))


def test_av1_keeps_hdr10_metadata_to_its_own_precision(tmp_path, hdr_source):
    """AV1 stores chromaticities in 1/65536 and the minimum luminance in 1/16384 cd/m2."""
    out = tmp_path / "clean.webm"
    result = derain(hdr_source, out, "--preset", "12")
    assert result.exit_code == 0 and "HDR" not in result.output, result.output
    assert first_frame_side_data(out)[0] in ("libdav1d", "av1")
    assert_hdr_kept(hdr_values(out), precision=1 / 16384)


def test_an_odd_sized_hdr_source_defaults_to_av1_which_keeps_the_metadata(tmp_path):
    """x265 cannot encode odd sizes; SVT-AV1 can and carries the metadata."""
    source = encode(tmp_path / "odd.mkv", smooth_frames(4, (65, 49), deep=True), codec="libsvtav1",
                    pix_fmt="yuv420p10le", tags=HDR10, codec_params="mastering-display=G(0.265,0.69)B(0.15,0.06)"
                    "R(0.68,0.32)WP(0.3127,0.329)L(1000,0.005):content-light=1000,400")
    assert_hdr_kept(hdr_values(source), precision=1 / 16384)  # the fixture has it
    out = tmp_path / "clean.mkv"
    result = derain(source, out, "--preset", "12")
    assert result.exit_code == 0 and "HDR" not in result.output, result.output
    assert first_frame_side_data(out)[0] in ("libdav1d", "av1")
    assert decode(out)["size"] == (65, 49)
    assert_hdr_kept(hdr_values(out), precision=1 / 16384)


def test_a_codec_that_cannot_carry_hdr_metadata_says_so_and_which_does(tmp_path, hdr_source):
    out = tmp_path / "clean.mp4"
    result = derain(hdr_source, out, "--codec", "x264")
    assert result.exit_code == 0, result.output
    assert "HDR mastering metadata (mastering display, content light level) is not kept by libx264" in result.output
    assert "pass --codec x265 (.mp4, .mov, .mkv) or --codec av1 to keep it" in result.output
    assert hdr_values(out) is None  # the note is true
    assert decode(out)["tags"] == HDR10  # the colour tags are still kept


def test_hdr_default_encoder_per_container_and_size(caplog):
    display = MasteringDisplay(*[(Fraction(1, 3), Fraction(1, 3))] * 4, Fraction(1000), Fraction(1, 200))
    mastered = FrameFormat(pix_fmt="yuv420p10le", color_trc=1, hdr=HdrMetadata(display, 1000, 400))
    hlg = FrameFormat(pix_fmt="yuv420p10le", color_trc=18)
    sdr = FrameFormat(pix_fmt="yuv420p10le", color_trc=1)

    def plan(source: FrameFormat, suffix: str, size: tuple[int, int] = SIZE, **asked):
        return plan_encoder(Encoding(**asked), suffix, source, size)

    for source in (mastered, hlg):
        assert [plan(source, s).codec for s in (".mp4", ".mov", ".mkv", ".webm")] == ["libx265"] * 3 + ["libsvtav1"]
        assert plan(source, ".mkv", (65, 49)).codec == "libsvtav1"
        assert plan(source, ".mkv", lossless=True).codec == "libx265"
    assert [plan(sdr, s).codec for s in (".mp4", ".mkv", ".webm")] == ["libx264", "libx264", "libsvtav1"]
    assert plan(sdr, ".mkv", lossless=True).codec == "ffv1"
    x265 = plan(mastered, ".mkv").options["x265-params"].split(":")
    assert "master-display=G(16667,16667)B(16667,16667)R(16667,16667)WP(16667,16667)L(10000000,50)" in x265
    assert "max-cll=1000,400" in x265 and "log-level=error" in x265
    assert "lossless=1" in plan(mastered, ".mkv", lossless=True).options["x265-params"].split(":")
    assert "content-light=1000,400" in plan(mastered, ".webm").options["svtav1-params"].split(":")
    assert "master" not in plan(hlg, ".mkv").options["x265-params"]  # HLG with no metadata: nothing to pass
    assert "HDR" not in caplog.text
    for suffix, size, asked, codec in ((".avi", SIZE, {}, "libx264"), (".webm", SIZE, {"lossless": True}, "libvpx-vp9"),
                                       (".mkv", (65, 49), {"lossless": True}, "ffv1"),
                                       (".mkv", SIZE, {"codec": "ffv1"}, "ffv1")):  # where x265/SVT-AV1 cannot go
        caplog.clear()
        assert plan(mastered, suffix, size, **asked).codec == codec
        assert f"HDR mastering metadata (mastering display, content light level) is not kept by {codec}" in caplog.text


# ---------------------------------------------------------------------------------------------- rotation

def phone_video(tmp_path: Path) -> Path:
    """An MP4 whose track header turns the stored picture by -90 degrees, as phones write them."""
    data = bytearray(encode(tmp_path / "upright.mp4", smooth_frames(6, SIZE)).read_bytes())
    flags = data.index(b"tkhd") + 4
    assert data[flags] == 0  # a version-0 track header: its matrix sits 40 bytes after its version byte
    data[flags + 40:flags + 76] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    (tmp_path / "phone.mp4").write_bytes(bytes(data))
    return tmp_path / "phone.mp4"


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm"])
@pytest.mark.parametrize("made_by", ["phone", "pyav"])
def test_the_display_rotation_is_kept_with_the_stored_picture(tmp_path, suffix, made_by):
    source = phone_video(tmp_path) if made_by == "phone" else \
        encode(tmp_path / "turned.mkv", smooth_frames(6, SIZE), rotation=90)
    _, side_data, rotation = first_frame_side_data(source)
    assert rotation == (-90 if made_by == "phone" else 90)  # the fixture has it
    out = tmp_path / f"clean{suffix}"
    extra = ["--preset", "12"] if suffix == ".webm" else []
    result = derain(source, out, *extra)
    assert result.exit_code == 0 and "rotated" not in result.output, result.output
    _, out_side_data, out_rotation = first_frame_side_data(out)
    assert out_rotation == rotation
    assert out_side_data["DISPLAYMATRIX"] == side_data["DISPLAYMATRIX"]  # the whole matrix, flips too
    before, after = decode(source), decode(out)
    assert after["size"] == before["size"] == SIZE  # stored as the source stores it, not turned
    assert psnr(np.stack(after["frames"]), np.stack(before["frames"])) > 30  # the same picture, not turned


def test_an_output_that_cannot_hold_the_rotation_says_so(tmp_path):
    source = phone_video(tmp_path)
    result = derain(source, tmp_path / "clean.avi")
    assert result.exit_code == 0, result.output
    assert "shown rotated by -90 degrees (a display tag) that " in result.output
    assert "write .mp4 or .m4v or .mov or .mkv or .webm, which keep the tag" in result.output
    result = derain(source, tmp_path / "frames")
    assert result.exit_code == 0, result.output
    assert "shown rotated by -90 degrees" in result.output
    result = derain(tmp_path / "upright.mp4", tmp_path / "upright.avi")
    assert result.exit_code == 0 and "rotated" not in result.output, result.output
