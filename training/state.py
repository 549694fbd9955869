"""Training-state checkpoints: atomic writes, keep-last-K, and RNG capture/restore.

A state file holds everything a resumed run needs to continue exactly where an interrupted one was: model,
optimizer, scheduler and grad-scaler states, the iteration, the data position, the config and every
rank's RNG states. Only tensors and plain containers go in, so the file loads with
``torch.load(weights_only=True)``; they are written to a temporary file in the same folder and renamed
into place, so a kill at any moment leaves either the old set of checkpoints or the new one.
"""
from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

_NAME = re.compile(r"^iter_(\d+)\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(iteration, path) of the run's state files, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), folder / name) for name in os.listdir(folder) if (m := _NAME.match(name))]
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_state(state: dict[str, Any], run_dir: str | Path, iteration: int, keep_last: int) -> Path:
    """Write ``state`` as ``checkpoints/iter_<iteration>.pt`` atomically, then drop all but the last K."""
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"iter_{iteration:08d}.pt"
    fd, tmp = tempfile.mkstemp(prefix=".iter_", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for _, old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def remove_partial_checkpoints(run_dir: str | Path) -> None:
    """Delete temporary files left by a run killed while writing a checkpoint."""
    folder = checkpoint_dir(run_dir)
    if folder.is_dir():
        for leftover in folder.glob(".iter_*.tmp"):
            leftover.unlink(missing_ok=True)


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a state file written by :func:`save_state` (tensors and plain containers only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - turn any unpickling failure into one sentence
        raise ValueError(f"cannot resume from {path}: it is not a readable rainmamba training checkpoint "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).") from None
    if not isinstance(state, dict) or "iteration" not in state or "model" not in state:
        raise ValueError(f"cannot resume from {path}: it is not a rainmamba training checkpoint.")
    return state


def capture_rng() -> dict[str, Any]:
    """This process's python, numpy, torch and CUDA RNG states as tensors and lists."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Undo :func:`capture_rng`: put the saved generator states back."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(v) for v in internal.tolist()), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        saved = state["cuda"]
        if len(saved) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(saved)
