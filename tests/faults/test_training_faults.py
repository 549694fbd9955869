"""A diverging run, and resuming over broken checkpoints, through `rainmamba train`."""
from __future__ import annotations

import json

import pytest
import torch

from training.state import STATE_VERSION

from .conftest import TRAIN_ARGS, assert_one_line_error


def test_a_diverging_run_stops_exports_nothing_and_names_the_last_good_checkpoint(run_rainmamba, synth_data,
                                                                                  tmp_path):
    run = tmp_path / "run"
    common = ["--checkpoint-every", "1", "--keep-last", "1", "--dcll-weight", "0", "--perceptual-weight", "0"]
    start = run_rainmamba("train", *TRAIN_ARGS, *common, "--data", str(synth_data), "--out", "run",
                          "--iterations", "2")
    assert start.returncode == 0, start.stdout
    (run / "model.safetensors").unlink()
    # iteration 3 (lr 1e8) is finite but wrecks the weights, 4 and 5 are NaN: iter_2 is the last good one
    result = run_rainmamba("train", "--out", "run", "--resume", "--iterations", "9", "--lr", "1e8",
                           "--max-bad-steps", "2")
    line = assert_one_line_error(result, "Training diverged", "iterations 4-5 (2 in a row",
                                 "last good checkpoint is run/checkpoints/iter_00000002.pt", "lower --lr",
                                 "--resume")
    assert "Trained" not in result.stdout and not (run / "model.safetensors").exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["iter_00000002.pt",
                                                                       "iter_00000003.pt.diverged"]
    assert line[len("Error: "):] in (run / "train.log").read_text()  # the log says what to try as well
    records = [json.loads(r) for r in (run / "log.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in records] == [0, 0, 0, 1, 1]

    # the advice works: resuming (from the good checkpoint) with a sane lr finishes the run
    fixed = run_rainmamba("train", "--out", "run", "--resume", "--lr", "1e-4", "--iterations", "3")
    assert fixed.returncode == 0, fixed.stdout
    assert "resumed at iteration 2" in fixed.stdout and (run / "model.safetensors").is_file()


def test_a_run_diverging_from_the_start_has_no_good_checkpoint(run_rainmamba, synth_data, tmp_path):
    result = run_rainmamba("train", *TRAIN_ARGS, "--data", str(synth_data), "--out", "run", "--iterations", "8",
                           "--lr", "1e8", "--checkpoint-every", "1", "--max-bad-steps", "2")
    assert_one_line_error(result, "Training diverged", "No checkpoint before it is good", "lower --lr")
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_max_bad_steps_is_a_checked_setting(run_rainmamba, synth_data):
    result = run_rainmamba("train", *TRAIN_ARGS, "--data", str(synth_data), "--out", "run", "--max-bad-steps", "0")
    assert_one_line_error(result, "max-bad-steps must be a positive whole number")


def _finished_run(run_rainmamba, synth_data, iterations: int = 3) -> None:
    result = run_rainmamba("train", *TRAIN_ARGS, "--data", str(synth_data), "--out", "run", "--iterations",
                           str(iterations), "--checkpoint-every", "1", "--keep-last", "3", "--dcll-weight", "0",
                           "--perceptual-weight", "0")
    assert result.returncode == 0, result.stdout


def test_resume_over_a_truncated_newest_checkpoint_falls_back_with_a_warning(run_rainmamba, synth_data, tmp_path):
    _finished_run(run_rainmamba, synth_data)
    newest = tmp_path / "run" / "checkpoints" / "iter_00000003.pt"
    newest.write_bytes(newest.read_bytes()[:5000])
    (tmp_path / "run" / "model.safetensors").unlink()
    result = run_rainmamba("train", "--out", "run", "--resume")
    assert result.returncode == 0, result.stdout
    assert "WARNING: Cannot resume from run/checkpoints/iter_00000003.pt" in result.stdout
    assert "newest readable one, run/checkpoints/iter_00000002.pt" in result.stdout
    assert "resumed at iteration 2" in result.stdout
    assert torch.load(newest, weights_only=True)["iteration"] == 3  # rewritten whole by the resumed run


def test_resume_with_every_checkpoint_broken_is_one_line(run_rainmamba, synth_data, tmp_path):
    _finished_run(run_rainmamba, synth_data, iterations=2)
    for path in (tmp_path / "run" / "checkpoints").iterdir():
        path.write_bytes(b"garbage")
    result = run_rainmamba("train", "--out", "run", "--resume")
    assert_one_line_error(result, "Cannot resume from run/checkpoints/iter_00000002.pt", "older checkpoint")


def test_state_of_another_format_or_a_newer_version_is_refused(run_rainmamba, synth_data, tmp_path):
    _finished_run(run_rainmamba, synth_data, iterations=1)
    path = tmp_path / "run" / "checkpoints" / "iter_00000001.pt"
    state = torch.load(path, weights_only=True)
    torch.save({**state, "version": STATE_VERSION + 1}, path)
    assert_one_line_error(run_rainmamba("train", "--out", "run", "--resume"), "newer vsrainmamba", "upgrade")
    torch.save({**state, "format": "someone-else"}, path)
    assert_one_line_error(run_rainmamba("train", "--out", "run", "--resume"),
                          "is not a rainmamba training checkpoint")


def test_a_run_folder_is_printed_as_given(run_rainmamba, synth_data, tmp_path):
    """The old first-letter capitalisation turned `runs/ref` into `Runs/ref`, another folder."""
    (tmp_path / "runs" / "ref" / "checkpoints").mkdir(parents=True)
    (tmp_path / "runs" / "ref" / "checkpoints" / "iter_00000002.pt").write_bytes(b"x")
    result = run_rainmamba("train", "--preset", "tiny", "--data", str(synth_data), "--out", "runs/ref")
    assert_one_line_error(result, "runs/ref already holds checkpoints", "--resume")
    assert "Runs/ref" not in result.stdout


def test_fine_tuning_from_non_finite_weights_is_refused(run_rainmamba, tiny_files, synth_data):
    result = run_rainmamba("train", "--init", str(tiny_files / "inf.safetensors"), "--data", str(synth_data),
                           "--out", "run", "--iterations", "1", "--frames", "3", "--crop", "32")
    assert_one_line_error(result, str(tiny_files / "inf.safetensors"), "infinite", "conv_last.weight")


def test_a_run_that_ends_with_non_finite_weights_exports_nothing(tmp_path, synth_data, monkeypatch):
    import pytest

    import models
    from training.config import build_config
    from training.trainer import Trainer, TrainingDiverged

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    net = models.build("tiny")
    with torch.no_grad():
        net.conv_last.bias.fill_(float("nan"))  # every step is NaN, but fewer than --max-bad-steps
    config = build_config(overrides=dict(preset="tiny", data=str(synth_data), out=str(tmp_path / "run"), crop=32,
                                         frames=3, batch_size=1, iterations=2, progress=False, threads=1,
                                         max_bad_steps=5, tensorboard=False))
    with pytest.raises(TrainingDiverged, match=r"conv_last.bias\), so nothing was exported"):
        Trainer(config, net=net).run()
    assert not (tmp_path / "run" / "model.safetensors").exists()


class _FullDiskTensorBoard:
    """Stands in for ``torch.utils.tensorboard`` as TensorBoard behaves on a full disk: its writer thread (of
    TensorBoard's class name) dies of ENOSPC, and the next call in the training thread raises that error."""

    def __init__(self) -> None:
        import errno
        import threading

        error = OSError(errno.ENOSPC, "No space left on device")

        class _AsyncWriterThread(threading.Thread):
            def run(self) -> None:
                raise error

        class SummaryWriter:
            def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
                self.calls, self.thread = 0, None

            def add_scalar(self, tag: str, value: float, step: int) -> None:
                self.calls += 1
                if self.calls == 3:  # some events queued, then the thread fails to write them
                    self.thread = _AsyncWriterThread(daemon=True)
                    self.thread.start()
                    self.thread.join()
                if self.thread is not None:
                    raise error

            def close(self) -> None:
                if self.thread is not None:
                    raise error

        self.SummaryWriter = SummaryWriter


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # the thread's traceback
def test_tensorboard_on_a_full_disk_is_one_line_naming_its_folder(run_rainmamba, synth_data, tmp_path, monkeypatch,
                                                                   capfd):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", _FullDiskTensorBoard())
    args = [a for a in TRAIN_ARGS if a != "--no-tensorboard"]
    result = run_rainmamba("train", *args, "--data", str(synth_data), "--out", "run", "--iterations", "3",
                           "--dcll-weight", "0", "--perceptual-weight", "0", "--log-every", "1")
    assert_one_line_error(result, "Cannot write run/tensorboard", "disk is full")
    printed = capfd.readouterr()
    assert "Traceback" not in printed.out + printed.err and "Warning" not in result.stdout
