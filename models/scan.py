"""Selective-scan and causal depthwise conv1d, behind one call each, with the backend chosen per call.

Shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``:
u, delta, z: (B, D, L); A: (D, N); B, C: (B, N, L); D, delta_bias: (D,).

Scan backends, fastest first:

- ``cuda``: mamba_ssm's fused kernel (tensors on a GPU, the package installed; has a backward);
- ``triton``: the project's Triton kernel (tensors on a GPU, triton installed; inference only, for
  GPUs without mamba_ssm);
- ``numba``: compiled CPU kernels (CPU tensors, float32 state: the vectorised inference kernel, or a
  forward+backward pair when a gradient is needed);
- ``torch``: the project's chunked PyTorch scan (any device, differentiable);
- ``ref``: the plain per-step loop, the oracle the others are tested against.

``selective_scan`` picks the first one that fits the call (a call that needs a gradient skips
``triton``). ``RAINMAMBA_SCAN=ref|torch|numba|triton|cuda`` (or ``use_scan_backend(...)`` in code)
forces one, and a forced backend that cannot run the call is an error, never a silent substitute.
Forcing ``ref`` or ``torch`` also keeps ``causal_conv1d`` in PyTorch, so the whole layer runs
without compiled kernels.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from . import scan_cuda, scan_numba
from ._compile import opaque_to_compile
from .scan_chunked import selective_scan_chunked

BACKENDS = ("cuda", "triton", "numba", "torch", "ref")
ENV_VAR = "RAINMAMBA_SCAN"
_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("rainmamba_scan_backend", default=None)


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
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D[..., None].to(sdt)
    if z is not None:
        y = y * F.silu(z.to(sdt))
    return y.to(dtype)


def _triton():
    """``models.scan_triton``, imported on first need: importing triton takes 0.1 s that runs without a
    GPU never get back."""
    from . import scan_triton
    return scan_triton


def forced_backend() -> str | None:
    """The backend forced by ``use_scan_backend`` or else by $RAINMAMBA_SCAN; None means automatic."""
    name = _forced.get()
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip().lower() or None
    if name in (None, "auto"):
        return None
    if name not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={name!r} is not a scan backend: use one of {', '.join(BACKENDS)} "
                         "(or leave it unset for the automatic choice).")
    return name


@contextlib.contextmanager
def use_scan_backend(name: str | None) -> Iterator[None]:
    """Force one scan backend inside a ``with`` block (None: automatic); overrides $RAINMAMBA_SCAN."""
    if name is not None and name not in BACKENDS and name != "auto":
        raise ValueError(f"Unknown scan backend {name!r}: use one of {', '.join(BACKENDS)}.")
    token = _forced.set(name)
    try:
        yield
    finally:
        _forced.reset(token)


def backend_report() -> dict[str, str]:
    """For each scan backend: 'available', or the reason it is not usable on this machine."""
    return {
        "cuda": "available" if scan_cuda.scan_available()
        else f"mamba_ssm CUDA kernel unusable: {scan_cuda.unavailable_reason('mamba_ssm')}",
        "triton": "available" if _triton().available()
        else f"Triton kernel unusable: {_triton().unavailable_reason()}",
        "numba": "available" if scan_numba.available() else scan_numba.unavailable_reason(),
        "torch": "available",
        "ref": "available",
    }


def available_backends() -> list[str]:
    """The scan backends usable on this machine, fastest first."""
    return [name for name, state in backend_report().items() if state == "available"]


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _why_not(name: str, u: Tensor, needs_grad: bool) -> str | None:
    """None if backend ``name`` can run a call on ``u``; else the reason, as a sentence fragment."""
    if name == "numba":
        if u.device.type != "cpu":
            return f"it runs on CPU tensors only, these are on {u.device}"
        if u.dtype == torch.float64:
            return "it computes in float32; use the 'torch' or 'ref' backend for float64"
        if not scan_numba.available():
            return scan_numba.unavailable_reason()
    elif name == "cuda":
        if u.device.type != "cuda":
            return f"it runs on CUDA tensors only, these are on {u.device}"
        if u.dtype not in scan_cuda.KERNEL_DTYPES:
            return f"mamba_ssm's kernel has no {u.dtype} version (use float32, float16 or bfloat16)"
        if not scan_cuda.scan_available():
            return scan_cuda.unavailable_reason("mamba_ssm")
    elif name == "triton":
        if u.device.type != "cuda":
            return f"it runs on CUDA tensors only, these are on {u.device}"
        if needs_grad:
            return "it has no backward; training uses mamba_ssm's kernel or the chunked PyTorch scan"
        if u.dtype not in _triton().DTYPES:
            return f"it has no {u.dtype} version (use float32, float16 or bfloat16)"
        if not _triton().available():
            return _triton().unavailable_reason()
    return None


def choose_backend(u: Tensor, needs_grad: bool = False) -> str:
    """The backend ``selective_scan`` uses for input ``u``: the forced one (checked) or the fastest fit."""
    forced = forced_backend()
    if forced is not None:
        reason = _why_not(forced, u, needs_grad)
        if reason:
            raise RuntimeError(f"Scan backend {forced!r} was forced but cannot run this call: {reason}. "
                               f"Unset {ENV_VAR} or pick another backend.")
        return forced
    for name in ("cuda", "triton", "numba"):
        if _why_not(name, u, needs_grad) is None:
            return name
    return "torch"


def _check_shapes(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
                  z: Tensor | None, delta_bias: Tensor | None) -> None:
    if u.dim() != 3:
        raise ValueError(f"selective_scan: u must be (batch, channels, length), got shape {tuple(u.shape)}.")
    batch, dim, length = u.shape
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"selective_scan: A must be ({dim}, d_state) to match u's {dim} channels, "
                         f"got {tuple(A.shape)}.")
    expected = {"delta": (u.shape, delta), "B": ((batch, A.shape[1], length), B),
                "C": ((batch, A.shape[1], length), C)}
    if z is not None:
        expected["z"] = (u.shape, z)
    if D is not None:
        expected["D"] = ((dim,), D)
    if delta_bias is not None:
        expected["delta_bias"] = ((dim,), delta_bias)
    for name, (shape, tensor) in expected.items():
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(f"selective_scan: {name} must have shape {tuple(shape)} for u of shape "
                             f"{tuple(u.shape)} and A of shape {tuple(A.shape)}, got {tuple(tensor.shape)}.")
        if tensor.device != u.device:
            raise ValueError(f"selective_scan: {name} is on {tensor.device} but u is on {u.device}; "
                             "move all inputs to one device.")


def _reversing(scan):
    """Give a backend without a native reverse one: flip the sequence inputs along L, and the output back."""
    def run(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
            delta_bias: Tensor | None, delta_softplus: bool, reverse: bool = False) -> Tensor:
        if not reverse:
            return scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        u, delta, B, C, z = (_flip(t) for t in (u, delta, B, C, z))
        return scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus).flip(-1)
    return run


def _flip(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.flip(-1)


def _numba_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None, z: Tensor | None,
                delta_bias: Tensor | None, delta_softplus: bool, reverse: bool = False) -> Tensor:
    """The numba inference kernel (native reverse), or the numba forward+backward pair when a gradient is
    needed."""
    if _needs_grad(u, delta, A, B, C, D, z, delta_bias):
        from .scan_numba_grad import selective_scan_numba_grad

        return _reversing(selective_scan_numba_grad)(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)
    return scan_numba.selective_scan_numba(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)


_SCANS = {
    "ref": _reversing(selective_scan_ref),
    "torch": _reversing(selective_scan_chunked),
    "numba": _numba_scan,
    "triton": lambda *args: _triton().selective_scan_triton(*args),
    "cuda": _reversing(scan_cuda.selective_scan_cuda),
}


# Opaque to torch.compile: dynamo would trace the numba wrapper's numpy calls into its graph and lose
# the kernel's in-place output (garbage, silently); compiled code calls the scan as a function instead.
@opaque_to_compile
def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   z: Tensor | None = None, delta_bias: Tensor | None = None,
                   delta_softplus: bool = False, reverse: bool = False) -> Tensor:
    """The scan used by the network: runs the fastest backend that fits these tensors (see module doc).

    y_t = <C_t, h_t> + D u_t with h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, delta optionally
    shifted by delta_bias and passed through softplus, y multiplied by SiLU(z) when z is given.
    ``reverse=True`` scans from the last step to the first: the same as flipping u, delta, B, C and z
    along L and flipping y back, which is what the backends without a native reverse do; the numba
    inference kernel and the Triton kernel walk the sequence backwards instead, with no copies.
    Returns y (B, D, L) in u's dtype; the state is kept in float32 (float64 for float64 inputs).
    """
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    backend = choose_backend(u, _needs_grad(u, delta, A, B, C, D, z, delta_bias))
    return _SCANS[backend](u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse)


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None,
                  reverse: bool = False) -> Tensor:
    """Depthwise causal conv1d: x (B, D, L), weight (D, K), left padding K-1; optional SiLU.

    ``reverse=True`` runs it on the time-reversed sequence and reverses the result back (each output
    mixes the current and the K-1 *following* steps), without copies on a CPU.

    Uses causal_conv1d's CUDA kernel for CUDA tensors when it is installed (and the scan backend is not
    forced to 'ref' or 'torch'), F.conv1d on other GPUs, and K shifted multiply-adds on a CPU.
    """
    if activation not in (None, "silu", "swish"):
        raise ValueError(f"causal_conv1d: activation must be None, 'silu' or 'swish', got {activation!r}.")
    if x.dim() != 3 or weight.dim() != 2 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"causal_conv1d: need x (batch, channels, length) and weight (channels, width) "
                         f"with the same channels, got x {tuple(x.shape)} and weight {tuple(weight.shape)}.")
    if x.device.type != "cpu":
        return _flip(_causal_conv1d_gpu(_flip(x), weight, bias, activation)) if reverse \
            else _causal_conv1d_gpu(x, weight, bias, activation)
    weight = weight.to(x.dtype)
    bias = bias.to(x.dtype) if bias is not None else None
    out = _causal_conv1d_shifts(x.contiguous(), weight, bias, reverse)
    return F.silu(out) if activation in ("silu", "swish") else out


def _causal_conv1d_gpu(x: Tensor, weight: Tensor, bias: Tensor | None, activation: str | None) -> Tensor:
    """causal_conv1d's CUDA kernel when installed (and the scan backend is not forced to 'ref' or 'torch'),
    else cuDNN; padding both ends inside the conv and dropping the tail avoids a padded copy of x."""
    dim, width = weight.shape
    if (x.device.type == "cuda" and 2 <= width <= 4 and x.dtype in scan_cuda.KERNEL_DTYPES
            and forced_backend() not in ("ref", "torch") and scan_cuda.conv_available()):
        return scan_cuda.causal_conv1d_cuda(x, weight, bias, activation)
    weight = weight.to(x.dtype)
    bias = bias.to(x.dtype) if bias is not None else None
    out = F.conv1d(x, weight[:, None, :], bias, padding=width - 1, groups=dim)[..., :x.shape[-1]]
    return F.silu(out) if activation in ("silu", "swish") else out


def _causal_conv1d_shifts(x: Tensor, weight: Tensor, bias: Tensor | None, reverse: bool = False) -> Tensor:
    """out[t] = bias + sum_k weight[k] x[t - (K-1) + k] (reverse: x[t + (K-1) - k]): K shifted multiply-adds,
    several times faster on a CPU than a depthwise F.conv1d (which also needs a padded copy of x).
    Differentiable."""
    width = weight.shape[1]
    out = x * weight[:, -1:] if bias is None else torch.addcmul(bias[:, None], x, weight[:, -1:])
    for k in range(width - 1):
        shift = width - 1 - k
        if shift < x.shape[-1]:
            if reverse:
                out[..., :-shift].addcmul_(x[..., shift:], weight[:, k:k + 1])
            else:
                out[..., shift:].addcmul_(x[..., :-shift], weight[:, k:k + 1])
    return out
