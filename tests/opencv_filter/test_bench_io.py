"""``rainmamba bench --sections io``: the OpenCV wrapper's section, registered as an entry point and run by
the core's bench; decoding, engine and encoding times per frame and the share they make."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models import bench_sections
from models.cli import main

ARGS = ["bench", "--device", "cpu", "--no-scan", "--no-windows", "--no-engine", "--presets", "tiny",
        "--sizes", "48x64", "--frames", "6", "--authors-scan", "none"]


def test_the_io_section_is_registered_by_the_opencv_wrapper():
    from opencv_filter.bench_io import io_section

    assert "io" in bench_sections.available()
    assert bench_sections.load(["io"]) == {"io": io_section}


def test_bench_io_times_decoding_the_engine_and_encoding_and_their_share(tmp_path):
    out, table = tmp_path / "bench.json", tmp_path / "bench.md"
    result = CliRunner().invoke(main, [*ARGS, "--sections", "io", "--json", str(out), "--markdown", str(table)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    assert [r["section"] for r in rows] == ["io"]  # --no-engine: no engine section, no floor
    row = rows[0]
    assert (row["preset"], row["size"], row["frames"]) == ("tiny", "48x64 (48x64)", 6)
    assert row["decode_ms_per_frame"] > 0 and row["encode_ms_per_frame"] > 0 and row["engine_ms_per_frame"] > 0
    assert row["io_share_of_engine"] == pytest.approx(
        (row["decode_ms_per_frame"] + row["encode_ms_per_frame"]) / row["engine_ms_per_frame"])
    assert "Decoding and encoding a video file next to the engine" in result.output
    assert "io_share_of_engine" in table.read_text() and "| tiny |" in table.read_text()


def test_bench_without_sections_runs_no_io_and_unknown_sections_are_one_line(tmp_path):
    result = CliRunner().invoke(main, [*ARGS[:-2], "--sizes", "none", "--presets", "none"])
    assert result.exit_code == 0 and "Decoding and encoding" not in result.output
    bad = CliRunner().invoke(main, [*ARGS, "--sections", "io,disk"])
    assert bad.exit_code == 2 and "--sections: no section 'disk'; available: io." in bad.output
    assert "Traceback" not in bad.output
    bad = CliRunner().invoke(main, [*ARGS[:-6], "--sizes", "none", "--sections", "io"])
    assert bad.exit_code == 2 and "--sections io needs --presets, --sizes and --frames" in bad.output
