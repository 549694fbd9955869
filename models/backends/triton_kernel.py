"""The selective scan forward as a Triton kernel: fast inference on GPUs without mamba_ssm.

Why: mamba_ssm's CUDA kernel needs a compiled package that often cannot be installed (no network,
no toolkit), and without it a GPU falls back to the chunked PyTorch scan, which launches many small
kernels. Triton ships with PyTorch's CUDA wheels and compiles this kernel on the machine itself.

What: the forward of ``mamba_ssm``'s ``selective_scan_fn`` (same shapes and semantics as
``models.backends.ref.selective_scan_ref``), plus ``reverse`` (scan from the last step to the first) done by
walking the sequence backwards, without flipped copies. No autograd: training uses mamba_ssm's
kernel or the chunked PyTorch scan; ``models.backends`` only sends no-grad calls here.

How: one program per (batch, channel) sequence. It walks L in chunks of BLOCK_L steps on a
(d_state, BLOCK_L) tile: within a chunk, ``tl.associative_scan`` composes the steps
h -> exp(dt A) h + dt u B, the state entering the chunk is pushed through the composed steps, C
reduces the states over d_state to y, and the D skip and the SiLU(z) gate are applied before the
store. The state is carried in float32 from chunk to chunk, whatever the input dtype; every
exponent is dt*A <= 0 (nothing overflows, nothing is divided by a decay).

Inputs are read through their strides (the network hands over L-contiguous views with unusual
batch/channel strides); only B and C, which every channel of a batch reads, are copied when their
L stride is not 1. CPU tensors are accepted only under Triton's interpreter (TRITON_INTERPRET=1
set before this module is imported), which is how the tests run the real kernel without a GPU.
"""
from __future__ import annotations

import torch
from torch import Tensor

try:  # triton is optional: the rest of the project must import without it
    import triton
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction
except (ImportError, OSError, RuntimeError) as exc:  # missing, or built for another torch / platform
    triton = tl = InterpretedFunction = None
    _IMPORT_ERROR = f"triton does not import ({type(exc).__name__}: {exc})"
else:
    _IMPORT_ERROR = ""

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# Elements of a program's (d_state, BLOCK_L) tile by default: BLOCK_L = 128 for d_state 16, which ptxas
# fits in about 150 registers a thread at 4 warps on sm_90, without spills.
TILE = 2048
MAX_BLOCK_L = 256


def _jit(fn):
    """``triton.jit`` when triton imported (an interpreted function under TRITON_INTERPRET=1)."""
    return triton.jit(fn) if triton is not None else fn


@_jit
def _compose(decay_1, drive_1, decay_2, drive_2):
    """Step h -> decay_1 h + drive_1 followed by step h -> decay_2 h + drive_2, as one such step."""
    return decay_1 * decay_2, decay_2 * drive_1 + drive_2


@_jit
def _softplus(x):
    """log(1 + e^x), passing x through above 20 as torch does.

    log1p(e) is computed as log(w) * e / (w - 1) with w = 1 + e, which restores the digits of a
    small e that rounding 1 + e loses (libdevice's log1p would too, but the interpreter has none);
    the inner where only keeps the unused branch free of 0/0 where w rounds to 1.
    """
    e = tl.exp(tl.minimum(x, 20.0))
    w = 1.0 + e
    log1p = tl.where(w == 1.0, e, tl.log(w) * e / tl.where(w == 1.0, 1.0, w - 1.0))
    return tl.where(x > 20.0, x, log1p)


@_jit
def _selective_scan_fwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, out_ptr,
    dim, length, d_state,
    u_stride_b, u_stride_d, u_stride_l,
    delta_stride_b, delta_stride_d, delta_stride_l,
    A_stride_d, A_stride_n,
    B_stride_b, B_stride_n, B_stride_l,
    C_stride_b, C_stride_n, C_stride_l,
    D_stride, bias_stride,
    z_stride_b, z_stride_d, z_stride_l,
    out_stride_b, out_stride_d, out_stride_l,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    REVERSE: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):
    """Scan the sequence of program (batch, channel) = divmod(program_id, dim), chunk by chunk."""
    pid = tl.program_id(0)
    batch = (pid // dim).to(tl.int64)  # 64-bit offsets: batch * stride may pass 2**31 elements
    channel = (pid % dim).to(tl.int64)
    u_ptr += batch * u_stride_b + channel * u_stride_d
    delta_ptr += batch * delta_stride_b + channel * delta_stride_d
    z_ptr += batch * z_stride_b + channel * z_stride_d
    out_ptr += batch * out_stride_b + channel * out_stride_d
    B_ptr += batch * B_stride_b
    C_ptr += batch * C_stride_b

    n = tl.arange(0, BLOCK_N)
    n_ok = n < d_state  # padded states: A = B = C = 0, so they stay 0 and add nothing to y
    # exp(dt * A) is computed as exp2(dt * A log2(e)), exp2 being the hardware instruction
    A = tl.load(A_ptr + channel * A_stride_d + n * A_stride_n, mask=n_ok, other=0.0).to(tl.float32)
    A *= 1.4426950408889634
    if HAS_D:
        D = tl.load(D_ptr + channel * D_stride).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + channel * bias_stride).to(tl.float32)

    h = tl.zeros([BLOCK_N], dtype=tl.float32)
    offsets = tl.arange(0, BLOCK_L)
    for chunk_start in range(0, length, BLOCK_L):
        step = chunk_start + offsets  # position in scan order
        in_seq = step < length
        if REVERSE:
            t = length - 1 - step
        else:
            t = step
        u = tl.load(u_ptr + t * u_stride_l, mask=in_seq, other=0.0).to(tl.float32)
        dt = tl.load(delta_ptr + t * delta_stride_l, mask=in_seq, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt += bias
        if SOFTPLUS:
            dt = _softplus(dt)
        dt = tl.where(in_seq, dt, 0.0)  # steps past the end: decay 1 and no input, the state passes through

        tile_ok = n_ok[:, None] & in_seq[None, :]
        B = tl.load(B_ptr + n[:, None] * B_stride_n + t[None, :] * B_stride_l, mask=tile_ok, other=0.0)
        C = tl.load(C_ptr + n[:, None] * C_stride_n + t[None, :] * C_stride_l, mask=tile_ok, other=0.0)
        decay = tl.exp2(A[:, None] * dt[None, :])
        drive = B.to(tl.float32) * (dt * u)[None, :]
        # (decay, drive)[:, j] becomes the composition of steps 0..j of this chunk
        decay, drive = tl.associative_scan((decay, drive), axis=1, combine_fn=_compose)
        states = decay * h[:, None] + drive
        y = tl.sum(states * C.to(tl.float32), axis=0)
        # carry the state after the chunk's last column (steps past the end have left it unchanged)
        h = tl.sum(tl.where(offsets[None, :] == BLOCK_L - 1, states, 0.0), axis=1)

        if HAS_D:
            y += D * u
        if HAS_Z:
            z = tl.load(z_ptr + t * z_stride_l, mask=in_seq, other=0.0).to(tl.float32)
            y *= z * tl.sigmoid(z)
        tl.store(out_ptr + t * out_stride_l, y, mask=in_seq)


def available() -> bool:
    """True when triton imports and a CUDA device is visible to torch."""
    return triton is not None and torch.cuda.is_available()


def unavailable_reason() -> str:
    """Why the Triton scan cannot run here (empty when it can)."""
    if triton is None:
        return _IMPORT_ERROR
    if not torch.cuda.is_available():
        return "no CUDA device is visible to torch"
    return ""


def interpreting() -> bool:
    """True when the kernel runs in Triton's CPU interpreter (TRITON_INTERPRET=1 at import)."""
    return triton is not None and isinstance(_selective_scan_fwd_kernel, InterpretedFunction)


def default_block_l(d_state: int, length: int) -> int:
    """Steps per chunk: a tile of about TILE elements, no longer than the sequence needs (min 16)."""
    block_n = triton.next_power_of_2(d_state)
    return max(16, min(MAX_BLOCK_L, TILE // block_n, triton.next_power_of_2(length)))


def selective_scan_triton(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                          z: Tensor | None = None, delta_bias: Tensor | None = None,
                          delta_softplus: bool = False, reverse: bool = False, *,
                          block_l: int | None = None, num_warps: int = 4) -> Tensor:
    """Selective scan forward with mamba_ssm's shapes in one Triton kernel; no autograd.

    u, delta, z: (B, D, L) float32/float16/bfloat16 (any mix); A: (D, N); B, C: (B, N, L);
    D, delta_bias: (D,); A, D and delta_bias are read as float32. ``reverse=True`` scans from the
    last step to the first (as if the sequence inputs were flipped along L and y flipped back).
    Returns y (B, D, L), contiguous, in u's dtype; the state is float32.

    ``block_l`` (a power of two, default ``default_block_l``) and ``num_warps`` are tuning knobs:
    the result does not depend on them beyond float rounding.
    """
    if triton is None:
        raise RuntimeError(f"The Triton scan cannot run: {_IMPORT_ERROR}.")
    if u.device.type != "cuda" and not interpreting():
        raise RuntimeError(f"The Triton scan runs on CUDA tensors only, these are on {u.device} "
                           "(CPU tensors only under TRITON_INTERPRET=1, for tests).")
    if u.dtype not in DTYPES:
        raise ValueError(f"The Triton scan takes float32, float16 or bfloat16 inputs, not {u.dtype}.")
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                       for t in (u, delta, A, B, C, D, z, delta_bias)):
        raise RuntimeError("The Triton scan has no backward: call it under torch.no_grad(), or use "
                           "mamba_ssm's kernel or the chunked PyTorch scan for training.")
    batch, dim, length = u.shape
    d_state = A.shape[1]
    block_l = default_block_l(d_state, length) if block_l is None else block_l
    if block_l < 1 or block_l & (block_l - 1):
        raise ValueError(f"block_l must be a power of two, got {block_l}.")

    out = torch.empty(batch, dim, length, dtype=u.dtype, device=u.device)
    if out.numel() == 0:
        return out
    # Every channel of a batch reads all of B and C: make their steps contiguous when they are not.
    B, C = (t if t.stride(-1) == 1 else t.contiguous() for t in (B, C))
    # Tensors not given are stood in for by u, never read (the HAS_* flags are False): strides 0.
    D_arg, z_arg, bias_arg = (u if t is None else t for t in (D, z, delta_bias))

    def strides(t: Tensor | None, ndim: int) -> tuple[int, ...]:
        return (0,) * ndim if t is None else t.stride()

    def launch() -> None:
        _selective_scan_fwd_kernel[(batch * dim,)](
            u, delta, A, B, C, D_arg, z_arg, bias_arg, out,
            dim, length, d_state,
            *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(),
            *strides(D, 1), *strides(delta_bias, 1), *strides(z, 3), *out.stride(),
            HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
            SOFTPLUS=bool(delta_softplus), REVERSE=bool(reverse),
            BLOCK_N=triton.next_power_of_2(d_state), BLOCK_L=block_l, num_warps=num_warps,
        )

    if u.device.type == "cuda":
        with torch.cuda.device(u.device):  # triton launches on the current device
            launch()
    else:
        launch()
    return out
