"""Broken weight files through `rainmamba models info/import`, `derain` and `evaluate`: one line, exit 1."""
from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file, save_file

import models
from models.checkpoint import FORMAT_VERSION, CheckpointError

from .conftest import assert_one_line_error


@pytest.mark.parametrize("name, bad", [("nan.pth", "NaN"), ("inf.safetensors", "infinite")])
def test_non_finite_weights_are_refused_everywhere(run_rainmamba, tiny_files, synth_data, name, bad):
    path = tiny_files / name
    with pytest.raises(CheckpointError, match=rf"{path}.* holds {bad} values in conv_last.weight"):
        models.load(path, preset="tiny")
    info = run_rainmamba("models", "info", str(path), "--preset", "tiny")
    assert "loads strictly" not in info.stdout
    assert_one_line_error(info, f"Checkpoint {path}", bad, "conv_last.weight")
    derain = run_rainmamba("derain", str(synth_data / "rainy" / "seq_00000"), "out", "--model",
                           str(tiny_files / "inf.safetensors"))
    assert_one_line_error(derain, "conv_last.weight")
    assert not (synth_data.parent / "out").exists()
    imported = run_rainmamba("models", "import", str(path), "--preset", "tiny")
    assert_one_line_error(imported, "conv_last.weight")
    assert not (synth_data.parent / "model_home" / "tiny.safetensors").exists()


def test_models_info_exits_non_zero_for_every_file_that_would_not_load(run_rainmamba, tiny_files, tmp_path):
    good = run_rainmamba("models", "info", str(tiny_files / "tiny.safetensors"))
    assert good.returncode == 0 and "loads strictly" in good.stdout, good.stdout
    unknown = run_rainmamba("models", "info", str(tiny_files / "tiny.pth"))
    assert "loads strictly" not in unknown.stdout
    assert_one_line_error(unknown, "Pass --preset tiny")
    wrong = run_rainmamba("models", "info", str(tiny_files / "tiny.pth"), "--preset", "vrds")
    assert_one_line_error(wrong, "does not match preset 'vrds'")
    state = torch.load(tiny_files / "tiny.pth")
    del state["conv_last.bias"]
    torch.save(state, tmp_path / "short.pth")
    short = run_rainmamba("models", "info", str(tmp_path / "short.pth"), "--preset", "tiny")
    assert_one_line_error(short, "1 missing: conv_last.bias")


def test_a_newer_format_version_is_refused_with_an_upgrade_hint(run_rainmamba, tiny_files, tmp_path):
    from safetensors import safe_open

    with safe_open(str(tiny_files / "tiny.safetensors"), "pt") as f:
        metadata = f.metadata()
    newer = tmp_path / "newer.safetensors"
    save_file(load_file(str(tiny_files / "tiny.safetensors")), str(newer),
              metadata={**metadata, "format_version": str(int(FORMAT_VERSION) + 1)})
    assert_one_line_error(run_rainmamba("models", "info", str(newer)), str(newer), "newer vsrainmamba", "upgrade")
    odd = tmp_path / "odd.safetensors"
    save_file(load_file(str(tiny_files / "tiny.safetensors")), str(odd), metadata={**metadata, "format_version": "x"})
    with pytest.raises(CheckpointError, match="unknown format version 'x'"):
        models.load(odd)


def test_messages_name_only_options_of_the_command_that_prints_them(run_rainmamba, tiny_files, synth_data):
    """derain and evaluate take no --preset: a bare .pth is told how to import it under its preset."""
    bare = str(tiny_files / "tiny.pth")
    for args in (["derain", str(synth_data / "rainy" / "seq_00000"), "out", "--model", bare],
                 ["evaluate", "--data", str(synth_data), "--model", bare, "--no-progress"]):
        line = assert_one_line_error(run_rainmamba(*args), f"rainmamba models import {bare} --preset tiny")
        assert "pass --preset" not in line.lower() and "preset=" not in line, line
    assert_one_line_error(run_rainmamba("models", "import", bare), "Pass --preset tiny")
    with pytest.raises(CheckpointError, match="Pass preset='tiny'"):
        models.load(bare)


def test_model_paths_are_described_as_given(run_rainmamba, tiny_files, synth_data, tmp_path):
    clip = str(synth_data / "rainy" / "seq_00000")
    folder = assert_one_line_error(run_rainmamba("derain", clip, "out", "--model", str(tiny_files)), "is a folder")
    assert "does not exist" not in folder
    empty = assert_one_line_error(run_rainmamba("derain", clip, "out", "--model", ""), "No checkpoint given")
    assert " . " not in empty
    with pytest.raises(CheckpointError, match="the model path is empty"):
        models.resolve_model("")
    (tmp_path / "random.pth").write_bytes(os.urandom(4096))
    line = assert_one_line_error(run_rainmamba("derain", clip, "out", "--model", "./random.pth"),
                                 "Cannot read checkpoint ./random.pth", "truncated or corrupt")
    assert "Python objects" not in line


def test_an_unreadable_file_says_permission_denied(tiny_files, monkeypatch):
    """Root reads every file whatever its mode, so the refusal is simulated where torch opens it."""
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(torch, "load", refuse)
    with pytest.raises(CheckpointError, match=r"^Cannot read checkpoint .*tiny.pth: permission denied\.$"):
        models.read_checkpoint(tiny_files / "tiny.pth")
