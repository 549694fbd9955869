"""The ``ref`` backend: the plain per-step loop, the oracle every other backend is tested against."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

name = "ref"
has_backward = True
native_reverse = False
adds_into_out = False


def selective_scan_ref(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                       z: Tensor | None = None, delta_bias: Tensor | None = None,
                       delta_softplus: bool = False) -> Tensor:
    """Straightforward per-step scan: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = <C_t, h_t> + D u_t.

    Float16/bfloat16 inputs are computed in float32, float64 in float64. Differentiable.
    """
    dtype = u.dtype
    sdt = torch.float64 if dtype == torch.float64 else torch.float32
    u, delta, A, B, C = (t.to(sdt) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].to(sdt)
    if delta_softplus:
        delta = F.softplus(delta)
    decay = torch.exp(delta[..., None] * A[:, None, :])               # (B, D, L, N)
    drive = (delta * u)[..., None] * B.transpose(1, 2)[:, None]        # (B, D, L, N)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1))
    return skip_and_gate(torch.stack(ys, dim=-1), u, D, z, dtype)


def skip_and_gate(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None, dtype: torch.dtype) -> Tensor:
    """The scan's epilogue, as every PyTorch backend computes it: ``(y + D u) * silu(z)``, cast to ``dtype``."""
    if D is not None:
        y = y + u * D.to(y.dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(dtype)


def available() -> bool:
    """Plain PyTorch: always (so are the ``torch`` backend's answers, which reuse these three)."""
    return True


def unavailable_reason() -> str:
    return ""


def why_not(u: Tensor) -> str | None:
    return None


forward = selective_scan_ref
