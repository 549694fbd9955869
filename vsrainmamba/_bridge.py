"""The Python side of the native plugin (``plugin/rainmamba_plugin.c``).

For each ``core.rainmamba.Derain`` call the plugin imports this module and calls `connect`, which hands
`entry` back to it as a VapourSynth function; the plugin then calls `entry` with its own arguments.
`entry` never raises: it answers ``{"clip": node}`` or ``{"error": message}``, so users see one
readable ``vs.Error`` rather than a Python traceback (set ``VSRAINMAMBA_TRACEBACK=1`` to get it).
"""
from __future__ import annotations

import inspect
import os
import traceback

import vapoursynth as vs

from .filter import USER_ERRORS, build_filter, derain

# Plugin arguments that VapourSynth passes as 0/1 ints but mean booleans.
_BOOLEAN_ARGUMENTS = ("fp16", "bf16", "scene_change")


def connect() -> None:
    """Give the plugin the entry point (it keeps it for the Derain call in progress)."""
    vs.core.rainmamba.BridgeConnect(func=entry)


def entry(**arguments: object) -> dict[str, object]:
    """Build the filter from the plugin's arguments; the defaults of the ones not given are derain's."""
    try:
        for name in _BOOLEAN_ARGUMENTS:
            if name in arguments:
                arguments[name] = bool(arguments[name])
        call = inspect.signature(derain).bind(**arguments)
        call.apply_defaults()
        return {"clip": build_filter(**call.arguments)}
    except BaseException as error:  # noqa: BLE001 - every failure must reach the user as a message
        message = str(error) if isinstance(error, USER_ERRORS) else f"{type(error).__name__}: {error}"
        if os.environ.get("VSRAINMAMBA_TRACEBACK"):
            message += "\n" + "".join(traceback.format_exception(error))
        return {"error": message}
