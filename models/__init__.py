"""The RainMamba core: presets, network, Hilbert curves, scan backends, checkpoints and the video engine.

    import models
    net = models.load("VRDS.pth")                 # the authors' weights, CPU or GPU
    derain = models.Derainer(net, mode="official")
    clean = derain(rainy_frames)                  # (N, 3, H, W) in, (N, 3, H, W) out
"""
from .checkpoint import CheckpointError, load, read_checkpoint, save_checkpoint
from .hilbert import hilbert_curve
from .network import RainMamba, build
from .presets import OFFICIAL_PRESETS, PRESETS, Preset, get_preset
from .registry import import_official, installed_weights, model_dir, resolve_model

from .engine import Derainer
from .options import EngineOptions, OptionError
from .plan import Window, combine, windows_covering

__all__ = [
    "CheckpointError", "Derainer", "EngineOptions", "OptionError", "Window", "combine", "windows_covering", "OFFICIAL_PRESETS", "PRESETS", "Preset", "RainMamba", "build", "get_preset",
    "hilbert_curve", "import_official", "installed_weights", "load", "model_dir", "read_checkpoint",
    "resolve_model", "save_checkpoint",
]
