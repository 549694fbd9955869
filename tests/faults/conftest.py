"""Fault injection through the public ``rainmamba`` command: full and read-only disks, broken files.

Each test runs the real command line (``rainmamba ...`` through click's runner, or as a subprocess with
this checkout on PYTHONPATH) and checks what a user would see: exit status, one ``Error:`` line, no
traceback, and the files that were there before. Full and read-only disks are small tmpfs
mounts (root only; the tests that need one skip with the reason otherwise).
"""
from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


class Result:
    """What a command did: its exit status and everything it printed (stdout and stderr together)."""

    def __init__(self, returncode: int, stdout: str) -> None:
        self.returncode, self.stdout = returncode, stdout


@pytest.fixture
def run_rainmamba(tmp_path, monkeypatch):
    """``run_rainmamba(*args)`` -> Result of ``rainmamba ARGS`` run in ``tmp_path``.

    In-process through click's runner (fast); an exception escaping the command is what a user would see
    as a traceback, so it is printed as one. ``subprocess=True`` runs the real console command instead
    (needed for a umask, or a process of its own).
    """
    from click.testing import CliRunner

    from models.cli import main

    env = {"PYTHONPATH": str(ROOT), "TORCH_HOME": str(tmp_path / "torch_home"), "OMP_NUM_THREADS": "1",
           "RAINMAMBA_HOME": str(tmp_path / "model_home")}
    monkeypatch.chdir(tmp_path)

    def run(*args: str, subprocess_: bool = False, umask: int | None = None, timeout: int = 300,
            **extra_env: str) -> Result:
        env.update(extra_env)
        if subprocess_ or umask is not None:
            # subprocess's own umask (set between fork and exec in C): a preexec_fn would run Python in a
            # child forked from this many-threaded process, which can deadlock
            done = subprocess.run([sys.executable, "-m", "models.cli", *args], cwd=tmp_path,
                                  env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=timeout, umask=-1 if umask is None else umask)
            return Result(done.returncode, done.stdout)
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            result = CliRunner().invoke(main, list(args))
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            output += "\nTraceback (most recent call last):\n" + "".join(
                traceback.format_exception(result.exception))
        return Result(result.exit_code, output)
    return run


def assert_one_line_error(result: Result, *needles: str) -> str:
    """A non-zero exit with exactly one ``Error:`` line holding every needle, and no traceback; returns it."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout, result.stdout
    errors = [line for line in result.stdout.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stdout
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


class Mount:
    """A tmpfs mounted at ``path`` for one test (unmounted afterwards)."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs to simulate a full or read-only disk ({done.stderr.strip()})")

    def read_only(self) -> None:
        done = subprocess.run(["mount", "-o", "remount,ro", str(self.path)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot remount the tmpfs read-only ({done.stderr.strip()})")

    def fill(self, leave: int = 0) -> None:
        """Use up every free byte but ``leave`` (the filler stays, so a later write finds the disk full)."""
        fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (1 << 20, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError:
                    pass
            if leave:
                os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
        finally:
            os.close(fd)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(name, size)`` -> a Mount under tmp_path."""
    mounts: list[Mount] = []

    def make(name: str = "disk", size: str = "64k") -> Mount:
        mount = Mount(tmp_path / name, size)
        mounts.append(mount)
        return mount
    yield make
    for mount in mounts:
        mount.unmount()


@pytest.fixture
def tiny_files(tmp_path):
    """A bare tiny state_dict .pth, the same with a NaN, and the project file of the tiny network."""
    import models

    torch.manual_seed(0)
    net = models.build("tiny")
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save(net.state_dict(), folder / "tiny.pth")
    models.save_checkpoint(net, folder / "tiny.safetensors")
    bad = net.state_dict()
    bad["conv_last.weight"] = bad["conv_last.weight"].clone()
    bad["conv_last.weight"].view(-1)[3] = float("nan")
    torch.save(bad, folder / "nan.pth")
    with torch.no_grad():
        net.conv_last.weight.view(-1)[3] = float("inf")
    models.save_checkpoint(net, folder / "inf.safetensors")
    return folder


@pytest.fixture
def synth_data(tmp_path):
    from training.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path / "data", 1, 3, 32, 32, seed=0)


TRAIN_ARGS = ["--preset", "tiny", "--crop", "32", "--frames", "3", "--batch-size", "1", "--threads", "1",
              "--no-progress", "--warmup-iterations", "0", "--no-tensorboard"]
