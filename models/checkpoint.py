"""Reading and writing RainMamba weights: the authors' ``.pth`` files and the project's safetensors format.

Every file is untrusted input. ``.pth`` files are read with ``torch.load(weights_only=True)`` so nothing in
them can run; our own files are safetensors with a JSON metadata entry (preset, architecture, provenance),
which need no pickle at all. Loading is strict: a mismatch names the tensors that differ, and a NaN or
infinite value (a diverged training run's weights) names the first tensor holding one.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .atomic import write_atomic
from .network import RainMamba, build
from .presets import PRESETS, Architecture, Preset, TestProtocol, TrainingRecipe, get_preset

FORMAT_NAME = "vsrainmamba"
FORMAT_VERSION = "1"
_SAFETENSORS_SUFFIXES = (".safetensors", ".st")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked: ``problem`` says what is wrong, ``hint`` what to do.

    The problem is a sentence and so is the hint. ``presets`` lists the presets the tensors fit when choosing one would fix it. Callers that know the
    user's own terms (a command's options, a function's arguments) replace the hint with :meth:`with_hint`,
    so a message never names an option that the command printing it lacks.
    """

    def __init__(self, problem: str, hint: str = "", presets: tuple[str, ...] = ()) -> None:
        self.problem, self.hint, self.presets = problem, hint, presets
        super().__init__(f"{problem} {hint}".strip())

    def with_hint(self, hint: str) -> "CheckpointError":
        """The same error with the caller's remedy."""
        err = copy.copy(self)
        err.hint, err.args = hint, (f"{self.problem} {hint}".strip(),)
        return err


FORMAT_NEWER = ("Checkpoint {path} was written by a newer vsrainmamba (format version {found}; this one reads "
                "version {ours}): upgrade vsrainmamba (`pip install -U vsrainmamba`) to load it.")


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint read from disk: generator tensors (no prefixes) and whatever metadata came with them."""

    state_dict: dict[str, Tensor]
    source_format: str                      # "project" | "mmcv" | "state_dict" | "train_state"
    preset: Preset | None = None            # known from the project metadata, else None
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    config_text: str = ""                   # the authors' config (meta['config']), when present


# ---------------------------------------------------------------------------------------------- reading
def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read any supported checkpoint file without building a network (messages show ``path`` as given)."""
    shown = os.fspath(path)
    if not shown:
        raise CheckpointError("No checkpoint given (the model path is empty): give the path of a "
                              ".safetensors or .pth file, or a preset name.")
    path = Path(shown)
    if path.is_dir():
        raise CheckpointError(f"Checkpoint {shown} is a folder: give the path of a .safetensors or .pth file "
                              "inside it.")
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {shown} does not exist: check the path, or run `rainmamba models list`.")
    try:
        if path.stat().st_size == 0:
            raise CheckpointError(f"Checkpoint {shown} is empty: download or export it again.")
        if path.suffix.lower() in _SAFETENSORS_SUFFIXES or _looks_like_safetensors(path):
            return _read_project(path, shown)
    except PermissionError:
        raise CheckpointError(f"Cannot read checkpoint {shown}: permission denied.") from None
    return _read_torch(path, shown)


def _looks_like_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and int.from_bytes(head[:8], "little") < (1 << 30) and head[8:9] == b"{"


def _read_project(path: Path, shown: str) -> Checkpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"Checkpoint {shown} is truncated or corrupt ({err}): download or export it "
                              "again.") from None
    _check_format_version(metadata, shown)
    preset = None
    if "architecture" in metadata:
        preset = preset_from_metadata(*(json.loads(metadata[key]) if key in metadata else None
                                        for key in ("architecture", "window", "recipe")))
    elif "preset" in metadata:
        preset = get_preset(metadata["preset"])
    provenance = json.loads(metadata.get("provenance", "{}"))
    fmt = "project" if metadata.get("format") == FORMAT_NAME else "state_dict"
    return Checkpoint(_strip_prefixes(tensors), fmt, preset, provenance)


def _check_format_version(metadata: Mapping[str, str], shown: str) -> None:
    """Refuse a project file of a format version this code does not know (written by a newer release)."""
    if metadata.get("format") != FORMAT_NAME:
        return
    found = metadata.get("format_version", FORMAT_VERSION)
    if found == FORMAT_VERSION:
        return
    if found.isdigit() and int(found) > int(FORMAT_VERSION):
        raise CheckpointError(FORMAT_NEWER.format(path=shown, found=found, ours=FORMAT_VERSION))
    raise CheckpointError(f"Checkpoint {shown} has an unknown format version {found!r} (this vsrainmamba reads "
                          f"version {FORMAT_VERSION}): export or import it again.")


def _read_torch(path: Path, shown: str) -> Checkpoint:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except PermissionError:
        raise CheckpointError(f"Cannot read checkpoint {shown}: permission denied.") from None
    except Exception as err:  # torch raises many kinds (UnpicklingError, RuntimeError, EOFError, ...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "Unsupported global" in str(err):
            reason = "it contains Python objects other than tensors, which are not loaded for safety"
        else:
            reason = f"it is truncated or corrupt, or not a PyTorch file ({first_line.split('. ')[0][:160]})"
        raise CheckpointError(f"Cannot read checkpoint {shown}: {reason}. Use the authors' released .pth or a "
                              "file written by `rainmamba train` / `rainmamba models import`.") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"Checkpoint {shown} holds a {type(obj).__name__}, not a state_dict.")
    meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
    preset = None
    if "iteration" in obj and isinstance(obj.get("model"), Mapping):  # a `rainmamba train` checkpoint
        tensors, fmt = obj["model"], "train_state"
        config = obj.get("config") if isinstance(obj.get("config"), Mapping) else {}
        preset = PRESETS.get(config.get("preset")) if isinstance(config.get("preset"), str) else None
        meta = {"iter": obj["iteration"]} if isinstance(obj["iteration"], int) else {}
    elif "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        tensors, fmt = obj["state_dict"], "mmcv"
    elif "generator_state_dict" in obj and isinstance(obj["generator_state_dict"], Mapping):
        tensors, fmt = obj["generator_state_dict"], "state_dict"
    else:
        tensors, fmt = obj, "state_dict"
    tensors = {k: v for k, v in tensors.items() if isinstance(v, Tensor)}
    if not tensors:
        raise CheckpointError(f"Checkpoint {shown} contains no tensors.")
    config = meta.get("config", "") if isinstance(meta.get("config", ""), str) else ""
    provenance = {"source_file": path.name, "format": fmt}
    for key in ("iter", "epoch", "exp_name", "mmedit_version", "time"):
        if key in meta and isinstance(meta[key], (str, int, float)):
            provenance[f"meta.{key}"] = meta[key]
    return Checkpoint(_strip_prefixes(tensors), fmt, preset, provenance, config)


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
    shapes = {k: tuple(v.shape) for k, v in ckpt.state_dict.items()}
    candidates = ([n for n in PRESETS if _fits(n, shapes)]
                  or [n for n, p in PRESETS.items() if p.arch.num_features == channels] or list(PRESETS))
    raise CheckpointError(
        f"Cannot tell which preset this checkpoint is for (C={channels}; it could be {', '.join(candidates)}).",
        f"Pass preset='{candidates[0]}' (the preset the weights were trained with).", presets=tuple(candidates))


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
    known = PRESETS.get(name)
    window_fields = _fields(TestProtocol, window or architecture)
    if known is not None and known.arch == arch:   # files older than a field take the registered preset's value
        window_fields.setdefault("fast_whole_frames", known.protocol.fast_whole_frames)
    protocol = TestProtocol(**window_fields)
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
    hint = (f"The tensors fit the preset {' / '.join(fits)}: pass preset='{fits[0]}'." if fits else
            "Is it a RainMamba checkpoint? Use the authors' released .pth or a file from `rainmamba train`.")
    raise CheckpointError(f"Checkpoint does not match preset '{preset.name}': {'; '.join(problems)}.", hint,
                          presets=tuple(fits))


def non_finite_tensors(state_dict: Mapping[str, Tensor]) -> list[str]:
    """Names of the floating-point tensors holding a NaN or an infinity, in order."""
    return [k for k, v in state_dict.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite(state_dict: Mapping[str, Tensor], shown: str | os.PathLike = "") -> None:
    """Raise a CheckpointError naming the first tensor holding a NaN or an infinity (and how many do)."""
    bad = non_finite_tensors(state_dict)
    if not bad:
        return
    first = state_dict[bad[0]]
    kinds = " and ".join(k for k, f in (("NaN", torch.isnan), ("infinite", torch.isinf)) if bool(f(first).any()))
    where = f"Checkpoint {os.fspath(shown)}" if os.fspath(shown) else "The checkpoint"
    more = f" ({len(bad) - 1} more tensors too)" if len(bad) > 1 else ""
    raise CheckpointError(f"{where} holds {kinds} values in {bad[0]}{more}, so its output would be garbage "
                          "(weights of a diverged training run?).",
                          "Use another file, e.g. an earlier checkpoint of the run.")


def check_loadable(ckpt: Checkpoint, preset: Preset, shown: str | os.PathLike = "") -> None:
    """Everything a strict load checks, without building real tensors: names, shapes, finite values."""
    with torch.device("meta"):
        net = build(preset)
    check_state_dict(net, ckpt.state_dict, preset)
    check_finite(ckpt.state_dict, shown)


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
    check_loadable(ckpt, chosen, path)
    with torch.device("meta"):
        net = build(chosen)
    net.load_state_dict(ckpt.state_dict, strict=True, assign=True)
    net.provenance = ckpt.provenance
    return net.to(device or "cpu").float().eval()


# ---------------------------------------------------------------------------------------------- writing
def save_checkpoint(net: RainMamba, path: str | os.PathLike, provenance: Mapping[str, Any] | None = None,
                    dtype: torch.dtype = torch.float32) -> Path:
    """Write ``net`` in the project format (safetensors + JSON metadata), atomically.

    ``provenance`` records where the weights came from (training run, data, iterations, metrics, source file);
    ``dtype=torch.float16`` halves the file for shipping (loading converts back to float32). A disk that
    refuses the file raises :class:`~models.atomic.WriteError` and leaves any earlier file at ``path``.
    """
    from safetensors.torch import save

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
    return write_atomic(path, save(tensors, metadata=metadata))
