"""Reading and writing RainMamba weights: the authors' ``.pth`` files and the project's safetensors format.

Every file is untrusted input. ``.pth`` files are read with ``torch.load(weights_only=True)`` so nothing in
them can run; our own files are safetensors with a JSON metadata entry (preset, architecture, provenance),
which need no pickle at all. Loading is strict, and a mismatch names the tensors that differ.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .network import RainMamba, build
from .presets import PRESETS, Architecture, Preset, TestProtocol, TrainingRecipe, get_preset

FORMAT_NAME = "vsrainmamba"
FORMAT_VERSION = "1"
_SAFETENSORS_SUFFIXES = (".safetensors", ".st")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says what differs and what to do."""


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint read from disk: generator tensors (no prefixes) and whatever metadata came with them."""

    state_dict: dict[str, Tensor]
    source_format: str                      # "project" | "mmcv" | "state_dict"
    preset: Preset | None = None            # known from the project metadata, else None
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    config_text: str = ""                   # the authors' config (meta['config']), when present


# ---------------------------------------------------------------------------------------------- reading
def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read any supported checkpoint file without building a network."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist: check the path, or run `rainmamba models list`.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"Checkpoint {path} is empty: download or export it again.")
    if path.suffix.lower() in _SAFETENSORS_SUFFIXES or _looks_like_safetensors(path):
        return _read_project(path)
    return _read_torch(path)


def _looks_like_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and int.from_bytes(head[:8], "little") < (1 << 30) and head[8:9] == b"{"


def _read_project(path: Path) -> Checkpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"Checkpoint {path} is truncated or corrupt ({err}): download or export it "
                              "again.") from None
    preset = None
    if "architecture" in metadata:
        preset = preset_from_metadata(*(json.loads(metadata[key]) if key in metadata else None
                                        for key in ("architecture", "window", "recipe")))
    elif "preset" in metadata:
        preset = get_preset(metadata["preset"])
    provenance = json.loads(metadata.get("provenance", "{}"))
    fmt = "project" if metadata.get("format") == FORMAT_NAME else "state_dict"
    return Checkpoint(_strip_prefixes(tensors), fmt, preset, provenance)


def _read_torch(path: Path) -> Checkpoint:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds (UnpicklingError, RuntimeError, EOFError, ...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            reason = "it contains Python objects other than tensors, which are not loaded for safety"
        else:
            reason = f"it is truncated or corrupt, or not a PyTorch file ({first_line.split('. ')[0][:160]})"
        raise CheckpointError(f"Cannot read checkpoint {path}: {reason}. Use the authors' released .pth or a "
                              "file written by `rainmamba train` / `rainmamba models import`.") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"Checkpoint {path} holds a {type(obj).__name__}, not a state_dict.")
    meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        tensors, fmt = obj["state_dict"], "mmcv"
    elif "generator_state_dict" in obj and isinstance(obj["generator_state_dict"], Mapping):
        tensors, fmt = obj["generator_state_dict"], "state_dict"
    else:
        tensors, fmt = obj, "state_dict"
    tensors = {k: v for k, v in tensors.items() if isinstance(v, Tensor)}
    if not tensors:
        raise CheckpointError(f"Checkpoint {path} contains no tensors.")
    config = meta.get("config", "") if isinstance(meta.get("config", ""), str) else ""
    provenance = {"source_file": path.name, "format": fmt}
    for key in ("iter", "epoch", "exp_name", "mmedit_version", "time"):
        if key in meta and isinstance(meta[key], (str, int, float)):
            provenance[f"meta.{key}"] = meta[key]
    return Checkpoint(_strip_prefixes(tensors), fmt, None, provenance, config)


def _strip_prefixes(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop ``module.`` and ``generator.`` prefixes; when a ``generator.`` prefix exists, drop everything else
    (the losses' frozen VGG tensors, ``step_counter``)."""
    names = {k[len("module."):] if k.startswith("module.") else k: v for k, v in tensors.items()}
    if any(k.startswith("generator.") for k in names):
        return {k[len("generator."):]: v for k, v in names.items() if k.startswith("generator.")}
    return dict(names)


# ----------------------------------------------------------------------------------- preset inference
_CONFIG_HINTS = (  # (regex on the authors' config text, preset)
    (r"rainsynall100|RainSynAll", "rainsynall100"),
    (r"RainVID|rainvidss|CamVid|Cam-Vid", "rainvidss"),
    (r"LWDDS|Waterdrop|waterdrop", "lwdds"),
    (r"VRDS", "vrds"),
)


def infer_preset(ckpt: Checkpoint, preset: str | Preset | None = None) -> Preset:
    """The preset for ``ckpt``: the argument, else the project metadata, else the authors' config, else C."""
    if preset is not None:
        return get_preset(preset)
    if ckpt.preset is not None:
        return ckpt.preset
    for pattern, name in _CONFIG_HINTS:
        if ckpt.config_text and re.search(pattern, ckpt.config_text):
            return PRESETS[name]
    channels = _channels(ckpt.state_dict)
    if channels == 64:
        return PRESETS["rainsynall100"]
    candidates = [n for n, p in PRESETS.items() if p.arch.num_features == channels] or list(PRESETS)
    raise CheckpointError(
        f"Cannot tell which preset this checkpoint is for (C={channels}; it could be {', '.join(candidates)}): "
        "pass preset=..., e.g. models.load(path, preset='vrds') or `--preset vrds`.")


def _channels(state_dict: Mapping[str, Tensor]) -> int | None:
    weight = state_dict.get("head.lateral_convs.0.conv.weight")
    return int(weight.shape[0]) if weight is not None else None


def _fields(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names}


def preset_from_metadata(architecture: Mapping[str, Any], window: Mapping[str, Any] | None = None,
                         recipe: Mapping[str, Any] | None = None) -> Preset:
    """Rebuild a Preset from a project checkpoint's metadata: a registered preset when the architecture
    and window match it, else a custom one.

    Files written before presets were split kept everything in one flat ``architecture`` entry (its
    recipe under other names); their architecture and window are read from it, the recipe from the
    registered preset of that name.
    """
    name = str(architecture.get("name", "custom"))
    arch = Architecture(**_fields(Architecture, architecture))
    protocol = TestProtocol(**_fields(TestProtocol, window or architecture))
    known = PRESETS.get(name)
    if known is not None and (known.arch, known.protocol) == (arch, protocol):
        return known
    if recipe is not None:
        training = TrainingRecipe(**_fields(TrainingRecipe, recipe))
    else:
        training = known.recipe if known is not None else TrainingRecipe()
    return Preset(name, arch, protocol, training)


# ------------------------------------------------------------------------------------ strict loading
def check_state_dict(net: nn.Module, state_dict: Mapping[str, Tensor], preset: Preset) -> None:
    """Raise a CheckpointError naming every missing, unexpected or mis-shaped tensor (first few, and counts)."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [f"{k}: file {got[k]} vs {preset.name} {expected[k]}" for k in expected if k in got and got[k] != expected[k]]
    if not (missing or unexpected or shapes):
        return
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    fits = [name for name in PRESETS if name != preset.name and _fits(name, got)]
    hint = (f" The tensors fit the preset {' / '.join(fits)}: pass preset='{fits[0]}'." if fits else
            " Is it a RainMamba checkpoint? Use the authors' released .pth or a file from `rainmamba train`.")
    raise CheckpointError(f"Checkpoint does not match preset '{preset.name}': {'; '.join(problems)}.{hint}")


def _expected_shapes(name: str) -> dict[str, tuple[int, ...]]:
    if name not in _SHAPES:
        with torch.device("meta"):
            _SHAPES[name] = {k: tuple(v.shape) for k, v in build(name).state_dict().items()}
    return _SHAPES[name]


_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {}


def _fits(name: str, shapes: Mapping[str, tuple[int, ...]]) -> bool:
    return _expected_shapes(name) == dict(shapes)


def load(path: str | os.PathLike, preset: str | Preset | None = None,
         device: str | torch.device | None = None) -> RainMamba:
    """Load a checkpoint (official mmcv ``.pth``, bare state_dict, or project ``.safetensors``) ready to run.

    The preset comes from ``preset``, the file's own metadata, or the authors' config text; a C=64 network is
    ``rainsynall100``. Loading is strict. Returns the network in eval mode on ``device`` (default CPU).
    """
    ckpt = read_checkpoint(path)
    chosen = infer_preset(ckpt, preset)
    with torch.device("meta"):
        net = build(chosen)
    check_state_dict(net, ckpt.state_dict, chosen)
    net.load_state_dict(ckpt.state_dict, strict=True, assign=True)
    net.provenance = ckpt.provenance
    return net.to(device or "cpu").float().eval()


# ---------------------------------------------------------------------------------------------- writing
def save_checkpoint(net: RainMamba, path: str | os.PathLike, provenance: Mapping[str, Any] | None = None,
                    dtype: torch.dtype = torch.float32) -> Path:
    """Write ``net`` in the project format (safetensors + JSON metadata), atomically.

    ``provenance`` records where the weights came from (training run, data, iterations, metrics, source file);
    ``dtype=torch.float16`` halves the file for shipping (loading converts back to float32).
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    preset: Preset = net.preset
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in net.state_dict().items()}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "preset": preset.name,
        "architecture": json.dumps({"name": preset.name, **dataclasses.asdict(preset.arch)}),
        "window": json.dumps(dataclasses.asdict(preset.protocol)),
        "recipe": json.dumps(dataclasses.asdict(preset.recipe)),
        "provenance": json.dumps(dict(provenance or {}), default=str),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
