"""Small clips from numpy arrays, a cheap stand-in network whose output depends on its window, wheels."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from torch import nn

import models


def clip_from_array(video: np.ndarray, props: dict | None = None) -> vs.VideoNode:
    """An RGBS clip with the frames of ``video`` (N, 3, H, W) float32; ``props`` set on every frame."""
    core = vs.core
    n, _, height, width = video.shape
    blank = core.std.BlankClip(width=width, height=height, length=n, format=vs.RGBS)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), video[n, p])
        out.props["SourceIndex"] = n
        return out

    clip = core.std.ModifyFrame(blank, blank, fill)
    return core.std.SetFrameProps(clip, **props) if props else clip


def frame_array(frame: vs.VideoFrame) -> np.ndarray:
    """All planes of a frame as float64 arrays stacked (planes must share one size)."""
    return np.stack([np.asarray(frame[p]).astype(np.float64) for p in range(frame.format.num_planes)])


def clip_to_array(clip: vs.VideoNode, order: list[int] | None = None) -> np.ndarray:
    """The clip's frames (requested in ``order``, default linear) as (N, planes, H, W), in frame order."""
    order = list(range(clip.num_frames)) if order is None else order
    frames = {n: frame_array(clip.get_frame(n)) for n in order}
    return np.stack([frames[n] for n in range(clip.num_frames)])


def shots_video(lengths: list[int], height: int = 32, width: int = 40, seed: int = 0) -> np.ndarray:
    """Frames in shots of the given lengths: one flat colour per shot plus faint noise (hard cuts between)."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.1, 0.9, len(lengths)) if len(lengths) > 1 else [0.5]
    shots = [np.full((n, 3, height, width), level, np.float32) for n, level in zip(lengths, levels)]
    video = np.concatenate(shots)
    return (video + rng.uniform(-0.02, 0.02, video.shape)).astype(np.float32)


class WindowMeanNet(nn.Module):
    """A cheap (B, T, 3, H, W) -> same network: each frame mixed with its window's mean.

    Wrong windows change the output, so it checks planning and blending as the real network would,
    in microseconds. ``calls`` counts forward passes.
    """

    def __init__(self, preset: str = "tiny") -> None:
        super().__init__()
        self.preset = models.get_preset(preset)
        self.mix = nn.Parameter(torch.tensor(0.6))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.mix * x + (1 - self.mix) * x.mean(dim=1, keepdim=True) * 0.9


REPO = Path(__file__).resolve().parents[2]


def copy_project(destination: Path) -> Path:
    """The files `pip install .` needs, as in a clean clone (no build outputs, no caches)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.dylib", "*.dll", "*.egg-info", "*.safetensors")
    destination.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, destination / name)
    for package in ("models", "vsrainmamba", "opencv_filter", "training"):
        shutil.copytree(REPO / package, destination / package, ignore=ignore)
    return destination


def build_wheel(tmp_path: Path, **env: str) -> tuple[Path, str]:
    """Build the project's wheel from a clean copy (no isolation: offline); returns it and pip's output."""
    source = copy_project(tmp_path / "src")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-v",
                           "-w", str(tmp_path / "dist")], cwd=source, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, **env))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return next((tmp_path / "dist").glob("*.whl")), done.stdout + done.stderr
