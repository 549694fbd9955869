"""``vsrainmamba.derain``: RainMamba video deraining as a VapourSynth filter.

Also reachable without importing this package as ``core.rainmamba.Derain(clip, ...)`` through the
native plugin, which forwards to `build_filter` (the argument list is kept in sync with the plugin's
by tests/vsrainmamba/test_signature.py).
"""
from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import vapoursynth as vs
from torch import nn

import models
from models.engine import Derainer
from models.scenes import DEFAULT_THRESHOLD

from .formats import to_rgb
from .frames import frame_to_tensor, write_tensor
from .options import engine_options
from .scenes import ShotIndex, scene_cut_test
from .server import FrameServer

# Errors that mean "the arguments or the clip are wrong": shown as one readable vs.Error.
USER_ERRORS = (ValueError, TypeError, OSError)


def derain(clip: vs.VideoNode, model: str | os.PathLike | nn.Module | None = None, mode: str = "fast",
           stride: int | None = None, tile: int | Sequence[int] | None = None,
           tile_pad: int | Sequence[int] | None = None, device_index: int | str | None = None,
           fp16: bool = False, bf16: bool = False, batch_size: int = 1, num_streams: int = 1, scene_change: bool = True,
           sc_threshold: float | None = DEFAULT_THRESHOLD, matrix: int | None = None, cache_windows: int | None = None) -> vs.VideoNode:
    """Remove rain from a clip with RainMamba; returns a clip of the same format, size, length and props.

    Args:
        clip: any constant-format, constant-size video clip. RGBS and RGBH are used directly; other
            formats are converted to RGBS and back (YUV needs ``matrix`` or a ``_Matrix`` frame prop).
        model: a preset name with installed weights (``"vrds"``, ``"lwdds"``, ``"rainvidss"``,
            ``"rainsynall100"``; see ``rainmamba models import``), a path to an official ``.pth`` or a
            project ``.safetensors`` checkpoint, or an ``nn.Module``. None: the shipped default model.
        mode: ``"fast"`` (each frame computed once) or ``"official"`` (the authors' overlapping windows,
            about T times slower).
        stride: frames between window starts, 1..T; None: the mode's default.
        tile: spatial tile as ``[width, height]`` or one int for both, multiples of 8; 0 = whole frame;
            None: the model preset's tile. Smaller tiles need less memory.
        tile_pad: overlap between tiles in pixels, ``[width, height]`` or one int; None: the preset's.
        device_index: CUDA GPU number; -1 or ``"cpu"`` for the CPU; None: GPU 0 if present, else CPU.
        fp16: run the network in half precision (CUDA only).
        bf16: run it in bfloat16 instead, on a GPU (Ampere or newer) or a CPU (faster on CPUs with
            AVX-512 BF16 or AMX); the scan state stays float32 either way.
        batch_size: spatial tiles sent to the network per call.
        num_streams: network copies working in parallel (one CUDA stream each on a GPU).
        scene_change: never let a temporal window span a scene cut. Cuts come from the
            ``_SceneChangePrev``/``_SceneChangeNext`` props, else from a rain-proof comparison of
            colour thumbnails with the neighbouring frames (`models.scenes`).
        sc_threshold: how different (0..1) the frames on the two sides of a cut must be; lower finds
            more cuts. None: the props only.
        matrix: YUV colour matrix as a ``_Matrix`` code (1 = BT.709, 6 = BT.601, 9 = BT.2020);
            None: the first frame's ``_Matrix`` prop.
        cache_windows: how many computed windows to keep (memory: each is T RGB float frames); None:
            enough that frames requested in order never compute a window twice.
    """
    try:
        return build_filter(clip, model=model, mode=mode, stride=stride, tile=tile, tile_pad=tile_pad,
                            device_index=device_index, fp16=fp16, bf16=bf16, batch_size=batch_size, num_streams=num_streams,
                            scene_change=scene_change, sc_threshold=sc_threshold, matrix=matrix,
                            cache_windows=cache_windows)
    except USER_ERRORS as error:
        raise vs.Error(f"vsrainmamba.derain: {error}") from None


def build_filter(clip: vs.VideoNode, model: str | os.PathLike | nn.Module | None, matrix: int | None,
                 **options: object) -> vs.VideoNode:
    """`derain` with every argument given and without the error wrapping: raises the underlying
    ValueError/OSError (the plugin's bridge reports those itself)."""
    settings = engine_options(**options)
    view = to_rgb(clip, matrix)
    rgb = view.rgb
    net = models.resolve_model(model, device=settings.device)
    engines = [Derainer(net if i == 0 else copy.deepcopy(net), mode=settings.mode, stride=settings.stride,
                        tile=settings.tile, tile_overlap=settings.tile_overlap, device=settings.device,
                        dtype=settings.dtype, batch_size=settings.batch_size)
               for i in range(settings.num_streams)]
    detect = settings.scene_change and rgb.num_frames > 1
    shots = ShotIndex(rgb.num_frames, scene_cut_test(rgb, settings.sc_threshold) if detect else None)
    server = FrameServer(engines, rgb.num_frames, lambda k: frame_to_tensor(rgb.get_frame(k)), shots,
                         cache_windows=settings.cache_windows, threads=vs.core.num_threads)

    def render(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        try:
            image = server.frame(n)
        except Exception as error:  # keep torch's deep traceback out of the frame error
            raise vs.Error(f"rainmamba: frame {n} failed: {type(error).__name__}: {error}") from None
        return write_tensor(image, f.copy())

    derained = vs.core.std.ModifyFrame(rgb, rgb, render)
    return view.restore(derained)
