"""Where weights live and how a ``model=`` argument becomes a network.

Three places: the default model shipped inside the package (``models/weights/``), the user's model directory
(``$RAINMAMBA_HOME``, else ``$XDG_DATA_HOME/rainmamba/models``, else ``~/.local/share/rainmamba/models``) where
``rainmamba models import`` installs converted official weights as ``<preset>.safetensors``, and any path.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .checkpoint import CheckpointError, load, read_checkpoint, save_checkpoint
from .presets import PRESETS, Preset, get_preset

SHIPPED_DIR = Path(__file__).with_name("weights")
DEFAULT_MODEL_FILE = SHIPPED_DIR / "rainmamba_lite_synthetic.safetensors"


def model_dir() -> Path:
    """The user's model directory (created on demand by ``import``)."""
    if os.environ.get("RAINMAMBA_HOME"):
        return Path(os.environ["RAINMAMBA_HOME"]).expanduser()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "rainmamba" / "models"


def installed_weights() -> dict[str, Path]:
    """Preset name -> installed weights file, for every preset with weights in the user's model directory."""
    folder = model_dir()
    return {name: folder / f"{name}.safetensors" for name in PRESETS if (folder / f"{name}.safetensors").is_file()}


def import_official(path: str | os.PathLike, preset: str | None = None) -> Path:
    """Convert an official (or any supported) checkpoint to the project format and install it under its preset.

    The file is checked fully (names, shapes, finite values) before anything is written; the install is
    atomic, so a refused write (:class:`~models.atomic.WriteError`) keeps the model installed before.
    """
    net = load(path, preset=preset)
    provenance = dict(net.provenance, imported_from=str(Path(path).resolve()))
    return save_checkpoint(net, model_dir() / f"{net.preset.name}.safetensors", provenance)


def how_to_get(preset: Preset) -> str:
    """One sentence: where to download ``preset``'s released weights and how to install them."""
    if preset.weights is None:
        message = f"The '{preset.name}' preset has no released weights: train them with `rainmamba train`."
        if default_model_preset() == preset.name:
            message += (f" The shipped default model is a trained '{preset.name}' network: give no model (or "
                        "'default') to use it.")
        return message
    source = preset.weights
    fetch = f"Run `rainmamba models download {preset.name}`, or download" if source.drive_id else "Download"
    return (f"{fetch} {source.file} from {source.view_url} (listed on {source.page}), then run "
            f"`rainmamba models import {source.file} --preset {preset.name}`.")


def default_model_preset() -> str | None:
    """The preset of the shipped default model (None when this install lacks it)."""
    if not DEFAULT_MODEL_FILE.is_file():
        return None
    preset = read_checkpoint(DEFAULT_MODEL_FILE).preset
    return preset.name if preset is not None else None


def resolve_model(model: "str | os.PathLike | nn.Module | None" = None,
                  device: str | torch.device | None = None) -> nn.Module:
    """Turn a ``model=`` argument into a network in eval mode.

    ``None`` or ``"default"``: the shipped default model (a clear error when this install lacks it: never a
    network with random weights). A preset name: its installed weights (a clear error says how to get and
    import them when missing). A path: that checkpoint. An ``nn.Module``: used as is. The global RNG is never
    touched: networks are built on the meta device and take the file's tensors.
    """
    if isinstance(model, nn.Module):
        return model.to(device).eval() if device is not None else model.eval()
    if model is None or str(model) == "default":
        if not DEFAULT_MODEL_FILE.is_file():
            raise FileNotFoundError(
                f"The shipped default weights are missing from this install (looked for {DEFAULT_MODEL_FILE}): "
                "reinstall vsrainmamba (pip install --force-reinstall vsrainmamba), or pass a model: a preset "
                "with installed weights (`rainmamba models list`) or a checkpoint file.")
        return load(DEFAULT_MODEL_FILE, device=device)
    text = str(model)
    if text.lower() in PRESETS and not Path(text).exists():
        preset = get_preset(text)
        path = model_dir() / f"{preset.name}.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"No weights installed for preset '{preset.name}' (looked for {path}). "
                                    + how_to_get(preset))
        return load(path, device=device)
    try:
        return load(text, device=device)
    except CheckpointError as err:
        if not err.presets:
            raise
        # derain, evaluate and Derain(model=) take no preset: the way to choose one is to import the file
        raise err.with_hint(f"Install it under its preset with `rainmamba models import {text} --preset "
                            f"{err.presets[0]}`, then give the preset's name as the model.") from None
