"""The training recipe: the preset's values, then a config file, then command-line overrides.

Every knob of a run lives in one flat :class:`TrainConfig`. Defaults that depend on the preset (crop, lr,
batch, frames, iterations, warm-up, DCLL sampling) start as ``None`` and are filled from the preset's
``TrainingRecipe`` by :func:`resolve`, so a config file or option only has to name what it changes. Config files are TOML, JSON
or YAML (YAML only when PyYAML is installed) with the same keys as the options (``-`` or ``_``).
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class TrainConfig:
    """One training run. ``None`` means "the preset's value" until :func:`resolve` fills it in."""

    preset: str | None = None
    data: str | None = None
    layout: str = "generic"
    split: str = "train"
    rainy_dir: str | None = None
    clean_dir: str | None = None
    out: str | None = None
    # recipe (docs/NETWORK.md, "Training recipe" and "Training loss")
    iterations: int | None = None
    batch_size: int | None = None          # per process (per GPU)
    frames: int | None = None
    crop: int | None = None
    lr: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_iterations: int | None = None
    warmup_ratio: float = 1e-6
    poly_power: float = 1.0
    min_lr: float = 1e-9
    charbonnier_weight: float = 1.0
    charbonnier_eps: float = 1e-12
    perceptual_weight: float = 0.3
    dcll_weight: float = 0.1
    dcll_samples: int | None = None        # per frame; divided by the batch size when the preset says so
    dcll_negative_distance: tuple[int, int] | None = None
    dcll_patch: int = 16
    dcll_max_positive: int = 12
    augment: bool = True
    repeat: int | None = None              # dataset repetitions per epoch; None: enough for >= 200 batches
    num_workers: int | None = None
    seed: int = 0
    # weights
    init: str | None = None
    encoder_init: str | None = None
    vgg16_weights: str | None = None
    vgg19_weights: str | None = None
    require_vgg: bool = False
    # machinery
    device: str = "auto"
    amp: str = "auto"
    clip_grad: float | None = None
    max_bad_steps: int = 20                # non-finite steps in a row that stop the run as diverged
    checkpoint_every: int = 5000
    keep_last: int = 3
    log_every: int = 1
    val_data: str | None = None
    val_layout: str | None = None
    val_every: int = 0
    threads: int | None = None
    tensorboard: bool = True
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists), for checkpoints and provenance."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
_TUPLE_FIELDS = {"betas": float, "dcll_negative_distance": int}


def _normalise_keys(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in FIELDS:
            raise ValueError(f"{source}: unknown setting {key!r}; known settings are {', '.join(sorted(FIELDS))}.")
        if name in _TUPLE_FIELDS and value is not None:
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ValueError(f"{source}: {key} must be a pair of numbers, got {value!r}.")
            value = tuple(_TUPLE_FIELDS[name](v) for v in value)
        out[name] = value
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML/JSON/YAML file (a ``[train]`` table/section is used when present)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Config file {path} does not exist; give the path of a .toml, .json or .yaml file.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            values = tomllib.loads(path.read_text())
        elif suffix == ".json":
            values = json.loads(path.read_text())
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ValueError(f"{path} is YAML but PyYAML is not installed: `pip install pyyaml`, or use "
                                 "TOML or JSON.") from None
            values = yaml.safe_load(path.read_text()) or {}
        else:
            raise ValueError(f"Config file {path} must end in .toml, .json, .yaml or .yml.")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Config file {path} is not valid {suffix[1:].upper()}: {exc}") from None
    if isinstance(values, dict) and isinstance(values.get("train"), dict):
        values = values["train"]
    if not isinstance(values, dict):
        raise ValueError(f"Config file {path} must hold a table of settings.")
    return _normalise_keys(values, str(path))


def build_config(file: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                 base: TrainConfig | Mapping[str, Any] | None = None) -> TrainConfig:
    """``base`` (a saved config or defaults) < config ``file`` < ``overrides`` (None values are ignored)."""
    values = dataclasses.asdict(base) if isinstance(base, TrainConfig) else dict(base or {})
    values = _normalise_keys(values, "saved config")
    if file:
        values.update(load_config_file(file))
    values.update(_normalise_keys({k: v for k, v in (overrides or {}).items() if v is not None}, "option"))
    return TrainConfig(**values)


def resolve(config: TrainConfig, world_size: int = 1, num_pairs: int | None = None) -> TrainConfig:
    """Fill every preset-dependent ``None`` and check the values; returns a new config."""
    from models import get_preset

    preset = get_preset(config.preset)
    recipe = preset.recipe
    # The recipe's fields carry TrainConfig's names: every one the run leaves at None comes from it.
    unset = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)
             if f.name in FIELDS and getattr(config, f.name) is None}
    filled = dataclasses.replace(config, preset=preset.name, **unset)
    if "dcll_samples" in unset:
        samples = recipe.dcll_samples
        if recipe.dcll_samples_per_batch:
            samples = int(samples / max(1, filled.batch_size))
        filled.dcll_samples = max(1, samples)
    if filled.repeat is None and num_pairs:
        per_epoch = num_pairs // max(1, filled.batch_size * world_size)
        filled.repeat = max(1, -(-200 // max(per_epoch, 1)))
    _validate(filled)
    return filled


def _validate(c: TrainConfig) -> None:
    positive = {"iterations": c.iterations, "batch_size": c.batch_size, "frames": c.frames, "crop": c.crop,
                "dcll_samples": c.dcll_samples, "dcll_patch": c.dcll_patch, "checkpoint_every": c.checkpoint_every,
                "keep_last": c.keep_last, "log_every": c.log_every, "max_bad_steps": c.max_bad_steps}
    for name, value in positive.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name.replace('_', '-')} must be a positive whole number, got {value!r}.")
    if c.crop % 8:
        raise ValueError(f"crop must be a multiple of 8 (the network halves the frame three times), got {c.crop}.")
    if not c.lr > 0:
        raise ValueError(f"lr must be positive, got {c.lr}.")
    if c.warmup_iterations < 0 or c.val_every < 0:
        raise ValueError("warmup-iterations and val-every cannot be negative.")
    if c.amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {c.amp!r}.")
    if c.clip_grad is not None and not c.clip_grad > 0:
        raise ValueError(f"clip-grad must be positive (or left unset), got {c.clip_grad}.")
    for name in ("charbonnier_weight", "perceptual_weight", "dcll_weight"):
        if getattr(c, name) < 0:
            raise ValueError(f"{name.replace('_', '-')} cannot be negative.")
