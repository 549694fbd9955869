"""Copy pixels between VapourSynth RGBS/RGBH frames and the engine's (3, H, W) float32 tensors."""
from __future__ import annotations

import numpy as np
import torch
import vapoursynth as vs


def frame_to_tensor(frame: vs.VideoFrame) -> torch.Tensor:
    """An RGBS or RGBH frame as a (3, H, W) float32 CPU tensor (a copy: frames are read-only)."""
    planes = np.stack([np.asarray(frame[p]) for p in range(3)]).astype(np.float32, copy=False)
    return torch.from_numpy(planes)


def write_tensor(image: torch.Tensor, frame: vs.VideoFrame) -> vs.VideoFrame:
    """Write a (3, H, W) float tensor into the planes of a writable RGBS/RGBH frame and return it."""
    pixels = image.detach().cpu().numpy()
    for p in range(3):
        plane = np.asarray(frame[p])
        np.copyto(plane, pixels[p], casting="same_kind")
    return frame
