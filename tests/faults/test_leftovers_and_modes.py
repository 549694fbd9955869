"""A killed run's hidden staging files are removed by the next run into the same folder (a live run's are
not), and what is installed or exported gets the permissions the umask asks for."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from models.atomic import PARTIAL_PREFIX, partial_name, remove_stale_partials

from .conftest import TRAIN_ARGS


def _host() -> str:
    return "".join(c for c in socket.gethostname() if c.isalnum() or c == ".")[:40]


@pytest.fixture
def owners():
    """(pid of a finished process, pid of a live one)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield done.pid, live.pid
    live.kill()
    live.wait()


def _plant(folder, owners) -> dict[str, bool]:
    """Leftovers in ``folder``: name -> whether a later run should remove it."""
    dead, live = owners
    folder.mkdir(parents=True, exist_ok=True)
    planted = {f"{PARTIAL_PREFIX}pid{dead}@{_host()}-model.safetensors-x1": True,
               f"{PARTIAL_PREFIX}pid{dead}@{_host()}-synth-x2": True,           # a folder
               f"{PARTIAL_PREFIX}pid{live}@{_host()}-model.safetensors-x3": False,
               f"{PARTIAL_PREFIX}pid{dead}@another.host-model.safetensors-x4": False,  # fresh, elsewhere
               f"{PARTIAL_PREFIX}clip-x5.mp4": False}                             # not ours to judge
    for name in planted:
        if "synth" in name:
            (folder / name / "rainy").mkdir(parents=True)
        else:
            (folder / name).write_bytes(b"partial")
    return planted


def _left(folder, planted) -> dict[str, bool]:
    return {name: not (folder / name).exists() for name in planted}


def test_stale_partials_are_told_from_live_ones(tmp_path, owners):
    planted = _plant(tmp_path, owners)
    old = tmp_path / f"{PARTIAL_PREFIX}pid{owners[0]}@another.host-x-old"
    old.write_bytes(b"")
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    assert sorted(p.name for p in remove_stale_partials(tmp_path)) == sorted(
        [n for n, gone in planted.items() if gone] + [old.name])
    assert _left(tmp_path, planted) == planted
    assert partial_name("x").startswith(f"{PARTIAL_PREFIX}pid{os.getpid()}@")


def test_import_train_and_synth_clean_up_after_killed_runs(run_rainmamba, tiny_files, synth_data, tmp_path, owners):
    home, run, data = tmp_path / "model_home", tmp_path / "run", tmp_path / "synth"
    planted = {folder: _plant(folder, owners) for folder in (home, run, run / "checkpoints", data)}
    assert run_rainmamba("models", "import", str(tiny_files / "tiny.pth"), "--preset", "tiny").returncode == 0
    trained = run_rainmamba("train", *TRAIN_ARGS, "--data", str(synth_data), "--out", "run", "--iterations", "1",
                            "--dcll-weight", "0", "--perceptual-weight", "0")
    assert trained.returncode == 0, trained.stdout
    made = run_rainmamba("synth", "synth", "-n", "1", "-t", "2", "--size", "32x32")
    assert made.returncode == 0, made.stdout
    for folder, expected in planted.items():
        assert _left(folder, expected) == expected, folder


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_installed_models_and_exports_follow_the_umask(run_rainmamba, tiny_files, synth_data, tmp_path):
    umask = 0o027
    expected = 0o666 & ~umask  # not the 0600 of a bare temporary file
    imported = run_rainmamba("models", "import", str(tiny_files / "tiny.pth"), "--preset", "tiny", umask=umask)
    assert imported.returncode == 0, imported.stdout
    assert _mode(tmp_path / "model_home" / "tiny.safetensors") == expected
    trained = run_rainmamba("train", *TRAIN_ARGS, "--data", str(synth_data), "--out", "run", "--iterations", "1",
                            "--dcll-weight", "0", "--perceptual-weight", "0", umask=umask)
    assert trained.returncode == 0, trained.stdout
    for path in ("model.safetensors", "config.json", "checkpoints/iter_00000001.pt"):
        assert _mode(tmp_path / "run" / path) == expected, path
