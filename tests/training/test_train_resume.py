"""A run killed with SIGKILL and resumed reaches bit-for-bit the weights of an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training.losses import DCLL_LAYERS, PERCEPTUAL_LAYERS
from training.synth import write_synthetic_dataset
from training.vgg import build_vgg_features

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = 6


def _vgg_args(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    args = []
    for depth, layers in ((16, PERCEPTUAL_LAYERS), (19, DCLL_LAYERS)):
        torch.manual_seed(depth)
        state = {f"features.{k}": v for k, v in build_vgg_features(depth, layers).state_dict().items()}
        torch.save(state, folder / f"vgg{depth}.pth")
        args += [f"--vgg{depth}-weights", str(folder / f"vgg{depth}.pth")]
    return args


def _command(out: Path, data: Path, vgg: list[str]) -> list[str]:
    return [sys.executable, "-m", "training.cli_train", "--preset", "tiny", "--data", str(data), "--out", str(out),
            "--iterations", str(ITERATIONS), "--checkpoint-every", "2", "--keep-last", "2", "--crop", "32",
            "--frames", "3", "--batch-size", "2", "--threads", "1", "--warmup-iterations", "2",
            "--dcll-samples", "2", "--dcll-negative-distance", "8", "4", "--no-progress", *vgg]


def _env(tmp_path: Path, scan: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TORCH_HOME": str(tmp_path / "torch_home"),
            "OMP_NUM_THREADS": "1", "RAINMAMBA_SCAN": scan}


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(r["iteration"], r["loss"]) for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())]


@pytest.mark.parametrize("scan", ["torch", "numba"])
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, scan):
    """Bit-identical weights, with the PyTorch scan and with the numba training kernels."""
    data = write_synthetic_dataset(tmp_path / "data", 2, 5, 40, 48, seed=0)
    vgg = _vgg_args(tmp_path / "vgg")
    env = _env(tmp_path, scan)

    straight = tmp_path / "straight"
    subprocess.run(_command(straight, data, vgg), cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_command(killed, data, vgg), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first = killed / "checkpoints" / "iter_00000002.pt"
    deadline = time.time() + 240
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    done = sorted(p.name for p in (killed / "checkpoints").glob("iter_*.pt"))
    assert done and done[-1] < f"iter_{ITERATIONS:08d}.pt", done
    assert not (killed / "model.safetensors").exists()

    resumed = subprocess.run([sys.executable, "-m", "training.cli_train", "--out", str(killed), "--resume"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed at iteration" in resumed.stderr

    a = load_file(str(straight / "model.safetensors"))
    b = load_file(str(killed / "model.safetensors"))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert _losses(killed) == _losses(straight)  # same losses, each iteration logged once


def test_resume_over_a_truncated_newest_checkpoint_continues_bit_exactly_from_the_one_before(tmp_path):
    """A newest checkpoint cut short (a full disk, a copy interrupted): --resume warns, takes the previous
    one, and still reaches exactly the weights and losses of the uninterrupted run."""
    data = write_synthetic_dataset(tmp_path / "data", 2, 5, 40, 48, seed=0)
    vgg = _vgg_args(tmp_path / "vgg")
    env = _env(tmp_path, "torch")
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    for run in (straight, broken):
        subprocess.run(_command(run, data, vgg), cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    newest = broken / "checkpoints" / f"iter_{ITERATIONS:08d}.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    (broken / "model.safetensors").unlink()

    resumed = subprocess.run([sys.executable, "-m", "training.cli_train", "--out", str(broken), "--resume"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"WARNING: Cannot resume from {newest}" in resumed.stderr
    assert f"resumed at iteration {ITERATIONS - 2}" in resumed.stderr

    a = load_file(str(straight / "model.safetensors"))
    b = load_file(str(broken / "model.safetensors"))
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert a.keys() == b.keys() and not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    assert _losses(broken) == _losses(straight)
    assert torch.load(newest, weights_only=True)["iteration"] == ITERATIONS  # written whole again
