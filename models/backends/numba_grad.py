"""A differentiable CPU selective scan: numba kernels for the forward pass and its exact backward pass.

Training on a CPU spends most of its time in the scan. Autograd through a PyTorch scan keeps every
intermediate and replays thousands of small ops; here one compiled pass computes the output and one
compiled pass walks the sequence backwards for all gradients, recomputing the states it needs (per
batch item and channel, L x N floats) instead of storing them. Float32 throughout; gradients of B and C
are reduced over channels after the kernel, everything else inside it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._numba import numba
from .numba_cpu import LAUNCH_LOCK, follow_torch_threads

prange = numba.prange


@numba.njit(inline="always", cache=True)
def _softplus(x):
    return x if x > 20.0 else np.log1p(np.exp(x))


@numba.njit(inline="always", cache=True)
def _dt(delta, bias, softplus):
    return _softplus(delta + bias) if softplus else delta + bias


@numba.njit(cache=True)
def _states(u, delta, A, Bm, bias, softplus, b, d):
    """Every state h_t (L, N) of channel d of batch item b: h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t."""
    length, n_state = u.shape[2], A.shape[1]
    states = np.empty((length, n_state), np.float32)
    h = np.zeros(n_state, np.float32)
    for t in range(length):
        dt = _dt(delta[b, d, t], bias[d], softplus)
        du = dt * u[b, d, t]
        for n in range(n_state):
            h[n] = np.exp(dt * A[d, n]) * h[n] + du * Bm[b, n, t]
            states[t, n] = h[n]
    return states


@numba.njit(parallel=True, cache=True, nogil=True)
def _forward(u, delta, A, Bm, Cm, Dv, z, bias, softplus, gated, y_out, out):
    """out = (sum_n C h + D u) * SiLU(z) (no gate unless ``gated``), y_out = the value before the gate."""
    batch, dim, length = u.shape
    for job in prange(batch * dim):
        b, d = job // dim, job % dim
        states = _states(u, delta, A, Bm, bias, softplus, b, d)
        for t in range(length):
            acc = np.float32(0.0)
            for n in range(A.shape[1]):
                acc += states[t, n] * Cm[b, n, t]
            yv = acc + Dv[d] * u[b, d, t]
            y_out[b, d, t] = yv
            if gated:
                zz = z[b, d, t]
                yv = yv * zz / (1.0 + np.exp(-zz))
            out[b, d, t] = yv


@numba.njit(parallel=True, cache=True, nogil=True)
def _backward(u, delta, A, Bm, Cm, Dv, z, bias, softplus, gated, y, gout,
              gu, gdelta, gA_part, gB_part, gC_part, gD_part, gbias_part, gz):
    """Reverse-time pass. u, delta, z, y, gout, gu, gdelta, gz: (B, D, L); A: (D, N); Bm, Cm: (B, N, L);
    gA_part: (B, D, N); gB_part, gC_part: (B, D, N, L); gD_part, gbias_part: (B, D)."""
    batch, dim, length = u.shape
    n_state = A.shape[1]
    for job in prange(batch * dim):
        b, d = job // dim, job % dim
        states = _states(u, delta, A, Bm, bias, softplus, b, d)
        gh = np.zeros(n_state, np.float32)
        gD = np.float32(0.0)
        gbias = np.float32(0.0)
        for t in range(length - 1, -1, -1):
            raw = delta[b, d, t] + bias[d]
            dt = _softplus(raw) if softplus else raw
            ut = u[b, d, t]
            gy = gout[b, d, t]
            if gated:
                zz = z[b, d, t]
                sig = 1.0 / (1.0 + np.exp(-zz))
                gz[b, d, t] = gy * y[b, d, t] * sig * (1.0 + zz * (1.0 - sig))
                gy = gy * zz * sig
            gD += gy * ut
            gut = gy * Dv[d]
            gdt = np.float32(0.0)
            for n in range(n_state):
                gh[n] += gy * Cm[b, n, t]
                gC_part[b, d, n, t] = gy * states[t, n]
                a = np.exp(dt * A[d, n])
                hprev = states[t - 1, n] if t > 0 else np.float32(0.0)
                ga = gh[n] * hprev * a
                gdt += ga * A[d, n] + gh[n] * ut * Bm[b, n, t]
                gA_part[b, d, n] += ga * dt
                gut += gh[n] * dt * Bm[b, n, t]
                gB_part[b, d, n, t] = gh[n] * dt * ut
                gh[n] *= a
            graw = gdt / (1.0 + np.exp(-raw)) if softplus else gdt
            gdelta[b, d, t] = graw
            gbias += graw
            gu[b, d, t] = gut
        gD_part[b, d] = gD
        gbias_part[b, d] = gbias


def _np(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(torch.float32).numpy())


class _NumbaScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus):
        follow_torch_threads()
        ctx.gated = z is not None
        z = z if z is not None else u.new_zeros(1, 1, 1)
        arrays = [_np(t) for t in (u, delta, A, B, C, D, z, delta_bias)]
        y = np.empty(u.shape, np.float32)
        out = np.empty(u.shape, np.float32)
        with LAUNCH_LOCK:
            _forward(*arrays, bool(softplus), ctx.gated, y, out)
        ctx.softplus = bool(softplus)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, torch.from_numpy(y))
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, gout):
        follow_torch_threads()
        u, delta, A, B, C, D, z, delta_bias, y = ctx.saved_tensors
        batch, dim, length = u.shape
        n_state = A.shape[1]
        gu, gdelta, gz = (np.empty(u.shape, np.float32) for _ in range(3))
        gA_part = np.zeros((batch, dim, n_state), np.float32)
        gB_part = np.empty((batch, dim, n_state, length), np.float32)
        gC_part = np.empty((batch, dim, n_state, length), np.float32)
        gD_part = np.empty((batch, dim), np.float32)
        gbias_part = np.empty((batch, dim), np.float32)
        inputs = [_np(t) for t in (u, delta, A, B, C, D, z, delta_bias)]
        with LAUNCH_LOCK:
            _backward(*inputs, ctx.softplus, ctx.gated, _np(y), _np(gout),
                      gu, gdelta, gA_part, gB_part, gC_part, gD_part, gbias_part, gz)
        t = torch.from_numpy
        return (t(gu), t(gdelta), t(gA_part.sum(0)), t(gB_part.sum(1)), t(gC_part.sum(1)), t(gD_part.sum(0)),
                t(gz) if ctx.gated else None, t(gbias_part.sum(0)), None)


def selective_scan_numba_grad(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                              z: Tensor | None = None, delta_bias: Tensor | None = None,
                              delta_softplus: bool = False) -> Tensor:
    """Selective scan (mamba_ssm shapes) on CPU tensors with exact float32 gradients for every input."""
    dim = u.shape[1]
    zeros = u.new_zeros(dim, dtype=torch.float32)
    D = D if D is not None else zeros
    delta_bias = delta_bias if delta_bias is not None else zeros
    out = _NumbaScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return out.to(u.dtype)
