"""The held-out evaluation behind the shipped model's card: does it remove rain it never saw, and leave
clean footage alone?

:func:`evaluate_generalisation` renders the sets of :mod:`training.heldout` in memory and runs every clip,
whole, through each method: the model (``output``, ``models.Derainer`` fast mode), a 5-frame temporal
median (``median``) and, when given, a reference model such as the current shipped one (``reference``).
Rainy sets are scored with :mod:`training.scoring` against their clean clips (PSNR/SSIM, gain over the
rainy input, share of streak brightness left); identity sets against their own input (PSNR of rain-free
clips, code shift of flat fields). ``images`` writes one comparison grid per set (:mod:`training.ship_images`).
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from models.options import resolve_device

from .heldout import DEFAULT_SEED, FLAT_FIELDS, RAIN_FREE_SCENES, RAIN_FREE_SETS, clip_rng, held_out_sets
from .loading import LoadedModel, load_model
from .metrics import psnr
from .render import make_scene, render_pair
from .scoring import field_shift, mean_scores, streak_brightness, summarise, temporal_median
from .ship_images import labelled_grid, write_png
from .synth import RainParams

__all__ = ["MIN_SIDE", "QUICK", "evaluate_generalisation"]

MIN_SIDE = 16                     # SSIM's 11x11 window needs some room
QUICK = {"clips": 2, "frames": 5, "size": (64, 64)}
METRICS_NOTE = ("RGB PSNR (dB) and MATLAB-style SSIM of 8-bit frames vs the clean frames, mean per clip then "
                "over clips; gain = derained - rainy; median = 5-frame temporal median")
Runner = Callable[[np.ndarray], np.ndarray]     # (T, H, W, 3) uint8 -> (T, H, W, 3) uint8


def _check_sizes(clips: int, frames: int, size: tuple[int, int]) -> None:
    if clips < 1 or frames < 1:
        raise ValueError(f"Need at least 1 clip of 1 frame per set, got {clips} clips of {frames} frames.")
    if min(size) < MIN_SIDE:
        raise ValueError(f"Frame size {size[0]}x{size[1]} is too small: give at least {MIN_SIDE}x{MIN_SIDE}.")


def _engine_runner(engine: Any) -> Runner:
    return lambda clip: engine(np.ascontiguousarray(clip.transpose(0, 3, 1, 2))).transpose(0, 2, 3, 1)


def _describe(loaded: LoadedModel) -> dict[str, Any]:
    return {"name": loaded.name, "preset": loaded.preset, "parameters": loaded.parameters}


_COLUMN = {"median": "median of 5", "reference": "reference", "output": "model"}


def _columns(methods: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The methods in grid order (median, reference, model) and their column headers."""
    order = [m for m in _COLUMN if m in methods]
    return order, [_COLUMN[m] for m in order]


def _rainy_sets(runners: dict[str, Runner], seed: int, clips: int, frames: int, size: tuple[int, int],
                train_params: RainParams | None, bar: tqdm, images: Path | None) -> tuple[dict, list]:
    methods = tuple(runners)
    order, headers = _columns(methods)
    sets = held_out_sets(train_params)
    records: list[dict[str, Any]] = []
    report: dict[str, Any] = {}
    for set_index, held_out in enumerate(sets):
        grid: list[list[np.ndarray]] = []
        for j in range(clips):
            variant, scene = held_out.clip(j)
            rng = clip_rng(seed, set_index, j)
            clean, rainy = render_pair(make_scene(scene, frames, *size, rng), variant.params, rng)
            record: dict[str, Any] = {"set": held_out.key, "variant": variant.key, "scene": scene, "clip": j}
            record.update({f"input_{k}": v for k, v in mean_scores(rainy, clean).items()})
            outputs = {m: run(rainy) for m, run in runners.items()}
            for method, out in outputs.items():
                record.update({f"{method}_{k}": v for k, v in mean_scores(out, clean).items()})
                record[f"{method}_streak_left"], record["streak_added"] = streak_brightness(out, rainy, clean)
            records.append(record)
            grid.append([rainy[frames // 2], *(outputs[m][frames // 2] for m in order), clean[frames // 2]])
            bar.update()
        mine = [r for r in records if r["set"] == held_out.key]
        variants = {v.key: {"label": v.label, "params": dataclasses.asdict(v.params),
                            **summarise([r for r in mine if r["variant"] == v.key], methods)}
                    for v in held_out.variants if any(r["variant"] == v.key for r in mine)}
        report[held_out.key] = {"label": held_out.label, **summarise(mine, methods), "variants": variants}
        if images is not None:
            write_png(images / f"{held_out.key}.png", labelled_grid(["rainy", *headers, "clean"], grid))
    return report, records


def _identity(runners: dict[str, Runner], seed: int, clips: int, frames: int, size: tuple[int, int],
              bar: tqdm, images: Path | None) -> dict[str, Any]:
    methods = tuple(runners)
    order, headers = _columns(methods)
    grid: list[list[np.ndarray]] = []
    free: dict[str, Any] = {}
    for key, label, stream, camera in RAIN_FREE_SETS:
        scores: dict[str, list[float]] = {m: [] for m in methods}
        for j in range(clips):
            scene = RAIN_FREE_SCENES[j % len(RAIN_FREE_SCENES)]
            rng = clip_rng(seed, stream, j)
            clean, _ = render_pair(make_scene(scene, frames, *size, rng, camera), None, rng)
            outputs = {m: run(clean) for m, run in runners.items()}
            for method, out in outputs.items():
                scores[method].append(float(np.mean([psnr(o, c) for o, c in zip(out, clean)])))
            grid.append([clean[frames // 2], *(outputs[m][frames // 2] for m in order)])
            bar.update()
        free[key] = {"label": label, "clips": clips,
                     "scenes": [RAIN_FREE_SCENES[j % len(RAIN_FREE_SCENES)] for j in range(clips)],
                     "psnr": {m: float(np.mean(v)) for m, v in scores.items()},
                     "worst_psnr": {m: float(np.min(v)) for m, v in scores.items()},
                     "clip_psnr": scores}
    fields: dict[str, Any] = {}
    for name, rgb in FLAT_FIELDS.items():
        field = np.broadcast_to(np.array(rgb, np.uint8), (frames, *size, 3)).copy()
        outputs = {m: run(field) for m, run in runners.items()}
        fields[name] = {"rgb": list(rgb), **{m: field_shift(out, field) for m, out in outputs.items()}}
        grid.append([field[frames // 2], *(outputs[m][frames // 2] for m in order)])
        bar.update()
    if images is not None:
        write_png(images / "identity.png", labelled_grid(["input", *headers], grid))
    return {**free, "flat_fields": fields}


def evaluate_generalisation(model: Any = None, seed: int = DEFAULT_SEED, *, clips: int = 8, frames: int = 10,
                            size: tuple[int, int] = (96, 96), train_params: RainParams | None = None,
                            device: str | torch.device | None = None, progress: bool = False,
                            reference: Any = None, images: str | os.PathLike | None = None) -> dict[str, Any]:
    """Score ``model`` (None: the shipped default; a preset, path or network) on the held-out sets.

    ``reference`` (a model argument, e.g. ``"default"``) is scored beside it; the temporal median always is.
    Returns a JSON-able dict: ``sets[key]`` holds ``clips``, mean ``input``/``output``/``median``
    (/``reference``) PSNR and SSIM, the model's ``gain`` (output - input), ``streak_left`` per method and the
    same per ``variants[key]``; ``identity`` holds the rain-free and flat-field scores; ``clips`` lists every
    rainy clip.
    """
    import models

    _check_sizes(clips, frames, size)
    started = time.time()
    target = resolve_device(device)
    loaded = load_model(model, target)
    engine = models.Derainer(loaded.net, mode="fast")
    runners: dict[str, Runner] = {"output": _engine_runner(engine), "median": temporal_median}
    ref = load_model(reference, target) if reference is not None else None
    if ref is not None:
        runners["reference"] = _engine_runner(models.Derainer(ref.net, mode="fast"))
    folder = Path(images) if images is not None else None
    total = clips * (len(held_out_sets(train_params)) + len(RAIN_FREE_SETS)) + len(FLAT_FIELDS)
    with tqdm(total=total, unit="clip", desc="ship-eval", disable=not progress) as bar:
        sets, records = _rainy_sets(runners, seed, clips, frames, size, train_params, bar, folder)
        identity = _identity(runners, seed, clips, frames, size, bar, folder)
    return {
        "model": loaded.name, "preset": loaded.preset, "parameters": loaded.parameters,
        "reference": _describe(ref) if ref is not None else None,
        "mode": "fast", "device": str(engine.device),
        "seed": seed, "clips_per_set": clips, "frames": frames, "size": list(size),
        "train_params": dataclasses.asdict(train_params or RainParams()),
        "metrics": METRICS_NOTE, "sets": sets, "identity": identity, "clips": records,
        "images": str(folder) if folder is not None else None, "seconds": round(time.time() - started, 1),
    }
