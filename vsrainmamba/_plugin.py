"""Make ``core.rainmamba`` available: find the compiled native plugin and load it when needed.

A regular install puts the plugin where VapourSynth autoloads it (``site-packages/vapoursynth/plugins/
rainmamba/``). An editable install or a source checkout keeps it in ``vsrainmamba/plugin/``: ``import
vsrainmamba`` loads it from there, and scripts that do not import the package find it when that folder
is on ``VAPOURSYNTH_EXTRA_PLUGIN_PATH``.
"""
from __future__ import annotations

from pathlib import Path

import vapoursynth as vs

NAMESPACE = "rainmamba"
PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"
_LIBRARY_SUFFIXES = (".so", ".dylib", ".dll")


def is_registered(core: vs.Core | None = None) -> bool:
    """True when ``core`` (default: the current core) has the ``rainmamba`` namespace."""
    core = core or vs.core
    return any(plugin.namespace == NAMESPACE for plugin in core.plugins())


def package_plugin() -> Path | None:
    """The plugin built into the package folder (editable installs, source checkouts), if any."""
    if not PLUGIN_DIR.is_dir():
        return None
    found = sorted(p for p in PLUGIN_DIR.iterdir() if p.suffix in _LIBRARY_SUFFIXES and p.is_file())
    return found[0] if found else None


def load_plugin(core: vs.Core | None = None) -> bool:
    """Register ``core.rainmamba`` in ``core`` if it is not there yet; False when no built plugin exists."""
    core = core or vs.core
    if is_registered(core):
        return True
    path = package_plugin()
    if path is None:
        return False
    core.std.LoadPlugin(str(path))
    return True
