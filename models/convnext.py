"""The ConvNeXt encoder of RainMamba, with the official (mmcls-style) tensor names.

Stem and downsampling layers are ``downsample_layers.i``, blocks ``stages.i.j``, per-stage output norms
``norm{i}``. The eps values differ by place (1e-6 in stem, blocks and output norms, 1e-5 in the
downsampling norms) and the weights were trained with them, so they are kept exactly.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 -> LayerNorm -> Linear 4x -> GELU -> Linear -> layer scale -> residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.depthwise_conv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pointwise_conv1 = nn.Linear(dim, 4 * dim)
        self.pointwise_conv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        y = self.depthwise_conv(x).permute(0, 2, 3, 1)
        y = self.pointwise_conv2(F.gelu(self.pointwise_conv1(self.norm(y))))
        return x + (y * self.gamma).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """Four ConvNeXt stages; returns the normalised output of every stage (H/4, H/8, H/16, H/32)."""

    def __init__(self, depths: Sequence[int] = (3, 3, 9, 3), widths: Sequence[int] = (96, 192, 384, 768)) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3, widths[0], kernel_size=4, stride=4), LayerNorm2d(widths[0], eps=1e-6))]
            + [nn.Sequential(LayerNorm2d(widths[i - 1], eps=1e-5), nn.Conv2d(widths[i - 1], widths[i], 2, stride=2))
               for i in range(1, len(widths))]
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(width) for _ in range(depth))) for depth, width in zip(depths, widths)
        )
        for i, width in enumerate(widths):
            self.add_module(f"norm{i}", LayerNorm2d(width, eps=1e-6))
        self.widths = tuple(widths)

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for i, (down, stage) in enumerate(zip(self.downsample_layers, self.stages)):
            x = stage(down(x))
            outs.append(getattr(self, f"norm{i}")(x))
        return outs
