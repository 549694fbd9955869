"""The compiled CPU inference kernels (numba): the selective scan, and the causal conv1d + SiLU before it
(`conv_silu_kernel`, one pass instead of K multiply-adds and an activation over the whole sequence);
imported only by ``numba_cpu`` on first use. About the scan:

Each parallel job is one batch item and a block of 16, 32 or 64 channels (``lanes_for``). Its (d_state, lanes) state
stays in L1 cache while the job walks the sequence once, and every inner loop runs across the channel
lanes, so the compiler vectorises it without reordering any sum (of the fast-math flags only
``contract`` is on: a*b+c may become one fused multiply-add, which rounds once instead of twice;
nothing is reassociated and inf/nan behave as usual). Both kernels read and write token-major rows
((B, L, channels), C-contiguous): a block's inputs at one step are adjacent, one vector load each,
where channel-major (B, D, L) inputs would need a gather of scalars 4L bytes apart. ``exp`` and
``softplus`` are float32 polynomials inlined here (within a few ulp of libm's) because calls to libm
cannot be vectorised. Bias, softplus, the D skip and the SiLU(z) gate are fused in, so the inputs are
read once and nothing of size (B, D, L) is made besides the output.
The conv kernel is compiled when this module is first imported (``numba_cpu`` imports it on first use),
each width of the scan kernel on its first call; all are cached on disk (``cache=True``). Everything the
kernels use is defined at module level so that the cache is found again.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from ._numba import numba

LANES = 16     # the narrowest block of channels a scan job runs: one AVX-512 register or two AVX2 ones of float32
LANE_WIDTHS = (64, 32, 16)  # the block widths compiled (scan_kernels), widest first

_F = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F(1.44269504088896341), _F(0.693359375), _F(-2.12194440e-4)
_P0, _P1, _P2 = _F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3)
_P3, _P4, _P5 = _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1)
_X_MIN, _X_MAX = _F(-87.3), _F(88.3)  # exp below the minimum is ~1e-38: a vanished state
_ZERO, _HALF, _ONE, _TWO = _F(0.0), _F(0.5), _F(1.0), _F(2.0)
_Q3, _Q5, _Q7, _Q9 = _F(1 / 3), _F(1 / 5), _F(1 / 7), _F(1 / 9)
_Q11, _Q13, _Q15 = _F(1 / 11), _F(1 / 13), _F(1 / 15)


@intrinsic
def _bits_as_float32(typingctx, bits):
    """Reinterpret an int32's bits as a float32 (C's memcpy), vectorisable unlike ldexp."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@numba.njit(inline="always", cache=True, fastmath={"contract"})
def exp32(x):
    """exp(x) for float32 x: 2**k * p(r) with x = k ln2 + r, |r| <= ln2 / 2."""
    x = min(max(x, _X_MIN), _X_MAX)
    k = np.floor(x * _LOG2E + _HALF)
    r = x - k * _LN2_HI - k * _LN2_LO
    p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
    p = p * r * r + r + _ONE
    return p * _bits_as_float32((np.int32(k) + np.int32(127)) << np.int32(23))


@numba.njit(inline="always", cache=True, fastmath={"contract"})
def log1p_unit(y):
    """log(1 + y) for float32 y in [0, 1], as 2 atanh(s), s = y / (2 + y) <= 1/3 (odd series to s**15)."""
    s = y / (_TWO + y)
    s2 = s * s
    series = ((((((_Q15 * s2 + _Q13) * s2 + _Q11) * s2 + _Q9) * s2 + _Q7) * s2 + _Q5) * s2 + _Q3) * s2 + _ONE
    return _TWO * s * series


@numba.njit(inline="always", cache=True, fastmath={"contract"})
def softplus32(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): never overflows, exact x for large x."""
    return max(x, _ZERO) + log1p_unit(exp32(-abs(x)))


# Every (B, D, L) operand comes as its token-major rows: a C-contiguous (B, L, W) array whose columns
# cols[i] .. cols[i] + D - 1 hold the operand's D channels (W > D for a slice of a wider projection, such as
# z in in_proj's output, read in place). With unit strides known at compile time, one step of a block of
# channels is one vector load per operand; read through runtime strides it is a gather. These are the types
# each scan kernel is compiled for (tests/models/test_scan.py checks that no other is ever compiled).
SCAN_SIGNATURE = ("void(f4[:, :, ::1], f4[:, :, ::1], f4[:, ::1], f4[:, :, ::1], f4[:, :, ::1], "   # u, delta, A, B, C
              "f4[::1], f4[:, :, ::1], f4[::1], i8[::1], b1, b1, b1, f4[:, :, ::1])")
#              D, z, delta_bias, cols (u, delta, B, C, z, out), softplus, reverse, accumulate, out


@numba.njit(inline="always", cache=True, fastmath={"contract"})
def _scan_block(u, delta, A, Bm, Cm, Dv, z, delta_bias, cols, softplus, reverse, accumulate, out, b, d0, lanes):
    """One job of the scan: batch item b, channels d0 .. d0 + lanes - 1 (``lanes`` a compile-time constant)."""
    length, n_state = u.shape[1], A.shape[1]
    u0, dl0, b0, c0, z0, o0 = cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
    has_d, has_z, has_bias = Dv.shape[0] > 0, z.shape[0] > 0, delta_bias.shape[0] > 0
    h = np.zeros((n_state, lanes), np.float32)
    a = np.empty((n_state, lanes), np.float32)
    bias = np.zeros(lanes, np.float32)
    skip = np.zeros(lanes, np.float32)
    for j in range(lanes):
        for n in range(n_state):
            a[n, j] = A[d0 + j, n]
        if has_bias:
            bias[j] = delta_bias[d0 + j]
        if has_d:
            skip[j] = Dv[d0 + j]
    dt = np.empty(lanes, np.float32)
    x = np.empty(lanes, np.float32)
    acc = np.empty(lanes, np.float32)
    for step in range(length):
        t = length - 1 - step if reverse else step
        uu = u[b, t, u0 + d0:u0 + d0 + lanes]
        dd = delta[b, t, dl0 + d0:dl0 + d0 + lanes]
        for j in range(lanes):
            dt[j] = dd[j] + bias[j]
        if softplus:
            for j in range(lanes):
                dt[j] = softplus32(dt[j])
        for j in range(lanes):
            x[j] = dt[j] * uu[j]
            acc[j] = 0
        for n in range(n_state):
            bn = Bm[b, t, b0 + n]
            cn = Cm[b, t, c0 + n]
            for j in range(lanes):
                hv = exp32(dt[j] * a[n, j]) * h[n, j] + x[j] * bn
                h[n, j] = hv
                acc[j] += hv * cn
        for j in range(lanes):
            acc[j] += skip[j] * uu[j]
        if has_z:
            zz = z[b, t, z0 + d0:z0 + d0 + lanes]
            for j in range(lanes):
                acc[j] *= zz[j] / (_ONE + exp32(-zz[j]))
        row = out[b, t, o0 + d0:o0 + d0 + lanes]
        if accumulate:
            for j in range(lanes):
                row[j] += acc[j]
        else:
            for j in range(lanes):
                row[j] = acc[j]


# One compiled kernel per block width: each job's block is its own (d_state, lanes) state, and wider blocks
# give the core more independent work per step (4 registers of exp and state updates in flight instead of 1)
# at the price of fewer jobs to spread over the threads (``lanes_for`` picks). Each channel's arithmetic
# is the same at every width, so every width gives the same bits. Each is compiled on its first call (then
# cached on disk), so a first run compiles only the widths it uses; `selective_scan_numba` hands them only
# C-contiguous float32 rows, so each compiles once, for the types of SCAN_SIGNATURE.
def _scan_kernel_in_blocks_of(lanes: int):
    """The whole selective scan of mamba_ssm in one pass over the sequence, on token-major rows, one parallel
    job per batch item and block of ``lanes`` channels.

    u, delta, z, out: (B, L, .) rows, Bm, Cm: (B, L, .) rows holding the N state inputs; A: (D, N);
    Dv, delta_bias: (D,); D a multiple of ``lanes`` (the caller pads). A length-0 Dv, z or delta_bias means
    "not given". Per (b, d): dt = softplus(delta + bias) (if ``softplus``), h_t = exp(dt A) h_{t-1} + dt u_t B_t,
    y_t = <C_t, h_t> + D u_t, times SiLU(z_t); ``reverse`` walks t from the last step to the first.
    ``accumulate``: out += y (both directions of a bidirectional layer summed where they are written).
    ``lanes`` is a constant of the compiled kernel (numba freezes closure variables), and part of its cache key.
    """
    @numba.njit(parallel=True, fastmath={"contract"}, cache=True, nogil=True)
    def scan_kernel(u, delta, A, Bm, Cm, Dv, z, delta_bias, cols, softplus, reverse, accumulate, out):
        n_blocks = A.shape[0] // lanes
        for job in numba.prange(u.shape[0] * n_blocks):
            _scan_block(u, delta, A, Bm, Cm, Dv, z, delta_bias, cols, softplus, reverse, accumulate, out,
                        job // n_blocks, (job % n_blocks) * lanes, lanes)
    return scan_kernel


scan_kernels = {lanes: _scan_kernel_in_blocks_of(lanes) for lanes in LANE_WIDTHS}


def lanes_for(batch: int, dim: int, threads: int) -> int:
    """The widest block (of LANE_WIDTHS) that divides ``dim`` (a multiple of LANES) and still gives every
    thread a job: a (1, 64, L) scan on 2 threads runs as 2 jobs of 32 channels, a (1, 128, L) one as 2 of 64."""
    for lanes in LANE_WIDTHS:
        if dim % lanes == 0 and batch * (dim // lanes) >= threads:
            return lanes
    return LANES


CONV_STEPS = 512  # steps per parallel job of the conv


@numba.njit("void(f4[:, :, ::1], i8, f4[:, ::1], f4[::1], b1, b1, f4[:, :, ::1])", parallel=True,
            fastmath={"contract"}, cache=True, nogil=True)
def conv_silu_kernel(x, col, weight_t, bias, silu, reverse, out):
    """Depthwise causal conv1d (+ SiLU) in one pass on token-major rows: x (B, L, W) with the D channels at
    columns col .. col + D - 1, out (B, L, D); weight_t (K, D), the conv's taps transposed; bias (D,) (length 0:
    none). out[t] = bias + w[K-1] x[t] + sum_k w[k] x[t - (K-1) + k] (reverse: x[t + (K-1) - k]), summed in
    that order, as `models.scan`'s shifted multiply-adds do; each step is a few vector operations across D."""
    n_batch, length = x.shape[0], x.shape[1]
    width, n_dim = weight_t.shape
    has_bias = bias.shape[0] > 0
    n_chunks = (length + CONV_STEPS - 1) // CONV_STEPS
    for job in numba.prange(n_batch * n_chunks):
        b = job // n_chunks
        start = (job % n_chunks) * CONV_STEPS
        last = weight_t[width - 1]
        for t in range(start, min(length, start + CONV_STEPS)):
            src, dest = x[b, t, col:col + n_dim], out[b, t]
            if has_bias:
                for d in range(n_dim):
                    dest[d] = bias[d] + src[d] * last[d]
            else:
                for d in range(n_dim):
                    dest[d] = src[d] * last[d]
            for k in range(width - 1):
                s = t + (width - 1 - k) if reverse else t - (width - 1 - k)
                if 0 <= s < length:
                    tap, wk = x[b, s, col:col + n_dim], weight_t[k]
                    for d in range(n_dim):
                        dest[d] += tap[d] * wk[d]
            if silu:
                for d in range(n_dim):
                    v = dest[d]
                    dest[d] = v / (_ONE + exp32(-v))
