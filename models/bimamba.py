"""The bidirectional Mamba layer ("bimamba v2" of Vision Mamba) used in every RainMamba block.

The sequence is scanned twice with separate parameters, once forward and once reversed; the two gated
outputs are summed (not averaged) before the output projection. The scan and the causal conv1d are one
call each into ``models.scan``; its backends (``models.backends``) are the CUDA kernels, the compiled CPU
kernels or plain PyTorch. Their (B, channels, L) inputs are laid out as ``models.scan.token_major`` says
the device's kernels read fastest; the projections keep whatever layout they are given.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .scan import causal_conv1d, selective_scan, token_major


def _at_least_float32(t: Tensor) -> Tensor:
    """SSM parameters stay in float32 under float16/bfloat16 (as in mamba_ssm); float64 stays float64."""
    return t if t.dtype == torch.float64 else t.float()


def _project_tokens(weight: Tensor, tokens: Tensor) -> Tensor:
    """``tokens @ weight.T`` for (B, L, k) tokens as (B, out, L), laid out as ``token_major`` says the
    device's conv and scan read it without a copy: a view of the (B, L, out) product, or (GPU) one 2-D
    matmul with L contiguous, as in mamba_ssm."""
    if token_major(tokens.device):
        return F.linear(tokens, weight).transpose(1, 2)
    batch, length, _ = tokens.shape
    return (weight @ tokens.reshape(batch * length, -1).t()).view(-1, batch, length).transpose(0, 1)


def _times(weight: Tensor, x: Tensor) -> Tensor:
    """``weight @ x[b]`` for each (in, L) item of x: (B, out, L), in x's layout. Token-major x (channels
    adjacent): one (B L, in) @ (in, out) product, a token-major result; L-contiguous x: one batched
    (out, in) @ (in, L) product (``torch.matmul`` takes a slower path for a 2-D weight times a 3-D input)."""
    if x.stride(1) == 1 and x.stride(2) != 1:
        return F.linear(x.transpose(1, 2), weight).transpose(1, 2)
    return torch.bmm(weight.expand(x.shape[0], -1, -1), x)


class BiMamba(nn.Module):
    """Bidirectional selective state-space layer on (B, L, dim) token sequences."""

    def __init__(self, dim: int, d_state: int = 16, d_conv: int = 4, expand: int = 2) -> None:
        super().__init__()
        self.d_inner = expand * dim
        self.d_state = d_state
        self.dt_rank = math.ceil(dim / 16)
        # parameters first, then submodules, in the official order (state_dict order follows registration)
        for suffix in ("", "_b"):
            self.register_parameter(f"A{suffix}_log", nn.Parameter(
                torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1)))
            self.register_parameter(f"D{suffix}", nn.Parameter(torch.ones(self.d_inner)))
        self.in_proj = nn.Linear(dim, 2 * self.d_inner, bias=False)
        for suffix in ("", "_b"):  # the backward direction carries the "_b" suffix of the official weights
            self.add_module(f"conv1d{suffix}", nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner,
                                                         padding=d_conv - 1))
            self.add_module(f"x_proj{suffix}", nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False))
            self.add_module(f"dt_proj{suffix}", nn.Linear(self.dt_rank, self.d_inner, bias=True))
        self.out_proj = nn.Linear(self.d_inner, dim, bias=False)

    def _direction(self, x: Tensor, z: Tensor, suffix: str, reverse: bool, out: Tensor) -> Tensor:
        """One gated scan over (B, d_inner, L) inputs: conv1d -> SiLU -> x_proj -> selective scan, added
        into ``out`` (B, d_inner, L).

        ``reverse`` runs the conv and the scan from the end of the sequence to its start; the result is
        in the input's order (as if the inputs had been flipped, and the output flipped back).
        """
        conv: nn.Conv1d = getattr(self, f"conv1d{suffix}")
        x_proj: nn.Linear = getattr(self, f"x_proj{suffix}")
        dt_proj: nn.Linear = getattr(self, f"dt_proj{suffix}")
        x = causal_conv1d(x, conv.weight[:, 0, :], conv.bias, activation="silu", reverse=reverse)
        # x_proj and dt_proj in x's layout: (B, out, L) results as the scan reads them, no copy of x, B or C
        dt, B, C = torch.split(_times(x_proj.weight, x), [self.dt_rank, self.d_state, self.d_state], dim=1)
        delta = _times(dt_proj.weight, dt)
        A = -torch.exp(_at_least_float32(getattr(self, f"A{suffix}_log")))
        return selective_scan(x, delta, A, B, C,
                              _at_least_float32(getattr(self, f"D{suffix}")), z=z,
                              delta_bias=_at_least_float32(dt_proj.bias), delta_softplus=True, reverse=reverse,
                              out=out)

    def forward(self, u: Tensor) -> Tensor:
        x, z = _project_tokens(self.in_proj.weight, u).chunk(2, dim=1)
        # both directions add into one sum, laid out (B, L, d_inner) as out_proj reads it without a copy
        y = torch.zeros(u.shape[0], u.shape[1], self.d_inner, dtype=x.dtype, device=x.device)
        for suffix, reverse in (("", False), ("_b", True)):
            self._direction(x, z, suffix, reverse, out=y.transpose(1, 2))
        return self.out_proj(y.to(u.dtype))
