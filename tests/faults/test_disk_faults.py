"""Full and read-only disks under every non-video writer: one line naming the path, exit 1, nothing lost."""
from __future__ import annotations

import json

import models

from .conftest import TRAIN_ARGS, assert_one_line_error


def _partials(folder) -> list[str]:
    return [p.name for p in folder.rglob(".rainmamba-partial-*")]


def test_import_into_a_full_or_read_only_model_directory(run_rainmamba, tiny_files, tmpfs):
    home = tmpfs("home", "64k")
    (home.path / "tiny.safetensors").write_bytes(b"the model installed before")

    full = run_rainmamba("models", "import", str(tiny_files / "tiny.pth"), "--preset", "tiny",
                         RAINMAMBA_HOME=str(home.path))
    assert_one_line_error(full, f"Cannot write {home.path / 'tiny.safetensors'}", "disk is full")
    assert (home.path / "tiny.safetensors").read_bytes() == b"the model installed before"
    assert not _partials(home.path)

    home.read_only()
    ro = run_rainmamba("models", "import", str(tiny_files / "tiny.pth"), "--preset", "tiny")
    assert_one_line_error(ro, str(home.path / "tiny.safetensors"), "read-only")
    assert (home.path / "tiny.safetensors").read_bytes() == b"the model installed before"


def test_train_on_a_disk_that_fills_at_a_checkpoint(run_rainmamba, synth_data, tmpfs):
    disk = tmpfs("disk", "40m")
    run = disk.path / "run"
    first = run_rainmamba("train", *TRAIN_ARGS, "--data", str(synth_data), "--out", str(run), "--iterations", "1",
                          "--dcll-weight", "0", "--perceptual-weight", "0")
    assert first.returncode == 0, first.stdout
    before = {p: p.read_bytes() for p in (run / "model.safetensors", run / "checkpoints" / "iter_00000001.pt")}
    disk.fill(leave=256 * 1024)  # room for the logs and config.json, not for the next checkpoint
    resumed = run_rainmamba("train", "--out", str(run), "--resume", "--iterations", "2")
    assert_one_line_error(resumed, f"Cannot write {run / 'checkpoints' / 'iter_00000002.pt'}", "disk is full")
    assert "Trained" not in resumed.stdout
    assert {p: p.read_bytes() for p in before} == before  # the checkpoint and the export of the first run
    assert models.load(run / "model.safetensors").preset.name == "tiny"
    assert not _partials(run)


def test_train_into_a_read_only_folder(run_rainmamba, synth_data, tmpfs):
    disk = tmpfs("disk", "64k")
    disk.read_only()
    result = run_rainmamba("train", *TRAIN_ARGS, "--data", str(synth_data), "--out", str(disk.path / "run"),
                           "--iterations", "1")
    assert_one_line_error(result, f"Cannot write {disk.path / 'run'}", "read-only")


def test_synth_over_an_earlier_dataset_on_a_full_disk(run_rainmamba, tmpfs):
    disk = tmpfs("disk", "256k")
    out = disk.path / "data"
    first = run_rainmamba("synth", str(out), "-n", "1", "-t", "2", "--size", "32x32")
    assert first.returncode == 0, first.stdout
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert len(before) == 5  # 2 rainy + 2 clean frames + synth.json
    bigger = run_rainmamba("synth", str(out), "-n", "4", "-t", "4", "--size", "128x128", "--overwrite")
    assert_one_line_error(bigger, f"Cannot write {out}/", "disk is full")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not _partials(out)

    disk.read_only()
    ro = run_rainmamba("synth", str(disk.path / "new"), "-n", "1", "-t", "2", "--size", "32x32")
    assert_one_line_error(ro, str(disk.path / "new"), "read-only")


def test_evaluate_report_on_a_read_only_disk_fails_before_evaluating(run_rainmamba, synth_data, tmpfs):
    disk = tmpfs("disk", "64k")
    (disk.path / "evaluation.json").write_text('{"earlier": true}')
    disk.read_only()
    result = run_rainmamba("evaluate", "--data", str(synth_data), "--report",
                           str(disk.path / "evaluation.json"), "--no-progress", "--mode", "fast")
    assert_one_line_error(result, f"Cannot write {disk.path / 'evaluation.json'}", "read-only")
    assert "PSNR" not in result.stdout  # refused up front, not after the evaluation
    assert json.loads((disk.path / "evaluation.json").read_text()) == {"earlier": True}


def test_evaluate_report_on_a_full_disk_keeps_the_earlier_report(run_rainmamba, synth_data, tmpfs):
    disk = tmpfs("disk", "64k")
    (disk.path / "evaluation.json").write_text('{"earlier": true}')
    disk.fill()
    result = run_rainmamba("evaluate", "--data", str(synth_data), "--report", str(disk.path / "evaluation.json"),
                           "--no-progress", "--mode", "fast")
    assert_one_line_error(result, f"Cannot write {disk.path / 'evaluation.json'}", "disk is full")
    assert json.loads((disk.path / "evaluation.json").read_text()) == {"earlier": True}


def test_bench_json_on_a_full_or_read_only_disk(run_rainmamba, tmpfs):
    disk = tmpfs("disk", "64k")
    (disk.path / "bench.json").write_text("earlier")
    disk.fill()
    args = ["bench", "--no-scan", "--presets", "none", "--device", "cpu", "--json"]
    full = run_rainmamba(*args, str(disk.path / "bench.json"))
    assert_one_line_error(full, f"Cannot write {disk.path / 'bench.json'}", "disk is full")
    disk.read_only()
    ro = run_rainmamba(*args, "disk/bench.json")  # relative to the working folder: printed the same way
    assert_one_line_error(ro, "Cannot write disk/bench.json", "read-only")
    assert (disk.path / "bench.json").read_text() == "earlier"


def test_write_errors_name_the_path_as_given_and_say_the_cause(tmp_path, monkeypatch):
    import errno

    import pytest

    from models.atomic import WriteError, write_atomic

    assert str(WriteError("out/x.json", PermissionError(errno.EACCES, "Permission denied"))) == (
        "Cannot write out/x.json: permission denied: write to a folder you may write to.")
    assert "Input/output error" in str(WriteError("x", OSError(errno.EIO, "Input/output error")))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(WriteError, match=r"^Cannot write file/report.json: "):
        write_atomic("file/report.json", "{}")
    assert (tmp_path / "file").read_text() == "a file, not a folder"
