"""The held-out evaluation behind the shipped model's card: does it remove rain it was not trained on?

:func:`evaluate_generalisation` renders three sets of fresh rainy/clean clips in memory and runs the
model over each whole clip with ``models.Derainer`` (fast mode):

- ``in_distribution``: procedural scenes with the rain settings the training data used
  (``RainParams`` defaults, or the ``params`` recorded in the training set's ``synth.json``);
- ``unseen_rain``: procedural scenes with rain *outside* those ranges, one setting per clip in turn
  (exact ranges are derived from the training ranges by :func:`unseen_variants` and printed in the
  report): steeper wind, much denser rain, much sparser rain, and longer, thicker streaks;
- ``photo_scenes``: scikit-image's photographs filmed by a moving camera, with training rain; half the
  clips use colour photos that ``rainmamba synth --scenes photos|mixed`` can train on (with a new
  camera path, crop and rain), half use ``camera`` (the cameraman, grey), a photo that no synthetic
  training set contains.

Every clip is quantised to 8 bits exactly as ``rainmamba synth`` writes its PNGs. Clip ``j`` of set
``k`` draws all its randomness from ``default_rng([seed, TAG, k + 1, j])``: training sequences use
``default_rng([seed, index])``, and numpy pads seeds with zeros, so the two never share a stream
whatever the seeds. Scores are RGB PSNR/SSIM (MATLAB-style SSIM) of 8-bit frames, averaged per clip
then over clips; the gain is derained minus rainy.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.options import resolve_device
from models.sizes import SizeParam

from .metrics import psnr, ssim, to_uint8
from .scenes import SKIMAGE_PHOTOS, load_skimage_photo, photo_scene, procedural_scene
from .synth import RainParams, add_rain

__all__ = ["DEFAULT_SEED", "EvalSet", "LoadedModel", "Variant", "evaluate_generalisation", "held_out_sets",
           "load_model", "make_scene", "markdown_table", "mean_scores", "read_train_params", "render_pair",
           "ship_eval_command", "unseen_variants"]

DEFAULT_SEED = 2024
TAG = 0x5417                      # any non-zero constant: keeps held-out streams apart from training ones
MIN_SIDE = 16                     # SSIM's 11x11 window needs some room
TRAINING_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")
UNSEEN_PHOTO = "camera"           # in skimage.data, not in training.scenes.SKIMAGE_PHOTOS
QUICK = {"clips": 2, "frames": 5, "size": (64, 64)}


# ----------------------------------------------------------------------------------------------------
# what is rendered


@dataclass(frozen=True)
class Variant:
    """One rain setting over one kind of scene; ``scenes`` are "procedural" or skimage photo names."""

    key: str
    label: str
    params: RainParams
    scenes: tuple[str, ...] = ("procedural",)


@dataclass(frozen=True)
class EvalSet:
    """A held-out set: clip ``j`` uses ``variants[j % len(variants)]``."""

    key: str
    label: str
    variants: tuple[Variant, ...]


def _span(bounds: tuple[float, float], unit: str = "") -> str:
    return f"{bounds[0]:g} to {bounds[1]:g}{unit}"


def unseen_variants(train: RainParams) -> tuple[Variant, ...]:
    """Rain settings outside the training ranges ``train``; everything not named stays as in training."""
    angle = (min(train.angle[1] + 10, 80.0), min(train.angle[1] + 20, 89.0))
    dense = (train.density[1] * 1.5, train.density[1] * 2.5)
    sparse = (max(train.density[0] * 0.2, 0.5), max(train.density[0] * 0.5, 1.0))
    length = (train.length[1] * 1.25, train.length[1] * 2.0)
    width = (train.width[1], train.width[1] + 1.5)
    return (
        Variant("steep_wind", f"wind {_span(angle, '°')} from vertical (trained {_span(train.angle, '°')})",
                train.replace(angle=angle)),
        Variant("dense", f"density {_span(dense)} streaks/100² px (trained {_span(train.density)})",
                train.replace(density=dense)),
        Variant("sparse", f"density {_span(sparse)} streaks/100² px (trained {_span(train.density)})",
                train.replace(density=sparse)),
        Variant("long_thick", f"streaks {_span(length)} px long, {_span(width)} px wide (trained "
                              f"{_span(train.length)} long, {_span(train.width)} wide)",
                train.replace(length=length, width=width)),
    )


def held_out_sets(train: RainParams | None = None) -> tuple[EvalSet, ...]:
    """The three held-out sets for a model trained on rain drawn from ``train`` (default ``RainParams()``)."""
    train = train or RainParams()
    return (
        EvalSet("in_distribution", "in-distribution: procedural scenes, training rain",
                (Variant("training_rain", "training rain settings", train),)),
        EvalSet("unseen_rain", "unseen rain: procedural scenes, rain outside the training ranges",
                unseen_variants(train)),
        EvalSet("photo_scenes", "photo scenes: scikit-image photographs, moving camera, training rain",
                (Variant("training_photos", f"photos synth can train on ({', '.join(TRAINING_PHOTOS)}), "
                                            "new camera paths and rain", train, TRAINING_PHOTOS),
                 Variant("unseen_photo", f"a photo never in synthetic training data ({UNSEEN_PHOTO}, grey)",
                         train, (UNSEEN_PHOTO,)))),
    )


def _photo(name: str) -> np.ndarray:
    if name in SKIMAGE_PHOTOS:
        return load_skimage_photo(name)
    try:
        import skimage.data
    except ImportError as err:
        raise ImportError("Photo scenes need scikit-image: pip install scikit-image.") from err
    return getattr(skimage.data, name)()    # grey or RGB; photo_scene makes it (H, W, 3) float


def make_scene(scene: str, frames: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A clean clip (T, H, W, 3) float32: ``"procedural"`` or a scikit-image photo name, moving camera."""
    if scene == "procedural":
        return procedural_scene(frames, height, width, rng)
    return photo_scene(_photo(scene), frames, height, width, rng)


def render_pair(clean: np.ndarray, params: RainParams,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(clean, rainy) uint8 (T, H, W, 3) RGB, quantised the way ``rainmamba synth`` writes its frames."""
    clean_u8 = to_uint8(clean)
    rainy_u8 = to_uint8(add_rain(clean_u8.astype(np.float32) / 255, params, rng))
    return clean_u8, rainy_u8


# ----------------------------------------------------------------------------------------------------
# the model


@dataclass
class LoadedModel:
    """A network ready to run, with what a report needs to say about it."""

    net: nn.Module
    name: str
    random_weights: bool          # the shipped default was asked for but is missing

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    @property
    def preset(self) -> str:
        return getattr(getattr(self.net, "preset", None), "name", "?")


def load_model(model: Any = None, device: str | torch.device | None = None) -> LoadedModel:
    """Resolve ``model`` like the filters do (None: the shipped default), noting when weights are random."""
    import models
    from models.registry import DEFAULT_MODEL_FILE

    if isinstance(model, nn.Module):
        return LoadedModel(models.resolve_model(model, device=device), type(model).__name__, False)
    default = model is None or str(model) == "default"
    random_weights = default and not DEFAULT_MODEL_FILE.is_file()
    with warnings.catch_warnings():
        if random_weights:  # callers say it louder themselves
            warnings.simplefilter("ignore")
        net = models.resolve_model(model, device=device)
    name = f"shipped default ({DEFAULT_MODEL_FILE.name})" if default and not random_weights else str(model)
    if random_weights:
        name = "RANDOM tiny weights (shipped default missing)"
    return LoadedModel(net, name, random_weights)


# ----------------------------------------------------------------------------------------------------
# scoring


def mean_scores(frames: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """Mean PSNR and SSIM over a clip of 8-bit RGB frames (T, H, W, 3) against its clean frames."""
    if len(frames) != len(clean):
        raise ValueError(f"Cannot score {len(frames)} frames against {len(clean)} clean ones: give one per frame.")
    return {"psnr": float(np.mean([psnr(f, c) for f, c in zip(frames, clean)])),
            "ssim": float(np.mean([ssim(f, c) for f, c in zip(frames, clean)]))}


def _clip_scores(output: np.ndarray, rainy: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """``input_psnr``, ``input_ssim``, ``output_psnr``, ``output_ssim`` of one clip."""
    return {f"{kind}_{name}": value for kind, frames in (("input", rainy), ("output", output))
            for name, value in mean_scores(frames, clean).items()}


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean input/output scores over clips and the gain (output - input)."""
    mean = {key: float(np.mean([r[key] for r in records]))
            for key in ("input_psnr", "input_ssim", "output_psnr", "output_ssim")}
    return {
        "clips": len(records),
        "input": {"psnr": mean["input_psnr"], "ssim": mean["input_ssim"]},
        "output": {"psnr": mean["output_psnr"], "ssim": mean["output_ssim"]},
        "gain": {"psnr": mean["output_psnr"] - mean["input_psnr"],
                 "ssim": mean["output_ssim"] - mean["input_ssim"]},
    }


def _check_sizes(clips: int, frames: int, size: tuple[int, int]) -> None:
    if clips < 1 or frames < 1:
        raise ValueError(f"Need at least 1 clip of 1 frame per set, got {clips} clips of {frames} frames.")
    if min(size) < MIN_SIDE:
        raise ValueError(f"Frame size {size[0]}x{size[1]} is too small: give at least {MIN_SIDE}x{MIN_SIDE}.")


def evaluate_generalisation(model: Any = None, seed: int = DEFAULT_SEED, *, clips: int = 8, frames: int = 10,
                            size: tuple[int, int] = (96, 96), train_params: RainParams | None = None,
                            device: str | torch.device | None = None, progress: bool = False) -> dict[str, Any]:
    """Score ``model`` (None: the shipped default; a preset, path or network) on the three held-out sets.

    Returns a JSON-able dict: ``sets[key]`` holds ``clips``, mean ``input``/``output`` PSNR and SSIM,
    their ``gain`` (output - input) and the same per ``variants[key]``; ``clips`` lists every clip.
    """
    import models

    _check_sizes(clips, frames, size)
    started = time.time()
    device = resolve_device(device)
    loaded = load_model(model, device)
    engine = models.Derainer(loaded.net, mode="fast", device=device)
    sets = held_out_sets(train_params)
    records: list[dict[str, Any]] = []
    with tqdm(total=clips * len(sets), unit="clip", desc="ship-eval", disable=not progress) as bar:
        for set_index, held_out in enumerate(sets):
            for j in range(clips):
                variant = held_out.variants[j % len(held_out.variants)]
                scene = variant.scenes[(j // len(held_out.variants)) % len(variant.scenes)]
                rng = np.random.default_rng([seed, TAG, set_index + 1, j])
                clean, rainy = render_pair(make_scene(scene, frames, *size, rng), variant.params, rng)
                output = engine(np.ascontiguousarray(rainy.transpose(0, 3, 1, 2)))
                scores = _clip_scores(output.transpose(0, 2, 3, 1), rainy, clean)
                records.append({"set": held_out.key, "variant": variant.key, "scene": scene, "clip": j, **scores})
                bar.update()

    report_sets: dict[str, Any] = {}
    for held_out in sets:
        mine = [r for r in records if r["set"] == held_out.key]
        variants = {v.key: {"label": v.label, "params": dataclasses.asdict(v.params),
                            **_summary([r for r in mine if r["variant"] == v.key])}
                    for v in held_out.variants if any(r["variant"] == v.key for r in mine)}
        report_sets[held_out.key] = {"label": held_out.label, **_summary(mine), "variants": variants}
    return {
        "model": loaded.name, "preset": loaded.preset, "parameters": loaded.parameters,
        "random_weights": loaded.random_weights, "mode": "fast", "device": str(engine.device),
        "seed": seed, "clips_per_set": clips, "frames": frames, "size": list(size),
        "train_params": dataclasses.asdict(train_params or RainParams()),
        "metrics": "RGB PSNR (dB) and MATLAB-style SSIM of 8-bit frames vs the clean frames, "
                   "mean per clip then over clips; gain = derained - rainy",
        "sets": report_sets, "clips": records, "seconds": round(time.time() - started, 1),
    }


# ----------------------------------------------------------------------------------------------------
# reporting


def _cells(summary: dict[str, Any]) -> str:
    inp, out, gain = summary["input"], summary["output"], summary["gain"]
    return (f"{summary['clips']} | {inp['psnr']:.2f} / {inp['ssim']:.4f} | {out['psnr']:.2f} / {out['ssim']:.4f} | "
            f"{gain['psnr']:+.2f} / {gain['ssim']:+.4f}")


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a markdown table (one row per set, one indented row per rain setting) plus notes."""
    h, w = report["size"]
    lines = [
        f"| held-out set (seed {report['seed']}, clips of {report['frames']}x{h}x{w}) | clips | "
        "rainy PSNR / SSIM | derained PSNR / SSIM | gain PSNR / SSIM |",
        "|---|---:|---:|---:|---:|",
    ]
    for summary in report["sets"].values():
        lines.append(f"| **{summary['label']}** | {_cells(summary)} |")
        if len(summary["variants"]) > 1:
            lines += [f"| &nbsp;&nbsp;· {v['label']} | {_cells(v)} |" for v in summary["variants"].values()]
    lines += [
        "",
        f"Model: {report['model']} (preset `{report['preset']}`, {report['parameters']:,} parameters), "
        f"`models.Derainer` fast mode on {report['device']}, {report['seconds']:.0f} s. "
        f"Metrics: {report['metrics']}.",
    ]
    if report["random_weights"]:
        lines.append("**WARNING: random weights: these numbers say nothing about the shipped model.**")
    return "\n".join(lines)


def read_train_params(path: str | os.PathLike) -> RainParams:
    """The ``RainParams`` a synthetic training set was made with, from its ``synth.json`` (or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "synth.json"
    try:
        record = json.loads(path.read_text())
        params = record["params"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"Cannot read rain settings from {path} ({err}): give the synth.json that "
                         "`rainmamba synth` wrote next to the training data.") from None
    fields = {f.name for f in dataclasses.fields(RainParams)}
    return RainParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items() if k in fields})


@click.command("ship-eval", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", default=None, metavar="MODEL",
              help="Checkpoint path or preset name. Default: the shipped default model.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the full report (every clip) as JSON here.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seed of the held-out clips (disjoint from any training seed by construction).")
@click.option("--clips", type=click.IntRange(min=1), default=8, show_default=True, help="Clips per set.")
@click.option("--frames", "-t", type=click.IntRange(min=1), default=10, show_default=True, help="Frames per clip.")
@click.option("--size", type=SizeParam(), default="96x96", show_default=True, help="Frame size HEIGHTxWIDTH.")
@click.option("--train-synth", type=click.Path(exists=True), default=None,
              help="The training set's synth.json (or its folder): its rain ranges define in-distribution "
                   "and unseen. Default: RainParams() defaults.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N. Default: a GPU when there is one.")
@click.option("--quick", is_flag=True, help="A few seconds' smoke run: 2 clips of 5x64x64 per set.")
def ship_eval_command(model: str | None, json_path: str | None, seed: int, clips: int, frames: int,
                      size: tuple[int, int], train_synth: str | None, device: str | None, quick: bool) -> None:
    """Score a model on held-out synthetic rain: in-distribution, unseen rain settings, photo scenes.

    Prints a markdown table for the model card and README. The default run takes about 2-3 minutes
    on 2 CPU cores with the tiny preset.
    """
    if quick:
        clips, frames, size = QUICK["clips"], QUICK["frames"], QUICK["size"]
    try:
        params = read_train_params(train_synth) if train_synth else None
        report = evaluate_generalisation(model, seed, clips=clips, frames=frames, size=size, train_params=params,
                                         device=device, progress=True)
    except (ValueError, OSError, ImportError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
    if report["random_weights"]:
        click.secho("WARNING: the shipped default weights are missing: evaluating RANDOM weights.", err=True,
                    fg="red", bold=True)
    click.echo(markdown_table(report))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report, indent=2))
        click.echo(f"\nFull report: {json_path}")
