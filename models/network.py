"""The RainMamba generator: ConvNeXt encoder -> fused H/4 features -> Mamba stages -> pixel-shuffle decoder.

Shapes and names follow the authors' network exactly so their checkpoints load; docs/NETWORK.md, sections
"Generator" to "Bidirectional Mamba layer", is the reference. Every size-dependent piece (the Hilbert curves
above all) is computed from the input it gets, so any T and any H, W that are multiples of 8 (and at least 32)
work.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bimamba import BiMamba
from .convnext import ConvNeXt
from .hilbert import hilbert_raster_inverse, hilbert_raster_order
from .presets import Preset, get_preset


MIN_SIZE = 32  # the encoder's last stage works at H/32, which must keep at least one pixel
SIZE_MULTIPLE = 8  # H/4 features are halved once more by conv1 and restored by upconv2


class SequenceDWConv(nn.Module):
    """Depthwise 3x3x3 conv on a token sequence read as a (T, h, w) raster, whatever its real order."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv3d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        batch, length, dim = x.shape
        # (B, L, C) tokens are a channels-last (B, C, T, h, w) volume: convolving that view needs no copy
        # and is several times faster on a CPU than a transposed contiguous copy.
        x = self.dwconv(x.reshape(batch, *grid, dim).permute(0, 4, 1, 2, 3))
        return x.permute(0, 2, 3, 4, 1).reshape(batch, length, dim)


class Mlp(nn.Module):
    """fc1 -> depthwise 3-D conv over the sequence -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = SequenceDWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        hidden = self.dwconv(self.fc1(x), grid)
        # Without autograd GELU overwrites the conv's output: a fresh tensor of this size (tens of MB on whole
        # frames, above glibc's mmap threshold) is paged in and zeroed by the OS, which costs more than the GELU.
        return self.fc2(F.gelu(hidden) if hidden.requires_grad else torch.ops.aten.gelu_(hidden))


class MambaBlock(nn.Module):
    """x + BiMamba(LN(x)), then + Mlp(LN(x)), on the tokens of a (B, T, C, h, w) feature video.

    ``scan="raster"`` (global blocks) orders tokens t*h*w + y*w + x. ``scan="hilbert"`` (local blocks) flattens
    (h, w, T) with time fastest, reorders along the 3-D Hilbert curve, and scatters the result back. The
    Mlp's depthwise conv still reads the Hilbert-ordered sequence as a (T, h, w) raster: the official weights
    were trained with that quirk, so it is reproduced.
    """

    def __init__(self, dim: int, scan: str) -> None:
        super().__init__()
        if scan not in ("raster", "hilbert"):
            raise ValueError(f"scan must be 'raster' or 'hilbert', got {scan!r}")
        self.scan = scan
        self.norm1 = nn.LayerNorm(dim)
        self.mamba = BiMamba(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)
        self.apply(_init_linear)

    def forward(self, x: Tensor) -> Tensor:
        batch, frames, dim, height, width = x.shape
        grid = (frames, height, width)
        # Raster-ordered (B, L, C) tokens; a free view when x is the output of another block.
        seq = x.permute(0, 1, 3, 4, 2).reshape(batch, -1, dim)
        if self.scan == "hilbert":
            seq = seq[:, hilbert_raster_order(*grid, x.device)]
        seq = seq + self.mamba(self.norm1(seq))
        seq = seq + self.mlp(self.norm2(seq), grid)
        if self.scan == "hilbert":
            seq = seq[:, hilbert_raster_inverse(*grid, x.device)]
        return seq.reshape(batch, frames, height, width, dim).permute(0, 1, 4, 2, 3)


def _init_linear(module: nn.Module) -> None:
    """The authors' block init: every Linear trunc-normal(0.02) with zero bias (dt_proj.bias included)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class LateralConv(nn.Module):
    """A 1x1 projection, wrapped so its tensors are named ``conv.*`` like the official ones."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class ProjectionHead(nn.Module):
    """Projects every encoder stage to C channels."""

    def __init__(self, widths: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.lateral_convs = nn.ModuleList(LateralConv(w, channels) for w in widths)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        return [conv(f) for conv, f in zip(self.lateral_convs, feats)]


def _temporal_taps(x: Tensor, offsets: range) -> Tensor:
    """(B, T, C, h, w) features -> (B*T, k*C, h, w) frames whose channels are frames t + offset (zero outside
    the clip), one block of C per offset; laid out channels-last, which the 2-D convs read fastest."""
    batch, frames, dim, height, width = x.shape
    pad = max(abs(o) for o in offsets)
    tokens = F.pad(x.permute(0, 1, 3, 4, 2), (0, 0, 0, 0, 0, 0, pad, pad))   # (B, T + 2 pad, h, w, C)
    taps = torch.cat([tokens[:, pad + o:pad + o + frames] for o in offsets], dim=-1)
    return taps.reshape(batch * frames, height, width, -1).permute(0, 3, 1, 2)


def _conv3d_as_2d(conv: nn.Conv3d | nn.ConvTranspose3d, x: Tensor) -> Tensor:
    """``conv`` (temporal stride 1) on (B, T, C, h, w) features, as one 2-D (transposed) conv of the frames
    with their temporal neighbours stacked as channels; returns (B, T, C', h', w'), channels-last.

    The same sums as the 3-D conv, in another order; PyTorch's CPU Conv3d and ConvTranspose3d with these
    strides fall back to unfold + matmul kernels several times slower than the 2-D ones.
    """
    batch, frames = x.shape[:2]
    k, p = conv.kernel_size[0], conv.padding[0]
    if isinstance(conv, nn.ConvTranspose3d):   # out[t] = sum_j x[t + p - j] W[:, :, j], W (in, out, k, kh, kw)
        weight = torch.cat([conv.weight[:, :, j] for j in range(k)], dim=0)
        y = F.conv_transpose2d(_temporal_taps(x, range(p, p - k, -1)), weight, conv.bias, conv.stride[1:],
                               conv.padding[1:], conv.output_padding[1:])
    else:                                      # out[t] = sum_j x[t + j - p] W[:, :, j], W (out, in, k, kh, kw)
        weight = torch.cat([conv.weight[:, :, j] for j in range(k)], dim=1)
        y = F.conv2d(_temporal_taps(x, range(-p, k - p)), weight, conv.bias, conv.stride[1:], conv.padding[1:])
    return y.reshape(batch, frames, *y.shape[1:])


class RainMamba(nn.Module):
    """Video deraining network: (B, T, 3, H, W) rainy frames in [0, 1] -> (B, T, 3, H, W) clean frames."""

    min_size = MIN_SIZE

    def __init__(self, preset: Preset | str = "vrds") -> None:
        super().__init__()
        self.preset = get_preset(preset)
        arch = self.preset.arch
        c = self.num_features = arch.num_features
        n_high, n_low, n_last = arch.blocks
        self.feat_extract = ConvNeXt(arch.encoder_depths, arch.encoder_widths)
        self.head = ProjectionHead(arch.encoder_widths, c)
        self.refine = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.SELU(), nn.Conv2d(c, c, 3, padding=1),
                                    nn.SELU(), nn.Conv2d(c, c, 1))
        self.conv1 = nn.Conv3d(c, 2 * c, 3, stride=(1, 2, 2), padding=1)
        self.upconv2 = nn.ConvTranspose3d(2 * c, c, 3, stride=(1, 2, 2), padding=1, output_padding=(0, 1, 1))
        d = arch.decoder_width
        self.conv_before_upsample1 = nn.Conv3d(c, d, (1, 3, 3), padding=(0, 1, 1))
        self.conv_before_upsample2 = nn.Conv3d(d // 4, d // 2, (1, 3, 3), padding=(0, 1, 1))
        self.conv_last = nn.Conv3d(d // 8, 3, (1, 3, 3), padding=(0, 1, 1))
        # the official names number the H/4 blocks across both H/4 stages: 1..n_high, then n_high+1..
        self.stage_high = self._add_blocks("", range(1, n_high + 1), c)
        self.stage_low = self._add_blocks("LowRes", range(1, n_low + 1), 2 * c)
        self.stage_last = self._add_blocks("", range(n_high + 1, n_high + n_last + 1), c)

    def _add_blocks(self, suffix: str, numbers: range, dim: int) -> list[str]:
        names = []
        for k in numbers:
            for kind, scan in (("Global", "raster"), ("Local", "hilbert")):
                name = f"{kind}MambaBlock{suffix}{k}"
                self.add_module(name, MambaBlock(dim, scan))
                names.append(name)
        return names

    def _run_stage(self, names: list[str], x: Tensor) -> Tensor:
        for name in names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        batch, frames, _, height, width = x.shape
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE or min(height, width) < MIN_SIZE:
            raise ValueError(f"RainMamba needs H and W to be multiples of 8 and at least {MIN_SIZE}, got "
                             f"{height}x{width}: pad the frames (models.Derainer does it for you).")
        # channels-last frames: the encoder's LayerNorms and Linears read them without a transposed copy,
        # and the H/4 features come out in the (B, T, h, w, C) token layout the Mamba blocks use
        frames_in = x.reshape(batch * frames, 3, height, width).contiguous(memory_format=torch.channels_last)
        d1, d2, d3, d4 = self.head(self.feat_extract(frames_in))
        size = d1.shape[-2:]
        up = functools.partial(F.interpolate, size=size, mode="bilinear", align_corners=True)
        f = (d1 + up(d2) + up(d3) + up(d4)) / 4
        f = self.refine(f) + f
        f = f.reshape(batch, frames, self.num_features, *size)

        f = self._run_stage(self.stage_high, f)
        f = F.relu(_conv3d_as_2d(self.conv1, f))
        f = self._run_stage(self.stage_low, f)
        f = F.relu(_conv3d_as_2d(self.upconv2, f))
        f = self._run_stage(self.stage_last, f)
        out = self._decode(f)
        # The official networks predict the clean frames directly; a small network learns far faster
        # when it only has to predict the rain (what to subtract), so `tiny` adds its input back.
        return out + x if self.preset.arch.residual else out

    def _decode(self, f: Tensor) -> Tensor:
        """Per-frame conv -> PixelShuffle(2) -> conv -> PixelShuffle(2) -> conv; (B, T, C, h, w) -> (B, T, 3, H, W)."""
        batch, frames = f.shape[:2]
        x = f.reshape(batch * frames, *f.shape[2:])
        x = F.pixel_shuffle(_per_frame(self.conv_before_upsample1, x), 2)
        x = F.pixel_shuffle(_per_frame(self.conv_before_upsample2, x), 2)
        x = _per_frame(self.conv_last, x)
        return x.reshape(batch, frames, *x.shape[1:])


def _per_frame(conv: nn.Conv3d, frames: Tensor) -> Tensor:
    """A (1, k, k) Conv3d applied to (N, C, H, W) frames as the 2-D conv it is (PyTorch's CPU Conv3d
    falls back to a slow kernel for it)."""
    return F.conv2d(frames, conv.weight[:, :, 0], conv.bias, padding=conv.padding[1:])


def build(preset: Preset | str = "vrds") -> RainMamba:
    """A RainMamba network for ``preset`` with the authors' initialisation (random weights)."""
    return RainMamba(preset)
