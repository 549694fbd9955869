"""``vsrainmamba.derain``: RainMamba video deraining as a VapourSynth filter.

Also reachable without importing this package as ``core.rainmamba.Derain(clip, ...)`` through the
native plugin, which forwards to `build_filter`. Both take the arguments declared in
`vsrainmamba.arguments`.
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

from .arguments import docstring
from .formats import to_rgb
from .frames import NonFiniteFrame, frame_to_tensor, write_tensor
from .memory import HEAP
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

    The arguments are declared once in `vsrainmamba.arguments` (also the plugin's argument list);
    their descriptions follow.

    """
    arguments = dict(locals())  # exactly the declared arguments: test_signature.py checks the names
    try:
        return build_filter(**arguments)
    except USER_ERRORS as error:
        raise vs.Error(f"vsrainmamba.derain: {error}") from None


if derain.__doc__:  # None under python -OO
    derain.__doc__ += docstring()


def build_filter(clip: vs.VideoNode, model: str | os.PathLike | nn.Module | None, matrix: int | None,
                 **options: object) -> vs.VideoNode:
    """`derain` with every argument given and without the error wrapping: raises the underlying
    ValueError/OSError (the plugin's bridge reports those itself)."""
    settings = engine_options(**options)
    view = to_rgb(clip, matrix)
    rgb = view.rgb
    net = models.resolve_model(model, device=settings.device)
    engines = [Derainer(net if i == 0 else copy.deepcopy(net), options=settings.engine)
               for i in range(settings.num_streams)]
    detect = settings.scene_change and rgb.num_frames > 1
    shots = ShotIndex(rgb.num_frames, scene_cut_test(rgb, settings.sc_threshold) if detect else None)
    server = FrameServer(engines, rgb.num_frames, lambda k: frame_to_tensor(rgb.get_frame(k), k), shots,
                         cache_windows=settings.cache_windows, threads=vs.core.num_threads)

    def render(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        try:
            image = server.frame(n)
        except NonFiniteFrame as error:
            raise vs.Error(f"rainmamba: frame {n} cannot be derained: {error}, which the network would spread over "
                           "its whole window; replace them in the source clip first (e.g. with std.Expr).") from None
        except Exception as error:  # keep torch's deep traceback out of the frame error
            raise vs.Error(f"rainmamba: frame {n} failed: {type(error).__name__}: {error}") from None
        frame = write_tensor(image, f.copy())
        HEAP.tick()
        return frame

    derained = vs.core.std.ModifyFrame(rgb, rgb, render)
    return view.restore(derained)
