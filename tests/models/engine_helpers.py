"""Stand-in networks and a plain re-implementation of the authors' test protocol, for the engine tests.

`reference_official` follows the authors' `test_video` / `test_clip` loops (docs/NETWORK.md, "Test protocol") as
directly as possible, so the engine's optimised paths can be checked against it bit for bit.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from models.presets import Preset, TestProtocol, get_preset


def _preset(frames: int, tile: tuple[int, int], overlap: tuple[int, int, int]) -> Preset:
    """The tiny preset with another test window: what the engine reads of a network."""
    return dataclasses.replace(get_preset("tiny"), protocol=TestProtocol(frames, tile, overlap))


class StandInNet(nn.Module):
    """A small deterministic video net with the RainMamba interface.

    Its output depends on each frame's neighbourhood in time and space (a 3-D conv) and on the
    whole window (a global mean), so windows and tiles that are cut or blended wrongly show up.
    It refuses H or W that are not multiples of 8, like the real network, and records input shapes.
    ``min_size = 8`` lets the tests use 16 px tiles (RainMamba itself needs 32 px).
    """

    min_size = 8

    def __init__(self, frames: int = 3, tile: tuple[int, int] = (16, 16),
                 overlap: tuple[int, int, int] = (2, 4, 4), seed: int = 0) -> None:
        super().__init__()
        self.preset = _preset(frames, tile, overlap)
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv3d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.2)
            self.conv.bias.copy_(torch.randn(3, generator=generator) * 0.05)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5 or x.shape[2] != 3 or x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"stand-in net got {tuple(x.shape)}; H and W must be multiples of 8")
        self.calls.append(tuple(x.shape))
        # CPU conv kernels sum in a layout-dependent order; a fixed layout makes results depend on values only.
        x = x.contiguous()
        local = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return x + 0.3 * local + 0.2 * x.mean(dim=(1, 3, 4), keepdim=True)


class IdentityNet(nn.Module):
    """Returns its input: deraining with it must give the video back (tests crops, order, padding)."""

    min_size = 8

    def __init__(self, frames: int = 3, tile: tuple[int, int] = (16, 16),
                 overlap: tuple[int, int, int] = (2, 4, 4)) -> None:
        super().__init__()
        self.preset = _preset(frames, tile, overlap)
        self.inputs: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError("H and W must be multiples of 8")
        self.inputs.append(x.clone())
        return x.clone()


def reference_clip(lq: Tensor, net: nn.Module, size: int, overlap: int) -> Tensor:
    """The authors' spatial tiling of one clip lq (b, t, c, h, w); tile ``size``, ``overlap`` > 0."""
    b, d, c, h, w = lq.shape
    stride = size - overlap
    h_idx_list = list(range(0, h - size, stride)) + [max(0, h - size)]
    w_idx_list = list(range(0, w - size, stride)) + [max(0, w - size)]
    E = torch.zeros(b, d, c, h, w)
    W = torch.zeros_like(E)
    for h_idx in h_idx_list:
        for w_idx in w_idx_list:
            in_patch = lq[..., h_idx:h_idx + size, w_idx:w_idx + size]
            out_patch = net(in_patch).detach().cpu()
            out_patch_mask = torch.ones_like(out_patch)
            if h_idx < h_idx_list[-1]:
                out_patch[..., -overlap // 2:, :] *= 0
                out_patch_mask[..., -overlap // 2:, :] *= 0
            if w_idx < w_idx_list[-1]:
                out_patch[..., :, -overlap // 2:] *= 0
                out_patch_mask[..., :, -overlap // 2:] *= 0
            if h_idx > h_idx_list[0]:
                out_patch[..., :overlap // 2, :] *= 0
                out_patch_mask[..., :overlap // 2, :] *= 0
            if w_idx > w_idx_list[0]:
                out_patch[..., :, :overlap // 2] *= 0
                out_patch_mask[..., :, :overlap // 2] *= 0
            E[..., h_idx:h_idx + size, w_idx:w_idx + size].add_(out_patch)
            W[..., h_idx:h_idx + size, w_idx:w_idx + size].add_(out_patch_mask)
    return E.div_(W)


def reference_official(video: Tensor, net: nn.Module, frames: int, stride: int, size: int, overlap: int) -> Tensor:
    """The authors' temporal windows over video (n, 3, h, w), n >= frames, then clamp like tensor2img."""
    with torch.no_grad():
        lq = video[None]
        b, d, c, h, w = lq.shape
        d_idx_list = list(range(0, d - frames, stride)) + [max(0, d - frames)]
        E = torch.zeros(b, d, c, h, w)
        W = torch.zeros(b, d, 1, 1, 1)
        for d_idx in d_idx_list:
            lq_clip = lq[:, d_idx:d_idx + frames, ...]
            out_clip = reference_clip(lq_clip, net, size, overlap)
            out_clip_mask = torch.ones((b, min(frames, d), 1, 1, 1))
            E[:, d_idx:d_idx + frames, ...].add_(out_clip)
            W[:, d_idx:d_idx + frames, ...].add_(out_clip_mask)
        return E.div_(W)[0].clamp(0, 1)
