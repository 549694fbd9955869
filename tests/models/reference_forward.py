"""An independent, deliberately plain RainMamba forward pass written from docs/NETWORK.md, used as the oracle.

It reads tensors straight from a state_dict by their official names, mirrors the authors' data movement
(index_select with the curve, scatter_add back, einops-style permutes) and scans step by step, so a mistake
in the package's permutations, eps values, direction handling or block numbering shows up as a mismatch.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from models.hilbert import gilbert3d


def curve(frames: int, h: int, w: int) -> torch.Tensor:
    cells = torch.as_tensor(gilbert3d(h, w, frames), dtype=torch.long)
    return cells[:, 0] * w * frames + cells[:, 1] * frames + cells[:, 2]


def ln2d(x, sd, name, eps):
    return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], sd[name + ".weight"], sd[name + ".bias"], eps).permute(0, 3, 1, 2)


def convnext(x, sd, depths):
    outs = []
    for i, depth in enumerate(depths):
        p = f"feat_extract.downsample_layers.{i}"
        if i == 0:
            x = F.conv2d(x, sd[p + ".0.weight"], sd[p + ".0.bias"], stride=4)
            x = ln2d(x, sd, p + ".1", 1e-6)
        else:
            x = ln2d(x, sd, p + ".0", 1e-5)
            x = F.conv2d(x, sd[p + ".1.weight"], sd[p + ".1.bias"], stride=2)
        for j in range(depth):
            b = f"feat_extract.stages.{i}.{j}"
            y = F.conv2d(x, sd[b + ".depthwise_conv.weight"], sd[b + ".depthwise_conv.bias"], padding=3, groups=x.shape[1])
            y = ln2d(y, sd, b + ".norm", 1e-6).permute(0, 2, 3, 1)
            y = F.linear(y, sd[b + ".pointwise_conv1.weight"], sd[b + ".pointwise_conv1.bias"])
            y = F.linear(F.gelu(y), sd[b + ".pointwise_conv2.weight"], sd[b + ".pointwise_conv2.bias"])
            x = x + (y * sd[b + ".gamma"]).permute(0, 3, 1, 2)
        outs.append(ln2d(x, sd, f"feat_extract.norm{i}", 1e-6))
    return outs


def scan_one_direction(xz, sd, p, sfx):
    """One mamba direction on xz (B, 2D, L), per-step loop."""
    d_inner = xz.shape[1] // 2
    x, z = xz[:, :d_inner], xz[:, d_inner:]
    k = sd[f"{p}.conv1d{sfx}.weight"].shape[-1]
    x = F.silu(F.conv1d(x, sd[f"{p}.conv1d{sfx}.weight"], sd[f"{p}.conv1d{sfx}.bias"], padding=k - 1, groups=d_inner)[..., : xz.shape[-1]])
    dt_rank = sd[f"{p}.dt_proj{sfx}.weight"].shape[1]
    n = sd[f"{p}.A{sfx}_log"].shape[1]
    x_dbl = torch.einsum("bdl,ed->ble", x, sd[f"{p}.x_proj{sfx}.weight"])
    dt, Bm, Cm = x_dbl[..., :dt_rank], x_dbl[..., dt_rank:dt_rank + n], x_dbl[..., dt_rank + n:]
    delta = F.softplus(torch.einsum("blr,dr->bdl", dt, sd[f"{p}.dt_proj{sfx}.weight"]) + sd[f"{p}.dt_proj{sfx}.bias"][:, None])
    A = -torch.exp(sd[f"{p}.A{sfx}_log"])
    h = torch.zeros(x.shape[0], d_inner, n, dtype=x.dtype)
    ys = []
    for t in range(x.shape[-1]):
        h = torch.exp(delta[:, :, t, None] * A) * h + delta[:, :, t, None] * Bm[:, None, t, :] * x[:, :, t, None]
        ys.append((h * Cm[:, None, t, :]).sum(-1) + sd[f"{p}.D{sfx}"] * x[:, :, t])
    return torch.stack(ys, -1) * F.silu(z)


def mamba_block(x_flat, sd, p, grid):
    """x_flat (B, L, C): x + bimamba(LN x); x + mlp(LN x)."""
    dim = x_flat.shape[-1]
    u = F.layer_norm(x_flat, (dim,), sd[p + ".norm1.weight"], sd[p + ".norm1.bias"], 1e-5)
    xz = torch.einsum("bld,ed->bel", u, sd[p + ".mamba.in_proj.weight"])
    y = scan_one_direction(xz, sd, p + ".mamba", "") + scan_one_direction(xz.flip(-1), sd, p + ".mamba", "_b").flip(-1)
    x_flat = x_flat + F.linear(y.transpose(1, 2), sd[p + ".mamba.out_proj.weight"])
    v = F.layer_norm(x_flat, (dim,), sd[p + ".norm2.weight"], sd[p + ".norm2.bias"], 1e-5)
    v = F.linear(v, sd[p + ".mlp.fc1.weight"], sd[p + ".mlp.fc1.bias"])
    B, L, C4 = v.shape
    v = F.conv3d(v.transpose(1, 2).reshape(B, C4, *grid), sd[p + ".mlp.dwconv.dwconv.weight"],
                 sd[p + ".mlp.dwconv.dwconv.bias"], padding=1, groups=C4).flatten(2).transpose(1, 2)
    return x_flat + F.linear(F.gelu(v), sd[p + ".mlp.fc2.weight"], sd[p + ".mlp.fc2.bias"])


def global_block(x, sd, p):
    x = x.permute(0, 2, 1, 3, 4)  # n c d h w
    B, C, nf, H, W = x.shape
    out = mamba_block(x.reshape(B, C, -1).transpose(-1, -2), sd, p, (nf, H, W))
    return out.transpose(-1, -2).reshape(B, C, nf, H, W).permute(0, 2, 1, 3, 4)


def local_block(x, sd, p):
    x = x.permute(0, 2, 1, 3, 4)
    B, C, nf, H, W = x.shape
    x = x.permute(0, 1, 3, 4, 2)  # B C H W T
    cv = curve(nf, H, W)
    seq = x.flatten(2).index_select(-1, cv).transpose(-1, -2)
    out = mamba_block(seq, sd, p, (nf, H, W)).transpose(-1, -2)
    back = torch.zeros_like(out).scatter_add_(-1, cv.expand(B, C, -1), out)
    return back.reshape(B, C, H, W, nf).permute(0, 1, 4, 2, 3).permute(0, 2, 1, 3, 4)


def rainmamba_forward(lqs, sd, depths, blocks=(2, 3, 2), residual=False):
    n, t, c, h, w = lqs.shape
    feats = convnext(lqs.reshape(-1, c, h, w), sd, depths)
    lat = [F.conv2d(f, sd[f"head.lateral_convs.{i}.conv.weight"], sd[f"head.lateral_convs.{i}.conv.bias"]) for i, f in enumerate(feats)]
    ups = [F.interpolate(l, size=lat[0].shape[2:], mode="bilinear", align_corners=True) for l in lat[1:]]
    f = (lat[0] + ups[0] + ups[1] + ups[2]) / 4
    r = F.selu(F.conv2d(f, sd["refine.0.weight"], sd["refine.0.bias"], padding=1))
    r = F.selu(F.conv2d(r, sd["refine.2.weight"], sd["refine.2.bias"], padding=1))
    f = F.conv2d(r, sd["refine.4.weight"], sd["refine.4.bias"]) + f
    C = f.shape[1]
    x = f.view(n, t, C, h // 4, w // 4)
    n1, n2, n3 = blocks
    for k in range(1, n1 + 1):
        x = local_block(global_block(x, sd, f"GlobalMambaBlock{k}"), sd, f"LocalMambaBlock{k}")
    x = F.relu(F.conv3d(x.permute(0, 2, 1, 3, 4), sd["conv1.weight"], sd["conv1.bias"], stride=(1, 2, 2), padding=1)).permute(0, 2, 1, 3, 4)
    for k in range(1, n2 + 1):
        x = local_block(global_block(x, sd, f"GlobalMambaBlockLowRes{k}"), sd, f"LocalMambaBlockLowRes{k}")
    x = F.relu(F.conv_transpose3d(x.permute(0, 2, 1, 3, 4), sd["upconv2.weight"], sd["upconv2.bias"], stride=(1, 2, 2),
                                  padding=1, output_padding=(0, 1, 1))).permute(0, 2, 1, 3, 4)
    for k in range(n1 + 1, n1 + n3 + 1):
        x = local_block(global_block(x, sd, f"GlobalMambaBlock{k}"), sd, f"LocalMambaBlock{k}")
    x = x.permute(0, 2, 1, 3, 4)
    x = F.conv3d(x, sd["conv_before_upsample1.weight"], sd["conv_before_upsample1.bias"], padding=(0, 1, 1))
    x = F.pixel_shuffle(x.permute(0, 2, 1, 3, 4), 2).permute(0, 2, 1, 3, 4)
    x = F.conv3d(x, sd["conv_before_upsample2.weight"], sd["conv_before_upsample2.bias"], padding=(0, 1, 1))
    x = F.pixel_shuffle(x.permute(0, 2, 1, 3, 4), 2).permute(0, 2, 1, 3, 4)
    out = F.conv3d(x, sd["conv_last.weight"], sd["conv_last.bias"], padding=(0, 1, 1)).transpose(1, 2)
    return out + lqs if residual else out
