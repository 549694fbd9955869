"""The Python side of the native plugin (``plugin/rainmamba_plugin.c``).

For each ``core.rainmamba.Derain`` call the plugin imports this module and calls `connect`, which hands
`entry` back to it as a VapourSynth function; the plugin then calls `entry` with its own arguments.
`entry` never raises: it answers ``{"clip": node}`` or ``{"error": message}``, so users see one
readable ``vs.Error`` rather than a Python traceback (set ``VSRAINMAMBA_TRACEBACK=1`` to get it).
"""
from __future__ import annotations

import os
import traceback

import vapoursynth as vs

from .arguments import from_plugin
from .filter import USER_ERRORS, build_filter


def connect() -> None:
    """Give the plugin the entry point (it keeps it for the Derain call in progress)."""
    vs.core.rainmamba.BridgeConnect(func=entry)


def entry(**given: object) -> dict[str, object]:
    """Build the filter from the plugin's arguments (the declared defaults for the ones not given)."""
    try:
        return {"clip": build_filter(**from_plugin(given))}
    except BaseException as error:  # noqa: BLE001 - every failure must reach the user as a message
        message = str(error) if isinstance(error, USER_ERRORS) else f"{type(error).__name__}: {error}"
        if os.environ.get("VSRAINMAMBA_TRACEBACK"):
            message += "\n" + "".join(traceback.format_exception(error))
        return {"error": message}
