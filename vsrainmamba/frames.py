"""Copy pixels between VapourSynth RGBS/RGBH frames and the engine's (3, H, W) float32 tensors.

Input frames are checked here, where their number is known: one NaN or infinite pixel would spread
over every frame of the network's window, so such a frame is refused with `NonFiniteFrame`.
"""
from __future__ import annotations

import numpy as np
import torch
import vapoursynth as vs


class NonFiniteFrame(ValueError):
    """Input frame ``n`` holds NaN or infinite values; every output frame whose window needs it fails."""

    def __init__(self, n: int) -> None:
        super().__init__(f"input frame {n} has NaN or infinite pixel values")
        self.n = n


def frame_to_tensor(frame: vs.VideoFrame, n: int) -> torch.Tensor:
    """Input frame ``n`` (RGBS or RGBH) as a (3, H, W) float32 CPU tensor (a copy: frames are
    read-only); `NonFiniteFrame` if any value is NaN or infinite."""
    planes = np.stack([np.asarray(frame[p]) for p in range(3)]).astype(np.float32, copy=False)
    # min/max propagate NaN and keep +-inf: two reductions, no per-pixel mask
    if not (np.isfinite(planes.min()) and np.isfinite(planes.max())):
        raise NonFiniteFrame(n)
    return torch.from_numpy(planes)


def write_tensor(image: torch.Tensor, frame: vs.VideoFrame) -> vs.VideoFrame:
    """Write a (3, H, W) float tensor into the planes of a writable RGBS/RGBH frame and return it."""
    pixels = image.detach().cpu().numpy()
    for p in range(3):
        plane = np.asarray(frame[p])
        np.copyto(plane, pixels[p], casting="same_kind")
    return frame
