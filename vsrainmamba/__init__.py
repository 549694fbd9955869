"""RainMamba video deraining for VapourSynth.

In any ``.vpy`` script, no import needed once the package is installed::

    clip = core.rainmamba.Derain(clip, model="vrds")

or from Python, with the same arguments (``model`` may also be an ``nn.Module`` there)::

    import vsrainmamba
    clip = vsrainmamba.derain(clip, model="vrds")

Importing the package registers ``core.rainmamba`` in the current core when the plugin was built into
the package folder (editable installs and source checkouts: ``python -m vsrainmamba.build``).
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from ._plugin import is_registered, load_plugin, package_plugin

if TYPE_CHECKING:
    from .filter import derain

__all__ = ["derain", "is_registered", "load_plugin", "package_plugin"]


def __getattr__(name: str):
    # Lazy: `python -m vsrainmamba.build` and plugin loading must not need torch.
    if name == "derain":
        from .filter import derain

        return derain
    raise AttributeError(f"module 'vsrainmamba' has no attribute {name!r}")


try:
    load_plugin()
except Exception as _error:  # a broken plugin file must not make the Python API unusable
    warnings.warn(f"Could not load the rainmamba VapourSynth plugin: {_error}", stacklevel=2)
