"""Translate the filter's arguments into the core's engine options, with one clear sentence per mistake.

The names follow HolyWu's vs-basicvsrpp / vs-rife where they mean the same: ``device_index``,
``fp16``, ``bf16``, ``num_streams``, ``batch_size``, ``tile`` and ``tile_pad`` as ``[width, height]`` (or one int
for both), 0 meaning "whole frame". The engine settings are parsed and checked by `models.options`
(which also holds the device rule: ``device_index=None`` is the first CUDA GPU when there is one,
else the CPU); this module only says how the filter spells them and checks the filter's own options.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from models.options import EngineOptions, OptionError, Spelling, parse_int
from models.scenes import check_threshold

__all__ = ["OptionError", "FilterOptions", "SPELLING", "engine_options"]

SPELLING = Spelling(
    names={"tile_overlap": "tile_pad", "device": "device_index"}, width_first=True, overlap_frames=False,
    cpu="device_index=-1", devices="a GPU number (0, 1, ...), -1 or 'cpu' for the CPU, or None for automatic",
    dtypes={"float16": "fp16=True", "bfloat16": "bf16=True", "float32": "leave both off"})


@dataclass(frozen=True)
class FilterOptions:
    """Everything needed to build the engine(s) and the frame server, validated."""

    engine: EngineOptions
    num_streams: int
    scene_change: bool
    sc_threshold: float | None             # None: scene-change props only
    cache_windows: int | None

    @property
    def device(self) -> torch.device:
        return self.engine.device


def engine_options(*, mode: str, stride: int | None, tile: int | Sequence[int] | None,
                   tile_pad: int | Sequence[int] | None, device_index: int | str | None, fp16: bool,
                   bf16: bool, batch_size: int, num_streams: int, scene_change: bool, sc_threshold: float | None,
                   cache_windows: int | None) -> FilterOptions:
    """Validate the filter's arguments (their meaning and defaults: `vsrainmamba.derain`)."""
    if fp16 and bf16:
        raise OptionError("fp16 and bf16 are both True: choose one (bf16 also runs on a CPU).")
    engine = EngineOptions.parse(
        mode=mode, stride=stride, tile=tile, tile_overlap=tile_pad,
        device="cpu" if device_index == -1 else device_index,
        dtype="float16" if fp16 else "bfloat16" if bf16 else None, batch_size=batch_size, spelling=SPELLING)
    try:
        threshold = check_threshold(sc_threshold, props_only=True)
    except ValueError as error:
        raise OptionError(str(error)) from None
    return FilterOptions(
        engine=engine, num_streams=parse_int(num_streams, "num_streams", SPELLING),
        scene_change=bool(scene_change), sc_threshold=threshold,
        cache_windows=None if cache_windows is None else parse_int(cache_windows, "cache_windows", SPELLING))
