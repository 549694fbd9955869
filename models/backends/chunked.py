"""The ``torch`` backend: the project's own selective scan in plain PyTorch, a chunked linear recurrence
with autograd; runs on any device and dtype.

Why chunked: a per-step loop over L = T*h*w tokens (20480 for one vrds window) issues tens of
thousands of tiny kernels. Here the sequence is cut into chunks of ``chunk`` steps; one loop of
``chunk`` steps runs every chunk at once (zero initial state), a recursive scan over the chunk ends
gives the true state entering each chunk, and a broadcast adds that carried state, decayed by
``exp(cumsum(delta*A))``, to every position. All exponents are cumulative sums of ``delta*A`` (A
negative, delta >= 0), so they stay <= 0 and nothing overflows; no division by a decay is ever
made. Gradients come from autograd, so the backward is exact for any shape.

The state is float32 for float32/float16/bfloat16 inputs and float64 for float64 inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from . import ref
from .ref import skip_and_gate

name = "torch"
has_backward = True
native_reverse = False
adds_into_out = False
DEFAULT_CHUNK = 16


def _state_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _loop(decay: Tensor, inp: Tensor, inplace: bool) -> Tensor:
    """h_i = decay_i * h_{i-1} + inp_i along dim 0, h_{-1} = 0; returns every h_i."""
    if inplace:
        states = torch.empty_like(inp)
        states[0] = inp[0]
        for i in range(1, inp.shape[0]):
            torch.addcmul(inp[i], decay[i], states[i - 1], out=states[i])
        return states
    h = inp[0]
    hs = [h]
    for i in range(1, inp.shape[0]):
        h = torch.addcmul(inp[i], decay[i], h)
        hs.append(h)
    return torch.stack(hs)


def _scan_chunks(dlt: Tensor, A: Tensor, inp: Tensor, chunk: int, inplace: bool) -> Tensor:
    """States of h_t = exp(dlt_t A) h_{t-1} + inp_t, h_{-1} = 0, given in chunked layout.

    ``inp`` is (Lc, nC, ...): step i of chunk c at [i, c]; ``dlt * A`` broadcasts to ``inp``'s shape.
    Returns the states in ``inp``'s layout; with ``inplace``, ``inp`` is reused.
    """
    decay = dlt * A
    decay = decay.exp_() if inplace else decay.exp()
    states = _loop(decay, inp, inplace)            # every chunk started from zero
    if inp.shape[1] == 1:
        return states
    # A is constant in time, so the decay from a chunk's start is exp(cumsum(dlt) * A): exponent <= 0.
    cum = dlt.cumsum(0)
    # True state at each chunk end: the same recurrence over chunks, one step per chunk.
    ends = _scan_time_first(cum[-1], A, states[-1], chunk, inplace=False)
    carry = torch.cat([torch.zeros_like(ends[:1]), ends[:-1]])   # state entering each chunk
    if inplace:
        torch.mul(cum, A, out=decay)
        states.add_(decay.exp_().mul_(carry))
        return states
    return states + (cum * A).exp() * carry


def _scan_time_first(dlt: Tensor, A: Tensor, inp: Tensor, chunk: int, inplace: bool) -> Tensor:
    """Like ``_scan_chunks`` for a plain (L, *M) layout: chunks it, scans, and undoes the chunking."""
    length = inp.shape[0]
    if length <= chunk:
        return _loop((dlt * A).exp(), inp, inplace)
    n_chunks = -(-length // chunk)
    pad = n_chunks * chunk - length

    def chunked(t: Tensor) -> Tensor:              # padded steps: dlt 0 (decay 1), input 0
        t = torch.cat([t, t.new_zeros(pad, *t.shape[1:])]) if pad else t
        return t.reshape(n_chunks, chunk, *t.shape[1:]).transpose(0, 1).contiguous()

    states = _scan_chunks(chunked(dlt), A, chunked(inp), chunk, inplace)
    return states.transpose(0, 1).reshape(n_chunks * chunk, *inp.shape[1:])[:length]


def selective_scan_chunked(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                           z: Tensor | None = None, delta_bias: Tensor | None = None,
                           delta_softplus: bool = False, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """Selective scan with mamba_ssm's shapes, computed chunk-wise; differentiable in every input.

    u, delta, z: (B, D, L); A: (D, N); B, C: (B, N, L); D, delta_bias: (D,). Returns y (B, D, L) in
    u's dtype. ``chunk`` trades Python steps against work per step; the result does not depend on it.
    """
    # autocast would run the C contraction (an einsum) in half precision: keep the scan in float32
    with torch.autocast(u.device.type, enabled=False):
        return _selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk)


def _selective_scan_chunked(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                            z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
                            chunk: int) -> Tensor:
    out_dtype = u.dtype
    sdt = _state_dtype(u.dtype)
    u, delta, A, B, C = (t.to(sdt) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(sdt)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    inplace = not (torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (u, delta, A, B, C)))

    lc = max(1, min(chunk, length))
    n_chunks = -(-length // lc)
    pad = n_chunks * lc - length
    # Padded steps have delta = 0 and B = 0: decay 1 and no input, so they change nothing before them.
    delta_p, du_p, B_p, C_p = (F.pad(t, (0, pad)) if pad else t for t in (delta, delta * u, B, C))

    def steps_first(t: Tensor) -> Tensor:          # (B, X, L) -> (Lc, nC, B, X), contiguous
        return t.reshape(batch, t.shape[1], n_chunks, lc).permute(3, 2, 0, 1).contiguous()

    # States as (Lc, nC, B, N, D): one chunk step of every chunk is a contiguous slab for the loop,
    # and D innermost keeps the broadcast products vectorised.
    dlt = steps_first(delta_p)[:, :, :, None, :]
    inp = steps_first(du_p)[:, :, :, None, :] * steps_first(B_p)[..., None]
    states = _scan_chunks(dlt, A.t().contiguous(), inp, lc, inplace)
    y = torch.einsum("icbnd,icbn->icbd", states, steps_first(C_p))       # (Lc, nC, B, D)
    y = y.permute(2, 3, 1, 0).reshape(batch, dim, n_chunks * lc)[..., :length]
    return skip_and_gate(y, u, D, z, out_dtype)


# Plain PyTorch, like `ref`: it runs wherever PyTorch does.
available, unavailable_reason, why_not = ref.available, ref.unavailable_reason, ref.why_not
forward = selective_scan_chunked
