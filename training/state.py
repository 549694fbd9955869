"""Training-state checkpoints: atomic writes, keep-last-K, resume points, and RNG capture/restore.

A state file holds everything a resumed run needs to continue exactly where an interrupted one was: model,
optimizer, scheduler and grad-scaler states, the iteration, the data position, the config and every
rank's RNG states. Only tensors and plain containers go in, so the file loads with
``torch.load(weights_only=True)``; they are written through :func:`models.atomic.write_atomic`, so a kill or
a full disk at any moment leaves either the old set of checkpoints or the new one. Resuming takes the newest
file that reads back whole, passing over (and reporting) newer ones that are truncated or corrupt.
"""
from __future__ import annotations

import io
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.atomic import remove_stale_partials, write_atomic

STATE_FORMAT = "rainmamba-train-state"
STATE_VERSION = 1
_NAME = re.compile(r"^iter_(\d+)\.pt$")


class UnreadableState(ValueError):
    """A state file that cannot be resumed from; the message says which and why. ``newer``: it was written
    by a newer release (so falling back to an older checkpoint would silently drop progress)."""

    def __init__(self, message: str, newer: bool = False) -> None:
        super().__init__(message)
        self.newer = newer


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


def checkpoint_name(iteration: int) -> str:
    return f"iter_{iteration:08d}.pt"


def save_state(state: dict[str, Any], run_dir: str | Path, iteration: int, keep_last: int,
               keep: Path | None = None) -> Path:
    """Write ``state`` as ``checkpoints/iter_<iteration>.pt`` atomically, then drop all but the last K
    (and ``keep``, the run's newest good checkpoint).

    Only checkpoints up to ``iteration`` count: newer ones are left by a run that was resumed from an earlier
    checkpoint (because the newer ones were unreadable) and are overwritten when the run gets there.
    """
    path = checkpoint_dir(run_dir) / checkpoint_name(iteration)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())
    for _, old in [c for c in list_checkpoints(run_dir) if c[0] <= iteration][:-keep_last]:
        if keep is None or old.name != keep.name:
            old.unlink(missing_ok=True)
    return path


def remove_partial_checkpoints(run_dir: str | Path) -> None:
    """Delete the staging files left by runs killed while writing a checkpoint (not a live run's)."""
    remove_stale_partials(checkpoint_dir(run_dir))


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a state file written by :func:`save_state` (tensors and plain containers only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - turn any unpickling failure into one sentence
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnreadableState(f"Cannot resume from {path}: it is not a readable rainmamba training checkpoint "
                              f"({type(exc).__name__}: {first[:160]}).") from None
    if not isinstance(state, dict) or "iteration" not in state or "model" not in state or (
            state.get("format", STATE_FORMAT) != STATE_FORMAT):
        raise UnreadableState(f"Cannot resume from {path}: it is not a rainmamba training checkpoint.")
    version = state.get("version", STATE_VERSION)
    if not isinstance(version, int) or version > STATE_VERSION:
        raise UnreadableState(f"Cannot resume from {path}: it was written by a newer vsrainmamba (training state "
                              f"version {version}; this one reads version {STATE_VERSION}): upgrade vsrainmamba.",
                              newer=True)
    return state


def resume_point(run_dir: str | Path) -> tuple[dict[str, Any], Path, list[str]] | None:
    """The newest readable state of the run, its path, and one line per newer file passed over; None if none.

    A truncated or corrupt newest checkpoint (a full disk, a copy cut short) falls back to the one before.
    """
    passed_over: list[str] = []
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            return load_state(path), path, passed_over
        except UnreadableState as exc:
            if exc.newer:
                raise
            passed_over.append(str(exc))
    if passed_over:
        raise UnreadableState(passed_over[0] if len(passed_over) == 1 else
                              f"{passed_over[0]} Neither is any older checkpoint of the run "
                              f"({len(passed_over) - 1} more).")
    return None


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
