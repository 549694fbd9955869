"""The RainMamba core: presets, network, Hilbert curves, scan backends, checkpoints and the video engine."""
from .presets import PRESETS, OFFICIAL_PRESETS, Preset, get_preset
