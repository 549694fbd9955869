"""The VapourSynth filter's argument list, declared once.

`core.rainmamba.Derain`'s argument string is generated from `ARGUMENTS` when the native plugin is
compiled (`build.py` writes it into a header), the plugin's Python bridge completes and converts its
calls with `from_plugin`, and `vsrainmamba.derain`'s documentation is `docstring()`.
``tests/vsrainmamba/test_signature.py`` checks that `vsrainmamba.derain`'s Python signature, the
compiled plugin and the README's table match it.

Standard library only: ``setup.py`` loads `build.py`, and through it this file, by path, without
torch or vapoursynth.
"""
from __future__ import annotations

import inspect
import textwrap
from collections.abc import Mapping
from typing import NamedTuple

REQUIRED = inspect.Parameter.empty

# VapourSynth argument types used below (API4 names).
VS_TYPES = ("vnode", "data", "int", "float", "int[]")


class Argument(NamedTuple):
    """One argument: its name, VapourSynth type, default (`REQUIRED` if none) and meaning."""

    name: str
    vs_type: str
    default: object
    doc: str

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def boolean(self) -> bool:
        """True for flags: VapourSynth passes them as 0/1 ints, Python as bools."""
        return isinstance(self.default, bool)

    def vs_spec(self) -> str:
        """This argument in a VapourSynth argument string, e.g. ``stride:int:opt``."""
        return f"{self.name}:{self.vs_type}" + ("" if self.required else ":opt")


ARGUMENTS: tuple[Argument, ...] = (
    Argument("clip", "vnode", REQUIRED,
             "any constant-format, constant-size video clip. RGBS and RGBH are used directly; other "
             "formats are converted to RGBS and back (YUV needs ``matrix`` or a ``_Matrix`` frame prop)."),
    Argument("model", "data", None,
             "a preset name with installed weights (``\"vrds\"``, ``\"lwdds\"``, ``\"rainvidss\"``, "
             "``\"rainsynall100\"``; see ``rainmamba models import``), a path to an official ``.pth`` or a "
             "project ``.safetensors`` checkpoint, or (from Python) an ``nn.Module``. None: the shipped "
             "default model."),
    Argument("mode", "data", "fast",
             "``\"fast\"`` (each frame computed once) or ``\"official\"`` (the authors' overlapping "
             "windows, about T times slower)."),
    Argument("stride", "int", None, "frames between window starts, 1..T; None: the mode's default."),
    Argument("tile", "int[]", None,
             "spatial tile as ``[width, height]`` or one int for both, multiples of 8; 0 = whole frame; "
             "None: the model preset's tile, except in fast mode for the shipped model, which runs whole "
             "frames when a window of them fits in 3 GiB (1080p does; larger frames get the largest square "
             "tile that fits). Smaller tiles need less memory."),
    Argument("tile_pad", "int[]", None,
             "overlap between tiles in pixels, ``[width, height]`` or one int; None: the preset's."),
    Argument("device_index", "int", None,
             "CUDA GPU number; -1 (or ``\"cpu\"`` from Python) for the CPU; None: GPU 0 if present, "
             "else the CPU."),
    Argument("fp16", "int", False, "run the network in half precision (CUDA only)."),
    Argument("bf16", "int", False,
             "run it in bfloat16 instead, on a GPU (Ampere or newer) or a CPU (faster on CPUs with "
             "AVX-512 BF16 or AMX); the scan state stays float32 either way."),
    Argument("batch_size", "int", 1, "spatial tiles sent to the network per call."),
    Argument("num_streams", "int", 1, "network copies working in parallel (one CUDA stream each on a GPU)."),
    Argument("scene_change", "int", True,
             "never let a temporal window span a scene cut. Cuts come from the "
             "``_SceneChangePrev``/``_SceneChangeNext`` props, else from a rain-proof comparison of colour "
             "thumbnails with the neighbouring frames (``models.scenes``)."),
    Argument("sc_threshold", "float", 0.1,
             "how different (0..1) the frames on the two sides of a cut must be; lower finds more cuts. "
             "None (from Python): the props only."),
    Argument("matrix", "int", None,
             "YUV colour matrix as a ``_Matrix`` code (1 = BT.709, 6 = BT.601, 9 = BT.2020); None: the "
             "first frame's ``_Matrix`` prop."),
    Argument("cache_windows", "int", None,
             "how many computed windows to keep (memory: each is T RGB float frames); None: enough that "
             "frames requested in order never compute a window twice."),
)

NAMES: tuple[str, ...] = tuple(argument.name for argument in ARGUMENTS)


def vs_signature() -> str:
    """The VapourSynth argument string that `core.rainmamba.Derain` registers."""
    return "".join(argument.vs_spec() + ";" for argument in ARGUMENTS)


def from_plugin(given: Mapping[str, object]) -> dict[str, object]:
    """Every argument of a `core.rainmamba.Derain` call: the declared defaults for those not given,
    and bools for the flags VapourSynth passes as 0/1 ints. VapourSynth has already checked the
    names, types and required arguments against `vs_signature`."""
    values = {}
    for argument in ARGUMENTS:
        if argument.name in given:
            value = given[argument.name]
            values[argument.name] = bool(value) if argument.boolean else value
        elif argument.required:
            raise TypeError(f"{argument.name} is required.")
        else:
            values[argument.name] = argument.default
    return values


def docstring(indent: str = "    ") -> str:
    """An ``Args:`` section describing every argument, to append to a docstring whose body is
    indented by ``indent`` and that ends with that indent (as `vsrainmamba.derain`'s does)."""
    lines = ["Args:"]
    for argument in ARGUMENTS:
        lines += textwrap.wrap(f"{argument.name}: {argument.doc}", width=100, initial_indent=indent * 2,
                               subsequent_indent=indent * 3)
    return "\n".join(lines)
