"""`rainmamba bench --profile` and the compute floor: exclusive stage times, the floor's factors, the CLI."""
from __future__ import annotations

import json

import pytest
import torch

import models
from models import bench_profile as bp


def test_stage_clock_charges_each_stretch_to_the_innermost_stage(monkeypatch):
    ticks = iter([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])
    monkeypatch.setattr(bp.time, "perf_counter", lambda: next(ticks))
    clock = bp.StageClock("outside")          # mark = 0
    clock.enter("a")                          # 0..1 outside
    clock.enter("b")                          # 1..3 a
    clock.leave()                             # 3..6 b
    clock.leave()                             # 6..10 a
    clock._charge()                           # 10..15 outside
    assert dict(clock.totals) == {"outside": 6.0, "a": 6.0, "b": 3.0}
    assert clock.calls == {"a": 1, "b": 1}


def test_flops_per_pixel_counts_the_convs_and_matmuls_of_one_forward():
    torch.manual_seed(0)
    net = models.build("tiny").eval()
    fpp = bp.flops_per_pixel(net, (64, 64))
    conv = net.feat_extract.downsample_layers[0][0]    # the 4x4 stride-4 stem: 3*16*24*2 FLOPs per H/4 pixel
    stem = 2 * conv.weight.numel() / 16
    assert stem < fpp and fpp == pytest.approx(bp.flops_per_pixel(net, (64, 96)), rel=0.05)
    assert bp.of_floor(fpp, 1e9, 1000, fpp * 1000 / 1e9) == pytest.approx(1.0)


def test_profile_names_the_stages_restores_the_engine_and_accounts_for_the_wall_time():
    from models import bimamba, stream, tiles
    torch.manual_seed(0)
    net = models.build("tiny").eval()
    originals = (stream.frame_in, tiles.Tiling.blend, bimamba.selective_scan, models.engine.Derainer._forward)
    rows = bp.profile_engine(net, "96x160", 5, torch.device("cpu"), torch.float32, "fast", 1,
                             fpp=3e4, rate=1e11, log=lambda m: None, tile=64, op_rows=3)
    assert (stream.frame_in, tiles.Tiling.blend, bimamba.selective_scan,
            models.engine.Derainer._forward) == originals
    summary = next(r for r in rows if r["section"] == "profile_summary")
    assert summary["tiles_per_window"] == 2 * 3                       # 96: 0, 32; 160: 0, 48, 96
    assert summary["computed_per_output_pixel"] == pytest.approx(6 * 64 * 64 / (96 * 160))
    stages = {r["stage"]: r for r in rows if r["section"] == "profile"}
    assert {"mamba: selective scans", "LayerNorm", "tile blending, crop, copy out",
            "frames in (uint8 -> float32)", "mlp: depthwise 3x3x3 conv"} <= set(stages)
    assert stages["mamba: selective scans"]["calls"] == 6 * 2 * 6    # tiles x directions x blocks
    assert sum(r["share"] for r in stages.values()) == pytest.approx(1.0, abs=1e-6)
    assert len([r for r in rows if r["section"] == "ops"]) == 3


def test_bench_cli_reports_the_floor_and_profiles(tmp_path):
    from click.testing import CliRunner
    from models.bench import bench_command
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(bench_command, ["--device", "cpu", "--no-scan", "--no-windows", "--presets", "tiny",
                                                "--sizes", "64x96", "--frames", "5", "--authors-scan", "none",
                                                "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())["results"]
    floor = next(r for r in rows if r["section"] == "floor")
    engine = next(r for r in rows if r["section"] == "engine")
    assert floor["matmul_gflop_per_s"] > 0 and 0 < engine["of_floor"] < 1
    assert engine["of_floor"] == pytest.approx(floor["flop_per_pixel"] * 5 * 64 * 96
                                               / (floor["matmul_gflop_per_s"] * 1e9) / engine["seconds"])
    result = CliRunner().invoke(bench_command, ["--device", "cpu", "--profile", "--presets", "tiny",
                                                "--sizes", "64x96", "--tile", "0"])
    assert result.exit_code == 0, result.output
    assert "exclusive time per stage" in result.output and "mamba: selective scans" in result.output
    bad = CliRunner().invoke(bench_command, ["--device", "cpu", "--profile", "--presets", "tiny", "--sizes", "none"])
    assert bad.exit_code != 0 and "--profile needs --presets and --sizes" in bad.output
