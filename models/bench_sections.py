"""Extra sections of ``rainmamba bench`` that other packages register (``--sections``).

A package adds a section by naming a ``BenchSection`` in the ``rainmamba.bench_sections`` entry-point
group of ``pyproject.toml`` (`models/entry_points.py`), as the OpenCV wrapper does for decoding and
encoding a video file next to the engine. ``models`` runs it without importing that package until asked.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from . import entry_points

GROUP = "rainmamba.bench_sections"


@dataclass(frozen=True)
class BenchRequest:
    """What the user asked ``rainmamba bench`` for, in the core's terms."""

    device: torch.device
    presets: list[str]           # "shipped" or preset names (`bench_measure.load_network`)
    sizes: list[str]             # "480p" or "HxW"
    frames: list[int]
    dtype: torch.dtype
    mode: str
    tile: int | None
    threads: int
    log: Callable[[str], None]


@dataclass(frozen=True)
class BenchSection:
    """One table of ``rainmamba bench``: its title, its columns and the function that makes its rows
    (dicts carrying at least those columns; ``section`` is filled in with the section's name)."""

    title: str
    columns: list[str]
    run: Callable[[BenchRequest], list[dict[str, Any]]]


def available() -> list[str]:
    return sorted(entry_points.declared(GROUP))


def load(names: list[str]) -> dict[str, BenchSection]:
    """The sections ``names`` name, in that order; ValueError (one line, for ``--sections``) for an unknown
    name or a section whose package does not import."""
    declared = entry_points.declared(GROUP)
    sections = {}
    for name in names:
        if name not in declared:
            raise ValueError(f"--sections: no section {name!r}; available: {', '.join(available()) or 'none'}.")
        try:
            section = entry_points.load(declared[name])
        except Exception as error:  # noqa: BLE001 - any failure of another package is one line here
            raise ValueError(f"--sections: the {name!r} section is unavailable: importing {declared[name]} failed "
                             f"({type(error).__name__}: {error}).".splitlines()[0]) from None
        if not isinstance(section, BenchSection):
            raise ValueError(f"--sections: {declared[name]} is not a models.bench_sections.BenchSection.")
        sections[name] = section
    return sections


def run(sections: dict[str, BenchSection], request: BenchRequest) -> list[dict[str, Any]]:
    rows = []
    for name, section in sections.items():
        rows += [dict(row, section=name) for row in section.run(request)]
    return rows
