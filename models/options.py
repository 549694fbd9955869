"""The engine's settings, parsed and checked in one place, and the one device rule.

Every front-end (the Python API `models.Derainer`, the VapourSynth filter, the OpenCV wrapper,
``rainmamba derain``, ``evaluate``, ``bench``, ``train``) hands its user's values to
`EngineOptions.parse` with a `Spelling`: its option names (``tile_pad``, ``--tile``), the order of
its pairs (``[width, height]`` or ``HxW``) and how its users ask for a dtype or for the CPU. Every
mistake is then reported as the user wrote it: ``tile=[64, 16]``, ``tile_pad=200``, ``--device cuda:3``.
Checks that need the network (its T and minimum size, the preset's tile) run in `EngineOptions.fit`,
spelled the same way.

Devices (`resolve_device`) follow one rule everywhere. No device given (None or ``"auto"``): this
process's GPU when torch sees one, else the CPU. This process's GPU is ``cuda:0``, or under
torchrun ``cuda:LOCAL_RANK`` (modulo the GPU count) where the front-end passes its local rank; a
bare ``"cuda"`` means the same GPU. ``"cuda:N"`` or an int N is GPU N, ``"cpu"`` the CPU. The engine
follows the rule too: ``Derainer(net)`` runs on that device whatever device ``net``'s weights are on
(pass ``device=`` to choose).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .network import SIZE_MULTIPLE
from .plan import MODES
from .sizes import split_size

__all__ = ["OptionError", "Spelling", "PYTHON", "CLI", "EngineOptions", "Geometry", "resolve_device", "parse_dtype",
           "parse_pair", "parse_int"]

DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}
_CANONICAL = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


class OptionError(ValueError):
    """A setting has a bad value; the message names it as the user wrote it and says what to pass."""


@dataclass(frozen=True)
class Spelling:
    """How one front-end's users write the engine settings, so that errors quote them back as typed.

    ``names`` maps the engine's names (mode, stride, tile, tile_overlap, device, dtype, batch_size)
    to the front-end's; ``width_first``: pairs are ``[width, height]``; ``cli``: values are shown
    as ``--name value`` and pairs parsed from ``HxW`` text; ``overlap_frames``: the overlap may be a
    (T, H, W) triple whose T sets the official stride; ``cpu``: how to ask for the CPU;
    ``devices``: what the device setting accepts; ``dtypes``: how to ask for float16, bfloat16 and
    float32 when that is not the dtype setting itself (flags such as ``fp16=True``).
    """

    names: Mapping[str, str] = field(default_factory=dict)
    width_first: bool = False
    cli: bool = False
    overlap_frames: bool = True
    cpu: str = "device='cpu'"
    devices: str = "'cpu', 'cuda', 'cuda:N', a GPU index, or None for automatic"
    dtypes: Mapping[str, str] | None = None

    def name(self, key: str) -> str:
        return self.names.get(key, f"--{key.replace('_', '-')}" if self.cli else key)

    def show(self, key: str, value: Any) -> str:
        """The setting as the user typed it: ``tile=[64, 16]`` or ``--tile 16x64``."""
        return f"{self.name(key)} {value}" if self.cli else f"{self.name(key)}={value!r}"

    def show_pair(self, key: str, pair: tuple[int, int]) -> str:
        """An (H, W) pair as this user would type it."""
        h, w = pair
        if self.cli:
            return f"{self.name(key)} {h}x{w}"
        return f"{self.name(key)}=[{w}, {h}]" if self.width_first else f"{self.name(key)}=({h}, {w})"

    @property
    def pair_words(self) -> str:
        return "an HxW pair" if self.cli else "a [width, height] pair" if self.width_first else "an (H, W) pair"

    def ask_dtype(self, dtype: torch.dtype, given: Any = None) -> str:
        """How this user asks for ``dtype`` (``given``: the value they typed for it, if any)."""
        name = _CANONICAL[dtype]
        if self.dtypes is not None:
            return self.dtypes[name]
        return self.show("dtype", name if given is None else given)


PYTHON = Spelling()
# Command-line options; a command replaces the names it spells otherwise (dataclasses.replace).
CLI = Spelling(cli=True, overlap_frames=False, cpu="--device cpu",
               devices="auto, cpu, cuda or cuda:N (default: a GPU when there is one, else the CPU)")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def parse_int(value: Any, key: str, spelling: Spelling = PYTHON, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise OptionError(f"{spelling.name(key)} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def parse_pair(value: Any, key: str, spelling: Spelling = PYTHON, with_frames: bool = False) -> tuple[int, ...]:
    """An int, a pair (in the spelling's order) or, ``with_frames``, a (T, H, W) triple -> (H, W) or
    (T, H, W) of ints >= 0; ``cli`` spellings also take the text ``HxW`` or ``N``."""
    values: list[Any] | None = None
    if _is_int(value):
        values = [value, value]
    elif spelling.cli and isinstance(value, str) and split_size(value, single=True) is not None:
        values = list(split_size(value, single=True))
    elif isinstance(value, (list, tuple)):
        values = list(value)
    sizes = (2, 3) if with_frames else (2,)
    if values is None or len(values) not in sizes or not all(_is_int(v) and v >= 0 for v in values):
        triple = ", or a (T, H, W) triple" if with_frames else ""
        raise OptionError(f"{spelling.name(key)} must be an int >= 0 or {spelling.pair_words} of them{triple}, "
                          f"got {value!r}.")
    values = [int(v) for v in values]
    if len(values) == 3:
        return tuple(values)
    return (values[1], values[0]) if spelling.width_first else (values[0], values[1])


def parse_dtype(value: Any, spelling: Spelling = PYTHON) -> torch.dtype:
    """A dtype name (float32/fp32/float, float16/fp16/half, bfloat16/bf16) or torch dtype; None: float32."""
    if value is None:
        return torch.float32
    resolved = DTYPE_NAMES.get(value.strip().lower()) if isinstance(value, str) else value
    if resolved not in _CANONICAL:
        raise OptionError(f"Unsupported {spelling.show('dtype', value)}: use float32, float16 or bfloat16.")
    return resolved


def resolve_device(device: Any = None, *, local_rank: int = 0, spelling: Spelling = PYTHON) -> torch.device:
    """THE device rule (module docstring); a device this machine lacks is an OptionError saying what to use."""
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        return _local_gpu(local_rank) if torch.cuda.is_available() else torch.device("cpu")
    shown = spelling.show("device", device)
    if _is_int(device):
        if device < 0:
            raise OptionError(f"{shown} is not a GPU index: use 0, 1, ... or {spelling.cpu}.")
        device = f"cuda:{int(device)}"
    try:
        resolved = torch.device(device) if isinstance(device, (str, torch.device)) else None
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None:
        raise OptionError(f"Unknown {shown}: {spelling.name('device')} must be {spelling.devices}.")
    if resolved.type != "cuda":
        return resolved
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    which = "CUDA" if resolved.index is None else f"CUDA GPU {resolved.index}"
    if count == 0 or (resolved.index is not None and resolved.index >= count):
        have = f"only {count} GPU(s), numbered from 0" if count else "no GPU"
        raise OptionError(f"{shown} asks for {which} but torch sees {have}: pass {spelling.cpu} to run on the CPU.")
    return _local_gpu(local_rank) if resolved.index is None else resolved


def _local_gpu(local_rank: int) -> torch.device:
    return torch.device("cuda", local_rank % torch.cuda.device_count())


@dataclass(frozen=True)
class Geometry:
    """The settings that depend on the network: T, the window stride, the tile and overlap (H, W)."""

    frames: int
    stride: int
    tile: tuple[int, int]
    tile_overlap: tuple[int, int]


@dataclass(frozen=True)
class EngineOptions:
    """Validated engine settings; None for a setting the network's preset decides."""

    mode: str = "fast"
    stride: int | None = None
    tile: tuple[int, int] | None = None            # (H, W)
    tile_overlap: tuple[int, int] | None = None    # (H, W)
    overlap_frames: int | None = None              # T part of a (T, H, W) tile_overlap
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    batch_size: int = 1
    spelling: Spelling = field(default=PYTHON, compare=False)
    given: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)  # as typed, for messages

    @classmethod
    def parse(cls, *, mode: str = "fast", stride: Any = None, tile: Any = None, tile_overlap: Any = None,
              device: Any = None, dtype: Any = None, batch_size: Any = 1, spelling: Spelling = PYTHON,
              local_rank: int = 0) -> "EngineOptions":
        """Check every setting that does not need the network; raise OptionError in the spelling's terms."""
        if mode not in MODES:
            raise OptionError(f"{spelling.name('mode')} must be {' or '.join(repr(m) for m in MODES)}, got {mode!r}.")
        if stride is not None:
            stride = parse_int(stride, "stride", spelling)
        tile_hw = None if tile is None else parse_pair(tile, "tile", spelling)
        if tile_hw is not None and any(side % SIZE_MULTIPLE for side in tile_hw):
            raise OptionError(f"{spelling.show('tile', tile)} is not allowed: each side must be 0 (whole frame) "
                              f"or a multiple of {SIZE_MULTIPLE}.")
        overlap = None if tile_overlap is None else parse_pair(tile_overlap, "tile_overlap", spelling,
                                                               with_frames=spelling.overlap_frames)
        overlap_frames = None
        if overlap is not None and len(overlap) == 3:
            overlap_frames, overlap = overlap[0], overlap[1:]
        resolved = resolve_device(device, local_rank=local_rank, spelling=spelling)
        dtype_value = parse_dtype(dtype, spelling)
        if dtype_value == torch.float16 and resolved.type != "cuda":
            raise OptionError(f"{spelling.ask_dtype(torch.float16, dtype)} needs a CUDA GPU; on the CPU use "
                              f"{spelling.ask_dtype(torch.bfloat16)} or {spelling.ask_dtype(torch.float32)}.")
        given = {"tile": tile, "tile_overlap": tile_overlap}
        return cls(mode=mode, stride=stride, tile=tile_hw, tile_overlap=overlap, overlap_frames=overlap_frames,
                   device=resolved, dtype=dtype_value, batch_size=parse_int(batch_size, "batch_size", spelling),
                   spelling=spelling, given=given)

    def fit(self, frames: int, preset_tile: Sequence[int], preset_overlap: Sequence[int], min_size: int) -> Geometry:
        """The checks that need the network: T=``frames``, its preset's tile (H, W) and overlap (T, H, W),
        and the smallest side it takes."""
        spell, given = self.spelling, self.given
        tile = self.tile if self.tile is not None else (int(preset_tile[0]), int(preset_tile[1]))
        overlap = self.tile_overlap if self.tile_overlap is not None else (int(preset_overlap[1]),
                                                                           int(preset_overlap[2]))
        tile_shown = spell.show("tile", given["tile"]) if self.tile is not None else \
            f"{spell.show_pair('tile', tile)} from the preset"
        if any(side and side < min_size for side in tile):
            raise OptionError(f"{tile_shown} is not allowed: each side must be 0 (whole frame) or a multiple of "
                              f"{SIZE_MULTIPLE} of at least {min_size} (this network's smallest input).")
        if any(side and lap >= side for side, lap in zip(tile, overlap)):
            overlap_shown = spell.show("tile_overlap", given["tile_overlap"]) if self.tile_overlap is not None \
                else f"{spell.show_pair('tile_overlap', overlap)} from the preset"
            raise OptionError(f"{overlap_shown} must be smaller than the tile ({tile_shown}).")
        return Geometry(frames, self._stride(frames, preset_overlap), tile, overlap)

    def _stride(self, frames: int, preset_overlap: Sequence[int]) -> int:
        name = self.spelling.name("stride")
        if self.stride is not None:
            if self.stride > frames:
                raise OptionError(f"{name} must be an integer from 1 to T={frames}, got {self.stride!r}.")
            return self.stride
        if self.mode != "official":
            return frames
        overlap = int(preset_overlap[0]) if self.overlap_frames is None else self.overlap_frames
        if not 0 <= overlap < frames:
            raise OptionError(f"The temporal overlap {overlap} must be smaller than T={frames}: pass {name} "
                              f"or a smaller {self.spelling.name('tile_overlap')}.")
        return frames - overlap
