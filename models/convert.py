"""Frames in and out of the engine, and the value contract between them.

Frames are (3, H, W) RGB, channels first: uint8 (0..255), or float on the 0..1 scale, as numpy
arrays or torch tensors; the output has the input's kind (float in -> float32 out, uint8 in ->
uint8 out, numpy or torch, on the input's device).

The value contract, the same on every path (whole videos, streams, random access):

- The network sees the input clamped to [0, 1] (what it was trained on) and its blended output is
  clamped to [0, 1], as in the authors' protocol. Input values outside [0, 1] that float frames
  carry (superwhite, sub-black, out-of-gamut chroma after a YUV -> RGB conversion) are added back
  unchanged: ``out = clamp(net(clamp(x))) + (x - clamp(x))``, so nothing the network did not change
  is clipped, and an identity network gives float input back exactly. uint8 output rounds and
  saturates only at 0 and 255.
- Float values beyond [-1.5, 2.5] are no colour-conversion excursion but a wrong scale (0..255,
  0..65535): an error saying which, never a silent clamp. The bounds hold everything a YUV -> RGB
  conversion can produce (extreme limited-range chroma reaches about -1.15 and 2.2 through the
  BT.601/709/2020 matrices, and bicubic chroma upsampling rings a little beyond).
- NaN or infinite values are an error naming the frame.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["Video", "Kind", "frame_in", "frame_out", "check_video", "network_input", "finish_frame"]

Video = Tensor | np.ndarray

# Float input may stray this far outside [0, 1] (YUV -> RGB of out-of-gamut chroma does); farther is
# a wrong scale.
LOWEST, HIGHEST = -1.5, 2.5


class Kind(NamedTuple):
    """What a frame came in as, so its output goes back the same way."""

    numpy: bool
    uint8: bool
    device: torch.device | None


def _is_uint8(array: Video, what: str) -> bool:
    """Validate the element type; True for uint8, False for floats."""
    dtype = array.dtype
    if dtype in (np.uint8, torch.uint8):
        return True
    floating = np.issubdtype(dtype, np.floating) if isinstance(array, np.ndarray) else dtype.is_floating_point
    if not floating:
        raise ValueError(f"{what} has dtype {dtype}: give uint8 (0..255) or float (0..1) values.")
    return False


def frame_in(frame: Any, index: int, device: torch.device) -> tuple[Tensor, Kind]:
    """Check the type and shape of one (3, H, W) frame; return it as float32 on ``device`` (uint8
    scaled to [0, 1], float as it is: `network_input` checks and clamps values), with its kind."""
    what = f"Frame {index}"
    if not isinstance(frame, (np.ndarray, Tensor)):
        raise ValueError(f"{what} is a {type(frame).__name__}: give a numpy array or torch tensor of shape (3, H, W).")
    if frame.ndim != 3 or frame.shape[0] != 3 or frame.shape[1] < 1 or frame.shape[2] < 1:
        raise ValueError(f"{what} has shape {tuple(frame.shape)}: frames must be (3, H, W) RGB, channels first.")
    uint8 = _is_uint8(frame, what)
    if isinstance(frame, np.ndarray):
        kind = Kind(True, uint8, None)
        frame = torch.from_numpy(np.ascontiguousarray(frame))
    else:
        kind = Kind(False, uint8, frame.device)
        frame = frame.detach()
    frame = frame.to(device).to(torch.float32)  # moved first: uint8 crosses to a GPU as bytes, not floats
    return (frame / 255.0 if uint8 else frame), kind


def frame_out(frame: Tensor, kind: Kind) -> Video:
    """Turn a float32 (3, H, W) result (`finish_frame`) back into the kind its input frame had."""
    if kind.uint8:
        frame = (frame * 255.0).round_().clamp_(0, 255).to(torch.uint8)
    return frame.numpy() if kind.numpy else frame.to(kind.device)


def check_video(video: Any) -> None:
    """Check the type and shape of a whole video (N, 3, H, W); values are checked as windows run."""
    if not isinstance(video, (np.ndarray, Tensor)):
        raise ValueError(f"video is a {type(video).__name__}: give a numpy array or torch tensor (N, 3, H, W).")
    if video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(f"video has shape {tuple(video.shape)}: give (N, 3, H, W) RGB frames, channels first "
                         "(use stream() or video[None] for single frames).")
    if video.shape[0] == 0 or video.shape[2] == 0 or video.shape[3] == 0:
        raise ValueError(f"video has shape {tuple(video.shape)}: "
                         "it must hold at least one frame of at least 1x1 pixels.")
    _is_uint8(video, "video")


def network_input(frames: Tensor, first: int = 0) -> Tensor:
    """``frames`` (t, 3, H, W) float, checked and clamped to [0, 1] for the network.

    ``first`` is the index of ``frames[0]`` in the video, for the error message: NaN or infinite
    values, or values on a wrong scale, are a ValueError naming the first bad frame.
    """
    low, high = torch.aminmax(frames)   # NaN and inf show in the extremes
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high) and LOWEST <= low and high <= HIGHEST):
        _raise_bad_values(frames, first)
    return frames.clamp(0.0, 1.0)


def _raise_bad_values(frames: Tensor, first: int) -> None:
    for i, frame in enumerate(frames):
        what = f"Frame {first + i}"
        if not bool(torch.isfinite(frame).all()):
            raise ValueError(f"{what} contains NaN or infinite values: clean or replace them before deraining.")
        low, high = float(frame.min()), float(frame.max())
        if LOWEST <= low and high <= HIGHEST:
            continue
        if low >= 0 and high <= 255:
            hint = "looks like 0..255 values: divide by 255 or pass uint8 frames"
        elif low >= 0 and high <= 65535:
            hint = "looks like 16-bit values (0..65535): divide by 65535"
        else:
            hint = "float frames must be on the 0..1 scale"
        raise ValueError(f"{what} has float values from {low:.4g} to {high:.4g}: {hint} "
                         f"(values from {LOWEST} to {HIGHEST} are accepted, and kept outside 0..1).")


def finish_frame(blended: Tensor, frame: Tensor | None) -> Tensor:
    """The output frame: the network's blended result clamped to [0, 1], plus the input ``frame``'s
    values outside [0, 1] (none when ``frame`` is None); float32 (3, H, W) on ``blended``'s device.

    For input inside [0, 1] this adds exact zeros, so the result is the clamped blend bit for bit.
    """
    out = blended.clamp(0.0, 1.0).to(torch.float32)
    if frame is not None:
        frame = frame.to(out.device, torch.float32)
        out += frame - frame.clamp(0.0, 1.0)
    return out
