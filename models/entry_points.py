"""The entry points this project declares in ``pyproject.toml``, read one way for every group.

Packages register what they add to the core as entry points (name = "module:attribute"), the plugin
convention of pytest and flask, so ``models`` names no package above it. Groups:
``rainmamba.commands`` (the subcommands of ``rainmamba``, `models/cli.py`) and
``rainmamba.bench_sections`` (extra sections of ``rainmamba bench``, `models/bench_sections.py`).

An installed copy reads them from its distribution's metadata. A source checkout (this package beside
the project's ``pyproject.toml``) reads that file instead, so running the checkout, for example with
``PYTHONPATH``, sees its own entry points even when the installed metadata is older.
"""
from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

CONSOLE_SCRIPT = ("rainmamba", "models.cli:main")
_CHECKOUT_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def from_pyproject(pyproject: Path, group: str) -> dict[str, str] | None:
    """name -> "module:attribute" of ``group`` in ``pyproject``; None when it is another project's file (one
    without this console script)."""
    import tomllib

    with open(pyproject, "rb") as f:
        project = tomllib.load(f).get("project", {})
    name, target = CONSOLE_SCRIPT
    if project.get("scripts", {}).get(name) != target:
        return None
    return dict(project.get("entry-points", {}).get(group, {}))


def installed(group: str) -> dict[str, str]:
    """name -> "module:attribute" of ``group`` from the entry points of the installed distributions."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=group)}


@functools.cache
def declared(group: str) -> dict[str, str]:
    """The entry points of ``group``: the checkout's pyproject.toml when running from one, else the installed
    metadata."""
    if _CHECKOUT_PYPROJECT.is_file():
        found = from_pyproject(_CHECKOUT_PYPROJECT, group)
        if found is not None:
            return found
    return installed(group)


def load(target: str) -> Any:
    """The object a "module:attribute" target names (importing its module now, not before)."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
