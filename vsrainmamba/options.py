"""Turn the filter's user-facing arguments into engine settings, with one clear sentence per mistake.

The names follow HolyWu's vs-basicvsrpp / vs-rife where they mean the same: ``device_index``,
``fp16``, ``bf16``, ``num_streams``, ``batch_size``, ``tile`` and ``tile_pad`` as ``[width, height]`` (or one int
for both), 0 meaning "whole frame".
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from models.engine import MODES


class OptionError(ValueError):
    """An argument has a bad value; the message names it and says what to pass instead."""


@dataclass(frozen=True)
class EngineOptions:
    """Everything needed to build the engine(s) and the frame server, validated."""

    mode: str
    stride: int | None
    tile: tuple[int, int] | None           # (H, W), the engine's order
    tile_overlap: tuple[int, int] | None   # (H, W)
    device: torch.device
    dtype: torch.dtype
    batch_size: int
    num_streams: int
    scene_change: bool
    sc_threshold: float | None             # None: scene-change props only
    cache_windows: int | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: object, name: str, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise OptionError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def width_height(value: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    """An int or a ``[width, height]`` list as the engine's (H, W); None stays None (the preset's)."""
    if value is None:
        return None
    values = [value, value] if _is_int(value) else list(value) if isinstance(value, (list, tuple)) else None
    if values is None or len(values) != 2 or not all(_is_int(v) and v >= 0 for v in values):
        raise OptionError(f"{name} must be an int >= 0 or a [width, height] pair of them, got {value!r}.")
    return values[1], values[0]


def tile_size(value: int | Sequence[int] | None) -> tuple[int, int] | None:
    """``tile`` as the engine's (H, W): each side 0 (whole frame) or a multiple of 8."""
    size = width_height(value, "tile")
    if size is not None and any(side % 8 for side in size):
        raise OptionError(f"tile={value!r} is not allowed: each side must be 0 (whole frame) or a multiple of 8.")
    return size


def resolve_device(device_index: int | str | None) -> torch.device:
    """None: the first CUDA GPU if there is one, else the CPU; an int: that GPU; -1 or 'cpu': the CPU."""
    if device_index is None:
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if device_index == "cpu" or device_index == -1:
        return torch.device("cpu")
    if not _is_int(device_index) or device_index < -1:
        raise OptionError(f"device_index must be a GPU number (0, 1, ...), -1 or 'cpu' for the CPU, "
                          f"or None for automatic, got {device_index!r}.")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device_index >= count:
        have = f"only {count} CUDA GPU(s)" if count else "no CUDA GPU"
        raise OptionError(f"device_index={device_index} asks for CUDA GPU {device_index} but PyTorch sees {have}: "
                          "pass device_index=-1 to run on the CPU.")
    return torch.device(f"cuda:{device_index}")


def engine_options(*, mode: str, stride: int | None, tile: int | Sequence[int] | None,
                   tile_pad: int | Sequence[int] | None, device_index: int | str | None, fp16: bool,
                   bf16: bool, batch_size: int, num_streams: int, scene_change: bool, sc_threshold: float | None,
                   cache_windows: int | None) -> EngineOptions:
    """Validate the filter's arguments (their meaning and defaults: `vsrainmamba.derain`)."""
    if mode not in MODES:
        raise OptionError(f"mode must be {' or '.join(repr(m) for m in MODES)}, got {mode!r}.")
    if stride is not None:
        positive_int(stride, "stride")
    device = resolve_device(device_index)
    if fp16 and bf16:
        raise OptionError("fp16 and bf16 are both True: choose one (bf16 also runs on a CPU).")
    if fp16 and device.type != "cuda":
        raise OptionError("fp16=True needs a CUDA GPU; on the CPU use bf16=True or leave both off.")
    if sc_threshold is not None and (not isinstance(sc_threshold, (int, float)) or isinstance(sc_threshold, bool)
                                     or not math.isfinite(sc_threshold) or not 0 <= sc_threshold <= 1):
        raise OptionError(f"sc_threshold must be a number from 0 to 1, or None for the scene-change props "
                          f"only, got {sc_threshold!r}.")
    return EngineOptions(
        mode=mode, stride=stride, tile=tile_size(tile), tile_overlap=width_height(tile_pad, "tile_pad"),
        device=device, dtype=torch.float16 if fp16 else torch.bfloat16 if bf16 else torch.float32,
        batch_size=positive_int(batch_size, "batch_size"), num_streams=positive_int(num_streams, "num_streams"),
        scene_change=bool(scene_change), sc_threshold=None if sc_threshold is None else float(sc_threshold),
        cache_windows=None if cache_windows is None else positive_int(cache_windows, "cache_windows"))
